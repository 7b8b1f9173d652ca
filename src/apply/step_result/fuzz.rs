//! A step's output is read into a result or an error, never a panic: any
//! text, and mutations of what each kind of step prints.

use proptest::prelude::*;

use super::*;
use crate::fuzzing::{config, lossy, mutated};

const ARTEFACT: &[u8] = b"noise\ncutter:quarantined=/b/.cutter-quarantine.x.a\ncutter:path=/b/a\ncutter:sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\ncutter:size=12\ncutter:toc_entries=null\ncutter:lines=3\ncutter:versions=server 16\n";
const CONTAINER: &[u8] = b"cutter:restore_exit=1\ncutter:restore_stderr_b64=ZXJyb3I6IHgK\ncutter:id=abc\ncutter:state=running\ncutter:image=postgres:16\ncutter:image_id=sha256:1\n";
const TEARDOWN: &[u8] = b"cutter:container_left=\ncutter:volume_left=\ncutter:network_left=x\n";

const KINDS: [StepKind; 7] = [
    StepKind::Artefact,
    StepKind::Container,
    StepKind::Check,
    StepKind::Teardown,
    StepKind::Prune,
    StepKind::GuardBefore,
    StepKind::GuardAfter,
];

fn every_kind(text: &str) {
    for kind in KINDS {
        if let Ok(r) = StepResult::parse(kind, text) {
            let _ = r.report_map();
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text(text in any::<String>()) {
        every_kind(&text);
    }

    #[test]
    fn result_lines_of_any_text(lines in prop::collection::vec(("[a-z_0-9]{0,20}", any::<String>()), 0..8)) {
        let text: String = lines.iter().map(|(k, v)| format!("cutter:{k}={v}\n")).collect();
        every_kind(&text);
    }

    #[test]
    fn artefact_output_mutated(bytes in mutated(ARTEFACT)) {
        every_kind(&lossy(&bytes));
    }

    #[test]
    fn container_output_mutated(bytes in mutated(CONTAINER)) {
        every_kind(&lossy(&bytes));
    }

    #[test]
    fn teardown_output_mutated(bytes in mutated(TEARDOWN)) {
        every_kind(&lossy(&bytes));
    }
}
