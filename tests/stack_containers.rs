//! What cutter says of its containers after kill -9, as the stack's non-root
//! operator over SSH: a persistent copy counts as made only when its
//! completion record says so; nothing a killed step started keeps running in
//! any container; leftovers are found by label, whatever their name or date.

use std::time::{Duration, Instant};

use crate::stack::{StackTest, stack};
use crate::test::Run;

/// One test's plan, Docker names and cleanup.
struct Rig {
    t: StackTest,
    name: String,
}

impl Rig {
    fn new(test: &str) -> Rig {
        let name = format!("hc{}-{test}", std::process::id());
        let b = Rig {
            t: StackTest::new(&format!("hc-{test}")),
            name,
        };
        b.cleanup();
        b
    }

    fn plan_path(&self) -> String {
        self.t.local.path().join("plan.toml").display().to_string()
    }

    fn ssh(&self, cmd: &str) -> String {
        String::from_utf8_lossy(&stack().ssh(cmd).stdout).into_owned()
    }

    /// Every container, volume and network of this test, by its prefix or
    /// its plan label, and its completion records.
    fn cleanup(&self) {
        let n = &self.name;
        let label = format!("label=cutter.plan={}", self.plan_path());
        self.ssh(&format!(
            "for c in $(docker ps -aq --no-trunc --filter name=^/{n}) $(docker ps -aq --no-trunc --filter '{label}'); do rm -f \"$HOME/.cutter/containers/$c.json\"; docker rm -f -v $c; done >/dev/null 2>&1; \
             for v in $(docker volume ls -q --filter name=^{n}) $(docker volume ls -q --filter '{label}'); do docker volume rm -f $v; done >/dev/null 2>&1; \
             for w in $(docker network ls -q --filter name=^{n}) $(docker network ls -q --filter '{label}'); do docker network rm $w; done >/dev/null 2>&1; :"
        ));
    }

    /// `ps` of the container, `pid args`, or empty when it is gone.
    fn top(&self, container: &str) -> String {
        self.ssh(&format!("docker top {container} -eo pid,args 2>/dev/null"))
    }

    /// Start an apply, wait until `pattern` runs in `container`, kill -9 it.
    fn kill_when(&self, now: &str, container: &str, pattern: &str) {
        let mut cmd = std::process::Command::new(crate::test::cutter_bin());
        cmd.args(["apply", "--yes", "plan.toml"])
            .current_dir(self.t.local.path())
            .env("CUTTER_NOW", now)
            .env("CUTTER_BACKUP_ROOT", &self.t.remote_root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(self.t.local.path().join("apply.err")).unwrap());
        for (k, v) in &self.t.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(600);
        while !self.top(container).contains(pattern) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the apply ended ({status}) before `{pattern}` ran in {container}:\n{}",
                    std::fs::read_to_string(self.t.local.path().join("apply.err"))
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "`{pattern}` never ran in {container}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// Within 30 s of the kill, `pattern` runs nowhere in `container`, and
    /// no verification container of this plan is left.
    fn assert_stops(&self, container: &str, pattern: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let top = self.top(container);
            if !top.contains(pattern) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "30 s after kill -9, `{pattern}` still runs in {container}:\n{top}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let verify = self.ssh(&format!(
            "docker ps -q --filter name=^/cutter-verify- --filter 'label=cutter.plan={}'",
            self.plan_path()
        ));
        assert!(verify.trim().is_empty(), "a verification container is left");
    }

    fn run(&self, now: &str, args: &[&str]) -> Run {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut env = self.t.env.clone();
        env.push(("CUTTER_BACKUP_ROOT".into(), self.t.remote_root.clone()));
        env.push(("CUTTER_NOW".into(), now.into()));
        crate::test::run_in(self.t.local.path(), &args, &env, true)
    }

    fn expect(&self, now: &str, args: &[&str], status: i32) -> Run {
        let r = self.run(now, args);
        assert_eq!(
            r.status, status,
            "cutter {args:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            r.status, r.stdout, r.stderr
        );
        r
    }

    /// Names of this plan's containers, volumes and networks on the host.
    fn labelled(&self) -> String {
        let label = format!("label=cutter.plan={}", self.plan_path());
        self.ssh(&format!(
            "docker ps -a --format '{{{{.Names}}}}' --filter '{label}'; docker volume ls -q --filter '{label}'; docker network ls --format '{{{{.Name}}}}' --filter '{label}'"
        ))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cleanup();
    }
}

const NOW: &str = "2026-03-01T10:00:00Z";

