//! The whole loop on this machine, no SSH and no Docker: apply makes files
//! with checksums and manifests, drift notices damage, apply repairs exactly
//! that, and everything cutter refuses to do is refused without side effects.
//!
//! Every plan writes under the test's own temporary folder (`{out}` in a plan
//! is `<folder>/out`), and `HOME` is that folder too, so the host's apply
//! lock (`$HOME/.cutter/apply.lock`) is never shared between tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::diagnostics::{assert_never_says, assert_says, unwrapped};
use crate::test::{Run, Test, run_in};

/// "Now" for most runs: 2026-05-15 08:00 UTC.
pub const MORNING: &str = "2026-05-15T08:00:00Z";

/// A local plan in a fresh folder, and a way to run cutter on it.
pub struct Site {
    pub test: Test,
}

impl Site {
    /// Write `plan.toml`, with `{out}` standing for `<folder>/out`.
    pub fn new(plan: &str) -> Site {
        let test = Test::new();
        let out = test.path().join("out").display().to_string();
        Site {
            test: test.plan(&plan.replace("{out}", &out)),
        }
    }

    pub fn dir(&self) -> &Path {
        self.test.path()
    }

    /// The folder the plan's artefacts go to.
    pub fn out(&self) -> PathBuf {
        self.dir().join("out")
    }

