//! Attacks that are refused: regression tests, each with its twin.

use std::process::Command;

use super::*;

/// Links planted at every name an artefact step publishes (the artefact,
/// its stderr file, its manifest, `SHA256SUMS`, its verification record),
/// each pointing into a protected folder: the step is refused before
/// anything takes its name, and nothing is written through. Twin: the
/// same plan in a folder without links.
#[test]
fn links_at_every_published_name_are_refused() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.put("prod/secret", "production\n");
    let names = [
        ("x.txt", "x.txt"),
        ("stderr", "e.txt"),
        ("manifest", "x.txt.cutter.json"),
        ("sums", "SHA256SUMS"),
        ("verified", ".x.txt.cutter-verified"),
    ];
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo out; echo err >&2\"\nstderr = \"e.txt\"\n"
        )
    };
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("free/x.txt").unwrap(), "out\n");
    assert_eq!(lab.read("free/e.txt").unwrap(), "err\n");

    let before = lab.snapshot("prod");
    for (what, name) in names {
        let dir = format!("out-{what}");
        for target in ["../prod", "../prod/secret"] {
            let _ = std::fs::remove_dir_all(lab.path(&dir));
            lab.link(target, &format!("{dir}/{name}"));
            lab.plan("plan.toml", &plan(&dir));
            // `--replace`: the link at the artefact's own name is then not
            // merely a conflict, cutter tries to replace it.
            let r = lab.apply("plan.toml", &["--replace", "a"]);
            assert_eq!(r.status, 1, "{name} -> {target}: {}", r.stderr);
            assert!(
                says(&r, "is a link or not a regular file"),
                "{name}: {}",
                r.stderr
            );
            assert_eq!(lab.snapshot("prod"), before, "{name} -> {target}");
        }
    }
}

/// A folder in the way at the artefact's name or its stderr name: refused,
/// and nothing is moved into it. Twin above.
#[test]
fn a_folder_at_a_published_name_is_refused() {
    let lab = Lab::new();
    lab.put("out/x.txt/keep", "production\n");
    lab.put("out2/e.txt/keep", "production\n");
    lab.plan(
        "plan.toml",
        &format!(
            "{HERE}\n[artefacts.a]\npath = \"{{d}}/out/x.txt\"\ncommand = \"echo attack\"\n\n[artefacts.b]\npath = \"{{d}}/out2/y.txt\"\ncommand = \"echo attack >&2\"\nstderr = \"e.txt\"\n"
        ),
    );
    let r = lab.apply("plan.toml", &["--replace", "a"]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(
        lab.snapshot("out"),
        vec![
            ("x.txt".into(), "<dir>".into()),
            ("x.txt/keep".into(), "production\n".into())
        ]
    );
    assert_eq!(lab.read("out2/e.txt/keep").unwrap(), "production\n");
    assert_eq!(lab.read("out2/y.txt"), None);
}

/// Links planted at the names of report copies (a name per second for the
/// next minutes): the copy is refused with a warning, nothing is written
/// through. Twin: the copy is kept in a folder without links.
#[test]
fn links_at_report_copy_names_are_refused() {
    let lab = Lab::new();
    lab.put("prod/r.json", "production\n");
    let now = chrono::Utc::now();
    for s in 0..300 {
        let stamp = (now + chrono::Duration::seconds(s)).format("%Y%m%dT%H%M%SZ");
        lab.link(
            "../prod/r.json",
            &format!("out/cutter-report-plan-{stamp}.json"),
        );
    }
    lab.plan(
        "plan.toml",
        &format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/out/x.txt\"\ncommand = \"echo hello\"\n"
        ),
    );
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(says(&r, "cannot keep a copy of the report"), "{}", r.stderr);
    assert_eq!(lab.read("prod/r.json").unwrap(), "production\n");
    // Twin: no links, the copy is kept.
    std::fs::remove_dir_all(lab.path("out")).unwrap();
    let r = lab.apply("plan.toml", &[]);
    assert!(says(&r, "Kept a copy"), "{}", r.stdout);
}

