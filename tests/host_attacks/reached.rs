//! Attacks that reached protected data (or reported a false success) when
//! the host primitives were first attacked, each now closed: a protected
//! name inside an unprotected folder, retention trusting a forged manifest,
//! a link at the lock or at the apply generation, an entry with protection
//! but no resources, Docker unobserved where only protection names it.

use std::process::Command;

use super::*;

/// A protected *file* in an unprotected folder: cutter checks only the
/// folder it enters, so every name it derives there (the `stderr` file,
/// `SHA256SUMS`) replaces the protected file by rename. The plan says
/// "production untouched". Twin: the same names in an unprotected folder.
#[test]
fn a_protected_file_beside_the_artefact_is_never_replaced_by_a_derived_name() {
    let lab = Lab::new();
    lab.put("app/config.json", "production\n");
    lab.put("app/SHA256SUMS", "production sums\n");
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/app/config.json\", \"{{d}}/app/SHA256SUMS\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo out; echo attack >&2\"\nstderr = \"config.json\"\n"
        )
    };
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("free/config.json").unwrap(), "attack\n");
    assert!(lab.read("free/SHA256SUMS").unwrap().contains("x.txt"));

    lab.plan("plan.toml", &plan("app"));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(lab.read("app/config.json").unwrap(), "production\n");
    assert_eq!(lab.read("app/SHA256SUMS").unwrap(), "production sums\n");
    assert_ne!(r.status, 0, "{}", r.stderr);
}

/// The artefact's own name is a protected file, spelled through a linked
/// folder (`alias -> app`), or the protected path is a link to the file
/// the artefact names: the plan-time check compares spellings, the host
/// checks only the folder, and `--replace` overwrites production's file.
/// Twin: the same plans on unprotected files.
#[test]
fn a_protected_file_under_another_spelling_is_never_overwritten() {
    let lab = Lab::new();
    for dir in ["app", "free"] {
        lab.put(&format!("{dir}/config.json"), "production\n");
        lab.put(&format!("{dir}/v2.conf"), "production\n");
        lab.link(dir, &format!("{dir}-alias"));
        lab.link("v2.conf", &format!("{dir}/current.conf"));
    }
    let plan = |dir: &str, protected: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/{protected}/config.json\", \"{{d}}/{protected}/current.conf\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}-alias/config.json\"\ncommand = \"echo attack\"\n\n[artefacts.b]\npath = \"{{d}}/{dir}/v2.conf\"\ncommand = \"echo attack\"\n"
        )
    };
    lab.plan("twin.toml", &plan("free", "app"));
    let r = lab.apply("twin.toml", &["--replace", "a", "--replace", "b"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(lab.read("free/config.json").unwrap(), "attack\n");
    assert_eq!(lab.read("free/v2.conf").unwrap(), "attack\n");

    lab.plan("plan.toml", &plan("app", "app"));
    let r = lab.apply("plan.toml", &["--replace", "a", "--replace", "b"]);
    assert_eq!(lab.read("app/config.json").unwrap(), "production\n");
    assert_eq!(lab.read("app/v2.conf").unwrap(), "production\n");
    assert_ne!(r.status, 0, "{}", r.stderr);
}

/// `--replace` of a damaged artefact moves `NAME`, `NAME.*.json` and its
/// verification record aside: a protected file matching `NAME.*.json` is
/// moved away too. Twin: the same file when unprotected is quarantined.
#[test]
fn quarantine_never_moves_a_protected_file() {
    let lab = Lab::new();
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/app/x.txt.prod.json\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\n"
        )
    };
    for (dir, file) in [("free", "twin.toml"), ("app", "plan.toml")] {
        lab.plan(file, &plan(dir));
        assert_eq!(lab.apply(file, &[]).status, 0);
        lab.put(&format!("{dir}/x.txt.prod.json"), "production\n");
        lab.put(&format!("{dir}/x.txt"), "damaged\n");
    }
    let r = lab.apply("twin.toml", &["--replace", "a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(lab.read("free/x.txt.prod.json"), None);

    let r = lab.apply("plan.toml", &["--replace", "a"]);
    assert_eq!(
        lab.read("app/x.txt.prod.json").as_deref(),
        Some("production\n"),
        "{}",
        r.stderr
    );
}

/// Retention deletes a dated file when a `NAME.cutter.json` lies beside
/// it; another artefact of the same plan can write exactly that name, so
/// a protected file whose name fits the template is deleted (the plan even
/// lists it: "delete `.../2026-05-14.txt`", "production untouched"). Twin:
/// an unprotected file is deleted the same way (which is itself a defect:
/// cutter deletes a file it did not make).
#[test]
fn retention_never_deletes_a_protected_file() {
    let lab = Lab::new();
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/app/2026-05-14.txt\"]\n\n[artefacts.forge]\npath = \"{{d}}/{dir}/2026-05-14.txt.cutter.json\"\ncommand = \"echo '{{}}'\"\n\n[artefacts.a]\npath = \"{{d}}/{dir}/{{{{ date }}}}.txt\"\ncommand = \"echo hello\"\nkeep = {{ last = 1 }}\n"
        )
    };
    // A plan may not name a file like cutter's own manifest: the forgery
    // is refused by `validate`, so retention never trusts a forged one.
    let now = [("CUTTER_NOW", "2026-05-15T08:00:00Z")];
    for (dir, file) in [("free", "twin.toml"), ("app", "plan.toml")] {
        lab.put(&format!("{dir}/2026-05-14.txt"), "production\n");
        lab.plan(file, &plan(dir));
        let r = lab.run(&["validate", file], &now);
        assert_eq!(r.status, 1, "{}", r.stderr);
        assert!(r.stderr.contains("a name cutter keeps for"), "{}", r.stderr);
        for _ in 0..2 {
            let r = lab.run(&["apply", "--yes", file], &now);
            assert_eq!(r.status, 1, "{}", r.stderr);
        }
    }
    assert_eq!(
        lab.read("free/2026-05-14.txt").as_deref(),
        Some("production\n")
    );
    assert_eq!(
        lab.read("app/2026-05-14.txt").as_deref(),
        Some("production\n")
    );
}