    /// An artefact file (or any file) in the output folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.out().join(name)
    }

    /// The content of a file in the output folder.
    pub fn read(&self, name: &str) -> String {
        let path = self.file(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Replace `plan.toml`, with `{out}` as in [`Site::new`].
    pub fn rewrite_plan(&self, plan: &str) {
        let out = self.out().display().to_string();
        std::fs::write(self.dir().join("plan.toml"), plan.replace("{out}", &out)).unwrap();
    }

    /// `cutter ARGS` at [`MORNING`], expecting exit status `status`.
    pub fn cutter(&self, status: i32, args: &[&str]) -> Run {
        self.cutter_at(MORNING, status, args)
    }

    /// `cutter ARGS` with "now" fixed at `now`, expecting exit status `status`.
    pub fn cutter_at(&self, now: &str, status: i32, args: &[&str]) -> Run {
        let run = self.run(now, args);
        assert_eq!(
            run.status, status,
            "cutter {args:?} at {now} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            run.status, run.stdout, run.stderr
        );
        run
    }

    /// `cutter ARGS` with "now" fixed at `now`, whatever its exit status (but no panic).
    pub fn run(&self, now: &str, args: &[&str]) -> Run {
        let home = self.dir().display().to_string();
        let env: Vec<(String, String)> = [("NO_COLOR", "1"), ("HOME", &home), ("CUTTER_NOW", now)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let run = run_in(self.dir(), &args, &env, true);
        assert_never_says(&run.stderr, "panicked");
        run
    }

    /// Every file under the output folder (hidden ones included), relative to it.
    pub fn listing(&self) -> BTreeSet<String> {
        fn walk(dir: &Path, base: &Path, into: &mut BTreeSet<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, base, into);
                } else {
                    into.insert(path.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let mut names = BTreeSet::new();
        walk(&self.out(), &self.out(), &mut names);
        names
    }

    /// `sha256sum -c SHA256SUMS` passes in every folder that has one (at least one does).
    pub fn assert_checksums_pass(&self) {
        let folders: Vec<PathBuf> = self
            .listing()
            .iter()
            .filter(|n| n.ends_with("SHA256SUMS"))
            .map(|n| self.file(n).parent().unwrap().to_path_buf())
            .collect();
        assert!(
            !folders.is_empty(),
            "no SHA256SUMS under {}",
            self.out().display()
        );
        for folder in folders {
            let out = Command::new("sha256sum")
                .args(["-c", "--strict", "SHA256SUMS"])
                .current_dir(&folder)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "sha256sum -c SHA256SUMS failed in {}\n{}{}",
                folder.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// What a file is: its content and modification time.
fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
    let content = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    (content, mtime)
}

/// Flip the first byte of a file.
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// Whether any file under `dir` (recursively) is called `name`.
fn exists_anywhere(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let e = e.unwrap();
        e.file_name() == name
            || (e.file_type().unwrap().is_dir() && exists_anywhere(&e.path(), name))
    })
}

/// Three independent artefacts with fixed names, in one folder.
const THREE: &str = r#"
[hosts.local]
local = true

[artefacts.alpha]
path = "{out}/alpha.txt"
command = "echo alpha"

[artefacts.bravo]
path = "{out}/bravo.txt"
command = "echo bravo"

[artefacts.charlie]
path = "{out}/charlie.txt"
command = "echo charlie"
"#;

#[test]
fn first_apply_creates_the_files_with_checksums_and_manifests() {
    let site = Site::new(THREE);
    let run = site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_says(&run.stderr, "Applied 3 step(s)");

    assert_eq!(site.read("alpha.txt"), "alpha\n");
    assert_eq!(site.read("bravo.txt"), "bravo\n");
    assert_eq!(site.read("charlie.txt"), "charlie\n");
    site.assert_checksums_pass();
    for name in ["alpha", "bravo", "charlie"] {
        let manifest = site.file(&format!("{name}.txt.cutter.json"));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        assert_eq!(m["artefact"], name);
        assert_eq!(m["taken_at"], MORNING);
        assert_eq!(m["size"], name.len() + 1);
        assert_eq!(
            m["path"],
            site.file(&format!("{name}.txt")).display().to_string()
        );
    }
    // Nothing temporary is left behind.
    assert!(
        site.listing()
            .iter()
            .all(|n| !n.contains("cutter-tmp") && !n.contains("cutter-stderr")),
        "{:?}",
        site.listing()
    );
}

#[test]
fn a_second_apply_is_unchanged_and_runs_nothing() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let before: Vec<_> = site
        .listing()
        .iter()
        .map(|n| fingerprint(&site.file(n)))
        .collect();

    let run = site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_says(&run.stderr, "Unchanged");
    assert_never_says(&run.stderr, "Creating");
    assert_never_says(&run.stderr, "Replacing");

    let after: Vec<_> = site
        .listing()
        .iter()
        .map(|n| fingerprint(&site.file(n)))
        .collect();
    assert_eq!(before, after, "a no-op apply touched files");
}

#[test]
fn drift_is_zero_right_after_an_apply() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let run = site.cutter(0, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "In sync");
}

#[test]
fn drift_names_damage_and_apply_repairs_only_what_is_damaged() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);

    corrupt(&site.file("alpha.txt"));
    let run = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "Drift artefact.alpha: corrupted");

    std::fs::remove_file(site.file("charlie.txt")).unwrap();
    let run = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "Drift artefact.alpha: corrupted");
    assert_says(&run.stderr, "Drift artefact.charlie: missing");
    assert_never_says(&run.stderr, "Drift artefact.bravo");

    let untouched = fingerprint(&site.file("bravo.txt"));
    let run = site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_says(&run.stderr, "Replacing artefact.alpha");
    assert_says(&run.stderr, "Creating artefact.charlie");
    assert_never_says(&run.stderr, "artefact.bravo on");
    assert_says(&run.stderr, "Applied 2 step(s)");

    assert_eq!(fingerprint(&site.file("bravo.txt")), untouched);
    assert_eq!(site.read("alpha.txt"), "alpha\n");
    assert_eq!(site.read("charlie.txt"), "charlie\n");
    site.assert_checksums_pass();
    site.cutter(0, &["drift", "plan.toml"]);
}

/// Steps run in parallel (`--parallelism`, default 4); artefacts in one
/// folder share its `SHA256SUMS`, and every one of them must be recorded.
#[test]
fn artefacts_sharing_a_folder_are_all_recorded_in_its_sha256sums() {
    let mut plan = String::from("[hosts.local]\nlocal = true\n");
    for i in 0..6 {
        plan.push_str(&format!(
            "\n[artefacts.part{i}]\npath = \"{{out}}/part{i}.txt\"\ncommand = \"echo part {i}\"\n"
        ));
    }
    // A race shows only sometimes: give it a few chances.
    for _ in 0..3 {
        let site = Site::new(&plan);
        site.cutter(0, &["apply", "plan.toml", "--yes", "--parallelism", "6"]);
        let sums = site.read("SHA256SUMS");
        let recorded: BTreeSet<&str> = sums
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(_, n)| n)
            .collect();
        let expected: BTreeSet<String> = (0..6).map(|i| format!("part{i}.txt")).collect();
        assert_eq!(
            recorded,
            expected.iter().map(String::as_str).collect(),
            "SHA256SUMS:\n{sums}"
        );
        site.assert_checksums_pass();
        site.cutter(0, &["drift", "plan.toml"]);
    }
}

