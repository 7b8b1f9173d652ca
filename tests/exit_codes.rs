//! Exit codes and standard output (issue 10, items 4 and 12): 2 only ever
//! means "changes pending" or drift; a usage error, a closed pipe, a full
//! disk or an invalid `CUTTER_NOW` is a message and exit 1, never a panic.

use std::process::{Command, Stdio};

use crate::diagnostics::{assert_never_says, assert_says};
use crate::local::Site;
use crate::test::{Test, cutter_bin};

const ONE_FILE: &str = r#"
[hosts.local]
local = true

[artefacts.one]
path = "{out}/one_{{ timestamp }}.txt"
command = "sleep 0.3; echo one"
"#;

#[test]
fn a_usage_error_exits_1_not_2() {
    for args in [
        &["plan"][..],
        &["--no-such-option"],
        &["frobnicate"],
        &["plan", "x.toml", "--format", "yaml"],
        &["apply", "x.toml", "--parallelism", "many"],
    ] {
        let run = Test::new().args(args).status(1);
        assert_says(&run.stderr, "error:");
        assert_says(&run.stderr, "--help");
    }
    // No command at all: the help, on standard error, and exit 1.
    let run = Test::new().args(&[]).status(1);
    assert_says(&run.stderr, "Usage:");
}

#[test]
fn help_and_version_exit_0() {
    let run = Test::new().args(&["--help"]).status(0);
    assert_says(&run.stdout, "Usage:");
    let run = Test::new().args(&["--version"]).status(0);
    assert_says(&run.stdout, "cutter");
}

/// Run cutter in `site` with `stdout` as its standard output.
fn run_with_stdout(site: &Site, args: &[&str], stdout: Stdio) -> (i32, String) {
    let out = Command::new(cutter_bin())
        .args(args)
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .env_remove("CUTTER_NOW")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A pipe whose reading end is already closed, as after `| head -c1` exits.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

#[test]
fn a_closed_pipe_on_stdout_is_an_error_not_a_panic() {
    let site = Site::new(ONE_FILE);
    for args in [
        &["plan", "--format", "json", "plan.toml"][..],
        &["plan", "--format", "markdown", "plan.toml"],
        &["graph", "plan.toml"],
        &["schema"],
        &["completions", "bash"],
    ] {
        let (status, stderr) = run_with_stdout(&site, args, closed_pipe());
        assert_eq!(status, 1, "cutter {args:?}: {stderr}");
        assert_never_says(&stderr, "panicked");
        assert_says(&stderr, "cannot write to standard output");
        assert_says(&stderr, "Broken pipe");
    }
}

#[test]
fn a_full_disk_on_stdout_is_an_error_not_a_panic() {
    let site = Site::new(ONE_FILE);
    for args in [&["plan", "--format", "json", "plan.toml"][..], &["schema"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (status, stderr) = run_with_stdout(&site, args, full.into());
        assert_eq!(status, 1, "cutter {args:?}: {stderr}");
        assert_never_says(&stderr, "panicked");
        assert_says(&stderr, "cannot write to standard output");
        assert_says(&stderr, "No space left on device");
    }
}

#[test]
fn an_invalid_cutter_now_is_an_error() {
    let site = Site::new(ONE_FILE);
    for args in [&["validate", "plan.toml"][..], &["plan", "plan.toml"]] {
        let run = site.run("yesterday", args);
        assert_eq!(run.status, 1, "{}", run.stderr);
        assert_says(
            &run.stderr,
            "`CUTTER_NOW` is not an RFC 3339 time: `yesterday`",
        );
    }
    // Nothing was made.
    let run = site.run("2026-13-45T99:00:00Z", &["apply", "--yes", "plan.toml"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(!site.out().exists());
}

#[test]
fn cutter_now_fixes_templates_but_not_the_report_clock() {
    let site = Site::new(ONE_FILE);
    site.cutter_at("2020-01-02T03:04:05Z", 0, &["apply", "--yes", "plan.toml"]);
    // The template used the fixed time.
    assert!(site.file("one_20200102T030405Z.txt").is_file());
    // The report's clock is real: started and finished now, not in 2020,
    // and the step's time shows in the wall time.
    let reports = site.dir().join("cutter-reports");
    let json = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let parse =
        |key: &str| chrono::DateTime::parse_from_rfc3339(report[key].as_str().unwrap()).unwrap();
    let (started, finished) = (parse("started_at"), parse("finished_at"));
    let real = chrono::Utc::now();
    assert!(
        (real - started.with_timezone(&chrono::Utc))
            .num_minutes()
            .abs()
            < 60,
        "started_at {started} is not the real time ({real})"
    );
    assert!(
        finished - started >= chrono::Duration::milliseconds(300),
        "the report's wall time ({started} to {finished}) does not cover the step's 0.3 s"
    );
    assert!(
        !json.display().to_string().contains("20200102"),
        "report named after the fixed time: {}",
        json.display()
    );
}
