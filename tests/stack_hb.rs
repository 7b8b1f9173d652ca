//! HB-08/09 (`plans/hb08-09.toml`) end to end against the real stack: the
//! backup proven restorable, snapshots, the dry-run copy, freshness, drift,
//! a failing check, and proof that production was only ever read.
//!
//! Docker names are global on the host, so every test renames the plan's
//! containers, volumes and networks to its own prefix (`hb<pid>-<test>-`) and
//! removes everything with that prefix when it ends, also when it fails.
//! Production (`postgres`, `directus`, `redis`) is never touched.
//!
//! All applies pass `--lock-wait`: the host's apply lock is shared with every
//! other test that applies on the stack.

use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::stack::{StackTest, stack};
use crate::test::Run;

const PLAN: &str = include_str!("../plans/hb08-09.toml");
const PROTECTED_CONTAINERS: [&str; 3] = ["postgres", "directus", "redis"];
const DOT_PAIR: &str = "991:active:B:DOT-IU-CUTTER,992:active:A:DOT-IU-CUTTER-VERIFY";

/// One test's HB-08/09 workspace: the plan with names of its own, and the
/// cleanup of every Docker object carrying them.
struct Hb {
    t: StackTest,
    /// Prefix of every container, volume and network of this test.
    prefix: String,
}