#[test]
fn plan_detailed_exitcode_is_2_with_pending_changes_and_0_without() {
    let site = Site::new(THREE);
    site.cutter(2, &["plan", "plan.toml", "--detailed-exitcode"]);
    // Without the flag, pending changes are not an error.
    site.cutter(0, &["plan", "plan.toml"]);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    site.cutter(0, &["plan", "plan.toml", "--detailed-exitcode"]);
}

const HOURLY: &str = r#"
[hosts.local]
local = true

[artefacts.snapshot]
path = "{out}/snapshot_{{ timestamp }}.txt"
command = "echo snapshot"
max_age = "60m"
"#;

#[test]
fn an_artefact_older_than_max_age_is_replaced_as_stale() {
    let site = Site::new(HOURLY);
    site.cutter_at("2026-05-15T08:00:00Z", 0, &["apply", "plan.toml", "--yes"]);
    assert!(site.file("snapshot_20260515T080000Z.txt").is_file());

    let run = site.cutter_at("2026-05-15T10:00:00Z", 0, &["plan", "plan.toml"]);
    assert_says(&run.stdout, "replace  artefact.snapshot");
    assert_says(&run.stdout, "stale: ");
    assert_says(&run.stdout, "was taken 2h ago, max_age is 1h");

    // The replacement is a new file named for the time it was taken; the old one stays.
    site.cutter_at("2026-05-15T10:00:00Z", 0, &["apply", "plan.toml", "--yes"]);
    assert!(site.file("snapshot_20260515T100000Z.txt").is_file());
    assert!(site.file("snapshot_20260515T080000Z.txt").is_file());
    site.assert_checksums_pass();
    site.cutter_at("2026-05-15T10:00:00Z", 0, &["drift", "plan.toml"]);
}

#[test]
fn an_artefact_within_max_age_is_unchanged() {
    let site = Site::new(HOURLY);
    site.cutter_at("2026-05-15T08:00:00Z", 0, &["apply", "plan.toml", "--yes"]);
    let run = site.cutter_at(
        "2026-05-15T08:30:00Z",
        0,
        &["plan", "plan.toml", "--detailed-exitcode"],
    );
    assert_says(&run.stdout, "1 unchanged: artefact.snapshot");
    assert_never_says(&run.stdout, "stale");
}

/// Apply a plan whose only artefact `broken` fails; it must leave nothing behind.
fn assert_apply_fails_cleanly(plan: &str, why: &str) {
    let site = Site::new(plan);
    let run = site.cutter(1, &["apply", "plan.toml", "--yes"]);
    assert_says(&run.stderr, "artefact.broken failed");
    assert_says(&run.stderr, why);
    assert_says(&run.stderr, "apply failed");
    // No file, no temporary file, no checksum line, no manifest.
    assert_eq!(
        site.listing(),
        BTreeSet::new(),
        "left behind in {}",
        site.out().display()
    );
    // And the next plan still wants to make it.
    site.cutter(2, &["plan", "plan.toml", "--detailed-exitcode"]);
}

#[test]
fn a_failing_command_fails_the_apply_and_leaves_nothing_behind() {
    assert_apply_fails_cleanly(
        r#"
[hosts.local]
local = true

[artefacts.broken]
path = "{out}/broken.txt"
command = "echo half a file; exit 7"
"#,
        "exit code 7",
    );
}

#[test]
fn output_below_min_size_fails_the_apply_and_leaves_nothing_behind() {
    assert_apply_fails_cleanly(
        r#"
[hosts.local]
local = true

[artefacts.broken]
path = "{out}/broken.txt"
command = "echo tiny"
min_size = "1 KiB"
"#,
        "output is 5 bytes, below min_size 1024",
    );
}