/// Dead temporaries that are links, or folders holding links, to protected
/// data: the reaper removes the links, never what they point to. A lock
/// folder whose `pid` is a link to a protected file: the stale lock is
/// cleared without deleting the file. Twin: the step is applied.
#[test]
fn the_reaper_and_stale_locks_never_follow_links() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.put("prod/pid", "999999999\n");
    lab.link("../prod", "out/.cutter-tmp.4194303999.l");
    lab.link("../../prod", "out/.cutter-tmp.4194303998.d/l");
    lab.link("../prod/keep", "out/.cutter-tmp.4194303997.f");
    lab.link("../../prod/pid", "out/.SHA256SUMS.cutter-lock/pid");
    let ok = Command::new("touch")
        .args(["-d", "-2 min"])
        .arg(lab.path("out/.SHA256SUMS.cutter-lock"))
        .status()
        .unwrap();
    assert!(ok.success());
    let before = lab.snapshot("prod");
    lab.plan(
        "plan.toml",
        &format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/out/x.txt\"\ncommand = \"echo hello\"\n"
        ),
    );
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(lab.read("out/x.txt").unwrap(), "hello\n");
    assert_eq!(lab.snapshot("prod"), before);
    let left: Vec<String> = lab
        .snapshot("out")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with(".cutter-tmp") || n.starts_with(".SHA256SUMS"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The artefact folder spelled through a link to the protected folder, a
/// protected path that is itself a link (written through its target), a
/// protected path given with a trailing slash, and a `{{ date }}` folder
/// that renders to the protected folder, a protected path spelled with
/// `..`, `.` or `//` (refused on the host only: the plan still shows the
/// write as `create`): refused on the host, nothing written. Twin: the same plans with the protection elsewhere.
#[test]
fn every_spelling_of_a_protected_folder_is_refused() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.put("2026-05-15/keep", "production\n");
    lab.link("prod", "alias");
    lab.link("prod", "prod-link");
    let cases = [
        ("prod", "alias/x.txt"),
        ("prod-link", "prod/x.txt"),
        ("prod/", "prod/x.txt"),
        ("prod-link/", "alias/x.txt"),
        ("2026-05-15", "{{ date }}/x.txt"),
        ("elsewhere/../prod", "prod/x.txt"),
        ("./prod", "prod/x.txt"),
        ("/prod", "prod/x.txt"),
    ];
    let plan = |protected: &str, path: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/{protected}\"]\n\n[artefacts.a]\npath = \"{{d}}/{path}\"\ncommand = \"echo attack\"\n"
        )
    };
    let now = [("CUTTER_NOW", "2026-05-15T08:00:00Z")];
    for (protected, path) in cases {
        let before = (lab.snapshot("prod"), lab.snapshot("2026-05-15"));
        lab.plan("plan.toml", &plan(protected, path));
        let r = lab.run(&["apply", "--yes", "plan.toml"], &now);
        assert_eq!(r.status, 1, "{protected} {path}: {}", r.stderr);
        assert!(says(&r, "protected"), "{protected} {path}: {}", r.stderr);
        assert_eq!(
            (lab.snapshot("prod"), lab.snapshot("2026-05-15")),
            before,
            "{protected} {path}"
        );
    }
    // Twin: protection elsewhere, each path is written.
    for (_, path) in cases {
        lab.plan("plan.toml", &plan("elsewhere", path));
        let r = lab.run(&["apply", "--yes", "plan.toml"], &now);
        assert_eq!(r.status, 0, "twin {path}: {}", r.stderr);
    }
    assert_eq!(lab.read("prod/x.txt").unwrap(), "attack\n");
    assert_eq!(lab.read("2026-05-15/x.txt").unwrap(), "attack\n");
}

/// Path spellings `validate` refuses outright: `..`, `.`, `//`, a trailing
/// slash, a relative path; a `stderr` name with a `/` or `..`; a relative
/// protected path. Twin: the normal spelling validates.
#[test]
fn odd_path_spellings_are_refused_by_validate() {
    let lab = Lab::new();
    let plan = |protected: &str, path: &str, stderr: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{protected}\"]\n\n[artefacts.a]\npath = \"{path}\"\ncommand = \"echo attack\"\nstderr = \"{stderr}\"\n"
        )
    };
    let d = lab.d();
    let prod = format!("{d}/prod");
    for (protected, path, stderr) in [
        (prod.clone(), format!("{d}/out/../prod/x.txt"), "e".into()),
        (prod.clone(), format!("{d}/./prod/x.txt"), "e".into()),
        (prod.clone(), format!("{d}//prod/x.txt"), "e".into()),
        (prod.clone(), format!("{d}/prod/x.txt/"), "e".into()),
        (prod.clone(), "prod/x.txt".into(), "e".into()),
        (
            prod.clone(),
            format!("{d}/out/x.txt"),
            "../prod/e".to_string(),
        ),
        (prod.clone(), format!("{d}/out/x.txt"), "..".to_string()),
        ("prod".into(), format!("{d}/out/x.txt"), "e".into()),
    ] {
        lab.plan("plan.toml", &plan(&protected, &path, &stderr));
        let r = lab.run(&["validate", "plan.toml"], &[]);
        assert_eq!(r.status, 1, "{protected} {path} {stderr}: {}", r.stdout);
    }
    lab.plan("plan.toml", &plan(&prod, &format!("{d}/out/x.txt"), "e"));
    assert_eq!(lab.run(&["validate", "plan.toml"], &[]).status, 0);
}

