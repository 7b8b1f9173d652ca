//! An attack corpus against what cutter writes, renames and deletes on a
//! host: plans that `validate` accepts, with no free-form host command doing
//! the damage (the commands here only print), trying to reach a protected
//! path through the names cutter derives (stderr, `SHA256SUMS`, manifest,
//! verification record, report copy, quarantine, retention, temporaries,
//! the `SHA256SUMS` lock), through links planted beforehand, through path
//! spellings, and through what Docker shows of production on the host.
//!
//! Every attack has an unprotected twin: the same plan against an
//! unprotected path takes effect, so an attack never "fails" only because
//! its plan is broken. Attacks that are refused are regression tests.
//! Attacks that still reach protected data fail today and are ignored with
//! `attack succeeds: ...`; they pass once the hole is closed.
//!
//! Most run on this machine (`local = true`, protected paths in a temporary
//! folder). Those that need Docker have `stack` in their name; they create
//! their own containers and volumes (never touching production's) and
//! remove them afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::test::{Run, run_in};

/// A temporary folder that is also `HOME`, with a plan in it.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The lab's folder as a string (`{d}` in plans).
    fn d(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Create a file (and its folders) with this content.
    fn put(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A symbolic link at `rel` pointing to `target` (as given).
    fn link(&self, target: &str, rel: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    /// Remove everything in a folder but the named entries (what a twin
    /// run wrote into a folder that the attack then reuses).
    fn keep_only(&self, rel: &str, keep: &[&str]) {
        for e in std::fs::read_dir(self.path(rel)).unwrap().flatten() {
            if !keep.iter().any(|k| e.file_name() == *k) {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(p).unwrap();
                } else {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path(rel)).ok()
    }

    /// Write `name` with `{d}` standing for the lab's folder.
    fn plan(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text.replace("{d}", &self.d())).unwrap();
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut e = vec![
            ("NO_COLOR".to_string(), "1".to_string()),
            ("HOME".to_string(), self.d()),
        ];
        e.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let r = run_in(self.dir.path(), &args, &e, true);
        assert!(
            !r.stderr.contains("panicked"),
            "cutter panicked:\n{}",
            r.stderr
        );
        r
    }

    /// Run cutter (as `$0`) under another program, e.g. in a namespace.
    fn run_with(&self, cmd: &mut Command) -> Run {
        let out = cmd
            .arg(crate::test::cutter_bin())
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", self.d())
            .env_remove("CUTTER_NOW")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn apply(&self, plan: &str, extra: &[&str]) -> Run {
        let mut args = vec!["apply", "--yes"];
        args.extend(extra);
        args.push(plan);
        self.run(&args, &[])
    }

    /// Every entry of a folder, recursively, with each file's content: what
    /// a protected folder must still be after an attack.
    fn snapshot(&self, rel: &str) -> Vec<(String, String)> {
        fn walk(base: &Path, p: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(p).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let path = e.path();
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    out.push((rel, "<dir>".into()));
                    walk(base, &path, out);
                } else if meta.file_type().is_symlink() {
                    out.push((
                        rel,
                        format!("-> {}", std::fs::read_link(&path).unwrap().display()),
                    ));
                } else {
                    out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        let base = self.path(rel);
        walk(&base, &base, &mut out);
        out
    }
}

fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn says(r: &Run, what: &str) -> bool {
    flat(&format!("{}\n{}", r.stdout, r.stderr)).contains(what)
}

const HERE: &str = "[hosts.here]\nlocal = true\n";

// ---------------------------------------------------------------------------
// Attacks that reach protected data today (ignored until fixed).
// ---------------------------------------------------------------------------

/// A protected *file* in an unprotected folder: cutter checks only the
/// folder it enters, so every name it derives there (the `stderr` file,
/// `SHA256SUMS`) replaces the protected file by rename. The plan says
/// "production untouched". Twin: the same names in an unprotected folder.
#[test]
#[ignore = "attack succeeds: stderr name / SHA256SUMS replace a protected file beside the artefact"]
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
#[ignore = "attack succeeds: a protected file spelled through a linked folder, or named by a protected link, is overwritten with --replace"]
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
#[ignore = "attack succeeds: quarantine on --replace moves a protected file matching NAME.*.json"]
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
#[ignore = "attack succeeds: retention deletes a protected file whose manifest another artefact forged"]
fn retention_never_deletes_a_protected_file() {
    let lab = Lab::new();
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/app/2026-05-14.txt\"]\n\n[artefacts.forge]\npath = \"{{d}}/{dir}/2026-05-14.txt.cutter.json\"\ncommand = \"echo '{{}}'\"\n\n[artefacts.a]\npath = \"{{d}}/{dir}/{{{{ date }}}}.txt\"\ncommand = \"echo hello\"\nkeep = {{ last = 1 }}\n"
        )
    };
    let now = [("CUTTER_NOW", "2026-05-15T08:00:00Z")];
    for (dir, file) in [("free", "twin.toml"), ("app", "plan.toml")] {
        lab.put(&format!("{dir}/2026-05-14.txt"), "production\n");
        lab.plan(file, &plan(dir));
        for _ in 0..2 {
            let r = lab.run(&["apply", "--yes", file], &now);
            assert!(r.status == 0 || r.status == 1, "{}", r.stderr);
        }
    }
    assert_eq!(lab.read("free/2026-05-14.txt"), None, "the twin deletes");
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
#[ignore = "attack succeeds: a link at the SHA256SUMS lock's name makes cutter delete `pid` in a protected folder"]
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
    lab.plan("twin.toml", &plan("free"));
    lab.apply("twin.toml", &[]);
    assert_eq!(
        lab.read("other/pid"),
        None,
        "the twin's removal goes through"
    );

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
#[ignore = "attack succeeds: the reaper of stale temporaries removes a protected path named .cutter-tmp.<deadpid>.*"]
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

// ---------------------------------------------------------------------------
// Attacks that are refused (regression tests).
// ---------------------------------------------------------------------------

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
            "[hosts.here]\nlocal = true\n[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[hosts.again]\nlocal = true\n\n[artefacts.mine]\nhost = \"here\"\npath = \"{{d}}/free/a.txt\"\ncommand = \"echo a\"\n\n[artefacts.attack]\nhost = \"again\"\npath = \"{{d}}/{path}\"\ncommand = \"echo attack\"\n"
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

// ---------------------------------------------------------------------------
// With Docker: protected containers' data seen from the host.
// ---------------------------------------------------------------------------

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Containers and volumes a test created, removed when it ends.
struct Made {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker").args(["volume", "rm", v]).output();
        }
    }
}

/// A stand-in for production: a container (sleeping, from the stack's
/// image) with the given mounts.
fn prod_like(name: &str, mounts: &[String]) {
    let image = crate::stack::stack()
        .get("CUTTER_TEST_PG_IMAGE")
        .to_string();
    let mut args = vec!["run", "-d", "--name", name];
    for m in mounts {
        args.push("-v");
        args.push(m);
    }
    args.extend(["--entrypoint", "sleep", &image, "3600"]);
    docker(&args);
}

/// A read-only query of the stack's production: makes the plan use Docker
/// on the host, so cutter observes Docker there.
fn docker_use(d: &str) -> String {
    format!(
        "\n[artefacts.q]\ncontainer = \"postgres\"\npath = \"{d}/q/one.txt\"\nquery = {{ database = \"directus\", user = \"directus\", sql = \"SELECT 1\" }}\n"
    )
}

/// A protected container whose data is a bind-mounted folder: a plan with
/// only host artefacts (no Docker resource) does not observe Docker, so
/// the mount source is not protected and cutter writes its artefact,
/// manifest, `SHA256SUMS` and report copy into production's data folder.
/// With a Docker resource in the plan, the same write is refused (the
/// regression half). Twin: the container unprotected, the write goes
/// through.
#[test]
#[ignore = "attack succeeds: without a Docker resource in the plan, a protected container's bind mounts are not observed"]
fn stack_a_protected_bind_mount_is_protected_when_the_plan_uses_no_docker() {
    let lab = Lab::new();
    let name = format!("cutter-attack-bind-{}", std::process::id());
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![],
    };
    lab.put("data/keep", "production\n");
    prod_like(&name, &[format!("{}:/data", lab.path("data").display())]);
    let plan = |protected: &str, extra: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{protected}\"]\n\n[artefacts.a]\npath = \"{{d}}/data/x.txt\"\ncommand = \"echo attack\"\n{extra}"
        )
    };
    // Twin: unprotected, written.
    lab.plan("twin.toml", &plan("someone-else", ""));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("data/x.txt").unwrap(), "attack\n");
    lab.keep_only("data", &["keep"]);
    // With a Docker resource: refused, naming the mount.
    lab.plan("docker.toml", &plan(&name, &docker_use(&lab.d())));
    let r = lab.apply("docker.toml", &[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        says(&r, &format!("mounted by protected container `{name}`")),
        "{}",
        r.stderr
    );
    // Without: the same protection must hold.
    lab.plan("plan.toml", &plan(&name, ""));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.snapshot("data"),
        vec![("keep".into(), "production\n".into())],
        "{}",
        r.stdout
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
}