#[test]
fn a_rejecting_verify_fails_the_apply_and_leaves_nothing_behind() {
    assert_apply_fails_cleanly(
        r#"
[hosts.local]
local = true

[artefacts.broken]
path = "{out}/broken.txt"
command = "echo not a dump"
verify = "grep -q PGDMP"
"#,
        "format check `grep -q PGDMP` rejected the output",
    );
}

#[test]
fn a_step_after_a_failed_step_is_skipped() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.broken]
path = "{out}/broken.txt"
command = "exit 7"

[artefacts.dependent]
path = "{out}/dependent.txt"
command = "echo never"
after = ["broken"]

[artefacts.independent]
path = "{out}/independent.txt"
command = "echo fine"
"#,
    );
    let run = site.cutter(1, &["apply", "plan.toml", "--yes"]);
    assert_says(
        &run.stderr,
        "Skipped artefact.dependent (`artefact.broken` did not succeed)",
    );
    assert_says(&run.stderr, "artefact.dependent skipped");
    assert!(!site.file("dependent.txt").exists());
    // What did not depend on the failure was still made.
    assert!(site.file("independent.txt").is_file());
    site.assert_checksums_pass();
}

#[test]
fn apply_without_yes_is_refused_when_stdin_is_not_a_terminal() {
    let site = Site::new(THREE);
    let run = site.cutter(1, &["apply", "plan.toml"]);
    assert_says(&run.stderr, "refusing to apply without confirmation");
    assert_says(&run.stderr, "--yes");
    assert!(!site.out().exists(), "something was created");
    assert!(!site.dir().join("cutter-reports").exists());
}

#[test]
fn a_file_not_made_by_cutter_is_a_conflict_and_is_left_alone() {
    let site = Site::new(THREE);
    std::fs::create_dir_all(site.out()).unwrap();
    std::fs::write(site.file("bravo.txt"), "the operator's own notes\n").unwrap();
    let before = fingerprint(&site.file("bravo.txt"));

    let run = site.cutter(1, &["plan", "plan.toml"]);
    assert_says(&run.stdout, "conflict artefact.bravo");
    assert_says(&run.stdout, "was not made by cutter");

    let run = site.cutter(1, &["apply", "plan.toml", "--yes"]);
    assert_says(&run.stderr, "the plan conflicts with what is on the host");
    assert_says(&run.stderr, "not made by cutter");

    assert_eq!(fingerprint(&site.file("bravo.txt")), before);
    // The apply refused as a whole: nothing else was made either.
    assert_eq!(site.listing(), BTreeSet::from(["bravo.txt".to_string()]));
}

#[test]
fn paths_with_spaces_quotes_and_semicolons_work() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.odd]
path = '''{out}/it's a "file"; really.txt'''
command = "echo odd"
"#,
    );
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_eq!(site.read("it's a \"file\"; really.txt"), "odd\n");
    site.assert_checksums_pass();
    site.cutter(0, &["drift", "plan.toml"]);
}

#[test]
fn shell_syntax_in_paths_is_never_executed() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.hostile]
path = '''{out}/a b'$(touch INJECTED)`touch INJECTED`;touch INJECTED;x.txt'''
command = "echo hostile"

[artefacts.quoted]
path = '''{out}/q'$(touch INJECTED)'.txt'''
command = "echo quoted"
"#,
    );
    site.run(MORNING, &["plan", "plan.toml"]);
    let run = site.run(MORNING, &["apply", "plan.toml", "--yes"]);
    assert!(
        !exists_anywhere(site.dir(), "INJECTED"),
        "a path was executed as shell code\n{}",
        run.stderr
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        site.read("a b'$(touch INJECTED)`touch INJECTED`;touch INJECTED;x.txt"),
        "hostile\n"
    );
    assert_eq!(site.read("q'$(touch INJECTED)'.txt"), "quoted\n");
    site.assert_checksums_pass();
    site.cutter(0, &["drift", "plan.toml"]);
    assert!(!exists_anywhere(site.dir(), "INJECTED"));
}

/// A small graph: `summary` runs after `alpha` and `bravo`.
const GRAPH: &str = r#"
[hosts.local]
local = true

[artefacts.alpha]
path = "{out}/alpha.txt"
command = "echo alpha"

[artefacts.bravo]
path = "{out}/bravo.txt"
command = "echo bravo"