/// A plan with one container `copy` restoring a small SQL file, and one
/// check on it. `ready`, the restore's command and the check's SQL vary by
/// the phase being interrupted.
fn plan(b: &Rig, lifecycle: &str, ready: &str, restore: &str, check_sql: &str) -> String {
    let name = &b.name;
    // Ephemeral tests are named by date; a persistent copy keeps its name.
    let dated = if lifecycle == "ephemeral" {
        "-{{ date }}"
    } else {
        ""
    };
    format!(
        r#"
[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"

[artefacts.seed]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/seed.sql"
command = "printf 'create table t(x int); insert into t values (1);\\n'"

[containers.copy]
name = "{name}{dated}"
image = "{{{{ env.CUTTER_PG_IMAGE }}}}"
lifecycle = "{lifecycle}"
network = "{name}-net"
volume = "{name}{dated}-data"
env = {{ POSTGRES_HOST_AUTH_METHOD = "trust" }}
ready = "{ready}"
restore = {{ artefact = "seed", command = "{restore}" }}
timeout = "10m"

[checks.rows]
container = "copy"
user = "postgres"
database = "postgres"
sql = "{check_sql}"
expect = "1"
timeout = "10m"
"#
    )
}

const READY: &str = "pg_isready -h 127.0.0.1 -U postgres -q";
const RESTORE: &str = "psql -U postgres -v ON_ERROR_STOP=1 -q -f";
/// Ready, and then a session holding a lock on table `u` for a minute, so
/// that a check reading `u` waits (without burning CPU) until it is killed.
const READY_LOCKING: &str = "pg_isready -h 127.0.0.1 -U postgres -q && { setsid sh -c \\\"psql -U postgres -qc 'create table if not exists u(x int)' && psql -U postgres -qc 'begin; lock table u; select pg_sleep(90)'\\\" > /dev/null 2>&1 & sleep 3; }";
const CHECK: &str = "SELECT count(*) FROM t";
const CHECK_LOCKED: &str = "SELECT count(*) + 1 FROM u";

/// kill -9 during each phase of a persistent copy: what ran stops inside
/// the container (it runs as root there), and until its restore finished
/// and its completion record was written last, the copy is not in place.
#[test]
fn stack_killed_persistent_copy_stops_inside_and_counts_as_incomplete() {
    let b = Rig::new("pers");
    let c = b.name.clone();
    let incomplete = |phase: &str| {
        let r = b.expect(NOW, &["plan", "plan.toml"], 0);
        assert!(
            r.stdout.contains("container.copy") && r.stdout.contains("incomplete"),
            "after kill -9 during {phase}, the plan does not call the copy incomplete:\n{}",
            r.stdout
        );
        let r = b.expect(NOW, &["drift", "plan.toml"], 2);
        assert!(r.stderr.contains("container.copy"), "{}", r.stderr);
    };

    // During `ready`.
    b.t.plan(&plan(&b, "persistent", "sleep 7171", RESTORE, CHECK));
    b.kill_when(NOW, &c, "sleep 7171");
    b.assert_stops(&c, "sleep 7171");
    incomplete("ready");

    // During the restore (it runs as root inside the container).
    b.t.plan(&plan(
        &b,
        "persistent",
        READY,
        &format!("sleep 7272; {RESTORE}"),
        CHECK,
    ));
    b.kill_when(NOW, &c, "sleep 7272");
    b.assert_stops(&c, "sleep 7272");
    incomplete("restore");

    // An apply makes the interrupted copy whole, and then it is in place.
    b.t.plan(&plan(&b, "persistent", READY, RESTORE, CHECK));
    let r = b.expect(NOW, &["apply", "--yes", "plan.toml"], 0);
    assert!(
        r.stderr.contains("Replacing container.copy"),
        "{}",
        r.stderr
    );
    let r = b.expect(NOW, &["drift", "plan.toml"], 0);
    assert!(!r.stdout.contains("incomplete"), "{}", r.stdout);
    let id = b.ssh(&format!("docker inspect -f '{{{{.Id}}}}' {c}"));
    let record = b.ssh(&format!(
        "cat \"$HOME/.cutter/containers/{}.json\"",
        id.trim()
    ));
    let v: serde_json::Value =
        serde_json::from_str(&record).unwrap_or_else(|e| panic!("{e}: {record}"));
    assert_eq!(v["id"], id.trim());
    assert_eq!(v["restore_exit"], "0");
    assert!(v["restored_from"].as_str().unwrap().ends_with("/seed.sql"));
    assert_eq!(v["restored_sha256"].as_str().unwrap().len(), 64);
    // Removing the copy removes its record.
    b.expect(NOW, &["destroy", "plan.toml", "copy", "--yes"], 0);
    assert_eq!(
        b.ssh(&format!(
            "ls \"$HOME/.cutter/containers/\" | grep -c {} || :",
            id.trim()
        ))
        .trim(),
        "0",
        "the record outlived its container"
    );

    // During its check: the copy itself was completed, and says so.
    b.t.plan(&plan(
        &b,
        "persistent",
        READY_LOCKING,
        RESTORE,
        CHECK_LOCKED,
    ));
    b.kill_when(NOW, &c, "FROM u");
    b.assert_stops(&c, "FROM u");
    let r = b.expect(NOW, &["plan", "plan.toml"], 0);
    assert!(!r.stdout.contains("incomplete"), "{}", r.stdout);
}

/// kill -9 during each phase of an ephemeral restore test: what ran stops
/// inside the container; the container left by the killed apply, under
/// yesterday's `{{ date }}` name, is shown with its labels the next day and
/// removed by the apply.
#[test]
fn stack_killed_ephemeral_test_stops_inside_and_its_leftover_goes() {
    let b = Rig::new("eph");
    let c = format!("{}-2026-03-01", b.name);

    b.t.plan(&plan(&b, "ephemeral", "sleep 7171", RESTORE, CHECK));
    b.kill_when(NOW, &c, "sleep 7171");
    b.assert_stops(&c, "sleep 7171");

    b.t.plan(&plan(
        &b,
        "ephemeral",
        READY,
        &format!("sleep 7272; {RESTORE}"),
        CHECK,
    ));
    b.kill_when(NOW, &c, "sleep 7272");
    b.assert_stops(&c, "sleep 7272");

    b.t.plan(&plan(&b, "ephemeral", READY_LOCKING, RESTORE, CHECK_LOCKED));
    b.kill_when(NOW, &c, "FROM u");
    b.assert_stops(&c, "FROM u");

    // The next day: yesterday's container and volume are leftovers.
    let tomorrow = "2026-03-02T10:00:00Z";
    b.t.plan(&plan(&b, "ephemeral", READY, RESTORE, CHECK));
    let r = b.expect(tomorrow, &["plan", "plan.toml"], 0);
    let said = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains(&format!("leftover container `{c}`")),
        "yesterday's container is not shown as a leftover:\n{}",
        r.stdout
    );
    assert!(
        said.contains(&format!("leftover volume `{c}-data`")),
        "{}",
        r.stdout
    );
    assert!(said.contains("cutter.resource=copy"), "{}", r.stdout);
    b.expect(tomorrow, &["drift", "plan.toml"], 2);
    b.expect(tomorrow, &["apply", "--yes", "plan.toml"], 0);
    let left = b.labelled();
    assert!(
        !left.contains(&c),
        "yesterday's leftover is still there:\n{left}"
    );
    b.expect(tomorrow, &["drift", "plan.toml"], 0);
}