/// A protected container's volume backed by a host folder
/// (`--opt type=none --opt o=bind --opt device=DIR`): Docker reports the
/// mountpoint under its root, but the data lives in DIR, which nothing
/// protects; cutter writes into production's data there. Twin: the same
/// container unprotected.
#[test]
#[ignore = "attack succeeds: the host folder behind a bind-backed named volume of a protected container is not protected"]
fn stack_the_folder_behind_a_protected_bind_backed_volume_is_protected() {
    let lab = Lab::new();
    let pid = std::process::id();
    let name = format!("cutter-attack-bindvol-{pid}");
    let volume = format!("cutter-attack-bindvol-{pid}");
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![volume.clone()],
    };
    lab.put("pgdata/PG_VERSION", "15\n");
    let device = format!("device={}", lab.path("pgdata").display());
    docker(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        &volume,
    ]);
    prod_like(&name, &[format!("{volume}:/var/lib/postgresql/data")]);
    let plan = |protected: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{protected}\"]\n\n[artefacts.a]\npath = \"{{d}}/pgdata/x.txt\"\ncommand = \"echo attack\"\n{}",
            docker_use(&lab.d())
        )
    };
    lab.plan("twin.toml", &plan("someone-else"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("pgdata/x.txt").unwrap(), "attack\n");
    lab.keep_only("pgdata", &["PG_VERSION"]);
    lab.plan("plan.toml", &plan(&name));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(lab.read("pgdata/x.txt"), None, "{}", r.stdout);
    assert_eq!(r.status, 1, "{}", r.stderr);
}