impl Hb {
    fn new(name: &str) -> Hb {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric()),
            "test name without separators"
        );
        let prefix = format!("hb{}-{name}-", std::process::id());
        let hb = Hb {
            t: StackTest::new(&format!("hb-{name}")),
            prefix,
        };
        hb.cleanup(); // a leftover of an aborted earlier run with the same pid
        hb.write_plan(&hb.plan_text());
        hb
    }

    /// The shipped plan with this test's Docker names.
    fn plan_text(&self) -> String {
        let text = PLAN
            .replace("pg-restore-test-hb08", &self.rt_base())
            .replace("pg-dry-run-hb05", &self.dr_base());
        assert!(!text.contains("pg-restore-test") && !text.contains("pg-dry-run"));
        text
    }

    fn rt_base(&self) -> String {
        format!("{}rt", self.prefix)
    }
    fn dr_base(&self) -> String {
        format!("{}dr", self.prefix)
    }
    fn rt_name(&self, date: &str) -> String {
        format!("{}-{date}", self.rt_base())
    }
    /// The dry-run container keeps one name whatever the date.
    fn dr_name(&self, _date: &str) -> String {
        self.dr_base()
    }

    fn write_plan(&self, text: &str) {
        self.t.plan(text);
    }

    /// Absolute path of the plan: it then appears in the lock holder and the
    /// labels, which ties audit-log lines to this test.
    fn plan_path(&self) -> String {
        self.t.local.path().join("plan.toml").display().to_string()
    }

    fn plan_sha12(&self) -> String {
        let text = std::fs::read(self.t.local.path().join("plan.toml")).unwrap();
        hex::encode(Sha256::digest(&text))[..12].to_string()
    }

    fn run(&self, args: &[&str]) -> Run {
        let plan = self.plan_path();
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "PLAN" { plan.as_str() } else { a })
            .collect();
        self.t.run(&args)
    }

    fn expect(&self, args: &[&str], status: i32) -> Run {
        let started = Instant::now();
        let r = self.run(args);
        eprintln!(
            "[{}] cutter {:?} -> {} in {:.1}s",
            self.prefix,
            args,
            r.status,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            r.status, status,
            "cutter {args:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            r.status, r.stdout, r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        r
    }

    /// `expect` with `CUTTER_NOW` set to `at`.
    fn expect_at(&mut self, at: &str, args: &[&str], status: i32) -> Run {
        self.t.env.push(("CUTTER_NOW".into(), at.to_string()));
        let r = self.run(args);
        self.t.env.pop();
        eprintln!(
            "[{}] CUTTER_NOW={at} cutter {:?} -> {}",
            self.prefix, args, r.status
        );
        assert_eq!(
            r.status, status,
            "cutter {args:?} (CUTTER_NOW={at}) exited {}\n--- stdout\n{}\n--- stderr\n{}",
            r.status, r.stdout, r.stderr
        );
        r
    }

    fn apply(&self, status: i32) -> Run {
        self.expect(&["apply", "PLAN", "--yes", "--lock-wait", "10m"], status)
    }

    fn drift(&self, status: i32) -> Run {
        self.expect(&["drift", "PLAN"], status)
    }

    /// Audit entries written by this test's cutter runs (and this test's own
    /// ssh commands): anything naming its folder, prefix, plan or probe.
    fn is_mine(&self, entry: &str) -> bool {
        entry.contains(&self.t.remote_root)
            || entry.contains(&self.prefix)
            || entry.contains(&self.plan_path())
            || entry.contains(&format!("cutter-probe {}", self.plan_sha12()))
    }

    /// The newest JSON report named on an apply's standard error.
    fn report(&self, r: &Run) -> Value {
        let line = r
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with("Report "))
            .unwrap_or_else(|| panic!("no Report line:\n{}", r.stderr));
        let json = line.split_whitespace().last().unwrap();
        assert!(json.ends_with(".json"), "{line}");
        let md = line.split_whitespace().nth(1).unwrap();
        assert!(md.ends_with(".md"), "{line}");
        let dir = self.t.local.path();
        assert!(dir.join(md).is_file(), "{md} missing");
        let text =
            std::fs::read_to_string(dir.join(json)).unwrap_or_else(|e| panic!("{json}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Remove every container, volume and network of this test.
    fn cleanup(&self) {
        let p = &self.prefix;
        let _ = stack().ssh(&format!(
            "for c in $(docker ps -a --format '{{{{.Names}}}}' | grep '^{p}'); do docker rm -f -v \"$c\" >/dev/null; done; \
             for v in $(docker volume ls -q | grep '^{p}'); do docker volume rm \"$v\" >/dev/null; done; \
             for n in $(docker network ls --format '{{{{.Name}}}}' | grep '^{p}'); do docker network rm \"$n\" >/dev/null; done; :"
        ));
    }

    /// Docker objects (containers, volumes, networks) of this test still on the host.
    fn leftovers(&self) -> Vec<String> {
        let out = ssh_ok(
            "docker ps -a --format 'container {{.Names}}'; docker volume ls --format 'volume {{.Name}}'; docker network ls --format 'network {{.Name}}'",
        );
        out.lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|n| n.starts_with(&self.prefix))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Hb {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Run on the host; assert success; its standard output.
fn ssh_ok(command: &str) -> String {
    let out = stack().ssh(command);
    assert!(
        out.status.success(),
        "`{command}` failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ssh_succeeds(command: &str) -> bool {
    stack().ssh(command).status.success()
}

/// `id restarts started status` of each production container.
fn production_identity() -> String {
    ssh_ok(&format!(
        "docker inspect -f '{{{{.Name}}}} {{{{.Id}}}} {{{{.RestartCount}}}} {{{{.State.StartedAt}}}} {{{{.State.Status}}}} {{{{.Image}}}}' {}",
        PROTECTED_CONTAINERS.join(" ")
    ))
}

fn artefact<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"][0]["artefacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("report lacks artefact {name}"))
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == id)
        .unwrap_or_else(|| panic!("report lacks step {id}:\n{report:#}"))
}

fn evidence(step: &Value) -> Vec<String> {
    step["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').unwrap().0
}

// ------------------------------------------------------------ audit parsing ---

/// The shell words from the start of `s` on, as the shell would split them
/// (read lazily by `shlex`: they run past the end of the command, which
/// callers find from cutter's own shapes, never by parsing shell here).
fn words_from(s: &str) -> impl Iterator<Item = String> + '_ {
    shlex::Shlex::new(s)
}

/// How cutter sends an operation into a container it does not own: as the
/// operator's uid, under `timeout`, the container named by `id` (see
/// `exec_typed` in src/apply/script.rs).
fn typed_exec_prefix(id: &str) -> String {
    format!("docker exec -u \"$(id -u):$(id -g)\" {id} timeout -k 10 ")
}

/// A `docker exec` found in an audit entry.
#[derive(Debug)]
struct Exec {
    /// Where `docker exec` starts in the entry.
    at: usize,
    /// `-e` values (the environment given to the command).
    #[allow(dead_code, reason = "read through `Debug` when an assertion fails")]
    env: Vec<String>,
    container: String,
    /// The program and its arguments (inside `sh -c` when wrapped in one).
    command: Vec<String>,
}

fn docker_execs(entry: &str) -> Vec<Exec> {
    let mut out = Vec::new();
    for (i, _) in entry.match_indices("docker exec") {
        let mut w = words_from(&entry[i..]).skip(2);
        let mut env = Vec::new();
        let container = loop {
            match w.next().as_deref() {
                Some("-e" | "--env") => env.push(w.next().unwrap_or_default()),
                Some("-u" | "--user" | "-w" | "--workdir") => {
                    w.next();
                }
                Some(flag) if flag.starts_with('-') => {}
                other => break other.map(str::to_string),
            }
        };
        let Some(container) = container else {
            continue;
        };
        // The words after the container run on past the command's end; an
        // `sh -c` script is the one word after `-c`.
        let mut command: Vec<String> = w.take(64).collect();
        if command.len() >= 3 && command[0] == "sh" && command[1] == "-c" {
            command = shlex::split(&command[2]).unwrap_or_default();
        }
        out.push(Exec {
            at: i,
            env,
            container,
            command,
        });
    }
    out
}

/// The operation cutter sent into production with the words after `timeout
/// -k 10 SECS`: the program and its options. Cutter composes these from
/// typed fields as `--name=value` options only, so the first word that is
/// not an option ends it (a `)` closing `$(...)` stays glued to the last).
fn typed_operation(after_timeout: &[String]) -> Vec<String> {
    let mut op: Vec<String> = after_timeout.iter().skip(1).take(1).cloned().collect();
    op.extend(
        after_timeout
            .iter()
            .skip(2)
            .take_while(|w| w.starts_with("--"))
            .cloned(),
    );
    op
}

/// Targets of `docker <sub>` commands (`rm`, `volume rm`, ...) in an entry:
/// the first word after the options (cutter names one target a command).
fn docker_targets(entry: &str, sub: &str) -> Vec<String> {
    let needle = format!("docker {sub} ");
    let n = sub.split_whitespace().count() + 1;
    entry
        .match_indices(&needle)
        .filter_map(|(i, _)| {
            words_from(&entry[i..])
                .skip(n)
                .find(|w| !w.starts_with('-'))
        })
        .collect()
}

/// Whether an entry is one of cutter's guard readings, the same for every plan.
fn is_guard_script(entry: &str) -> bool {
    let body = step_body(entry);
    body.contains("ids=$(docker ps -aq --no-trunc)") || body.contains("--schema-only")
}

/// The body of a supervised step (`cutter_script='...'`), unquoted; the
/// entry itself when it is not a step.
fn step_body(entry: &str) -> String {
    match entry.find("\ncutter_script=") {
        Some(i) => shlex::Shlex::new(&entry[i + 1..])
            .next()
            .and_then(|w| w.strip_prefix("cutter_script=").map(str::to_string))
            .unwrap_or_default(),
        None => entry.to_string(),
    }
}

/// The full ID of production's database container.
fn production_id() -> String {
    ssh_ok("docker inspect -f '{{.Id}}' postgres")
        .trim()
        .to_string()
}

/// Production was only read in these audit entries: every `docker exec` into
/// production names it by full ID and runs a typed `pg_dump` or `psql` (no
/// shell) under `timeout`, as the operator's uid, with read-only forced in
/// the connection string; nothing stops, removes, restarts, kills or
/// attaches to production; `pg_restore --list` runs only in a throw-away
/// container without network.
fn assert_production_only_read(entries: &[String], own_prefix: &str) -> Vec<String> {
    let prod = production_id();
    let mut programs = Vec::new();
    for e in entries {
        let body = step_body(e);
        for x in docker_execs(&body) {
            assert!(
                !PROTECTED_CONTAINERS.contains(&x.container.as_str()),
                "exec into production by name, not by ID: {x:?}\nin: {body}"
            );
            if x.container == prod {
                assert_eq!(
                    x.command[..3],
                    ["timeout", "-k", "10"],
                    "exec into production without timeout: {x:?}"
                );
                let op = typed_operation(&x.command[3..]);
                let program = op[0].as_str();
                assert!(
                    ["pg_dump", "psql"].contains(&program),
                    "production runs {program}: {body}"
                );
                assert!(
                    op.iter().any(|a| a.starts_with("--dbname=")
                        && a.contains("default_transaction_read_only=on")),
                    "exec into production without read-only forced: {op:?}"
                );
                // The full ID, the operator's uid and `timeout`, exactly as
                // cutter composes them.
                assert!(
                    body[x.at..].starts_with(&typed_exec_prefix(&prod)),
                    "exec into production not as cutter composes it: {x:?}\nin: {body}"
                );
                programs.push(program.to_string());
            } else {
                assert!(
                    x.container == "$cid"
                        || x.container
                            .trim_start_matches('\'')
                            .starts_with("cutter-verify-")
                        || x.container.starts_with(own_prefix),
                    "exec into a container that is not the test's: {x:?}"
                );
            }
        }
        if body.contains("pg_restore --list") {
            assert!(
                body.contains(
                    "docker run -d --rm --network none --read-only --name cutter-verify-"
                ),
                "pg_restore outside a throw-away container: {body}"
            );
            programs.push("pg_restore".into());
        }
        for forbidden in [
            "docker stop",
            "docker restart",
            "docker kill",
            "docker pause",
            "docker network connect",
            "docker network disconnect",
            "docker update",
            "docker rename",
        ] {
            assert!(
                !body.contains(forbidden),
                "`{forbidden}` during the apply: {body}"
            );
        }
        for sub in ["rm", "volume rm", "network rm"] {
            for target in docker_targets(&body, sub) {
                // cutter's throw-away container for `pg_restore --list`
                let verifier = target
                    .trim_start_matches('\'')
                    .starts_with("cutter-verify-");
                assert!(
                    target.starts_with(own_prefix) || target.starts_with('$') || verifier,
                    "`docker {sub} {target}` targets something not the test's own: {body}"
                );
            }
        }
        // The guard reads them (`inspect`); nothing else may name them.
        let rest = body
            .replace("docker volume inspect -- cutter-prod-pgdata", "")
            .replace("docker network inspect -- cutter-prod-net", "");
        assert!(
            !rest.contains("cutter-prod-pgdata"),
            "production volume named: {body}"
        );
        assert!(
            !rest.contains("cutter-prod-net"),
            "production network named: {body}"
        );
    }
    programs
}

#[test]
fn words_and_execs_parse_cutter_commands() {
    let e = "set -eu\nout=$(docker exec -u \"$(id -u):$(id -g)\" 3d75 timeout -k 10 600 psql --no-psqlrc \"--dbname=dbname=directus options='-c default_transaction_read_only=on'\" '--command=select 1'); printf x\n\
             old=$(docker ps -aq); [ -z \"$old\" ] || docker rm -f -v $old > /dev/null";
    let x = docker_execs(e);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].container, "3d75");
    assert_eq!(x[0].command[..5], ["timeout", "-k", "10", "600", "psql"]);
    let op = typed_operation(&x[0].command[3..]);
    assert_eq!(op.len(), 4, "{op:?}");
    assert!(op[2].contains("default_transaction_read_only=on"));
    assert_eq!(docker_targets(e, "rm"), ["$old"]);
    let wrapped = format!(
        "set -u\ncutter_script={}\nexit",
        shlex::try_quote(e).unwrap()
    );
    assert_eq!(step_body(&wrapped), e);
}

