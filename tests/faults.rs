//! Faults around an apply: two applies racing for a host's lock.

use std::time::{Duration, Instant};

use crate::test::Test;

/// The second apply waits for the first one's lock, then observes again and
/// does not redo what the first one just did.
#[test]
fn lock_wait_observes_again_after_getting_the_lock() {
    let marker = format!("5151{}", std::process::id());
    let t = Test::new();
    let out = t.path().join("out");
    let plan = format!(
        "[hosts.here]\nlocal = true\n[artefacts.slow]\npath = \"{}/slow.txt\"\ncommand = \"sleep 3 && echo {marker}\"\n",
        out.display()
    );
    let t = t.plan(&plan);
    let home = t.path().display().to_string();
    let spawn = || {
        std::process::Command::new(crate::test::cutter_bin())
            .args(["apply", "--yes", "--lock-wait", "2m", "plan.toml"])
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .env("HOME", &home)
            .env_remove("CUTTER_NOW")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    let lock = t.path().join(".cutter/apply.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the first apply never locked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = spawn();
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    let (e1, e2) = (
        String::from_utf8_lossy(&first.stderr),
        String::from_utf8_lossy(&second.stderr),
    );
    assert_eq!(first.status.code(), Some(0), "{e1}");
    assert_eq!(second.status.code(), Some(0), "{e2}");
    assert!(
        e2.contains("another apply already did everything"),
        "the second apply did not observe again:\n{e2}"
    );
    assert!(!e2.contains("Finished artefact.slow"), "{e2}");
}

/// `cutter unlock` names the holder, refuses without confirmation off a
/// terminal, and removes the lock with `--yes`.
#[test]
fn unlock_names_the_holder_and_removes_the_lock() {
    let t = Test::new().plan("[hosts.here]\nlocal = true\n");
    let home = t.path().display().to_string();
    let lock = t.path().join(".cutter/apply.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(
        lock.join("holder"),
        "ops@elsewhere pid 1 plan /srv/plan.toml since 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let mut t = t.env("HOME", &home);
    t = t.args(&["unlock", "plan.toml", "here"]);
    let r = t.status(1);
    assert!(r.stderr.contains("ops@elsewhere pid 1"), "{}", r.stderr);
    assert!(lock.exists(), "removed without confirmation");
    t = t.args(&["unlock", "plan.toml", "here", "--yes"]);
    let r = t.status(0);
    assert!(r.stderr.contains("Unlocked"), "{}", r.stderr);
    assert!(!lock.exists());
    t = t.args(&["unlock", "plan.toml", "nowhere", "--yes"]);
    let r = t.status(1);
    assert!(r.stderr.contains("unknown host `nowhere`"), "{}", r.stderr);
}

/// A lock whose holder died is stale only once none of the steps it started
/// runs any more.
#[test]
fn a_dead_holders_lock_is_not_stale_while_its_step_runs() {
    let t = Test::new();
    let out = t.path().join("out");
    let t = t.plan(&format!(
        "[hosts.here]\nlocal = true\n[artefacts.a]\npath = \"{}/a.txt\"\ncommand = \"echo a\"\n",
        out.display()
    ));
    let home = t.path().display().to_string();
    let lock = t.path().join(".cutter/apply.lock");
    std::fs::create_dir_all(&lock).unwrap();
    let machine = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    // A holder process of this machine that is gone, and a step of it that runs.
    std::fs::write(
        lock.join("holder"),
        format!("ops@{machine} pid 999999999 plan x since 2026-01-01T00:00:00Z\n"),
    )
    .unwrap();
    let mut step = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(lock.join(format!("steps.{}", step.id())), "").unwrap();
    let t = t.env("HOME", &home).args(&["apply", "--yes", "plan.toml"]);
    let r = t.status(1);
    assert!(r.stderr.contains("still runs on the host"), "{}", r.stderr);
    assert!(!out.join("a.txt").exists());
    step.kill().unwrap();
    step.wait().unwrap();
    let r = t.status(0);
    assert!(
        r.stderr.contains("removed the stale apply lock"),
        "{}",
        r.stderr
    );
    assert!(out.join("a.txt").exists());
}

/// Off a terminal, a running step prints a heartbeat line (step, elapsed)
/// at least every 30 s, so a CI log never looks hung.
#[test]
fn a_long_step_prints_heartbeats_off_a_terminal() {
    let t = Test::new();
    let out = t.path().join("out");
    let home = t.path().display().to_string();
    let t = t
        .plan(&format!(
            "[hosts.here]\nlocal = true\n[artefacts.slow]\npath = \"{}/slow.txt\"\ncommand = \"sleep 3; echo slow\"\n",
            out.display()
        ))
        .env("HOME", &home)
        .env("CUTTER_HEARTBEAT_SECS", "1")
        .args(&["apply", "--yes", "plan.toml"]);
    let r = t.status(0);
    assert!(
        r.stderr.contains("Running artefact.slow for"),
        "no heartbeat:\n{}",
        r.stderr
    );
}

/// A `SHA256SUMS` lock left by a process that is gone does not hang the next
/// apply: it is removed, with a line saying so.
#[test]
fn a_stale_checksum_lock_is_removed() {
    let t = Test::new();
    let out = t.path().join("out");
    std::fs::create_dir_all(out.join(".SHA256SUMS.cutter-lock")).unwrap();
    std::fs::write(out.join(".SHA256SUMS.cutter-lock/pid"), "999999999\n").unwrap();
    // Left an hour ago: a fresh lock is never taken for stale.
    let touched = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(out.join(".SHA256SUMS.cutter-lock"))
        .status()
        .unwrap();
    assert!(touched.success());
    let home = t.path().display().to_string();
    let t = t
        .plan(&format!(
            "[hosts.here]\nlocal = true\n[artefacts.a]\npath = \"{}/a.txt\"\ncommand = \"echo a\"\n",
            out.display()
        ))
        .env("HOME", &home)
        .args(&["apply", "--yes", "plan.toml"]);
    t.status(0);
    assert!(!out.join(".SHA256SUMS.cutter-lock").exists());
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success());
}

/// Once a host has an apply generation, an apply whose lock shows that no
/// apply ran since it observed does not observe a second time; the first
/// apply on a host (no generation yet) observes again under its lock.
#[test]
fn apply_observes_once_when_no_apply_ran_since() {
    let t = Test::new();
    let out = t.path().join("out");
    let one = format!(
        "[hosts.here]\nlocal = true\n[artefacts.one]\npath = \"{}/one.txt\"\ncommand = \"echo one\"\n",
        out.display()
    );
    let two = format!(
        "{one}[artefacts.two]\npath = \"{}/two.txt\"\ncommand = \"echo two\"\n",
        out.display()
    );
    let observed = |stderr: &str| {
        stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("Observed"))
            .count()
    };
    let t = t.plan(&one).args(&["apply", "--yes", "plan.toml"]);
    let first = t.status(0);
    assert_eq!(observed(&first.stderr), 2, "{}", first.stderr);
    let t = t.plan(&two);
    let second = t.status(0);
    assert_eq!(
        observed(&second.stderr),
        1,
        "observed again:\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("Finished artefact.two"),
        "{}",
        second.stderr
    );
}
