//! Failures are recorded when they happen, and a step cutter never saw end
//! is shown as interrupted: after kill -9 of cutter mid-apply, the next plan
//! names the failed check and the interrupted step, with where and when,
//! drift exits 2, and a re-apply that gets through clears both.

use std::time::{Duration, Instant};

use crate::diagnostics::{assert_never_says, assert_says};
use crate::stack::{StackTest, stack};

/// A check that fails fast, and a free-form host command that sleeps until
/// a file appears (the host has no protected resources: the twin of a
/// production host, so the command is allowed).
fn plan(sleep: &str, check: &str, expect: u32) -> String {
    format!(
        r#"[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"

[checks.{check}]
container = "postgres"
user = "{user}"
database = "{db}"
sql = "SELECT 1"
expect = "{expect}"

[artefacts.slow]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/slow.txt"
command = "[ -e {{{{ env.CUTTER_BACKUP_ROOT }}}}/go ] || sleep {sleep}; echo slow"
"#,
        user = stack().get("CUTTER_TEST_PROD_USER"),
        db = stack().get("CUTTER_TEST_PROD_DB"),
    )
}

/// Whether a file of the shared account's failure folder ends with `suffix`.
fn recorded(suffix: &str) -> bool {
    let out = stack().ssh("ls -1 \"$HOME/.cutter/failures\" 2>/dev/null || :");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.ends_with(suffix))
}

/// Whether `sleep NUMBER` runs on the host (`[s]` keeps pgrep from
/// finding its own shell).
fn running(number: &str) -> bool {
    stack()
        .ssh(&format!("pgrep -f '[s]leep {number}' > /dev/null"))
        .status
        .success()
}

#[test]
fn stack_kill_9_mid_step_leaves_the_failure_and_the_interrupted_step_on_record() {
    let t = StackTest::new("interrupted");
    let sleep = format!("4545{}", std::process::id());
    let check = format!("wrong_{}", std::process::id());
    t.plan(&plan(&sleep, &check, 2));

    let mut env = t.env.clone();
    env.push(("CUTTER_BACKUP_ROOT".into(), t.remote_root.clone()));
    let mut child = std::process::Command::new(crate::test::cutter_bin())
        .args(["apply", "plan.toml", "--yes", "--parallelism", "2"])
        .current_dir(t.local.path())
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // While the slow step runs, the failed check is already on record.
    let failure = format!(".check.{check}.json");
    let deadline = Instant::now() + Duration::from_secs(600);
    while !(running(&sleep) && recorded(&failure)) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the slow step never ran with the check's failure on record (running: {}, recorded: {})",
                running(&sleep),
                recorded(&failure)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The host ends the step's processes once cutter is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running(&sleep) {
        assert!(Instant::now() < deadline, "the step outlived cutter");
        std::thread::sleep(Duration::from_millis(200));
    }

    let p = t.expect(&["plan", "plan.toml"], 0);
    assert_says(
        &p.stdout,
        "! artefact.slow on vps: interrupted: started at ",
    );
    assert_says(&p.stdout, "and its end was never recorded");
    // by whom: the holder names the apply's process and plan
    assert_says(&p.stdout, &format!("pid {}", child.id()));
    assert_says(&p.stdout, &format!("! check.{check} on vps: failed at "));
    let json = t.expect(&["plan", "plan.toml", "--format", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let standing = v["standing"].as_array().unwrap();
    assert!(
        standing.iter().any(|s| s["step"] == "artefact.slow"
            && s["host"] == "vps"
            && s["what"].as_str().unwrap().starts_with("interrupted: ")),
        "{standing:?}"
    );
    let d = t.expect(&["drift", "plan.toml"], 2);
    assert_says(&d.stderr, "artefact.slow on vps interrupted: started at ");

    // A re-apply that gets through (the command no longer waits, the check
    // now passes) ends both records.
    assert!(
        stack()
            .ssh(&format!("touch '{}/go'", t.remote_root))
            .status
            .success()
    );
    t.plan(&plan(&sleep, &check, 1));
    t.expect(&["apply", "plan.toml", "--yes"], 0);
    assert!(!recorded(&failure), "the check's failure still stands");
    let p = t.expect(&["plan", "plan.toml"], 0);
    assert_never_says(&p.stdout, "interrupted");
    assert_never_says(&p.stdout, "standing failures");
    t.expect(&["drift", "plan.toml"], 0);
}

/// The same on this machine (no SSH): the step's own script leaves the
/// in-flight record, the next plan names the step, drift exits 2, and an
/// apply that gets through clears it.
#[test]
fn kill_9_mid_step_on_this_machine_is_shown_as_interrupted() {
    let sleep = format!("4646{}", std::process::id());
    let site = crate::local::Site::new(&format!(
        "[hosts.here]\nlocal = true\n[artefacts.slow]\npath = \"{{out}}/slow.txt\"\ncommand = \"[ -e {{out}}/go ] || sleep {sleep}; echo slow\"\n"
    ));
    let mut child = std::process::Command::new(crate::test::cutter_bin())
        .args(["apply", "plan.toml", "--yes"])
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let here = |pattern: &str| {
        std::process::Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let pattern = format!("[s]leep {sleep}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !here(&pattern) {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let p = site.cutter(0, &["plan", "plan.toml"]);
    assert_says(
        &p.stdout,
        "! artefact.slow on here: interrupted: started at ",
    );
    assert_says(&p.stdout, &format!("pid {}", child.id()));
    site.cutter(2, &["drift", "plan.toml"]);
    let status = site.cutter(0, &["status", "plan.toml"]);
    assert_says(&status.stdout, "interrupted artefact.slow: started at ");

    std::fs::create_dir_all(site.out()).unwrap();
    std::fs::write(site.file("go"), "").unwrap();
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let p = site.cutter(0, &["plan", "plan.toml"]);
    assert_never_says(&p.stdout, "interrupted");
    site.cutter(0, &["drift", "plan.toml"]);
}