/// A link planted at `.SHA256SUMS.cutter-lock` pointing to a protected
/// folder: the stale-lock removal runs `rm -f ./.SHA256SUMS.cutter-lock/pid`,
/// which follows the link and deletes `pid` in the protected folder. Twin:
/// the same link to an unprotected folder.
#[test]
fn a_link_at_the_lock_never_deletes_in_a_protected_folder() {
    let lab = Lab::new();
    for (dir, target) in [("free", "other"), ("out", "prod")] {
        lab.put(&format!("{target}/pid"), "999999999\n");
        lab.put(&format!("{target}/keep"), "production\n");
        lab.link(
            &format!("../{target}"),
            &format!("{dir}/.SHA256SUMS.cutter-lock"),
        );
        let link = lab.path(&format!("{dir}/.SHA256SUMS.cutter-lock"));
        // A link's own time: a lock a minute old is stale.
        let ok = Command::new("touch")
            .args(["-h", "-d", "-2 min"])
            .arg(&link)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\ntimeout = \"15s\"\n"
        )
    };
    // A lock that is a link is never followed, wherever it leads.
    lab.plan("twin.toml", &plan("free"));
    let r = lab.apply("twin.toml", &[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is a link"), "{}", r.stderr);
    assert_eq!(lab.read("other/pid").as_deref(), Some("999999999\n"));

    lab.plan("plan.toml", &plan("out"));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.read("prod/pid").as_deref(),
        Some("999999999\n"),
        "{}",
        r.stderr
    );
    assert_eq!(lab.read("prod/keep").as_deref(), Some("production\n"));
}

/// The reaper of dead temporaries (`rm -rf ./.cutter-tmp.<deadpid>.*`)
/// removes a protected path whose name looks like one. Twin: the same name
/// unprotected is reaped.
#[test]
fn the_reaper_never_removes_a_protected_path() {
    let lab = Lab::new();
    let dead = "4194303999";
    for dir in ["free", "out"] {
        lab.put(&format!("{dir}/.cutter-tmp.{dead}.keep"), "production\n");
    }
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/out/.cutter-tmp.{dead}.keep\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\n"
        )
    };
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read(&format!("free/.cutter-tmp.{dead}.keep")), None);

    lab.plan("plan.toml", &plan("out"));
    lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.read(&format!("out/.cutter-tmp.{dead}.keep")).as_deref(),
        Some("production\n")
    );
}

