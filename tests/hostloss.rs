//! A lost host is an outcome, not a crash (issue 18, item 4): a host that
//! cannot be reached, whose observation is cut short, or whose connection
//! dies during an apply gets "unknown" steps; the other hosts are planned
//! and applied, the evidence report is written, and the exit is 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack::{StackTest, stack};
use crate::test::{Run, Test, cutter_bin, run_in};

fn no_panic(r: &Run) {
    assert_ne!(r.status, 101, "panicked:\n{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// miette wraps long lines: compare with whitespace folded.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one evidence report (JSON) in `dir`.
fn report(dir: &Path) -> serde_json::Value {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("no report folder {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "one report in {}: {files:?}", dir.display());
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

fn step<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == id)
        .unwrap_or_else(|| panic!("no step `{id}` in the report: {report:#}"))
}

fn host<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host `{name}` in the report: {report:#}"))
}

/// A `stat` on `PATH` that, inside the probe of a file under a `cut`
/// folder, prints the start of a record and kills the probe: the host
/// cuts its observation short. Everywhere else it is the real `stat`.
fn cutting_stat(dir: &Path) -> String {
    let real = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("stat"))
                .find(|f| f.is_file())
        })
        .expect("stat on PATH");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in *\"/cut/\"*)\n  if tr '\\0' ' ' < /proc/$PPID/cmdline | grep -q cutter-probe; then printf '6\\0stat\\0'; kill -9 $PPID; exit 0; fi;;\nesac\nexec {} \"$@\"\n",
        real.display()
    );
    let f = bin.join("stat");
    std::fs::write(&f, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// (c) Two hosts; the observation of one (`here`) is cut short once its
/// file exists: the apply still writes its report (exit 1, no panic), and
/// plan and drift show the other host and name the one not observed.
#[test]
fn an_observation_cut_short_leaves_that_host_unknown_and_the_others_planned() {
    let t = Test::new();
    let root = t.path().display().to_string();
    let path = cutting_stat(t.path());
    let t = t.plan(&format!(
            "[hosts.here]\nlocal = true\n[hosts.there]\nlocal = true\n\n[artefacts.a]\nhost = \"here\"\npath = \"{root}/cut/a.txt\"\ncommand = \"echo a\"\n\n[artefacts.b]\nhost = \"there\"\npath = \"{root}/fine/b.txt\"\ncommand = \"echo b\"\n"
    ));
    let home = t.path().display().to_string();
    let env: Vec<(String, String)> = [
        ("NO_COLOR", "1"),
        ("HOME", home.as_str()),
        ("PATH", path.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        run_in(t.path(), &args, &env, true)
    };
    // Nothing exists yet, so the first observation is whole; the one after
    // the apply is cut short on `here`.
    let r = run(&["apply", "--yes", "--report-dir", "reports", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        flat(&r.stderr).contains("host `here` was not observed after the apply"),
        "{}",
        r.stderr
    );
    let rep = report(&t.path().join("reports"));
    assert_eq!(rep["result"], "failed");
    assert_eq!(step(&rep, "artefact.a")["status"], "ok");
    assert_eq!(step(&rep, "artefact.b")["status"], "ok");
    let here = host(&rep, "here");
    assert!(
        here["unobserved"]
            .as_str()
            .is_some_and(|w| w.contains("probe")),
        "{here:#}"
    );
    assert!(host(&rep, "there")["unobserved"].is_null());
    assert_eq!(host(&rep, "there")["artefacts"][0]["name"], "b");

    // Now the observation of `here` is cut short from the start.
    let r = run(&["plan", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("host there"), "{}", r.stdout);
    assert!(r.stdout.contains("unchanged: artefact.b"), "{}", r.stdout);
    assert!(r.stdout.contains("not observed:"), "{}", r.stdout);
    assert!(r.stdout.contains("1 unknown"), "{}", r.stdout);
    let err = flat(&r.stderr);
    assert!(err.contains("host `here`"), "{}", r.stderr);
    assert!(err.contains("probe"), "{}", r.stderr);

    let json = run(&["plan", "--format", "json", "plan.toml"]);
    assert_eq!(json.status, 1);
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(view["summary"]["unknown"], 1);
    let here = view["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "here")
        .unwrap();
    assert_eq!(here["changes"][0]["action"], "unknown");

    let r = run(&["drift", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("matches the hosts"), "{}", r.stderr);
    assert!(flat(&r.stderr).contains("host `here`"), "{}", r.stderr);

    let r = run(&["status", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("artefact b"), "{}", r.stdout);
}

fn two_host_plan(t: &StackTest, alias_b: &str) -> String {
    let root = &t.remote_root;
    format!(
        "[hosts.vps]\nssh = \"cutter-test-vps\"\n[hosts.gone]\nssh = \"{alias_b}\"\n\n[artefacts.a]\nhost = \"vps\"\npath = \"{root}/a/a.txt\"\ncommand = \"echo a\"\n\n[artefacts.b]\nhost = \"gone\"\npath = \"{root}/b/b.txt\"\ncommand = \"echo b\"\n"
    )
}

/// (b) One of two hosts is unreachable: plan and drift show the other one
/// and name the unreachable one (exit 1, never "in sync"); nothing is
/// saved; apply applies the reachable host's steps, reports the others as
/// unknown and exits 1.
#[test]
fn stack_an_unreachable_host_among_several_is_unknown_and_the_others_are_applied() {
    let s = stack();
    let t = StackTest::new("hostloss-unreachable");
    t.plan(&two_host_plan(
        &t,
        s.get("CUTTER_TEST_SSH_ALIAS_UNREACHABLE"),
    ));

    let r = t.run(&["plan", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("create   artefact.a"), "{}", r.stdout);
    assert!(r.stdout.contains("host gone"), "{}", r.stdout);
    assert!(
        r.stdout.contains("not observed: cannot reach host `gone`"),
        "{}",
        r.stdout
    );
    let err = flat(&r.stderr);
    assert!(
        err.contains("1 of 2 host(s) could not be observed"),
        "{}",
        r.stderr
    );
    assert!(err.contains("cannot reach host `gone`"), "{}", r.stderr);

    let r = t.run(&["plan", "-o", "saved.json", "plan.toml"]);
    assert_eq!(r.status, 1);
    assert!(
        !t.local.path().join("saved.json").exists(),
        "a plan with unknown steps is not saved"
    );

    let r = t.run(&["drift", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("matches the hosts"), "{}", r.stderr);
    assert!(flat(&r.stderr).contains("host `gone`"), "{}", r.stderr);

    let r = t.run(&["apply", "--yes", "--report-dir", "reports", "plan.toml"]);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        flat(&r.stderr).contains("artefact.b has an unknown outcome"),
        "{}",
        r.stderr
    );
    let rep = report(&t.local.path().join("reports"));
    assert_eq!(rep["result"], "failed");
    assert_eq!(step(&rep, "artefact.a")["status"], "ok");
    let b = step(&rep, "artefact.b");
    assert_eq!(b["status"], "unknown");
    assert!(
        b["error"]
            .as_str()
            .is_some_and(|e| e.contains("host `gone` was not observed")),
        "{b:#}"
    );
    assert!(
        host(&rep, "gone")["unobserved"]
            .as_str()
            .is_some_and(|w| w.contains("cannot reach host `gone`"))
    );
    let ls = s.ssh(&format!("cat '{}/a/a.txt'", t.remote_root));
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "a");
}

/// Processes whose command line holds `marker`.
fn pids_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(marker)
                .then_some(pid)
        })
        .collect()
}

/// `sleep DURATION` processes (on the stack's host, or in a container on
/// it: both are processes of this machine).
fn sleeping(duration: &str) -> Vec<u32> {
    pids_with(duration)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let argv: Vec<&[u8]> = c.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
                argv.len() == 2 && argv[0].ends_with(b"sleep") && argv[1] == duration.as_bytes()
            })
        })
        .collect()
}