[artefacts.summary]
path = "{out}/summary.txt"
command = "cat {out}/alpha.txt {out}/bravo.txt"
after = ["alpha", "bravo"]
"#;

#[test]
fn graph_as_dot_shows_every_step_and_edge() {
    let site = Site::new(GRAPH);
    let dot = site
        .cutter(0, &["graph", "plan.toml", "--format", "dot"])
        .stdout;
    assert!(dot.starts_with("digraph cutter {"), "{dot}");
    for step in ["artefact.alpha", "artefact.bravo", "artefact.summary"] {
        assert_says(&dot, &format!("\"{step}\" [label=\"{step}\\n@local\"]"));
    }
    for before in ["artefact.alpha", "artefact.bravo"] {
        assert_says(
            &dot,
            &format!("\"{before}\" -> \"artefact.summary\" [label=\"after\"]"),
        );
    }
    assert_eq!(dot.matches(" -> ").count(), 2, "{dot}");
}

#[test]
fn graph_as_mermaid_shows_every_step_and_edge() {
    let site = Site::new(GRAPH);
    let mermaid = site
        .cutter(0, &["graph", "plan.toml", "--format", "mermaid"])
        .stdout;
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    // Node ids (s0, s1, ...) → step ids.
    let mut nodes = std::collections::HashMap::new();
    let mut edges = BTreeSet::new();
    for line in mermaid.lines().skip(1) {
        let line = line.trim();
        if let Some((id, rest)) = line.split_once("[\"") {
            let step = rest.split("<br/>").next().unwrap();
            nodes.insert(id.to_string(), step.to_string());
        } else if let Some((from, rest)) = line.split_once(" -->|") {
            let (label, to) = rest.split_once("| ").unwrap();
            edges.insert((from.to_string(), label.to_string(), to.to_string()));
        }
    }
    let steps: BTreeSet<&str> = nodes.values().map(String::as_str).collect();
    assert_eq!(
        steps,
        BTreeSet::from(["artefact.alpha", "artefact.bravo", "artefact.summary"]),
        "{mermaid}"
    );
    let named: BTreeSet<(&str, &str, &str)> = edges
        .iter()
        .map(|(f, l, t)| (nodes[f].as_str(), l.as_str(), nodes[t].as_str()))
        .collect();
    assert_eq!(
        named,
        BTreeSet::from([
            ("artefact.alpha", "after", "artefact.summary"),
            ("artefact.bravo", "after", "artefact.summary"),
        ]),
        "{mermaid}"
    );
}

/// "Order is deterministic: ties go to declaration order" (src/graph.rs).
#[test]
fn graph_lists_independent_steps_in_declaration_order() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.zulu]
path = "{out}/zulu.txt"
command = "echo zulu"

[artefacts.alpha]
path = "{out}/alpha.txt"
command = "echo alpha"

[artefacts.mike]
path = "{out}/mike.txt"
command = "echo mike"
"#,
    );
    let dot = site
        .cutter(0, &["graph", "plan.toml", "--format", "dot"])
        .stdout;
    let steps: Vec<&str> = dot
        .lines()
        .filter(|l| l.contains("[label="))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        steps,
        ["artefact.zulu", "artefact.alpha", "artefact.mike"],
        "{dot}"
    );
}

#[test]
fn schema_prints_a_json_schema_of_plans() {
    let run = Test::new().args(&["schema"]).status(0);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        schema["$schema"]
            .as_str()
            .unwrap()
            .contains("json-schema.org")
    );
    assert!(
        schema["properties"]["artefacts"].is_object(),
        "{}",
        run.stdout
    );
    assert!(schema["properties"]["hosts"].is_object(), "{}", run.stdout);
}

#[test]
fn completions_for_bash() {
    let run = Test::new().args(&["completions", "bash"]).status(0);
    assert!(!run.stdout.trim().is_empty());
    assert_says(&run.stdout, "cutter");
}

#[test]
fn a_saved_plan_applies_as_reviewed() {
    let site = Site::new(THREE);
    let run = site.cutter(0, &["plan", "plan.toml", "-o", "plan.json"]);
    assert_says(&run.stderr, "Saved plan to plan.json");
    assert!(!site.out().exists(), "planning created files");

    let run = site.cutter(0, &["apply", "plan.json", "--yes"]);
    assert_says(&run.stderr, "Applied 3 step(s)");
    assert!(site.file("alpha.txt").is_file());
    site.assert_checksums_pass();
    site.cutter(0, &["drift", "plan.toml"]);
}