/// What the audit reading recovers from a script cutter composed is the
/// argument vector its command model sent (the one the report lists).
#[test]
fn execs_read_back_the_operation_cutter_sent() {
    use cutter::apply::script::{self, Exec as Target};
    let id = "3d75".repeat(16);
    let to = Target::External {
        id: id.clone(),
        image_id: "sha256:1".into(),
        name: "postgres".into(),
    };
    let s = script::schema_hash(
        &to,
        "directus",
        "it's",
        "0123456789abcdef",
        Duration::from_secs(600),
    );
    let sent = shlex::split(s.production_ops[0].split_once(": ").unwrap().1).unwrap();
    let body = s.body();
    let x = docker_execs(&body);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].container, id);
    assert!(
        body[x[0].at..].starts_with(&typed_exec_prefix(&id)),
        "{body}"
    );
    let mut read = typed_operation(&x[0].command[3..]);
    // The `);` closing `schema=$(...)` is glued to the last word.
    let last = read.pop().unwrap();
    assert_eq!(last.trim_end_matches([')', ';']), sent[sent.len() - 1]);
    assert_eq!(read, sent[..sent.len() - 1]);
}

// -------------------------------------------------------------------- tests ---

/// HB-08/09 in one scenario: a full apply with all its evidence, production
/// only read (audit log and docker inspect), a second apply that does
/// nothing, then drift (corrupted, missing, stopped, removed) and repair.
#[test]
fn hb08_09_full_apply_evidence_idempotence_drift_and_read_only_production() {
    let s = stack();
    let hb = Hb::new("full");
    let date = today();
    let (rt, dr) = (hb.rt_name(&date), hb.dr_name(&date));
    let (rt_vol, rt_net, dr_net) = (
        format!("{rt}-data"),
        format!("{}-net", hb.rt_base()),
        format!("{}-net", hb.dr_base()),
    );

    // ---- 1. full apply
    let prod_before = production_identity();
    let before = s.audit_len();
    let started = Instant::now();
    let r = hb.apply(0);
    let apply_secs = started.elapsed().as_secs_f64();
    let audit = s.audit_since(before);
    let prod_after = production_identity();
    eprintln!("[full] first apply {apply_secs:.1}s\n{}", r.stderr);

    // step timings
    assert!(r.stderr.contains("Timings"), "{}", r.stderr);
    for st in [
        "artefact.backup",
        "container.restore_test",
        "teardown.restore_test",
        "container.dry_run",
        "guard-after.production_untouched",
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(st) && l.contains("s ") && l.contains("(Ok)")),
            "no timing for {st}:\n{}",
            r.stderr
        );
    }

    let report = hb.report(&r);
    assert_eq!(report["result"], "applied", "{report:#}");
    let root = &hb.t.remote_root;

    // the backup and its siblings
    let backup = artefact(&report, "backup")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let re = regex::Regex::new(&format!(
        r"^{}/dieu44_hb08_{date}/directus_full_\d{{8}}T\d{{6}}Z\.dump$",
        regex::escape(root)
    ))
    .unwrap();
    assert!(re.is_match(&backup), "{backup}");
    let hb08 = dir_of(&backup).to_string();
    let schema = artefact(&report, "schema")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let rowcounts = artefact(&report, "rowcounts")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let hb09 = dir_of(&schema).to_string();
    assert_eq!(hb09, format!("{root}/dieu44_hb09_{date}"));
    assert_eq!(dir_of(&rowcounts), hb09);
    assert!(schema.ends_with(".sql") && rowcounts.ends_with(".psv"));
    for dir in [&hb08, &hb09] {
        let out = ssh_ok(&format!("cd {} && sha256sum -c SHA256SUMS", sh_quote(dir)));
        assert!(
            out.lines().count() >= 1 && out.lines().all(|l| l.ends_with(": OK")),
            "{dir}: {out}"
        );
    }
    assert!(
        ssh_succeeds(&format!(
            "test -f {}",
            sh_quote(&format!("{hb08}/pg_dump.stderr"))
        )),
        "pg_dump.stderr missing"
    );
    let list = ssh_ok(&format!(
        "docker exec -i postgres pg_restore --list < {}",
        sh_quote(&backup)
    ));
    assert!(
        list.contains("TABLE DATA public dot_tools"),
        "pg_restore --list:\n{}",
        &list[..list.len().min(2000)]
    );
    let schema_text = ssh_ok(&format!("cat {}", sh_quote(&schema)));
    assert!(
        schema_text.contains("CREATE TABLE public.dot_tools"),
        "schema snapshot lacks dot_tools"
    );
    let rows = ssh_ok(&format!("cat {}", sh_quote(&rowcounts)));
    let tables = s.get("CUTTER_TEST_PROD_TABLES");
    assert_eq!(
        rows.lines().filter(|l| !l.is_empty()).count().to_string(),
        tables,
        "one rowcount line per user table"
    );
    assert!(rows.lines().all(|l| l.split('|').count() == 3), "{rows}");
    assert!(
        rows.lines()
            .any(|l| l == "public|dot_tools|2" || l.starts_with("public|dot_tools|")),
        "{rows}"
    );

    // restore-test evidence beside the backup
    let ev: Value = restore_evidence(&backup);
    assert_eq!(ev["passed"], true, "{ev:#}");
    assert_eq!(
        ev["restore_exit"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(ev["restore_exit"].to_string()),
        "1",
        "{ev:#}"
    );
    assert!(
        ev["restore_stderr"]
            .as_str()
            .unwrap()
            .contains("workflow_admin"),
        "{ev:#}"
    );
    assert_eq!(ev["container"], rt.as_str());
    assert_eq!(ev["artefact"], backup.as_str());

    // the ephemeral container, its volume and network are gone
    let names = ssh_ok("docker ps -a --format '{{.Names}}'");
    assert!(!names.lines().any(|n| n == rt), "{rt} still exists");
    let vols = ssh_ok("docker volume ls -q");
    assert!(!vols.lines().any(|v| v == rt_vol), "{rt_vol} still exists");
    let nets = ssh_ok("docker network ls --format '{{.Name}}'");
    assert!(!nets.lines().any(|n| n == rt_net), "{rt_net} still exists");

    // the dry-run container: running, cutter's, own network, no published ports
    let inspect: Value =
        serde_json::from_str(&ssh_ok(&format!("docker inspect {}", sh_quote(&dr)))).unwrap();
    let c = &inspect[0];
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["Config"]["Labels"]["cutter.managed"], "true");
    assert_eq!(c["Config"]["Labels"]["cutter.lifecycle"], "persistent");
    let networks: Vec<&String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(networks, [&dr_net], "dry-run networks");
    let bindings = &c["HostConfig"]["PortBindings"];
    assert!(
        bindings.is_null() || bindings.as_object().is_some_and(|o| o.is_empty()),
        "port bindings: {bindings}"
    );
    if let Some(ports) = c["NetworkSettings"]["Ports"].as_object() {
        assert!(
            ports.values().all(Value::is_null),
            "published ports: {ports:?}"
        );
    }
    assert!(
        c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["Name"] != "cutter-prod-pgdata")
    );

    // the report: artefacts as the host sees them
    for name in ["backup", "schema", "rowcounts"] {
        let a = artefact(&report, name);
        let path = a["path"].as_str().unwrap();
        let sum = ssh_ok(&format!("sha256sum {}", sh_quote(path)));
        let size = ssh_ok(&format!("stat -c %s {}", sh_quote(path)));
        assert_eq!(
            a["sha256"],
            sum.split_whitespace().next().unwrap(),
            "{name} sha256"
        );
        assert_eq!(
            a["size_bytes"].as_u64().unwrap().to_string(),
            size.trim(),
            "{name} size"
        );
        assert_eq!(a["recorded_in_sha256sums"], true, "{name}");
    }
    assert!(
        artefact(&report, "backup")["restore_tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["passed"] == true)
    );
    let containers = report["hosts"][0]["containers"].as_array().unwrap();
    let rc = containers
        .iter()
        .find(|c| c["name"] == "restore_test")
        .unwrap();
    assert_eq!(rc["state"], "absent");
    assert_eq!(rc["volume_present"], false);
    let dc = containers.iter().find(|c| c["name"] == "dry_run").unwrap();
    assert_eq!(dc["state"], "running");
    assert_eq!(dc["published_ports"].as_array().unwrap().len(), 0);
    // check evidence
    let key = evidence(step(&report, "check.restore_key_tables"));
    assert_eq!(key[0], "10/10 tables match", "{key:?}");
    let count = evidence(step(&report, "check.restore_table_count")).join("\n");
    assert!(
        count.contains(&format!("`{rt}` gave `{tables}`"))
            && count.contains(&format!("`postgres` gave `{tables}`")),
        "{count}"
    );
    let dry_count = evidence(step(&report, "check.dry_run_table_count")).join("\n");
    assert!(
        dry_count.contains(&format!("`{dr}` gave `{tables}`")),
        "{dry_count}"
    );
    let pair = evidence(step(&report, "check.restore_dot_pair")).join("\n");
    assert!(pair.contains(&format!("saw `{DOT_PAIR}`")), "{pair}");
    assert!(
        evidence(step(&report, "check.dry_run_dot_pair"))
            .join("\n")
            .contains("saw `2`")
    );
    for g in ["production_untouched", "no_ddl"] {
        let e = evidence(step(&report, &format!("guard-after.{g}")));
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(
            e[0].strip_prefix("before: ").unwrap(),
            e[1].strip_prefix("after:  ").unwrap(),
            "{g}"
        );
        assert_eq!(e[2], "identical");
    }
    let guard = evidence(step(&report, "guard-after.production_untouched")).join("\n");
    for p in PROTECTED_CONTAINERS {
        assert!(guard.contains(&format!("{p} id=")), "{guard}");
    }
    assert!(evidence(step(&report, "guard-after.no_ddl"))[0].starts_with("before: schema sha256 "));

    // ---- 6. production only read, proven by the audit log and docker inspect
    assert_eq!(prod_before, prod_after, "production containers changed");
    let mine: Vec<String> = audit
        .iter()
        .filter(|e| hb.is_mine(e) || is_guard_script(e))
        .cloned()
        .collect();
    assert!(
        mine.len() >= 10,
        "too few audit entries attributed to the apply: {}",
        mine.len()
    );
    assert!(
        mine.iter()
            .any(|e| e.contains(&format!("docker run -d --name {dr}"))),
        "no docker run of the dry-run container"
    );
    let programs = assert_production_only_read(&mine, &hb.prefix);
    for p in ["pg_dump", "psql", "pg_restore"] {
        assert!(
            programs.iter().any(|x| x == p),
            "no read-only {p} in production seen: {programs:?}"
        );
    }

    // ---- 2. a second apply right after changes nothing and runs only the probe
    let before = s.audit_len();
    let r = hb.apply(0);
    assert!(r.stderr.contains("Unchanged"), "{}", r.stderr);
    let audit = s.audit_since(before);
    let probe = format!("sh -s -- cutter-probe {}", hb.plan_sha12());
    let mine: Vec<&String> = audit.iter().filter(|e| hb.is_mine(e)).collect();
    assert_eq!(mine, [&probe], "the second apply must only observe");
    assert!(
        !audit
            .iter()
            .any(|e| hb.is_mine(e) && (e.contains("docker run") || e.contains("pg_dump")))
    );
    hb.drift(0);

    // ---- 3. drift and repair
    // the dry-run container stopped: drift names it, apply only starts it
    ssh_ok(&format!("docker stop {} >/dev/null", sh_quote(&dr)));
    let d = hb.drift(2);
    assert!(
        d.stderr.lines().any(|l| l.contains("Drift")
            && l.contains("container.dry_run")
            && l.contains("exited")),
        "{}",
        d.stderr
    );
    assert!(
        !d.stderr
            .lines()
            .any(|l| l.contains("Drift") && l.contains("artefact.")),
        "{}",
        d.stderr
    );
    let r = hb.apply(0);
    let report = hb.report(&r);
    assert_eq!(report["result"], "applied");
    assert_eq!(step(&report, "container.dry_run")["action"], "start");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["step"] != "artefact.backup" && s["step"] != "container.restore_test"),
        "only the start"
    );
    hb.drift(0);
    assert_eq!(
        ssh_ok(&format!(
            "docker inspect -f '{{{{.State.Running}}}}' {}",
            sh_quote(&dr)
        ))
        .trim(),
        "true"
    );

    // one byte changed in the backup
    let orig = ssh_ok(&format!("sha256sum < {}", sh_quote(&backup)));
    ssh_ok(&format!(
        "printf 'X' | dd of={} bs=1 seek=100 conv=notrunc 2>/dev/null",
        sh_quote(&backup)
    ));
    if ssh_ok(&format!("sha256sum < {}", sh_quote(&backup))) == orig {
        ssh_ok(&format!(
            "printf 'Y' | dd of={} bs=1 seek=100 conv=notrunc 2>/dev/null",
            sh_quote(&backup)
        ));
    }
    let d = hb.drift(2);
    assert!(
        d.stderr.lines().any(|l| l.contains("Drift")
            && l.contains("artefact.backup")
            && l.contains("corrupted")),
        "{}",
        d.stderr
    );
    assert!(
        !d.stderr.lines().any(|l| l.contains("Drift")
            && (l.contains("artefact.schema") || l.contains("artefact.rowcounts"))),
        "{}",
        d.stderr
    );
    // the backup deleted
    ssh_ok(&format!("rm -f {}", sh_quote(&backup)));
    let d = hb.drift(2);
    assert!(
        d.stderr
            .lines()
            .any(|l| l.contains("Drift") && l.contains("artefact.backup") && l.contains("missing")),
        "{}",
        d.stderr
    );
    // the dry-run container removed (its volume stays)
    ssh_ok(&format!("docker rm -f {} >/dev/null", sh_quote(&dr)));
    let d = hb.drift(2);
    assert!(
        d.stderr.lines().any(|l| l.contains("Drift")
            && l.contains("container.dry_run")
            && l.contains("missing")),
        "{}",
        d.stderr
    );
    // apply makes a new backup, tests its restore and recreates the dry run
    let r = hb.apply(0);
    let report = hb.report(&r);
    assert_eq!(report["result"], "applied");
    assert_eq!(step(&report, "artefact.backup")["action"], "create");
    assert_eq!(step(&report, "container.restore_test")["status"], "ok");
    assert_eq!(step(&report, "container.dry_run")["action"], "create");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["step"] != "artefact.schema"),
        "the fresh snapshots are kept"
    );
    assert!(
        evidence(step(&report, "check.dry_run_dot_pair"))
            .join("\n")
            .contains("saw `2`")
    );
    let repaired = artefact(&report, "backup")["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(repaired, backup, "a new, timestamped backup");
    let ev: Value = serde_json::from_str(&ssh_ok(&format!(
        "cat {}",
        sh_quote(&format!("{repaired}.restore-test.restore_test.json"))
    )))
    .unwrap();
    assert_eq!(ev["passed"], true, "{ev:#}");
    hb.drift(0);
    assert_eq!(
        ssh_ok(&format!(
            "docker inspect -f '{{{{.State.Running}}}}' {}",
            sh_quote(&dr)
        ))
        .trim(),
        "true"
    );
    assert_eq!(
        production_identity(),
        prod_before,
        "production containers changed"
    );
    drop(hb);
    let hb_prefix = format!("hb{}-full-", std::process::id());
    let left = ssh_ok(
        "docker ps -a --format '{{.Names}}'; docker volume ls -q; docker network ls --format '{{.Name}}'",
    );
    assert!(
        !left.lines().any(|l| l.starts_with(&hb_prefix)),
        "cleanup left: {left}"
    );
}

