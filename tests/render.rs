//! What `cutter plan` and `cutter drift` print, as snapshots: the text for a
//! terminal, Markdown for a pull request and JSON for scripts, all on
//! standard output (status lines go to standard error). "Now" is fixed with `CUTTER_NOW`, so dates and timestamps are
//! stable and kept; what still varies between runs is redacted: the
//! temporary folder, full SHA-256 digests (the plan's own digest depends on
//! the folder's name) and durations.

use insta::assert_snapshot;
use regex::Regex;

use crate::local::Site;

/// An apply at 08:00 made all four; since then `inventory` was corrupted and
/// `notes` and `summary` were deleted, so the plan replaces one and creates
/// two. `kernel` is intact and, at [`LATER`], still fresh.
const PLAN: &str = r#"
[hosts.local]
local = true
free_form = "allow"

[hosts.local.protected]
paths = ["/etc"]

# A fixed name, checked against SHA256SUMS.
[artefacts.inventory]
path = "{out}/inventory.txt"
command = "printf 'one\\ntwo\\nthree\\n'"
verify = "grep -q two"

# A timestamped snapshot: a new one after an hour.
[artefacts.kernel]
path = "{out}/kernel_{{ timestamp }}.txt"
command = "echo Linux"
max_age = "60m"

[artefacts.notes]
path = "{out}/notes.txt"
command = "echo notes"
stderr = "notes.stderr"

[artefacts.summary]
path = "{out}/summary.txt"
command = "wc -l < {out}/inventory.txt"
min_size = "2 B"
after = ["inventory", "kernel"]
"#;

/// Half an hour after the apply: `kernel` is not stale yet.
const LATER: &str = "2026-05-15T08:30:00Z";

fn applied_site() -> Site {
    let site = Site::new(PLAN);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    site
}

fn damaged_site() -> Site {
    let site = applied_site();
    let inventory = site.file("inventory.txt");
    let mut bytes = std::fs::read(&inventory).unwrap();
    bytes[0] = b'X';
    std::fs::write(&inventory, bytes).unwrap();
    std::fs::remove_file(site.file("notes.txt")).unwrap();
    std::fs::remove_file(site.file("summary.txt")).unwrap();
    site
}

/// Replace what varies between runs with stable placeholders.
fn redact(site: &Site, text: &str) -> String {
    let mut text = text.to_string();
    let dir = site.dir();
    let canonical = std::fs::canonicalize(dir).unwrap();
    for d in [canonical.as_path(), dir] {
        text = text.replace(&d.display().to_string(), "[TMP]");
    }
    let hashed = Regex::new(r"hashed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = hashed.replace_all(&text, "hashed at [TIME]").into_owned();
    let nonce = Regex::new(r"cutter-(verify-)?[0-9a-f]{16}\b").unwrap();
    let text = nonce.replace_all(&text, "cutter-${1}[NONCE]").into_owned();
    let sha256 = Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    let text = sha256.replace_all(&text, "[SHA256]");
    let seconds = Regex::new(r"\b\d+\.\d+s\b").unwrap();
    seconds.replace_all(&text, "[DURATION]").into_owned()
}

/// Each step in words; the commands only with `--verbose`.
#[test]
fn plan_as_text() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 0, &["plan", "plan.toml"]);
    assert!(
        !run.stdout.contains("$ "),
        "no commands without --verbose:\n{}",
        run.stdout
    );
    assert_snapshot!(redact(&site, &run.stdout));
}

#[test]
fn plan_as_text_verbose() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 0, &["plan", "-v", "plan.toml"]);
    assert!(
        run.stdout.contains("        $ sh -c \"printf 'one"),
        "{}",
        run.stdout
    );
    assert_snapshot!(redact(&site, &run.stdout));
}

/// Terraform's convention: the plan on standard output (so `> plan.txt` and
/// `| less` work), status lines on standard error.
#[test]
fn the_plan_goes_to_stdout_and_status_to_stderr() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 0, &["plan", "plan.toml"]);
    assert!(run.stdout.starts_with("cutter plan "), "{}", run.stdout);
    assert!(run.stdout.contains("replace  artefact.inventory"));
    assert!(!run.stdout.contains("Observed"), "{}", run.stdout);
    assert!(run.stderr.contains("Observed 1 host(s)"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("artefact.inventory"),
        "no plan on stderr:\n{}",
        run.stderr
    );
}

