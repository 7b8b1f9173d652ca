//! The lifecycle verbs an operator expects: `--replace`, `status`, `destroy`.

use crate::diagnostics::{assert_says, unwrapped};
use crate::local::Site;
use crate::stack::{StackTest, stack};

const PLAN: &str = r#"
[hosts.local]
local = true

[artefacts.alpha]
path = "{out}/alpha.txt"
command = "date +%s%N"
"#;

/// `--replace NAME` makes an artefact again although it is in place, and
/// the folder stays verifiable; an unknown name is refused before any host
/// is contacted.
#[test]
fn replace_makes_an_artefact_again_on_request() {
    let site = Site::new(PLAN);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let before = site.read("alpha.txt");
    let r = site.cutter(0, &["plan", "plan.toml", "--replace", "alpha"]);
    assert_says(&r.stdout, "made again on request");
    site.cutter(0, &["apply", "plan.toml", "--yes", "--replace", "alpha"]);
    assert_ne!(site.read("alpha.txt"), before, "not made again");
    site.assert_checksums_pass();
    site.cutter(0, &["drift", "plan.toml"]);
    let r = site.cutter(1, &["plan", "plan.toml", "--replace", "nothing"]);
    let said = unwrapped(&r.stderr);
    assert_says(&said, "cannot replace `nothing`");
    assert_says(&said, "`alpha`");
    assert!(!said.contains("Observed"), "contacted the host: {said}");
}

/// A file at a fixed path that cutter did not make is never overwritten
/// silently: the plan refuses and names `--replace`, which overwrites it.
#[test]
fn a_hand_made_file_is_overwritten_only_with_replace() {
    let site = Site::new(PLAN);
    std::fs::create_dir_all(site.out()).unwrap();
    std::fs::write(site.file("alpha.txt"), "hand made\n").unwrap();
    let r = site.cutter(1, &["apply", "plan.toml", "--yes"]);
    let said = unwrapped(&r.stderr);
    assert_says(&said, "was not made by cutter");
    assert_says(&said, "--replace alpha");
    assert_eq!(site.read("alpha.txt"), "hand made\n");
    let r = site.cutter(0, &["apply", "plan.toml", "--yes", "--replace", "alpha"]);
    assert_says(&unwrapped(&r.stdout), "overwrites");
    assert_ne!(site.read("alpha.txt"), "hand made\n");
    site.assert_checksums_pass();
}