/// A backup named two hours in the past is stale: plan proposes to replace it
/// and to test the new one's restore; within the hour nothing changes.
#[test]
fn hb08_stale_backup_is_replaced_and_retested() {
    let mut hb = Hb::new("fresh");
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::hours(2);
    let old_s = old.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let r = hb.expect_at(&old_s, &["apply", "PLAN", "--yes", "--lock-wait", "10m"], 0);
    let report = hb.report(&r);
    assert_eq!(report["result"], "applied");
    let backup = artefact(&report, "backup")["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        backup.ends_with(&format!(
            "directus_full_{}.dump",
            old.format("%Y%m%dT%H%M%SZ")
        )),
        "{backup}"
    );

    // real now: two hours old, max_age 60m
    let r = hb.expect(
        &["plan", "PLAN", "--detailed-exitcode", "--format", "json"],
        2,
    );
    let view: Value = serde_json::from_str(&r.stdout).unwrap();
    let changes = view["hosts"][0]["changes"].as_array().unwrap();
    let change = |id: &str| {
        changes
            .iter()
            .find(|c| c["step"] == id)
            .unwrap_or_else(|| panic!("no change for {id}: {changes:#?}"))
    };
    let b = change("artefact.backup");
    assert_eq!(b["action"], "replace");
    assert!(b["reasons"].as_array().unwrap().iter().any(|x| x.as_str().unwrap().contains("stale") && x.as_str().unwrap().contains(&backup)), "{b:#}");
    assert_eq!(change("container.restore_test")["action"], "run");
    assert_eq!(change("teardown.restore_test")["action"], "destroy");
    for a in ["artefact.schema", "artefact.rowcounts"] {
        assert!(
            change(a)["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x.as_str().unwrap().contains("stale")),
            "{a}"
        );
    }
    // the text form says the same
    let r = hb.expect(&["plan", "PLAN", "--detailed-exitcode"], 2);
    assert!(
        r.stdout.contains("artefact.backup") && r.stdout.contains("stale"),
        "{}",
        r.stdout
    );

    // within the hour: nothing to plan, nothing to apply
    let within =
        (old + chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    hb.expect_at(&within, &["plan", "PLAN", "--detailed-exitcode"], 0);
    let before = stack().audit_len();
    let r = hb.expect_at(
        &within,
        &["apply", "PLAN", "--yes", "--lock-wait", "10m"],
        0,
    );
    assert!(r.stderr.contains("Unchanged"), "{}", r.stderr);
    let mine: Vec<String> = stack()
        .audit_since(before)
        .into_iter()
        .filter(|e| hb.is_mine(e))
        .collect();
    assert_eq!(mine, [format!("sh -s -- cutter-probe {}", hb.plan_sha12())]);
}

/// A failing check of the restore test: apply fails naming it and what it
/// saw, the ephemeral container and volume are removed anyway, the evidence
/// says `passed: false`, and the dry run that comes after it is skipped.
#[test]
fn hb08_failed_check_tears_down_and_skips_the_dry_run() {
    let hb = Hb::new("fail");
    let wrong = "991:active:A:WRONG";
    let text = hb.plan_text().replace(
        &format!("expect = \"{DOT_PAIR}\""),
        &format!("expect = \"{wrong}\""),
    );
    assert!(text.contains(wrong));
    hb.write_plan(&text);
    let date = today();
    let (rt, dr) = (hb.rt_name(&date), hb.dr_name(&date));

    let r = hb.apply(1);
    assert!(r.stderr.contains("check.restore_dot_pair"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "check `restore_dot_pair` failed: expected `{wrong}`, saw `{DOT_PAIR}`"
        )),
        "{}",
        r.stderr
    );
    let report = hb.report(&r);
    assert_eq!(report["result"], "failed");
    assert_eq!(step(&report, "check.restore_dot_pair")["status"], "failed");
    assert_eq!(step(&report, "teardown.restore_test")["status"], "ok");

    // torn down anyway
    let names = ssh_ok("docker ps -a --format '{{.Names}}'");
    assert!(!names.lines().any(|n| n == rt), "{rt} left behind");
    assert!(
        !ssh_ok("docker volume ls -q")
            .lines()
            .any(|v| v == format!("{rt}-data")),
        "volume left behind"
    );

    // evidence of the failed test beside the backup
    let backup = artefact(&report, "backup")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let ev: Value = restore_evidence(&backup);
    assert_eq!(ev["passed"], false, "{ev:#}");
    assert!(
        ev["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "restore_dot_pair" && c["status"] == "failed"),
        "{ev:#}"
    );

    // the dry run depends on the restore test: skipped, not created
    let dry: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("container.dry_run") && !l.contains('$'))
        .collect();
    assert!(
        dry.iter().any(|l| l.contains("Skipped")),
        "the dry run was not skipped after the failed restore check:\n{}",
        dry.join("\n")
    );
    assert_eq!(step(&report, "container.dry_run")["status"], "skipped");
    assert!(
        !names.lines().any(|n| n == dr),
        "{dr} was created after a failed restore test"
    );

    // the failure stands: drift says so and exits 2; plan shows how to clear it
    let d = hb.expect(&["drift", "PLAN"], 2);
    assert!(
        d.stderr.contains("check.restore_dot_pair") && d.stderr.contains("failed at"),
        "{}",
        d.stderr
    );
    let p = hb.expect(&["plan", "PLAN"], 0);
    assert!(p.stdout.contains("standing failures"), "{}", p.stdout);
    // fixed: the check runs again, passes, and the failure is cleared
    hb.write_plan(&hb.plan_text());
    hb.apply(0);
    hb.expect(&["drift", "PLAN"], 0);
    drop(hb);
}