/// A network left by an interrupted teardown (labelled as cutter labelled
/// networks before they carried the plan's label), and a verification
/// container of a dead step, are shown and removed; what lacks cutter's
/// label or carries another plan's is never touched.
#[test]
fn stack_leftover_network_and_verifier_are_removed_only_by_label() {
    let s = stack();
    let b = Rig::new("left");
    let image = s.get("CUTTER_TEST_PG_IMAGE");
    b.t.plan(&plan(&b, "ephemeral", READY, RESTORE, CHECK));
    b.expect(NOW, &["apply", "--yes", "plan.toml"], 0);
    b.expect(NOW, &["plan", "plan.toml"], 0);
    let n = &b.name;
    let path = b.plan_path();
    // What an interrupted teardown leaves, and what a killed step leaves.
    b.ssh(&format!(
        "docker network create --label cutter.managed=true {n}-net >/dev/null; \
         docker run -d --rm --network none --name cutter-verify-{n} --label cutter.managed=true --label cutter.role=verify --label 'cutter.plan={path}' --entrypoint sleep {image} 600 >/dev/null; \
         docker run -d --name {n}-other --label cutter.managed=true --label cutter.plan=/elsewhere/plan.toml --entrypoint sleep {image} 600 >/dev/null; \
         docker run -d --name {n}-mine --label 'cutter.plan={path}' --entrypoint sleep {image} 600 >/dev/null"
    ));
    let r = b.expect(NOW, &["plan", "plan.toml"], 0);
    let said = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains(&format!("leftover network `{n}-net`")),
        "the network left by the teardown is not shown:\n{}",
        r.stdout
    );
    assert!(
        said.contains(&format!("leftover container `cutter-verify-{n}`")),
        "{}",
        r.stdout
    );
    assert!(said.contains("cutter.role=verify"), "{}", r.stdout);
    assert!(!said.contains(&format!("{n}-other")), "{}", r.stdout);
    assert!(!said.contains(&format!("{n}-mine")), "{}", r.stdout);
    b.expect(NOW, &["drift", "plan.toml"], 2);
    b.expect(NOW, &["apply", "--yes", "plan.toml"], 0);
    let names = b.ssh(&format!(
        "docker ps -a --format '{{{{.Names}}}}' --filter name=^/cutter-verify-{n}; docker ps -a --format '{{{{.Names}}}}' --filter name=^/{n}; docker network ls --format '{{{{.Name}}}}' --filter name=^{n}"
    ));
    assert!(!names.contains(&format!("cutter-verify-{n}")), "{names}");
    assert!(!names.contains(&format!("{n}-net")), "{names}");
    assert!(names.contains(&format!("{n}-other")), "{names}");
    assert!(names.contains(&format!("{n}-mine")), "{names}");
    b.expect(NOW, &["drift", "plan.toml"], 0);
    b.ssh(&format!("docker rm -f {n}-other {n}-mine >/dev/null 2>&1"));
}