/// `status` lists what the host holds without planning.
#[test]
fn status_lists_what_the_hosts_hold() {
    let site = Site::new(PLAN);
    let r = site.cutter(0, &["status", "plan.toml"]);
    assert_says(&r.stdout, "artefact alpha: missing");
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let r = site.cutter(0, &["status", "plan.toml"]);
    assert_says(&r.stdout, "alpha.txt");
    assert_says(&r.stdout, "last hashed");
    let r = site.cutter(0, &["status", "plan.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["local"]["artefacts"]["alpha"]["newest"]["sha256"].is_string());
}

/// `destroy` removes a persistent container cutter made, with its volume and
/// network; it refuses one cutter did not make, and ephemeral ones.
#[test]
fn stack_destroy_removes_only_cutters_persistent_container() {
    let s = stack();
    let t = StackTest::new("destroy");
    let name = format!("destroy-{}", std::process::id());
    t.plan(&format!(
        r#"
[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"

[containers.copy]
name = "{name}"
image = "{{{{ env.CUTTER_PG_IMAGE }}}}"
lifecycle = "persistent"
env = {{ POSTGRES_HOST_AUTH_METHOD = "trust" }}
"#
    ));
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    let present = |what: &str, list: &str| {
        String::from_utf8_lossy(&s.ssh(list).stdout)
            .lines()
            .any(|l| l == what)
    };
    assert!(present(&name, "docker ps -a --format '{{.Names}}'"));
    t.expect(&["destroy", "plan.toml", "copy"], 1);
    assert!(present(&name, "docker ps -a --format '{{.Names}}'"));
    let r = t.expect(&["destroy", "plan.toml", "copy", "--yes"], 0);
    assert!(r.stderr.contains("Destroyed"), "{}", r.stderr);
    assert!(!present(&name, "docker ps -a --format '{{.Names}}'"));
    assert!(!present(&format!("{name}-data"), "docker volume ls -q"));
    assert!(!present(
        &format!("{name}-net"),
        "docker network ls --format '{{.Name}}'"
    ));
    // one cutter did not make is refused
    s.ssh(&format!(
        "docker run -d --name {name} --label cutter.test=1 --entrypoint sleep {} infinity >/dev/null",
        s.get("CUTTER_TEST_PG_IMAGE")
    ));
    let r = t.expect(&["destroy", "plan.toml", "copy", "--yes"], 1);
    assert!(r.stderr.contains("not created by cutter"), "{}", r.stderr);
    assert!(present(&name, "docker ps -a --format '{{.Names}}'"));
    s.ssh(&format!("docker rm -f {name} >/dev/null"));
}

/// Retention deletes older files cutter made beyond the newest `last`, shown
/// as destroys in the plan; never a file cutter did not make; the folder's
/// SHA256SUMS stays verifiable.
#[test]
fn retention_deletes_only_older_files_cutter_made() {
    let site = Site::new(
        r#"
[hosts.local]
local = true

[artefacts.snap]
path = "{out}/snap_{{ timestamp }}.txt"
command = "echo snapshot"
max_age = "1h"
keep = { last = 2 }
"#,
    );
    std::fs::create_dir_all(site.out()).unwrap();
    std::fs::write(site.file("snap_20260101T000000Z.txt"), "hand made\n").unwrap();
    for hour in ["00", "02", "04"] {
        site.cutter_at(
            &format!("2026-05-15T{hour}:00:00Z"),
            0,
            &["apply", "plan.toml", "--yes"],
        );
    }
    let r = site.cutter_at("2026-05-15T06:00:00Z", 0, &["plan", "plan.toml"]);
    let said = unwrapped(&r.stdout);
    assert_says(&said, "prune.snap");
    assert_says(&said, "the newest 2 file(s)");
    assert_says(&said, "never    a file cutter did not make");
    assert_says(&said, "delete `");
    assert_says(&said, "snap_20260515T020000Z.txt");
    site.cutter_at("2026-05-15T06:00:00Z", 0, &["apply", "plan.toml", "--yes"]);
    let mut left: Vec<String> = std::fs::read_dir(site.out())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap_") && n.ends_with(".txt"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "snap_20260101T000000Z.txt",
            "snap_20260515T040000Z.txt",
            "snap_20260515T060000Z.txt"
        ],
        "kept the newest two and the file cutter did not make"
    );
    assert!(!site.file("snap_20260515T000000Z.txt.cutter.json").exists());
    site.assert_checksums_pass();
    let r = site.cutter_at("2026-05-15T06:00:01Z", 0, &["plan", "plan.toml"]);
    assert!(!r.stderr.contains("delete `"), "{}", r.stderr);
}

/// A `ready` check that never ends is stopped with its step: on the step's
/// timeout, the process inside cutter's own container ends too (found by
/// the step's marker), not only the `docker exec` on the host.
#[test]
fn stack_a_hung_ready_check_ends_inside_the_container() {
    let s = stack();
    let t = StackTest::new("ready");
    let name = format!("ready-{}", std::process::id());
    t.plan(&format!(
        r#"
[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"

[containers.copy]
name = "{name}"
image = "{{{{ env.CUTTER_PG_IMAGE }}}}"
lifecycle = "persistent"
env = {{ POSTGRES_HOST_AUTH_METHOD = "trust" }}
ready = "sleep 7171"
timeout = "5s"
"#
    ));
    let r = t.expect(&["apply", "--yes", "plan.toml"], 1);
    assert!(r.stderr.contains("timeout"), "{}", r.stderr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let left = loop {
        let top = String::from_utf8_lossy(
            &s.ssh(&format!("docker top {name} -eo pid,args 2>/dev/null"))
                .stdout,
        )
        .to_string();
        if !top.contains("sleep 7171") || std::time::Instant::now() > deadline {
            break top;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    s.ssh(&format!(
        "docker rm -f {name} >/dev/null 2>&1; docker volume rm -f {name}-data >/dev/null 2>&1; docker network rm {name}-net >/dev/null 2>&1"
    ));
    assert!(
        !left.contains("sleep 7171"),
        "the ready check still runs in the container:\n{left}"
    );
}