/// Plans that would reuse a production name are refused before any host is
/// contacted.
#[test]
fn hb08_plans_touching_production_names_are_refused_without_contacting_the_host() {
    let s = stack();
    let hb = Hb::new("refuse");
    let base = hb.plan_text();
    let variants = [
        (
            "container named postgres",
            base.replacen(
                &format!("name = \"{}\"", hb.dr_base()),
                "name = \"postgres\"",
                1,
            ),
            "postgres",
        ),
        (
            "production network",
            base.replacen(
                &format!("network = \"{}-net\"", hb.rt_base()),
                "network = \"cutter-prod-net\"",
                1,
            ),
            "cutter-prod-net",
        ),
        (
            "production volume",
            base.replacen(
                &format!("volume = \"{}-data\"", hb.dr_base()),
                "volume = \"cutter-prod-pgdata\"",
                1,
            ),
            "cutter-prod-pgdata",
        ),
    ];
    for (what, text, name) in variants {
        assert_ne!(text, base, "{what}: the replacement did not apply");
        hb.write_plan(&text);
        let before = s.audit_len();
        let r = hb.expect(&["plan", "PLAN"], 1);
        assert!(r.stderr.contains("protected"), "{what}:\n{}", r.stderr);
        assert!(r.stderr.contains(name), "{what}:\n{}", r.stderr);
        assert!(
            !r.stderr.contains("Observed"),
            "{what}: observed the host:\n{}",
            r.stderr
        );
        let a = hb.expect(&["apply", "PLAN", "--yes"], 1);
        assert!(a.stderr.contains("protected"), "{what}:\n{}", a.stderr);
        let mine: Vec<String> = s
            .audit_since(before)
            .into_iter()
            .filter(|e| hb.is_mine(e))
            .collect();
        assert!(
            mine.is_empty(),
            "{what}: commands reached the host: {mine:?}"
        );
    }
    assert!(hb.leftovers().is_empty());
}

