//! Remote hosts over SSH: errors an operator can act on, a constant number
//! of round trips, quoting that cannot be injected.

use crate::stack::{StackTest, stack};

fn host_plan(alias: &str, root: &str, artefacts: usize) -> String {
    let mut s = format!("[hosts.vps]\nssh = \"{alias}\"\n\n");
    for i in 0..artefacts {
        s.push_str(&format!(
            "[artefacts.file{i}]\npath = \"{root}/files/f{i}.txt\"\ncommand = \"echo {i}\"\n\n"
        ));
    }
    s
}

fn assert_error(r: &crate::test::Run, words: &[&str]) {
    assert_eq!(r.status, 1, "stderr: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // miette wraps long lines; compare with whitespace folded.
    let flat = r
        .stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for w in words {
        assert!(flat.contains(w), "stderr lacks {w:?}:\n{}", r.stderr);
    }
}

#[test]
fn unreachable_host_is_named_and_nothing_runs() {
    let t = StackTest::new("unreachable");
    t.plan(&host_plan("cutter-test-unreachable", &t.remote_root, 1));
    let r = t.run(&["apply", "--yes", "plan.toml"]);
    assert_error(&r, &["cannot reach host `vps`", "cutter-test-unreachable"]);
}

#[test]
fn refused_authentication_is_reported() {
    let t = StackTest::new("badkey");
    t.plan(&host_plan("cutter-test-vps-badkey", &t.remote_root, 1));
    let r = t.run(&["plan", "plan.toml"]);
    assert_error(&r, &["refused authentication", "Permission denied"]);
}

#[test]
fn unknown_host_key_is_refused_by_default() {
    let t = StackTest::new("unknownhost");
    t.plan(&host_plan("cutter-test-vps-unknownhost", &t.remote_root, 1));
    let r = t.run(&["plan", "plan.toml"]);
    assert_error(&r, &["host key of `vps`", "not trusted"]);
}

#[test]
fn permission_denied_names_the_step_and_leaves_nothing() {
    let t = StackTest::new("denied");
    t.plan("[hosts.vps]\nssh = \"cutter-test-vps\"\n\n[artefacts.secret]\npath = \"/root/cutter-denied/x.txt\"\ncommand = \"echo hi\"\n");
    let r = t.run(&["apply", "--yes", "plan.toml"]);
    assert_error(&r, &["artefact.secret", "Permission denied"]);
}

#[test]
fn failed_remote_command_is_reported_with_its_stderr_and_leaves_no_file() {
    let t = StackTest::new("failcmd");
    let root = &t.remote_root;
    t.plan(&format!(
        "[hosts.vps]\nssh = \"cutter-test-vps\"\n\n[artefacts.broken]\npath = \"{root}/b/broken.txt\"\ncommand = \"echo partial; echo boom >&2; exit 9\"\n"
    ));
    let r = t.run(&["apply", "--yes", "plan.toml"]);
    assert_error(&r, &["artefact.broken", "exit code 9"]);
    let ls = stack().ssh(&format!("ls -A '{root}/b'"));
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout).trim(),
        "",
        "no file, not even a temporary one"
    );
}

/// Observation costs one command per host, whatever the plan's size.
#[test]
fn plan_round_trips_do_not_grow_with_the_number_of_resources() {
    let s = stack();
    let mut counts = Vec::new();
    for n in [10, 500] {
        let t = StackTest::new(&format!("roundtrips{n}"));
        t.plan(&host_plan("cutter-test-vps", &t.remote_root, n));
        t.expect(&["apply", "--yes", "-q", "plan.toml"], 0);
        let sha = sha_prefix(&t);
        let before = s.audit_len();
        let r = t.expect(&["plan", "--detailed-exitcode", "plan.toml"], 0);
        assert!(
            r.stdout.contains(&format!("= {n} unchanged")),
            "{}",
            r.stdout
        );
        let lines = s.audit_since(before);
        let ours = lines
            .iter()
            .filter(|l| l.contains(&sha) || l.contains(&t.remote_root))
            .count();
        counts.push(ours);
    }
    assert_eq!(
        counts,
        [1, 1],
        "commands for a no-op plan of 10 and 500 artefacts"
    );
}

fn sha_prefix(t: &StackTest) -> String {
    use sha2::Digest;
    let text = std::fs::read(t.local.path().join("plan.toml")).unwrap();
    hex::encode(sha2::Sha256::digest(&text))[..12].to_string()
}

