//! The host primitives (`cutter::host`) on their own, under `dash` and
//! `busybox sh` where the machine has them: planted links, existing
//! folders, hostile names, a protected real path reached through a link, a
//! stale or unreadable lock, and a full file system (when the tests run as
//! root and can mount a small tmpfs).

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use cutter::host::{self, Leaf};
use cutter::shell::quote;

/// The shells to run the primitives under: each that exists here.
fn shells() -> Vec<Vec<&'static str>> {
    let mut out = Vec::new();
    for (probe, argv) in [
        ("dash", vec!["dash", "-c"]),
        ("busybox", vec!["busybox", "sh", "-c"]),
    ] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {probe}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            out.push(argv);
        }
    }
    assert!(!out.is_empty(), "neither dash nor busybox is installed");
    out
}

struct Ran {
    code: i32,
    stderr: String,
    stdout: String,
}

/// Run `body` after the primitives' definitions, as a step does.
fn run(shell: &[&str], cwd: &Path, body: &str) -> Ran {
    run_umask(shell, cwd, "022", body)
}

/// The same, with the account's umask `umask`.
fn run_umask(shell: &[&str], cwd: &Path, umask: &str, body: &str) -> Ran {
    let script = format!("umask {umask}\nset -eu\n{}{body}\n", host::LIB);
    let out = Command::new(shell[0])
        .args(&shell[1..])
        .arg(&script)
        .current_dir(cwd)
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn publish(dir: &Path, name: &str, protected: &[&Path]) -> String {
    let leaf = Leaf::new(name).unwrap();
    format!(
        "{}; {}; cutter_write \"$t\" 'new content'; {}",
        host::enter(
            &dir.display().to_string(),
            protected.iter().map(|p| p.to_str().unwrap())
        ),
        host::temp("t", "x"),
        host::put("t", &leaf)
    )
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A name that is a link to a protected folder, or to a protected file, is
/// never written through or moved into; a folder in the way is refused; a
/// plain name (the twin) takes the file.
#[test]
fn put_never_follows_a_link_nor_moves_into_a_folder() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let prod = t.path().join("prod");
        let out = t.path().join("out");
        std::fs::create_dir_all(&prod).unwrap();
        std::fs::create_dir_all(out.join("a-folder")).unwrap();
        std::fs::write(prod.join("keep"), "production").unwrap();
        symlink(&prod, out.join("to-folder")).unwrap();
        symlink(prod.join("keep"), out.join("to-file")).unwrap();
        for name in ["to-folder", "to-file", "a-folder"] {
            let r = run(&sh, t.path(), &publish(&out, name, &[&prod]));
            assert_eq!(r.code, host::REFUSED, "{sh:?} {name}: {}", r.stderr);
            assert!(
                r.stderr.contains("is a link or not a regular file"),
                "{}",
                r.stderr
            );
        }
        assert_eq!(entries(&prod), ["keep"]);
        assert_eq!(
            std::fs::read_to_string(prod.join("keep")).unwrap(),
            "production"
        );
        // The twin: a plain name, new or replaced, takes the file.
        for _ in 0..2 {
            let r = run(&sh, t.path(), &publish(&out, "plain", &[&prod]));
            assert_eq!(r.code, 0, "{sh:?}: {}", r.stderr);
        }
        assert_eq!(
            std::fs::read_to_string(out.join("plain")).unwrap(),
            "new content"
        );
        assert!(
            entries(&out).iter().all(|e| !e.starts_with(".cutter-tmp")),
            "{sh:?}: temporaries left: {:?}",
            entries(&out)
        );
    }
}