/// Releasing the host's apply lock writes the next generation with
/// `printf > "$HOME/.cutter/apply.generation.tmp"`, a predictable name,
/// outside the host primitives: a link planted there is written through,
/// into a protected file. (The failure records of checks, guards and
/// containers, `~/.cutter/failures/<plan>.<step>.json.tmp`, are written the
/// same way.) Twin: the same link to an unprotected file.
#[test]
fn the_apply_generation_is_never_written_through_a_link() {
    let lab = Lab::new();
    lab.put("prod/secret", "production\n");
    lab.put("other/file", "other\n");
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\n"
        )
    };
    // The generation is written to a new temporary (mktemp): no link at
    // any name is written through, wherever it leads.
    lab.link("../other/file", ".cutter/apply.generation.tmp");
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("other/file").unwrap(), "other\n");

    std::fs::remove_file(lab.path(".cutter/apply.generation")).unwrap();
    std::fs::remove_file(lab.path(".cutter/apply.generation.tmp")).unwrap();
    lab.link("../prod/secret", ".cutter/apply.generation.tmp");
    lab.plan("plan.toml", &plan("out"));
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
    assert_eq!(lab.read("prod/secret").unwrap(), "production\n");
}

/// A `stderr` name equal to the artefact's own name (or to its manifest,
/// or to `SHA256SUMS`) is accepted by `validate`: the stderr file replaces
/// the artefact after its checksum was recorded, apply says "Applied", and
/// `drift` says "In sync" (the verification record was taken of the file
/// that was replaced), while `sha256sum -c` fails. Twin: a distinct name.
#[test]
fn a_stderr_name_never_collides_with_a_published_name() {
    let lab = Lab::new();
    let plan = |stderr: &str| {
        format!(
            "{HERE}\n[artefacts.a]\npath = \"{{d}}/out/x.txt\"\ncommand = \"echo out; echo err >&2\"\nstderr = \"{stderr}\"\n"
        )
    };
    lab.plan("twin.toml", &plan("x.err"));
    assert_eq!(lab.run(&["validate", "twin.toml"], &[]).status, 0);
    for name in ["x.txt", "x.txt.cutter.json", "SHA256SUMS"] {
        lab.plan("plan.toml", &plan(name));
        let r = lab.run(&["validate", "plan.toml"], &[]);
        if r.status == 0 {
            let _ = std::fs::remove_dir_all(lab.path("out"));
            let r = lab.apply("plan.toml", &[]);
            let check = Command::new("sha256sum")
                .args(["-c", "SHA256SUMS"])
                .current_dir(lab.path("out"))
                .output()
                .unwrap();
            assert!(
                r.status != 0 || check.status.success(),
                "stderr = {name}: applied, yet SHA256SUMS fails: {}",
                String::from_utf8_lossy(&check.stdout)
            );
        }
    }
}

/// A host entry that declares protection but has no resource of its own
/// is not observed, so its protection is not shared with a second entry
/// for the same machine: the second entry writes into the protected
/// folder, and the plan says "production untouched". Twin: with a resource
/// on the protecting entry, the same write is refused (it is observed and
/// shared by machine-id).
#[test]
fn protection_of_an_entry_without_resources_is_shared() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    let plan = |extra: &str| {
        format!(
            "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[hosts.again]\nlocal = true\nfree_form = \"allow\"\n\n[artefacts.attack]\nhost = \"again\"\npath = \"{{d}}/prod/x.txt\"\ncommand = \"echo attack\"\n{extra}"
        )
    };
    lab.plan(
        "twin.toml",
        &plan("\n[artefacts.mine]\nhost = \"here\"\npath = \"{d}/free/a.txt\"\ncommand = \"echo a\"\n"),
    );
    let r = lab.apply("twin.toml", &[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(says(&r, "protected"), "{}", r.stderr);
    assert_eq!(lab.snapshot("prod").len(), 1);

    lab.plan("plan.toml", &plan(""));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.snapshot("prod"),
        vec![("keep".into(), "production\n".into())],
        "{}",
        r.stdout
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
}