/// The ssh master cutter started: an `ssh` whose control socket lies in
/// `control_dir` (cutter's own `TMPDIR`).
fn ssh_master(control_dir: &str) -> Vec<u32> {
    pids_with(control_dir)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
                String::from_utf8_lossy(argv0).ends_with("ssh")
            })
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cutter apply ARGS` in the background, with its own `TMPDIR` (where its
/// ssh master keeps its control socket); output to files in the test folder.
fn spawn_apply(t: &StackTest, args: &[&str]) -> (std::process::Child, String) {
    let tmp = t.local.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp = tmp.display().to_string();
    let mut cmd = Command::new(cutter_bin());
    cmd.current_dir(t.local.path())
        .args(args)
        .env_remove("CUTTER_NOW")
        .env("TMPDIR", &tmp)
        .env("CUTTER_BACKUP_ROOT", &t.remote_root)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(t.local.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(t.local.path().join("stderr")).unwrap());
    for (k, v) in &t.env {
        cmd.env(k, v);
    }
    (cmd.spawn().unwrap(), tmp)
}

/// Once `sleep MARKER` runs, kill -9 the ssh master of the apply
/// whose `TMPDIR` is `tmp`; then wait for that apply to end. Its exit
/// status and standard error.
fn lose_connection_when(
    t: &StackTest,
    mut child: std::process::Child,
    tmp: &str,
    marker: &str,
) -> (Option<i32>, String) {
    // Generous: another test may hold the host's apply lock.
    wait_for("the step to run", Duration::from_secs(600), || {
        !sleeping(marker).is_empty()
    });
    let masters = ssh_master(tmp);
    assert_eq!(masters.len(), 1, "one ssh master in {tmp}: {masters:?}");
    let killed = Command::new("kill")
        .args(["-9", &masters[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("cutter did not end after its connection was lost");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = std::fs::read_to_string(t.local.path().join("stderr")).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (status.code(), stderr)
}

/// (a) The ssh master dies while a long step runs on its host: that step's
/// outcome is unknown, the other host's step finishes, the report is
/// written and the exit is 1, without a panic; the next plan shows what
/// is missing.
#[test]
fn stack_a_connection_lost_mid_apply_is_an_unknown_outcome_not_a_crash() {
    let t = StackTest::new("hostloss-killed");
    let marker = format!("61.{}", std::process::id());
    let local_out = t.local.path().join("out").display().to_string();
    let root = &t.remote_root;
    t.plan(&format!(
        "[hosts.vps]\nssh = \"cutter-test-vps\"\n[hosts.here]\nlocal = true\n\n[artefacts.slow]\nhost = \"vps\"\npath = \"{root}/slow/slow.txt\"\ncommand = \"sleep {marker}; echo x\"\n\n[artefacts.quick]\nhost = \"here\"\npath = \"{local_out}/quick.txt\"\ncommand = \"sleep 2; echo y\"\n"
    ));
    let (child, tmp) = spawn_apply(
        &t,
        &["apply", "--yes", "--report-dir", "reports", "plan.toml"],
    );
    let (status, stderr) = lose_connection_when(&t, child, &tmp, &marker);
    assert_eq!(status, Some(1), "{stderr}");
    let rep = report(&t.local.path().join("reports"));
    assert_eq!(rep["result"], "failed");
    let slow = step(&rep, "artefact.slow");
    assert_eq!(slow["status"], "unknown", "{slow:#}");
    let why = slow["error"].as_str().unwrap_or_default();
    assert!(why.contains("lost the connection to host `vps`"), "{why}");
    assert!(why.contains("unknown"), "{why}");
    assert_eq!(step(&rep, "artefact.quick")["status"], "ok");
    assert!(host(&rep, "vps")["unobserved"].is_string(), "{rep:#}");
    assert!(
        flat(&stderr).contains("artefact.slow has an unknown outcome"),
        "{stderr}"
    );
    // On the host, the step ends with its lifeline.
    wait_for(
        "the step to end on the host",
        Duration::from_secs(60),
        || sleeping(&marker).is_empty(),
    );
    // A new connection sees what is missing.
    let r = t.expect(&["plan", "plan.toml"], 0);
    assert!(r.stdout.contains("create   artefact.slow"), "{}", r.stdout);
    assert!(
        r.stdout.contains("unchanged: artefact.quick"),
        "{}",
        r.stdout
    );
}

/// A command on the stack's host that must succeed; a connection the
/// loaded server drops (ssh's 255) is tried again.
fn ssh_ok(command: &str) -> Vec<u8> {
    for _ in 0..5 {
        let out = stack().ssh(command);
        if out.status.success() {
            return out.stdout;
        }
        assert_eq!(
            out.status.code(),
            Some(255),
            "`{command}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("`{command}`: no connection to the stack's host");
}