/// `-q` drops the human plan and status lines, never machine output.
#[test]
fn quiet_prints_machine_output_only() {
    let site = damaged_site();
    let text = site.cutter_at(LATER, 0, &["plan", "-q", "plan.toml"]);
    assert_eq!((text.stdout.as_str(), text.stderr.as_str()), ("", ""));
    let json = site.cutter_at(LATER, 0, &["-q", "plan", "plan.toml", "--format", "json"]);
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(view["summary"]["replace"], 1);
    assert_eq!(json.stderr, "");
    let md = site.cutter_at(
        LATER,
        0,
        &["plan", "-q", "plan.toml", "--format", "markdown"],
    );
    assert!(md.stdout.starts_with("### cutter plan"), "{}", md.stdout);
    let drift = site.cutter_at(LATER, 2, &["drift", "-q", "plan.toml"]);
    assert_eq!((drift.stdout.as_str(), drift.stderr.as_str()), ("", ""));
    // Errors are never quiet.
    let bad = site.cutter_at(LATER, 1, &["plan", "-q", "missing.toml"]);
    assert!(bad.stderr.contains("missing.toml"), "{}", bad.stderr);
}

#[test]
fn plan_as_markdown_verbose() {
    let site = damaged_site();
    let run = site.cutter_at(
        LATER,
        0,
        &["plan", "plan.toml", "--verbose", "--format", "markdown"],
    );
    assert!(run.stdout.contains("```sh\n"), "{}", run.stdout);
    assert!(run.stdout.contains("sh -c \"printf 'one"), "{}", run.stdout);
    assert!(run.stdout.contains("# bookkeeping"), "{}", run.stdout);
}

#[test]
fn plan_as_markdown() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 0, &["plan", "plan.toml", "--format", "markdown"]);
    assert_snapshot!(redact(&site, &run.stdout));
}

#[test]
fn plan_as_json() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 0, &["plan", "plan.toml", "--format", "json"]);
    let view: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(view["format_version"], 1);
    assert_eq!(view["generated_at"], LATER);
    assert_eq!(view["summary"]["create"], 2);
    assert_eq!(view["summary"]["replace"], 1);
    assert_eq!(view["summary"]["unchanged"], 1);
    assert_snapshot!(redact(&site, &run.stdout));
}

#[test]
fn a_saved_plan_is_the_json_plan() {
    let site = damaged_site();
    let json = site.cutter_at(LATER, 0, &["plan", "plan.toml", "--format", "json"]);
    site.cutter_at(LATER, 0, &["plan", "plan.toml", "-o", "saved.json"]);
    let saved = std::fs::read_to_string(site.dir().join("saved.json")).unwrap();
    assert_eq!(saved.trim_end(), json.stdout.trim_end());
}

#[test]
fn drift_as_json() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 2, &["drift", "plan.toml", "--format", "json"]);
    let view: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let changes = view["hosts"][0]["changes"].as_array().unwrap();
    let steps: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["step"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("artefact.inventory", "replace"),
            ("artefact.notes", "create"),
            ("artefact.summary", "create"),
        ]
    );
    assert_snapshot!(redact(&site, &run.stdout));
}

#[test]
fn drift_as_text() {
    let site = damaged_site();
    let run = site.cutter_at(LATER, 2, &["drift", "plan.toml"]);
    assert!(
        run.stderr.contains("Drift artefact.notes: missing"),
        "{}",
        run.stderr
    );
    assert_snapshot!(redact(&site, &run.stdout));
}

#[test]
fn in_sync_as_text() {
    let site = applied_site();
    let run = site.cutter_at(LATER, 0, &["plan", "plan.toml"]);
    assert_snapshot!(redact(&site, &run.stdout));
}

/// A plan with nothing to run but a conflict does not point at commands.
#[test]
fn a_plan_of_conflicts_only_has_no_commands_to_show() {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n[artefacts.notes]\npath = \"{out}/notes.txt\"\ncommand = \"echo notes\"\n",
    );
    std::fs::create_dir_all(site.out()).unwrap();
    std::fs::write(site.file("notes.txt"), "the operator's own\n").unwrap();
    let run = site.cutter(1, &["plan", "plan.toml"]);
    assert!(
        run.stdout.contains("conflict artefact.notes"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("--verbose"), "{}", run.stdout);
}
