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

// Free-form host commands are allowed: the attacks go through what cutter
// itself writes, not through what the command does (see `claims`).
const HERE: &str = "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n";

mod docker;
mod reached;
mod refused;
