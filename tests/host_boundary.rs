//! What cutter writes on the host, attacked through the CLI on the real
//! stack: a link at the artefact's name, production's volume data seen from
//! the host, a second host entry for the same machine, a session left in
//! production by a killed cutter, a full disk, a secret left in a file. Each
//! attack has an unprotected twin that takes effect, so no attack "fails"
//! only because its plan is broken. Hosts with protected resources say
//! `free_form = "allow"`: the attacks here go through what cutter itself
//! writes, not through what a free-form host command does (refused by
//! default there, see `claims`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack::{StackTest, stack};

fn ssh_ok(command: &str) -> String {
    let out = stack().ssh(command);
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A cutter started to be killed mid-step; killed (-9) when dropped, so a
/// failed test leaves no apply running.
struct Running(std::process::Child);

impl Running {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start cutter with the test's environment (and `extra`), to be killed.
fn spawn(t: &StackTest, args: &[&str], extra: &[(&str, &str)]) -> Running {
    Running(
        Command::new(crate::test::cutter_bin())
            .args(args)
            .current_dir(t.local.path())
            .envs(t.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CUTTER_BACKUP_ROOT", &t.remote_root)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn poll(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what} (waited {secs}s)");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An artefact name, or its `stderr` name, that is a link to a protected
/// folder: nothing is moved into the folder. Twin: plain names beside them
/// are written.
#[test]
fn stack_a_link_at_the_artefact_name_never_leads_into_protected_data() {
    let t = StackTest::new("links");
    let r = &t.remote_root;
    ssh_ok(&format!(
        "mkdir -p {r}/prod {r}/out && echo production > {r}/prod/keep && ln -s {r}/prod {r}/out/x.txt && ln -s {r}/prod {r}/out/e.txt"
    ));
    t.plan(&format!(
        r#"[hosts.vps]
ssh = "cutter-test-vps"
free_form = "allow"
[hosts.vps.protected]
paths = ["{r}/prod"]

[artefacts.attack]
path = "{r}/out/x.txt"
command = "echo attack"

[artefacts.through_stderr]
path = "{r}/out/y.txt"
command = "echo attack >&2; echo y"
stderr = "e.txt"

[artefacts.twin]
path = "{r}/out/z.txt"
command = "echo twin >&2; echo twin"
stderr = "z.err"
"#
    ));
    let run = t.run(&["apply", "--yes", "plan.toml"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        flat(&run.stderr).contains("is a link or not a regular file"),
        "{}",
        run.stderr
    );
    assert_eq!(ssh_ok(&format!("ls -A {r}/prod")), "keep\n");
    assert_eq!(ssh_ok(&format!("cat {r}/prod/keep")), "production\n");
    assert_eq!(
        ssh_ok(&format!("cat {r}/out/z.txt {r}/out/z.err")),
        "twin\ntwin\n"
    );
    // Nothing of the refused steps is left, nothing looks complete.
    let left = ssh_ok(&format!("ls -A {r}/out"));
    assert!(
        !left.contains("cutter-tmp") && !left.contains("y.txt"),
        "{left}"
    );
}

/// Production's volume data seen from the host (under Docker's root), and
/// the data of a plan's own container volume where a shell in it could
/// plant links: refused at plan time, naming why, and never written. Twin:
/// the same plan writing to an ordinary folder.
#[test]
fn stack_volumes_seen_from_the_host_are_protected() {
    let t = StackTest::new("volumes");
    let attack = format!("cutter-attack-{}.txt", std::process::id());
    let data = String::from_utf8_lossy(
        &Command::new("docker")
            .args([
                "volume",
                "inspect",
                "-f",
                "{{.Mountpoint}}",
                "cutter-prod-pgdata",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    assert!(data.starts_with('/'), "no mountpoint: {data:?}");
    let plan = |path: &str| {
        format!(
            "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\ncontainers = [\"postgres\"]\n\n[artefacts.a]\npath = \"{path}\"\ncommand = \"echo attack\"\n"
        )
    };
    for path in [
        format!("{data}/{attack}"),
        format!("/var/lib/docker/volumes/cutter-own-copy-data/_data/{attack}"),
    ] {
        t.plan(&plan(&path));
        for verb in ["plan", "apply"] {
            let run = t.run(&[verb, "plan.toml", "--yes"][..if verb == "plan" { 2 } else { 3 }]);
            assert_eq!(run.status, 1, "{verb} {path}: {}", run.stderr);
            let err = flat(&run.stderr);
            assert!(err.contains("would write under protected path"), "{err}");
            assert!(err.contains("Docker's"), "{err}");
        }
        assert!(!std::path::Path::new(&path).exists(), "{path} was written");
    }
    let twin = t.local.path().join("free/x.txt");
    t.plan(&plan(&twin.display().to_string()));
    t.expect(&["apply", "plan.toml", "--yes"], 0);
    assert_eq!(std::fs::read_to_string(&twin).unwrap(), "attack\n");
}

/// A second host entry for the same machine (`local = true` beside the SSH
/// alias to it) shares the first entry's protection. Twin: the same write
/// outside the protected folder.
#[test]
fn stack_a_second_name_for_the_machine_shares_its_protection() {
    let t = StackTest::new("twin-host");
    let r = &t.remote_root;
    ssh_ok(&format!(
        "mkdir -p {r}/prod && echo production > {r}/prod/keep"
    ));
    let plan = |dir: &str| {
        format!(
            r#"[hosts.vps]
ssh = "cutter-test-vps"
free_form = "allow"
[hosts.vps.protected]
paths = ["{r}/prod"]

[hosts.here]
local = true
free_form = "allow"

[artefacts.on_vps]
host = "vps"
path = "{r}/vps/a.txt"
command = "echo a"

[artefacts.attack]
host = "here"
path = "{r}/{dir}/x.txt"
command = "echo attack"
"#
        )
    };
    t.plan(&plan("prod"));
    let run = t.run(&["apply", "plan.toml", "--yes"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let err = flat(&run.stderr);
    assert!(err.contains("would write under protected path"), "{err}");
    assert!(err.contains("the same machine"), "{err}");
    assert_eq!(ssh_ok(&format!("ls -A {r}/prod")), "keep\n");
    t.plan(&plan("free"));
    t.expect(&["apply", "plan.toml", "--yes"], 0);
    assert_eq!(ssh_ok(&format!("cat {r}/free/x.txt")), "attack\n");
}

fn cutter_backends() -> usize {
    let password = std::fs::read_to_string(stack().get("CUTTER_TEST_PROD_PASSWORD_FILE")).unwrap();
    let out = Command::new("docker")
        .args([
            "exec",
            "-e",
            &format!("PGPASSWORD={}", password.trim()),
            "postgres",
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "directus",
            "-d",
            "directus",
            "-Atc",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'cutter-%' AND query LIKE '%cutter_kill_a%' AND pid <> pg_backend_pid()",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

/// kill -9 of cutter during a long query in production: within seconds no
/// backend of cutter's is left running it (the server checks that its
/// client is still there). Twin: while cutter runs, the backend is there.
/// The query joins small catalogs (no temporary files), for far longer
/// than the test waits; its step timeout (3 min) ends it on a cutter
/// without the fix.
#[test]
fn stack_a_killed_cutter_leaves_no_session_in_production() {
    let t = StackTest::new("session");
    t.plan(&format!(
        r#"[hosts.vps]
ssh = "cutter-test-vps"
[hosts.vps.protected]
containers = ["postgres"]

[artefacts.slow]
path = "{}/slow.txt"
container = "postgres"
timeout = "3m"
query = {{ database = "directus", user = "directus", sql = "SELECT count(*) FROM pg_class AS cutter_kill_a, pg_class AS b, pg_class AS c, pg_class AS d" }}
"#,
        t.remote_root
    ));
    let mut child = spawn(&t, &["apply", "plan.toml", "--yes"], &[]);
    poll("the query never started in production", 600, || {
        cutter_backends() > 0
    });
    child.kill();
    poll(
        "a backend of the killed cutter still runs its query",
        60,
        || cutter_backends() == 0,
    );
}

/// A secret given to a container stays in no file on the host after
/// cutter is killed while the container step runs. Twin: the container
/// gets it.
#[test]
fn stack_no_secret_rests_in_a_file_after_a_kill() {
    let t = StackTest::new("secret");
    let secret = format!("s3cret-{}-{}", std::process::id(), t.remote_root.len());
    let name = format!("cutter-secret-{}", std::process::id());
    let image = stack().get("CUTTER_TEST_PG_IMAGE").to_string();
    t.plan(&format!(
        r#"[hosts.vps]
ssh = "cutter-test-vps"

[containers.copy]
name = "{name}"
image = "{image}"
lifecycle = "persistent"
network = "{name}-net"
volume = "{name}-data"
secrets = {{ POSTGRES_PASSWORD = {{ env = "CUTTER_TEST_SECRET" }} }}
ready = "sleep 600"
"#
    ));
    let cleanup = Cleanup(name.clone());
    let mut child = spawn(
        &t,
        &["apply", "plan.toml", "--yes"],
        &[("CUTTER_TEST_SECRET", &secret)],
    );
    poll("the container never started", 600, || {
        !ssh_ok(&format!("docker ps -q --filter name=^/{name}$"))
            .trim()
            .is_empty()
    });
    let env = ssh_ok(&format!("docker inspect -f '{{{{.Config.Env}}}}' {name}"));
    assert!(
        env.contains(&secret),
        "the container lacks its secret: {env}"
    );
    child.kill();
    std::thread::sleep(Duration::from_secs(2));
    let found = Command::new("grep")
        .args(["-rlsF", &secret, "/tmp", "/var/tmp", "/home/cutter-op"])
        .output()
        .unwrap();
    drop(cleanup);
    assert!(
        found.stdout.is_empty(),
        "the secret rests in: {}",
        String::from_utf8_lossy(&found.stdout)
    );
}

/// Removes a test's container, volume and network, however the test ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let name = &self.0;
        let _ = stack().ssh(&format!(
            "docker rm -f -v {name} >/dev/null 2>&1; docker volume rm {name}-data >/dev/null 2>&1; docker network rm {name}-net >/dev/null 2>&1"
        ));
    }
}