/// A protected container bind-mounts a single file (its configuration):
/// the file is observed as protected, but a `stderr` name beside an
/// artefact in its folder replaces it. Twin: the container unprotected.
#[test]
#[ignore = "attack succeeds: a protected container's bind-mounted file is replaced through the stderr name"]
fn stack_a_protected_bind_mounted_file_is_never_replaced() {
    let lab = Lab::new();
    let name = format!("cutter-attack-conf-{}", std::process::id());
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![],
    };
    lab.put("app/postgresql.conf", "production\n");
    lab.put("free/postgresql.conf", "production\n");
    prod_like(
        &name,
        &[format!(
            "{}:/etc/postgresql/postgresql.conf:ro",
            lab.path("app/postgresql.conf").display()
        )],
    );
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{name}\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo out; echo attack >&2\"\nstderr = \"postgresql.conf\"\n{}",
            docker_use(&lab.d())
        )
    };
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("free/postgresql.conf").unwrap(), "attack\n");

    lab.plan("plan.toml", &plan("app"));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.read("app/postgresql.conf").as_deref(),
        Some("production\n"),
        "{}",
        r.stdout
    );
    assert_ne!(r.status, 0);
}

// ---------------------------------------------------------------------------
// Files cutter writes outside the host primitives, and names that collide.
// ---------------------------------------------------------------------------

/// Releasing the host's apply lock writes the next generation with
/// `printf > "$HOME/.cutter/apply.generation.tmp"`, a predictable name,
/// outside the host primitives: a link planted there is written through,
/// into a protected file. (The failure records of checks, guards and
/// containers, `~/.cutter/failures/<plan>.<step>.json.tmp`, are written the
/// same way.) Twin: the same link to an unprotected file.
#[test]
#[ignore = "attack succeeds: a link at ~/.cutter/apply.generation.tmp makes cutter overwrite a protected file"]
fn the_apply_generation_is_never_written_through_a_link() {
    let lab = Lab::new();
    lab.put("prod/secret", "production\n");
    lab.put("other/file", "other\n");
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo hello\"\n"
        )
    };
    lab.link("../other/file", ".cutter/apply.generation.tmp");
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_ne!(
        lab.read("other/file").unwrap(),
        "other\n",
        "twin written through"
    );

    std::fs::remove_file(lab.path(".cutter/apply.generation")).unwrap();
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
#[ignore = "defect: stderr = the artefact's own name replaces it, yet apply and drift report success"]
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
        "[hosts.here]\nlocal = true\n[hosts.here.protected]\npaths = [\"{d}/prod\"]\n\n[hosts.again]\nlocal = true\n\n[artefacts.a]\nhost = \"again\"\npath = \"{d}/free/x.txt\"\ncommand = \"echo a\"\n\n[artefacts.b]\nhost = \"here\"\npath = \"{d}/free/y.txt\"\ncommand = \"echo b\"\n",
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

/// A host entry that declares protection but has no resource of its own
/// is not observed, so its protection is not shared with a second entry
/// for the same machine: the second entry writes into the protected
/// folder, and the plan says "production untouched". Twin: with a resource
/// on the protecting entry, the same write is refused (it is observed and
/// shared by machine-id).
#[test]
#[ignore = "attack succeeds: an entry with protection but no resources is not observed, so its protection is not shared"]
fn protection_of_an_entry_without_resources_is_shared() {
    let lab = Lab::new();
    lab.put("prod/keep", "production\n");
    let plan = |extra: &str| {
        format!(
            "[hosts.here]\nlocal = true\n[hosts.here.protected]\npaths = [\"{{d}}/prod\"]\n\n[hosts.again]\nlocal = true\n\n[artefacts.attack]\nhost = \"again\"\npath = \"{{d}}/prod/x.txt\"\ncommand = \"echo attack\"\n{extra}"
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
