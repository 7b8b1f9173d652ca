//! A small builder: write a plan, run a cutter command, expect output and status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin_null: bool,
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    /// A fresh folder, which is also `HOME`: a test never touches the
    /// operator's own `~/.cutter` (the local host's apply lock) or dotfiles.
    pub fn new() -> Test {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        Test {
            dir,
            args: Vec::new(),
            env: vec![("NO_COLOR".into(), "1".into()), ("HOME".into(), home)],
            stdin_null: true,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `plan.toml` (or another file) in the test's folder.
    pub fn file(self, name: &str, text: &str) -> Test {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
        self
    }

    pub fn plan(self, text: &str) -> Test {
        self.file("plan.toml", text)
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Test {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn run(&self) -> Run {
        run_in(self.dir.path(), &self.args, &self.env, self.stdin_null)
    }

    /// Run and assert the exit status, returning the output.
    pub fn status(&self, expected: i32) -> Run {
        let r = self.run();
        assert_eq!(
            r.status, expected,
            "cutter {:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, r.status, r.stdout, r.stderr
        );
        r
    }
}

pub fn cutter_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cutter"))
}

pub fn run_in(dir: &Path, args: &[String], env: &[(String, String)], stdin_null: bool) -> Run {
    let mut cmd = Command::new(cutter_bin());
    cmd.current_dir(dir).args(args).env_remove("CUTTER_NOW");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if stdin_null {
        cmd.stdin(std::process::Stdio::null());
    }
    let out: Output = cmd.output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