/// A folder whose real path is under a protected path is refused, however
/// it is spelled (through a link); the twin outside is entered.
#[test]
fn enter_refuses_a_protected_real_path_by_any_spelling() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let prod = t.path().join("prod");
        std::fs::create_dir_all(prod.join("data")).unwrap();
        symlink(&prod, t.path().join("innocent")).unwrap();
        for dir in [
            prod.join("data"),
            t.path().join("innocent/data"),
            t.path().join("innocent/new/folder"),
            prod.clone(),
        ] {
            let r = run(&sh, t.path(), &publish(&dir, "x", &[&prod]));
            assert_eq!(r.code, host::REFUSED, "{sh:?} {dir:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("resolves under protected path"),
                "{}",
                r.stderr
            );
        }
        assert_eq!(entries(&prod), ["data"]);
        assert!(entries(&prod.join("data")).is_empty());
        let r = run(
            &sh,
            t.path(),
            &publish(&t.path().join("free/a"), "x", &[&prod]),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

/// Temporaries are new files: a planted link at any name cutter used to
/// write through (`.NAME.cutter-tmp`, `.SHA256SUMS.NAME.cutter-tmp`) is
/// never followed, and a temporary of a dead process is removed by the
/// next step in the folder.
#[test]
fn temporaries_are_exclusive_and_reaped() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let prod = t.path().join("prod");
        let out = t.path().join("out");
        std::fs::create_dir_all(&prod).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(prod.join("keep"), "production").unwrap();
        for planted in [
            ".x.cutter-tmp",
            ".SHA256SUMS.x.cutter-tmp",
            ".x.cutter.json.cutter-tmp",
        ] {
            symlink(prod.join("keep"), out.join(planted)).unwrap();
        }
        // A leftover of a process that is gone (no such PID), and one of a
        // process that still runs (this test).
        std::fs::write(out.join(".cutter-tmp.999999999.out.abcdef"), "left").unwrap();
        let mine = format!(".cutter-tmp.{}.out.abcdef", std::process::id());
        std::fs::write(out.join(&mine), "running").unwrap();
        let body = format!(
            "{}; cutter_lock; cutter_sums x \"$(printf '%064d' 0)\" ''; {}; cutter_sums_put; cutter_unlock",
            publish(&out, "x", &[&prod]),
            "true"
        );
        let r = run(&sh, t.path(), &body);
        assert_eq!(r.code, 0, "{sh:?}: {}", r.stderr);
        assert_eq!(
            std::fs::read_to_string(prod.join("keep")).unwrap(),
            "production"
        );
        let names = entries(&out);
        assert!(
            !names.contains(&".cutter-tmp.999999999.out.abcdef".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&mine), "{names:?}");
        assert_eq!(
            std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
            format!("{}  x\n", "0".repeat(64))
        );
        assert!(!out.join(".SHA256SUMS.cutter-lock").exists());
    }
}

/// Hostile names reach the host only as quoted words, and `SHA256SUMS`
/// lines for them are those `sha256sum -c` accepts.
#[test]
fn hostile_names_are_words() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("o u t");
        for name in [
            "$(touch pwned)",
            "a'b\"c",
            "-rf",
            "*",
            "x;y",
            "back\\slash",
            " lead",
        ] {
            let leaf = Leaf::new(name).unwrap();
            let body = format!(
                "{}; {}; cutter_write \"$t\" {}; sha=$(sha256sum < \"$t\"); sha=${{sha%% *}}; cutter_lock; {}; {}; cutter_sums_put; cutter_unlock",
                host::enter(&out.display().to_string(), []),
                host::temp("t", "x"),
                quote(name),
                host::sums(name, Some("\"$sha\"")),
                host::put("t", &leaf),
            );
            let r = run(&sh, t.path(), &body);
            assert_eq!(r.code, 0, "{sh:?} {name:?}: {}", r.stderr);
            assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), name);
        }
        assert!(!t.path().join("pwned").exists() && !out.join("pwned").exists());
        let check = Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    for bad in ["", ".", "..", "a/b", "a\nb", "tab\there"] {
        assert!(Leaf::new(bad).is_err(), "{bad:?}");
    }
}

