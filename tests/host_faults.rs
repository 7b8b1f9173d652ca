//! Faults around what cutter writes on a host, through the CLI: a file
//! system that fills during a step, locks left without a readable holder.

use std::process::Command;

use crate::stack::{StackTest, stack};
use crate::test::Test;

fn local_plan(out: &std::path::Path, body: &str) -> String {
    format!(
        "[hosts.here]\nlocal = true\n\n{}",
        body.replace("OUT", &out.display().to_string())
    )
}

/// A lock left with an empty holder (an older cutter on a full disk) is
/// named with its age, and `cutter unlock` removes it; the next apply runs.
#[test]
fn an_apply_lock_without_a_readable_holder_can_be_removed() {
    let t = Test::new();
    let out = t.path().join("out");
    let lock = t.path().join(".cutter/apply.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("holder"), "").unwrap();
    let t = t.plan(&local_plan(
        &out,
        "[artefacts.a]\npath = \"OUT/a.txt\"\ncommand = \"echo a\"\n",
    ));
    let apply = ["apply", "--yes", "plan.toml", "--lock-wait", "1s"];
    let t = t.args(&apply);
    let r = t.status(1);
    assert!(r.stderr.contains("an unreadable holder"), "{}", r.stderr);
    assert!(r.stderr.contains("s old"), "{}", r.stderr);
    let t = t.args(&["unlock", "plan.toml", "here", "--yes"]);
    let r = t.status(0);
    assert!(r.stderr.contains("an unreadable holder"), "{}", r.stderr);
    assert!(!lock.exists());
    let t = t.args(&apply);
    t.status(0);
    assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "a\n");
}

/// A `SHA256SUMS` lock left with an empty holder, older than a minute, is
/// removed with a message instead of failing every later step in the folder.
#[test]
fn a_checksum_lock_without_a_readable_holder_is_removed() {
    let t = Test::new();
    let out = t.path().join("out");
    let lock = out.join(".SHA256SUMS.cutter-lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("pid"), "").unwrap();
    assert!(
        Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(&lock)
            .status()
            .unwrap()
            .success()
    );
    let t = t.plan(&local_plan(
        &out,
        "[artefacts.a]\npath = \"OUT/a.txt\"\ncommand = \"echo a\"\n",
    ));
    let t = t.args(&["apply", "--yes", "plan.toml"]);
    t.status(0);
    assert!(!lock.exists());
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(sums.ends_with("  a.txt\n"), "{sums}");
}

/// On the stack, as its non-root operator: a file system that fills while
/// a producer writes (one that does not notice, as `docker exec` relaying
/// output) fails the step; nothing is left that looks complete, no lock,
/// no temporary; the next plan still wants the file. Twin: a file that
/// fits is written and recorded.
#[test]
fn stack_a_full_disk_fails_the_step_and_records_nothing() {
    let t = StackTest::new("fulldisk");
    let small = format!("{}/small", t.remote_root);
    let op = stack().get("CUTTER_TEST_SSH_USER").to_string();
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs", &small])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    assert!(
        Command::new("chown")
            .args([&format!("{op}:{op}"), &small])
            .status()
            .unwrap()
            .success()
    );
    let plan = |command: &str| {
        format!(
            "[hosts.vps]\nssh = \"cutter-test-vps\"\n\n[artefacts.dump]\npath = \"{small}/dump.bin\"\ncommand = \"{command}\"\n"
        )
    };
    t.plan(&plan("head -c 1000000 /dev/zero 2>/dev/null || true"));
    let r = t.run(&["apply", "--yes", "plan.toml"]);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    let left: Vec<String> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let r = t.run(&["drift", "plan.toml"]);
    assert_eq!(r.status, 2, "{}", r.stdout);
    assert!(r.stdout.contains("missing"), "{}", r.stdout);
    t.plan(&plan("echo fits"));
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    let sums = std::fs::read_to_string(format!("{small}/SHA256SUMS")).unwrap();
    assert!(sums.ends_with("  dump.bin\n"), "{sums}");
}

/// A `ready` check that never answers (each try hangs until its 10 s
/// limit) fails the step after the 120 s its message names, not after 240
/// tries (42 minutes). Twin: a ready check that answers lets the step on.
#[test]
fn stack_a_ready_check_that_hangs_fails_after_120_seconds() {
    let t = StackTest::new("ready");
    let name = format!("cutter-ready-{}", std::process::id());
    let image = stack().get("CUTTER_TEST_PG_IMAGE").to_string();
    let plan = |ready: &str| {
        format!(
            "[hosts.vps]\nssh = \"cutter-test-vps\"\n\n[containers.copy]\nname = \"{name}\"\nimage = \"{image}\"\nlifecycle = \"persistent\"\nnetwork = \"{name}-net\"\nvolume = \"{name}-data\"\nenv = {{ POSTGRES_HOST_AUTH_METHOD = \"trust\" }}\nready = \"{ready}\"\n"
        )
    };
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let n = &self.0;
            let _ = stack().ssh(&format!(
                "docker rm -f -v {n} >/dev/null 2>&1; docker volume rm {n}-data >/dev/null 2>&1; docker network rm {n}-net >/dev/null 2>&1"
            ));
        }
    }
    let _cleanup = Cleanup(name.clone());
    t.plan(&plan("sleep 600"));
    let started = std::time::Instant::now();
    let mut child = Command::new(crate::test::cutter_bin())
        .args(["apply", "--yes", "plan.toml"])
        .current_dir(t.local.path())
        .envs(t.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The apply lock may first be held by another test's apply (10 min).
    let deadline = std::time::Duration::from_secs(15 * 60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the apply still waited for `ready` after 15 minutes");
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("container not ready after 120s"), "{err}");
    t.plan(&plan("pg_isready -q"));
    t.expect(&["apply", "--yes", "plan.toml"], 0);
}
