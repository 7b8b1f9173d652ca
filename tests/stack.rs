//! Real-stack tests: sshd on loopback, Docker, PostgreSQL (scripts/test-stack).
//!
//! One shared fixture brings the stack up once per test run (idempotent and
//! quick when it already is) and hands out its coordinates. Each test works
//! in its own folder under the host root, so tests can run in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::test::{Run, run_in};

pub struct Stack {
    pub env: HashMap<String, String>,
}

impl Stack {
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("stack env lacks {key}"))
    }
    pub fn ssh_config(&self) -> &str {
        self.get("CUTTER_TEST_SSH_CONFIG")
    }
    pub fn audit_log(&self) -> PathBuf {
        PathBuf::from(self.get("CUTTER_TEST_AUDIT_LOG"))
    }
    /// Audit-log lines (decoded commands) appended since `from` lines.
    pub fn audit_since(&self, from: usize) -> Vec<String> {
        audit_lines(&self.audit_log())
            .into_iter()
            .skip(from)
            .collect()
    }
    pub fn audit_len(&self) -> usize {
        audit_lines(&self.audit_log()).len()
    }
    /// Run a command on the stack's host through its sshd, as the operator.
    pub fn ssh(&self, command: &str) -> std::process::Output {
        Command::new("ssh")
            .args([
                "-F",
                self.ssh_config(),
                self.get("CUTTER_TEST_SSH_ALIAS"),
                command,
            ])
            .output()
            .unwrap()
    }
}

/// The audit log: one line per command, `TIME<TAB>COMMAND` with `\\`, `\n`, `\t` escaped.
pub fn audit_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let cmd = l.split_once('\t').map_or(l, |x| x.1);
            let mut out = String::new();
            let mut chars = cmd.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(o) => out.push(o),
                        None => {}
                    }
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/test-stack"))
            .arg("up")
            .output()
            .expect("run scripts/test-stack up");
        assert!(
            out.status.success(),
            "scripts/test-stack up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = std::env::var("CUTTER_TEST_STACK_DIR")
            .unwrap_or_else(|_| "/tmp/cutter-test-stack".into());
        let text = std::fs::read_to_string(Path::new(&dir).join("env")).expect("stack env file");
        let env = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Stack { env }
    })
}

/// A test's own workspace: a local temp dir for the plan and reports, and a
/// folder on the stack's host for its artefacts.
pub struct StackTest {
    pub local: tempfile::TempDir,
    pub remote_root: String,
    pub env: Vec<(String, String)>,
}

impl StackTest {
    pub fn new(name: &str) -> StackTest {
        let s = stack();
        let remote_root = format!(
            "{}/{name}-{}",
            s.get("CUTTER_TEST_HOSTROOT"),
            std::process::id()
        );
        let out = s.ssh(&format!(
            "rm -rf '{remote_root}' && mkdir -p '{remote_root}'"
        ));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let local = tempfile::tempdir().unwrap();
        // The test's own HOME: SSH still finds its keys and known_hosts,
        // which the stack's ssh_config names by absolute path.
        let home = local.path().display().to_string();
        StackTest {
            local,
            remote_root,
            env: vec![
                ("NO_COLOR".into(), "1".into()),
                ("HOME".into(), home),
                ("CUTTER_SSH_CONFIG".into(), s.ssh_config().into()),
                (
                    "CUTTER_SSH_HOST".into(),
                    s.get("CUTTER_TEST_SSH_ALIAS").into(),
                ),
                (
                    "CUTTER_PG_IMAGE".into(),
                    s.get("CUTTER_TEST_PG_IMAGE").into(),
                ),
                (
                    "CUTTER_RESTORE_PG_PASSWORD".into(),
                    "restore-test-secret".into(),
                ),
                // Tests share one host; its apply lock serialises them.
                ("CUTTER_LOCK_WAIT".into(), "10m".into()),
            ],
        }
    }

    pub fn plan(&self, text: &str) -> &Self {
        std::fs::write(self.local.path().join("plan.toml"), text).unwrap();
        self
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut env = self.env.clone();
        env.push(("CUTTER_BACKUP_ROOT".into(), self.remote_root.clone()));
        run_in(self.local.path(), &args, &env, true)
    }

    pub fn expect(&self, args: &[&str], status: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.status, status,
            "cutter {args:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            r.status, r.stdout, r.stderr
        );
        r
    }
}

impl Drop for StackTest {
    fn drop(&mut self) {
        let _ = stack().ssh(&format!("rm -rf '{}'", self.remote_root));
    }
}

/// Issue 3: the alias reaches the seeded production through sshd, and the
/// audit log records the command.
#[test]
fn stack_alias_reaches_seeded_production_and_is_audited() {
    let s = stack();
    let before = s.audit_len();
    let sql = "select count(*) from information_schema.tables where table_schema not in ('pg_catalog','information_schema') and table_type = 'BASE TABLE'";
    let command = format!("docker exec postgres psql -U directus -d directus -tAc \"{sql}\"");
    let out = s.ssh(&command);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(count, s.get("CUTTER_TEST_PROD_TABLES"));
    assert!(
        count.parse::<u32>().unwrap() >= 200,
        "a few hundred tables, saw {count}"
    );
    let dot = s.ssh("docker exec postgres psql -U directus -d directus -tAc 'select id from dot_tools where id in (991, 992) order by id'");
    assert_eq!(
        String::from_utf8_lossy(&dot.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["991", "992"]
    );
    assert!(
        s.audit_since(before).contains(&command),
        "audit log lacks the command"
    );
}