/// A lock always names its holder; one whose holder cannot be read (left
/// by an older cutter on a full disk) is removed once a minute old, with a
/// message, instead of blocking every later step.
#[test]
fn an_unreadable_lock_is_removed_with_its_age() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let lock = t.path().join(".SHA256SUMS.cutter-lock");
        std::fs::create_dir_all(&lock).unwrap();
        std::fs::write(lock.join("pid"), "").unwrap();
        let old = Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(&lock)
            .status()
            .unwrap();
        assert!(old.success());
        let r = run(
            &sh,
            t.path(),
            &format!(
                "{}; cutter_lock; cat ./.SHA256SUMS.cutter-lock/pid; cutter_unlock",
                host::enter(&t.path().display().to_string(), [])
            ),
        );
        assert_eq!(r.code, 0, "{sh:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("whose holder could not be read"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.trim().is_empty(), "the lock named no holder");
        assert!(!lock.exists());
    }
}

/// A write that fills the file system fails, and leaves neither the file
/// nor a temporary nor a lock: only where the tests may mount a tmpfs.
#[test]
fn a_full_file_system_fails_the_write_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let fs = t.path().join("small");
    std::fs::create_dir_all(&fs).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&fs)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        for sh in shells() {
            // Output that stops where the file system is full, from a
            // producer that does not notice (as a relaying `docker exec`).
            let body = format!(
                "trap 'cutter_unlock; cutter_drop_temps' EXIT; {}; {}; head -c 200000 /dev/zero > \"$t\" 2>/dev/null || :; cutter_room \"$t\"; cutter_lock; {}; {}; cutter_sums_put",
                host::enter(&fs.display().to_string(), []),
                host::temp("t", "out"),
                host::sums("big", Some("x")),
                host::put("t", &Leaf::new("big").unwrap()),
            );
            let r = run(&sh, t.path(), &body);
            assert_eq!(r.code, 1, "{sh:?}: {}", r.stderr);
            assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
            assert!(entries(&fs).is_empty(), "{sh:?}: left {:?}", entries(&fs));
            // The twin: what fits is written.
            let r = run(&sh, t.path(), &publish(&fs, "small", &[]));
            assert_eq!(r.code, 0, "{sh:?}: {}", r.stderr);
            std::fs::remove_file(fs.join("small")).unwrap();
        }
    });
    let _ = Command::new("umount").arg(&fs).status();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// A published file has the mode the account's umask gives, as a file
/// written with `>` would (temporaries are made 0600 by `mktemp`).
#[test]
fn published_files_take_the_umask_mode() {
    use std::os::unix::fs::PermissionsExt;
    for sh in shells() {
        for (umask, mode) in [("022", 0o644), ("027", 0o640), ("077", 0o600)] {
            let t = tempfile::tempdir().unwrap();
            let r = run_umask(&sh, t.path(), umask, &publish(t.path(), "f", &[]));
            assert_eq!(r.code, 0, "{}", r.stderr);
            let got = std::fs::metadata(t.path().join("f"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(got, mode, "{sh:?} umask {umask}");
        }
    }
}

/// The glob by which progress finds a step's output temporary matches the
/// name `cutter_temp` gives it, and only that role's.
#[test]
fn the_progress_glob_finds_the_temporary_of_its_role() {
    for sh in shells() {
        let t = tempfile::tempdir().unwrap();
        let body = format!(
            "{}; {}; {}; ls -d -- {}",
            host::enter(&t.path().display().to_string(), []),
            host::temp("a", "out-1234abcd"),
            host::temp("b", "err"),
            host::temp_glob("out-1234abcd"),
        );
        let r = run(&sh, t.path(), &body);
        assert_eq!(r.code, 0, "{sh:?}: {}", r.stderr);
        let found: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains(".out-1234abcd."), "{found:?}");
    }
}

/// `SHA256SUMS` names are escaped as coreutils escapes them: a backslash,
/// a line feed or a carriage return each makes the line start with `\`.
#[test]
fn sums_names_are_escaped_as_coreutils_does() {
    assert_eq!(host::sums_name("ab"), ("ab".to_string(), false));
    assert_eq!(host::sums_name("a\\b"), ("a\\\\b".to_string(), true));
    assert_eq!(host::sums_name("a\nb"), ("a\\nb".to_string(), true));
    assert_eq!(host::sums_name("a\rb"), ("a\\rb".to_string(), true));
}