/// The protected-unchanged guard notices a protected container that changes
/// during an apply. The "production" container here is the test's own
/// stand-in, declared protected by the plan; real production is not touched.
#[test]
fn hb08_guard_reports_a_protected_container_changed_during_the_apply() {
    let s = stack();
    let hb = Hb::new("guard");
    let victim = format!("{}victim", hb.prefix);
    ssh_ok(&format!(
        "docker run -d --name {victim} --label cutter.test=1 --entrypoint sleep {} infinity >/dev/null",
        sh_quote(s.get("CUTTER_TEST_PG_IMAGE"))
    ));
    hb.write_plan(&format!(
        r#"[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"
free_form = "allow"

[hosts.vps.protected]
containers = ["postgres", "directus", "redis", "{victim}"]

[artefacts.slow]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/guard/slow_{{{{ timestamp }}}}.txt"
command = "sleep 8; echo slow"

[guards.production_untouched]
kind = "protected-unchanged"
"#
    ));
    let before = s.audit_len();
    let r = std::thread::scope(|scope| {
        let apply = scope.spawn(|| hb.run(&["apply", "PLAN", "--yes", "--lock-wait", "10m"]));
        // once the slow step runs, the "before" reading is taken: change the container
        let deadline = Instant::now() + Duration::from_secs(120);
        while !s
            .audit_since(before)
            .iter()
            .any(|e| e.contains(&hb.t.remote_root) && e.contains("sleep 8"))
        {
            assert!(
                Instant::now() < deadline && !apply.is_finished(),
                "the slow step never started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ssh_ok(&format!("docker restart -t 0 {victim} >/dev/null"));
        apply.join().unwrap()
    });
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "guard `production_untouched` failed: protected state changed during the apply"
        ),
        "{}",
        r.stderr
    );
    let diff: Vec<&str> = r.stderr.lines().filter(|l| l.contains(&victim)).collect();
    assert!(
        diff.iter().any(|l| l.trim_start().starts_with('-'))
            && diff.iter().any(|l| l.trim_start().starts_with('+')),
        "no before/after lines for {victim}:\n{}",
        r.stderr
    );
    let report = hb.report(&r);
    assert_eq!(report["result"], "failed");
    assert_eq!(
        step(&report, "guard-after.production_untouched")["status"],
        "failed"
    );
    assert_eq!(step(&report, "artefact.slow")["status"], "ok");

    // the failed guard stands: the next apply does not forget it, drift exits
    // 2 until an operator acknowledges it
    let r = hb.expect(&["apply", "PLAN", "--yes", "--lock-wait", "10m"], 0);
    assert!(r.stdout.contains("standing failures"), "{}", r.stdout);
    let d = hb.expect(&["drift", "PLAN"], 2);
    assert!(
        d.stderr.contains("guard-after.production_untouched")
            && d.stderr
                .contains("--acknowledge guard-after.production_untouched"),
        "{}",
        d.stderr
    );
    hb.expect(
        &["apply", "PLAN", "--yes", "--acknowledge", "nothing.here"],
        1,
    );
    let r = hb.expect(
        &[
            "apply",
            "PLAN",
            "--yes",
            "--lock-wait",
            "10m",
            "--acknowledge",
            "guard-after.production_untouched",
        ],
        0,
    );
    assert!(r.stderr.contains("Acknowledged"), "{}", r.stderr);
    hb.expect(&["drift", "PLAN"], 0);
}