/// Names with shell metacharacters travel quoted: nothing is injected.
#[test]
fn hostile_names_cannot_inject() {
    let s = stack();
    let t = StackTest::new("inject");
    let root = &t.remote_root;
    let names = [
        "with space.txt",
        "quote'single.txt",
        "quote\\\"double.txt",
        "dollar$(touch INJECTED1).txt",
        "back`touch INJECTED2`tick.txt",
        "semi;touch INJECTED3.txt",
        "-dash-leading.txt",
        "ünïcødé ✓.txt",
        "back\\\\slash.txt",
    ];
    let mut plan = String::from("[hosts.vps]\nssh = \"cutter-test-vps\"\n\n");
    for (i, n) in names.iter().enumerate() {
        plan.push_str(&format!(
            "[artefacts.a{i}]\npath = \"{root}/d $(touch INJECTED0)/{n}\"\ncommand = \"echo content-{i}\"\nstderr = \"err {i} `touch INJECTED4`\"\n\n"
        ));
    }
    t.plan(&plan);
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    t.expect(&["drift", "plan.toml"], 0);
    let found = s.ssh(&format!(
        "find '{root}' -name 'INJECTED*'; find /home/cutter-op -maxdepth 1 -name 'INJECTED*'"
    ));
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        "",
        "an injected command ran"
    );
    let check = s.ssh(&format!(
        "cd '{root}/d $(touch INJECTED0)' && sha256sum -c SHA256SUMS"
    ));
    assert!(
        check.status.success(),
        "sha256sum -c: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&check.stdout)
            .matches(": OK")
            .count(),
        names.len()
    );
}

/// Several hosts are observed and applied concurrently, output grouped by host.
#[test]
fn several_hosts_in_one_plan() {
    let t = StackTest::new("multihost");
    let root = &t.remote_root;
    let local = t.local.path().display().to_string();
    t.plan(&format!(
        "[hosts.vps]\nssh = \"cutter-test-vps\"\n[hosts.vps2]\nssh = \"cutter-test-vps\"\n[hosts.here]\nlocal = true\n\n\
         [artefacts.one]\nhost = \"vps\"\npath = \"{root}/one.txt\"\ncommand = \"hostname\"\n\
         [artefacts.two]\nhost = \"vps2\"\npath = \"{root}/two.txt\"\ncommand = \"hostname\"\n\
         [artefacts.three]\nhost = \"here\"\npath = \"{local}/three.txt\"\ncommand = \"hostname\"\n"
    ));
    let r = t.expect(&["plan", "plan.toml"], 0);
    for h in [
        "host vps (ssh cutter-test-vps)",
        "host vps2 (ssh cutter-test-vps)",
        "host here (local)",
    ] {
        assert!(r.stdout.contains(h), "{}", r.stdout);
    }
    assert!(r.stderr.contains("Observed 3 host(s)"), "{}", r.stderr);
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    t.expect(&["drift", "plan.toml"], 0);
}

/// A host whose key changed is refused, through a per-host `ssh_config`.
#[test]
fn changed_host_key_is_refused() {
    let s = stack();
    let t = StackTest::new("changedkey");
    let dir = t.local.path();
    let key = dir.join("other_host_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut fields = public.split_whitespace();
    let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
    let port = s.get("CUTTER_TEST_SSH_PORT");
    std::fs::write(
        dir.join("known_hosts"),
        format!("[127.0.0.1]:{port} {kind} {blob}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host moved\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  BatchMode yes\n",
            s.get("CUTTER_TEST_SSH_USER"),
            s.get("CUTTER_TEST_SSH_IDENTITY"),
            dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    t.plan(&format!(
        "[hosts.vps]\nssh = \"moved\"\nssh_config = \"{}\"\n\n[artefacts.a]\npath = \"{}/a.txt\"\ncommand = \"echo a\"\n",
        dir.join("ssh_config").display(),
        t.remote_root
    ));
    let r = t.run(&["apply", "--yes", "plan.toml"]);
    assert_error(
        &r,
        &[
            "host key of `vps`",
            "not trusted",
            "HOST IDENTIFICATION HAS CHANGED",
        ],
    );
}

/// Many plan hosts behind one server: connections are bounded and a server
/// that drops some before authentication (sshd's MaxStartups) is retried, so
/// the whole plan applies.
#[test]
fn many_hosts_behind_one_server() {
    let t = StackTest::new("manyhosts");
    let root = &t.remote_root;
    let mut plan = String::new();
    for i in 0..30 {
        plan.push_str(&format!(
            "[hosts.h{i}]\nssh = \"cutter-test-vps\"\n[artefacts.a{i}]\nhost = \"h{i}\"\npath = \"{root}/a{i}.txt\"\ncommand = \"echo {i}\"\n"
        ));
    }
    t.plan(&plan);
    let r = t.expect(&["apply", "--yes", "plan.toml"], 0);
    assert!(r.stderr.contains("Observed 30 host(s)"), "{}", r.stderr);
    t.expect(&["drift", "plan.toml"], 0);
}