/// A second `local = true` entry shares the first one's protection (same
/// machine-id), whether the write is spelled directly or through a link.
/// Twin: the write outside the protected folder.
#[test]
fn a_second_local_entry_shares_the_protection() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.link("prod", "alias");
    let plan = |path: &str| {
        format!(
            "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[hosts.again]\nlocal = true\nfree_form = \"allow\"\n\n[artefacts.mine]\nhost = \"here\"\npath = \"{{d}}/free/a.txt\"\ncommand = \"echo a\"\n\n[artefacts.attack]\nhost = \"again\"\npath = \"{{d}}/{path}\"\ncommand = \"echo attack\"\n"
        )
    };
    for path in ["prod/x.txt", "alias/x.txt"] {
        lab.plan("plan.toml", &plan(path));
        let r = lab.apply("plan.toml", &[]);
        assert_eq!(r.status, 1, "{path}: {}", r.stderr);
        assert!(says(&r, "protected"), "{}", r.stderr);
        assert_eq!(
            lab.snapshot("prod"),
            vec![("keep".into(), "production\n".into())]
        );
    }
    lab.plan("plan.toml", &plan("free/x.txt"));
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
    assert_eq!(lab.read("free/x.txt").unwrap(), "attack\n");
}

/// Docker's default root is protected even where the plan uses no Docker:
/// a write into a volume's data seen from the host (where a plan's own
/// container could plant links) is refused at plan time. Twin: an ordinary
/// folder.
#[test]
fn docker_root_is_protected_without_docker() {
    let lab = Lab::new();
    let plan = |path: &str| {
        format!("{HERE}\n[artefacts.a]\npath = \"{path}\"\ncommand = \"echo attack\"\n")
    };
    let attack = format!(
        "/var/lib/docker/volumes/cutter-attack-{}/_data/x.txt",
        std::process::id()
    );
    lab.plan("plan.toml", &plan(&attack));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(says(&r, "Docker's"), "{}", r.stderr);
    assert!(!Path::new(&attack).exists());
    lab.plan("plan.toml", &plan(&format!("{}/free/x.txt", lab.d())));
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
}