/// An ephemeral container left by an apply whose connection died (its
/// teardown never ran) is found by its labels: the next plan removes it,
/// even though an earlier test of the same dump passed, and the next apply
/// does, keeping that test's evidence.
#[test]
fn stack_an_ephemeral_container_left_by_a_lost_apply_is_removed_next_time() {
    let t = StackTest::new("hostloss-leftover");
    let pid = std::process::id();
    let name = format!("hl-left-{pid}");
    let marker = format!("7.{pid}");
    let root = &t.remote_root;
    t.plan(&format!(
        r#"[hosts.vps]
ssh = "cutter-test-vps"

[artefacts.backup]
path = "{root}/bk/backup.txt"
command = "echo backup"

[containers.rt]
name = "{name}"
image = "{{{{ env.CUTTER_PG_IMAGE }}}}"
lifecycle = "ephemeral"
env = {{ POSTGRES_HOST_AUTH_METHOD = "trust" }}
restore = {{ artefact = "backup", command = "sleep {marker}; cat" }}
"#
    ));
    let exists = || {
        String::from_utf8_lossy(&ssh_ok("docker ps -a --format '{{.Names}}'"))
            .lines()
            .any(|l| l == name)
    };
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    assert!(!exists(), "torn down after its test");
    let evidence = || ssh_ok(&format!("cat '{root}/bk/backup.txt.restore-test.rt.json'"));
    let passed = evidence();
    let text = String::from_utf8_lossy(&passed).into_owned();
    assert!(text.contains("\"passed\":true"), "evidence: {text:?}");
    // The test runs again on request, and its connection dies during the
    // restore: the container stays.
    let (child, tmp) = spawn_apply(&t, &["apply", "--yes", "--replace", "rt", "plan.toml"]);
    let (status, stderr) = lose_connection_when(&t, child, &tmp, &marker);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(exists(), "the lost apply left its container");

    let r = t.expect(&["plan", "--detailed-exitcode", "plan.toml"], 2);
    assert!(r.stdout.contains("destroy  teardown.rt"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("leftover: `{name}`")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("unchanged: artefact.backup, container.rt"),
        "{}",
        r.stdout
    );
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    assert!(!exists(), "the leftover is removed");
    assert_eq!(evidence(), passed, "removing a leftover records no test");
    t.expect(&["plan", "--detailed-exitcode", "plan.toml"], 0);
}

/// A host that was not observed but declares protected resources may be
/// the same machine as another host of the plan: apply writes nothing.
/// (Its host command is allowed: what is tested is the unobserved host.)
#[test]
fn nothing_is_applied_while_a_host_with_protection_is_not_observed() {
    let t = Test::new();
    let root = t.path().display().to_string();
    let path = cutting_stat(t.path());
    // A file there already, so that the probe of `here` is cut short.
    std::fs::create_dir_all(t.path().join("cut")).unwrap();
    std::fs::write(t.path().join("cut/a.txt"), "a\n").unwrap();
    let t = t.plan(&format!(
        "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\npaths = [\"{root}/prod\"]\n[hosts.there]\nlocal = true\n\n[artefacts.a]\nhost = \"here\"\npath = \"{root}/cut/a.txt\"\ncommand = \"echo a\"\n\n[artefacts.b]\nhost = \"there\"\npath = \"{root}/fine/b.txt\"\ncommand = \"echo b\"\n"
    ));
    let home = t.path().display().to_string();
    let env: Vec<(String, String)> = [
        ("NO_COLOR", "1"),
        ("HOME", home.as_str()),
        ("PATH", path.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let args: Vec<String> = ["apply", "--yes", "plan.toml"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let r = run_in(t.path(), &args, &env, true);
    no_panic(&r);
    assert_eq!(r.status, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        flat(&r.stderr).contains("host `here` was not observed and declares protected resources"),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("fine/b.txt").exists(), "nothing is applied");
}