#[test]
fn a_saved_plan_is_refused_when_the_plan_file_changed_since() {
    let site = Site::new(THREE);
    site.cutter(0, &["plan", "plan.toml", "-o", "plan.json"]);
    site.rewrite_plan(&format!("{THREE}\n# edited after review\n"));

    let run = site.cutter(1, &["apply", "plan.json", "--yes"]);
    let said = unwrapped(&run.stderr);
    assert_says(&said, "the saved plan `plan.json` is stale");
    assert_says(&said, "plan.toml` changed since it was planned");
    assert!(!site.out().exists(), "a stale plan was applied");
}

#[test]
fn a_saved_plan_is_refused_when_the_hosts_changed_since() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    corrupt(&site.file("alpha.txt"));
    site.cutter(0, &["plan", "plan.toml", "-o", "plan.json"]);
    std::fs::remove_file(site.file("charlie.txt")).unwrap();
    let bravo = fingerprint(&site.file("bravo.txt"));

    let run = site.cutter(1, &["apply", "plan.json", "--yes"]);
    let said = unwrapped(&run.stderr);
    assert_says(&said, "the saved plan `plan.json` is stale");
    assert_says(&said, "the hosts changed since it was planned");
    // Nothing was repaired.
    assert!(!site.file("charlie.txt").exists());
    assert_ne!(site.read("alpha.txt"), "alpha\n");
    assert_eq!(fingerprint(&site.file("bravo.txt")), bravo);
}

/// A saved plan is a contract: a command edited by hand in the JSON, a
/// step removed from it, or a different `--target` is refused, and nothing
/// runs.
#[test]
fn a_saved_plan_is_refused_when_edited_or_applied_to_another_target() {
    let site = Site::new(THREE);
    site.cutter(0, &["plan", "plan.toml", "-o", "plan.json"]);
    let saved = std::fs::read_to_string(site.dir().join("plan.json")).unwrap();

    let mut v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let commands = v["hosts"][0]["changes"][0]["commands"]
        .as_array_mut()
        .unwrap();
    let i = commands
        .iter()
        .position(|c| c.as_str().unwrap().contains("echo alpha"))
        .expect("the saved plan shows the command");
    commands[i] = commands[i]
        .as_str()
        .unwrap()
        .replace("echo alpha", "echo pwned")
        .into();
    std::fs::write(site.dir().join("plan.json"), v.to_string()).unwrap();
    let run = site.cutter(1, &["apply", "plan.json", "--yes"]);
    let said = unwrapped(&run.stderr);
    assert_says(&said, "cannot be applied as reviewed");
    assert_says(&said, "differ from the reviewed ones");
    assert!(!site.out().exists(), "an edited plan was applied");

    // The words the reviewer read are part of the contract too.
    let edited = saved.replacen("`echo alpha` on the host", "`echo harmless` on the host", 1);
    assert_ne!(edited, saved, "the saved plan describes the step");
    std::fs::write(site.dir().join("plan.json"), &edited).unwrap();
    let run = site.cutter(1, &["apply", "plan.json", "--yes"]);
    assert_says(
        &unwrapped(&run.stderr),
        "the description of step `artefact.alpha` differs",
    );
    assert!(!site.out().exists(), "a plan with edited words was applied");

    let mut v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    v["hosts"][0]["changes"].as_array_mut().unwrap().remove(0);
    std::fs::write(site.dir().join("plan.json"), v.to_string()).unwrap();
    let run = site.cutter(1, &["apply", "plan.json", "--yes"]);
    assert_says(&unwrapped(&run.stderr), "was not reviewed");
    assert!(!site.out().exists());

    std::fs::write(site.dir().join("plan.json"), &saved).unwrap();
    let run = site.cutter(1, &["apply", "plan.json", "--yes", "--target", "alpha"]);
    assert_says(&unwrapped(&run.stderr), "it was made for the whole plan");
    assert!(!site.out().exists());

    site.cutter(0, &["apply", "plan.json", "--yes"]);
    site.assert_checksums_pass();
}