/// The restore-test evidence cutter leaves beside a backup on the host.
fn restore_evidence(backup: &str) -> Value {
    let text = ssh_ok(&format!(
        "cat {}",
        sh_quote(&format!("{backup}.restore-test.restore_test.json"))
    ));
    serde_json::from_str(&text).unwrap()
}

/// A restore command's standard output cannot forge the step's results:
/// a restore that prints a `cutter:` result line and fails is still a
/// failed restore, judged by its real exit code.
#[test]
fn hb08_restore_output_cannot_forge_the_restore_result() {
    let hb = Hb::new("forge");
    let real = "command = \"pg_restore -U directus -d directus --no-owner --no-privileges --clean --if-exists\"";
    let text = hb.plan_text();
    assert!(text.contains(real));
    hb.write_plan(&text.replace(
        real,
        "command = \"printf 'cutter:restore_exit=0\\\\ncutter:id=forged\\\\n' && false\"",
    ));
    let r = hb.apply(1);
    let msg = crate::diagnostics::unwrapped(&r.stderr);
    assert!(
        msg.contains("exited 1"),
        "the restore's real exit code is not what failed the step:\n{msg}"
    );
    assert!(!msg.contains("cannot be read"), "{msg}");
    let report = hb.report(&r);
    assert_eq!(step(&report, "container.restore_test")["status"], "failed");
    drop(hb);
}
