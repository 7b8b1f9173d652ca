//! A failed step says why (issue 10, item 11): the last lines of the
//! command's own standard error, not just its exit code.

use std::process::{Command, Stdio};

use crate::diagnostics::{assert_says, unwrapped};
use crate::local::{MORNING, Site};
use crate::test::cutter_bin;

#[test]
fn a_failing_command_shows_the_end_of_its_stderr() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.dump]
path = "{out}/dump.bin"
command = "echo 'pg_dump: connecting' >&2; echo 'pg_dump: error: connection to server failed: FATAL:  role \"x\" does not exist' >&2; exit 1"
stderr = "pg_dump.stderr"
"#,
    );
    let run = site.cutter(1, &["apply", "--yes", "plan.toml"]);
    let err = unwrapped(&run.stderr);
    assert_says(&err, "artefact.dump failed");
    assert_says(
        &err,
        r#"pg_dump: error: connection to server failed: FATAL:  role "x" does not exist"#,
    );
    // The report carries the cause too.
    let report = std::fs::read_dir(site.dir().join("cutter-reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    assert_says(
        &std::fs::read_to_string(report).unwrap(),
        "role \\\"x\\\" does not exist",
    );
    // And nothing that looks complete is left.
    assert!(
        site.listing().is_empty(),
        "left behind: {:?}",
        site.listing()
    );
}

#[test]
fn a_size_check_failure_still_names_the_size_check() {
    // The command's stderr is noisy but it succeeded: the reason is the size.
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.dump]
path = "{out}/dump.bin"
command = "for i in 1 2 3 4 5 6 7 8 9 10; do echo warning $i >&2; done; echo tiny"
min_size = "1 KiB"
"#,
    );
    let run = site.cutter(1, &["apply", "--yes", "plan.toml"]);
    assert_says(&run.stderr, "output is 5 bytes, below min_size 1024");
}

/// A full disk: the command's own message cannot be written to its stderr
/// file either, so cutter names the full file system. Runs cutter in a
/// mount namespace of its own with a 64 KiB tmpfs (`unshare`, no root needed
/// where user namespaces are enabled).
#[test]
fn a_full_disk_is_named_as_the_cause() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.dump]
path = "{out}/small/dump.bin"
command = "head -c 300000 /dev/zero"
"#,
    );
    let small = site.out().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs {small} || exit 99; {cutter} apply --yes plan.toml; rc=$?; echo \"left: $(ls -A {small})\" >&2; exit $rc",
        small = small.display(),
        cutter = cutter_bin().display()
    );
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .env("CUTTER_NOW", MORNING)
        .stdin(Stdio::null())
        .output()
        .expect("this test needs `unshare` (util-linux)");
    let stderr = unwrapped(&String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(99) && !is_root() {
        // scripts/check runs without root, where user namespaces may be
        // disabled; the full suite (scripts/test, as root) always runs this.
        eprintln!("skipped: cannot mount a tmpfs in a user namespace here: {stderr}");
        return;
    }
    assert_ne!(
        out.status.code(),
        Some(99),
        "cannot mount a tmpfs in a user namespace here: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_says(&stderr, "artefact.dump failed");
    assert_says(&stderr, "No space left on device");
    // No partial file, no temporary, no checksum line.
    assert_says(&stderr, "left: \n");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