/// A no-op plan trusts a file's verification record only while its size,
/// mtime, inode and ctime are those recorded: a write that puts size and
/// mtime back still moves ctime, and is caught without `--verify`.
#[test]
fn a_write_is_caught_even_when_size_and_mtime_are_put_back() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let r = site.cutter(0, &["drift", "plan.toml", "--format", "json"]);
    assert_says(&r.stdout, "metadata unchanged since it was hashed");
    let f = site.file("alpha.txt");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "ALPHA\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&r.stderr, "corrupted");
}

/// Silent corruption (content changed, metadata as recorded) is what the
/// full verification is for: `--verify` hashes everything, and so does a
/// plan once the record is older than `verify_every`.
#[test]
fn silent_corruption_is_caught_by_full_verification() {
    let site = Site::new(THREE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let f = site.file("bravo.txt");
    std::fs::write(&f, "BRAVO\n").unwrap();
    // Bit rot: the record vouches for the new metadata, not the new content.
    let rec = site.out().join(".bravo.txt.cutter-verified");
    let old = std::fs::read_to_string(&rec).unwrap();
    let meta = Command::new("stat")
        .args(["-c", "%s %.9Y %i %.9Z"])
        .arg(&f)
        .output()
        .unwrap();
    let tail: Vec<&str> = old.split_whitespace().skip(4).collect();
    std::fs::write(
        &rec,
        format!(
            "{} {}\n",
            String::from_utf8_lossy(&meta.stdout).trim(),
            tail.join(" ")
        ),
    )
    .unwrap();
    site.cutter(0, &["drift", "plan.toml"]);
    let r = site.cutter(2, &["drift", "plan.toml", "--verify"]);
    assert_says(&r.stderr, "corrupted");
    // an old record no longer vouches
    let aged = std::fs::read_to_string(&rec)
        .unwrap()
        .rsplit_once(' ')
        .map(|(head, _)| format!("{head} 1000000000\n"))
        .unwrap();
    std::fs::write(&rec, aged).unwrap();
    let r = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&r.stderr, "corrupted");
}

/// A plan whose probe writes more than a pipe holds before it has read all
/// of its script (1000 artefacts) must not stall: input is written while
/// output is read. (Before, `plan` hung here for good.)
#[test]
fn a_thousand_artefacts_do_not_stall_the_probe() {
    let t = Test::new();
    let out = t.path().join("out");
    let mut plan = String::from("[hosts.here]\nlocal = true\n");
    for i in 0..1000 {
        plan.push_str(&format!(
            "[artefacts.f{i}]\npath = \"{}/d{}/f{i}.txt\"\ncommand = \"echo {i}\"\n",
            out.display(),
            i % 10
        ));
    }
    // Files in place with manifests: the probe has much to say about each.
    for i in 0..1000 {
        let d = out.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        std::fs::write(
            d.join(format!("f{i}.txt.cutter.json")),
            format!("{{\"artefact\":\"f{i}\",\"note\":\"{}\"}}", "x".repeat(400)),
        )
        .unwrap();
    }
    let t = t.plan(&plan);
    let mut child = Command::new(crate::test::cutter_bin())
        .args(["plan", "plan.toml", "--format", "json"])
        .current_dir(t.path())
        .env("HOME", t.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("plan of 1000 artefacts stalled");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success());
}

/// Bash completion offers the plan's resource names after `--target`,
/// `--replace` and `destroy PLAN`, without contacting a host.
#[test]
fn bash_completion_offers_resource_names() {
    let site = Site::new(THREE);
    let script = site.cutter(0, &["completions", "bash"]).stdout;
    let bin = crate::test::cutter_bin();
    let dir = bin.parent().unwrap().display().to_string();
    let probe = format!(
        "PATH={dir}:$PATH\n{script}\nCOMP_WORDS=(cutter plan plan.toml --target br)\nCOMP_CWORD=4\n_cutter_with_names\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(cutter destroy plan.toml '')\nCOMP_CWORD=3\n_cutter_with_names\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .current_dir(site.dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "bravo",
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines[1..].contains(&"alpha") && lines[1..].contains(&"charlie"),
        "{text}"
    );
}