/// Names `SHA256SUMS` must escape (a backslash) or keep exactly (leading
/// and trailing spaces, a `*`): the folder stays verifiable by
/// `sha256sum -c`, and a rewrite keeps every other line.
#[test]
fn odd_names_keep_sha256sums_verifiable() {
    let lab = Lab::new();
    let names = [
        "a\\\\b.txt",
        " lead.txt",
        "trail.txt ",
        "*star.txt",
        "plain.txt",
    ];
    let mut plan = HERE.to_string();
    for (i, n) in names.iter().enumerate() {
        plan.push_str(&format!(
            "\n[artefacts.a{i}]\npath = \"{{d}}/out/{n}\"\ncommand = \"echo {i}\"\n"
        ));
    }
    lab.plan("plan.toml", &plan);
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    // Damage one, repair it: the rewrite keeps the other lines.
    lab.put("out/plain.txt", "damaged\n");
    let r = lab.apply("plan.toml", &["--replace", "a4"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(lab.path("out"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert_eq!(out.lines().count(), names.len(), "{out}");
}

/// Two host entries for this machine whose identity cannot be read (no
/// `/etc/machine-id`, no Docker daemon: both hidden in a private mount
/// namespace) cannot share protection: the plan is refused. Twin: the same
/// plan with the identity visible is refused only for the write under the
/// shared protected path. Needs root and `unshare`; says so and returns
/// otherwise.
#[test]
fn two_entries_for_an_unidentifiable_machine_are_refused() {
    let lab = Lab::new();
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `unshare -m` is not available here");
        return;
    }
    lab.put("prod/keep", "production\n");
    lab.put("empty", "");
    lab.put("nodocker", "#!/bin/sh\nexit 1\n");
    std::fs::set_permissions(
        lab.path("nodocker"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    lab.plan(
        "plan.toml",
        "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\npaths = [\"{d}/prod\"]\n\n[hosts.again]\nlocal = true\nfree_form = \"allow\"\n\n[artefacts.a]\nhost = \"again\"\npath = \"{d}/free/x.txt\"\ncommand = \"echo a\"\n\n[artefacts.b]\nhost = \"here\"\npath = \"{d}/free/y.txt\"\ncommand = \"echo b\"\n",
    );
    let d = lab.d();
    let hide = format!(
        "mount --bind {d}/empty /etc/machine-id && {{ ! command -v docker >/dev/null || mount --bind {d}/nodocker \"$(command -v docker)\"; }} && exec \"$0\" apply --yes plan.toml"
    );
    let r = lab.run_with(Command::new("unshare").args(["-m", "sh", "-c", &hide]));
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(says(&r, "cannot tell which machine"), "{}", r.stderr);
    assert_eq!(lab.read("free/x.txt"), None);
    // Twin: with the identity visible, the same plan applies.
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
    assert_eq!(lab.read("free/x.txt").unwrap(), "a\n");
}

/// Retention in dated folders, where an old dated folder is a link to a
/// protected folder holding files cutter once made (an archive): the
/// deletion enters the folder by its real path and is refused. Twin: the
/// same files in a real dated folder are deleted.
#[test]
fn retention_never_deletes_through_a_linked_folder() {
    let lab = Lab::new();
    for dir in ["prod", "free/2026-05-14"] {
        lab.put(&format!("{dir}/x.txt"), "production\n");
        lab.put(&format!("{dir}/x.txt.cutter.json"), "{}\n");
    }
    lab.link("../prod", "out/2026-05-14");
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/{{{{ date }}}}/x.txt\"\ncommand = \"echo hello\"\nkeep = {{ last = 1 }}\n"
        )
    };
    let now = [("CUTTER_NOW", "2026-05-15T08:00:00Z")];
    lab.plan("twin.toml", &plan("free"));
    let r = lab.run(&["apply", "--yes", "twin.toml"], &now);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(lab.read("free/2026-05-14/x.txt"), None, "the twin prunes");

    let before = lab.snapshot("prod");
    lab.plan("plan.toml", &plan("out"));
    let r = lab.run(&["apply", "--yes", "plan.toml"], &now);
    assert_eq!(lab.snapshot("prod"), before, "{}", r.stderr);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(says(&r, "protected"), "{}", r.stderr);
}

/// Links planted at the quarantine names of the next minutes (the
/// artefact's and its manifest's), pointing into a protected folder:
/// `--replace` of a damaged artefact is refused, nothing moves into the
/// protected folder. Twin: without links, the damaged file is quarantined
/// and made anew.
#[test]
fn links_at_quarantine_names_are_refused() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.plan(
        "plan.toml",
        &format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/out/x.txt\"\ncommand = \"echo hello\"\n"
        ),
    );
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
    lab.put("out/x.txt", "damaged\n");
    let now = chrono::Utc::now();
    for s in 0..300 {
        let q = (now + chrono::Duration::seconds(s)).format("%Y%m%dT%H%M%SZ");
        lab.link("../prod", &format!("out/.cutter-quarantine.{q}.x.txt"));
        lab.link(
            "../prod/keep",
            &format!("out/.cutter-quarantine.{q}.x.txt.cutter.json"),
        );
    }
    let before = lab.snapshot("prod");
    let r = lab.apply("plan.toml", &["--replace", "a"]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(says(&r, "is a link or not a regular file"), "{}", r.stderr);
    assert_eq!(lab.snapshot("prod"), before);
    // Twin: the links gone, the damaged file is quarantined and replaced.
    for e in std::fs::read_dir(lab.path("out")).unwrap().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(".cutter-quarantine.")
        {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let r = lab.apply("plan.toml", &["--replace", "a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(lab.read("out/x.txt").unwrap(), "hello\n");
}

/// A link on the artefact's path whose target has a line break in the
/// middle (`out -> "<d>/prod\n/x"`): the folder's real path then holds a
/// line break, and the list of temporaries, split on line breaks when they
/// are dropped, made `rm -rf -- <d>/prod` of it: the whole protected
/// folder (or any folder named before the break, protected or not) was
/// deleted while apply said "Applied". A folder whose real path has a line
/// break is refused. Twin: the same link without the break is written
/// through.
#[test]
fn a_line_break_in_a_real_path_never_deletes_a_folder() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    lab.put("free/keep", "other\n");
    let d = lab.d();
    lab.link(&format!("{d}/prod\n/x"), "out");
    lab.link(&format!("{d}/free\n/x"), "out2");
    lab.link(&format!("{d}/free/x"), "out3");
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\n"
        )
    };
    for dir in ["out", "out2"] {
        lab.plan("plan.toml", &plan(dir));
        let r = lab.apply("plan.toml", &[]);
        assert_eq!(
            lab.read("prod/keep").as_deref(),
            Some("production\n"),
            "{dir}"
        );
        assert_eq!(lab.read("free/keep").as_deref(), Some("other\n"), "{dir}");
        assert_eq!(r.status, 1, "{dir}: {}", r.stderr);
        assert!(says(&r, "line break"), "{dir}: {}", r.stderr);
    }
    lab.plan("plan.toml", &plan("out3"));
    assert_eq!(lab.apply("plan.toml", &[]).status, 0);
    assert_eq!(lab.read("free/x/x.txt").unwrap(), "hello\n");
    assert_eq!(lab.read("free/keep").unwrap(), "other\n");
}
