//! The production boundary, attacked. Each attack is refused by `validate`
//! with the rule it breaks, and each has an unprotected twin (the same
//! intent where cutter may act) that validates, so no attack "passes" only
//! because its plan is malformed. What only run time can tell (symlinks,
//! steps that never end, a container spelled by ID) is tested through
//! `apply` on the local host and on the real stack.

use std::time::{Duration, Instant};

use crate::diagnostics::{assert_never_says, unwrapped};
use crate::stack::{StackTest, stack};
use crate::test::Test;

// Free-form host commands are allowed here: these attacks are about what
// validate refuses besides them (their refusal by default is in `claims`).
const HOST: &str = r#"
[hosts.vps]
ssh = "nowhere"
free_form = "allow"

[hosts.vps.protected]
containers = ["postgres"]
labels = ["com.example.tier=production"]
volumes = ["pgdata"]
networks = ["prod-net"]
paths = ["/var/lib/postgresql", "/etc"]

[containers.copy]
image = "postgres:16"
lifecycle = "persistent"
network = "copy-net"
volume = "copy-data"
"#;

fn validate(body: &str) -> (i32, String) {
    let run = Test::new()
        .plan(&format!("{HOST}\n{body}"))
        .args(&["validate", "plan.toml"])
        .run();
    assert_never_says(&run.stderr, "panicked");
    (run.status, unwrapped(&run.stderr))
}

#[track_caller]
fn refused(body: &str, says: &str) {
    let (status, err) = validate(body);
    assert_eq!(status, 1, "accepted:\n{body}\n{err}");
    assert!(
        err.contains(says),
        "expected `{says}` for\n{body}\nin\n{err}"
    );
}

#[track_caller]
fn accepted(body: &str) {
    let (status, err) = validate(body);
    assert_eq!(status, 0, "refused:\n{body}\n{err}");
}

fn artefact(container: &str, line: &str) -> String {
    format!("[artefacts.x]\npath = \"/srv/backups/x.out\"\ncontainer = \"{container}\"\n{line}\n")
}

/// Class 1 and 4: free-form commands inside production, in every spelling
/// of options and of the container. Twin: the same command in cutter's own
/// container is allowed.
#[test]
fn free_form_commands_never_run_in_a_container_cutter_does_not_own() {
    let commands = [
        "pg_dump -U directus -d directus -f/tmp/x",
        "psql -qAo/var/lib/postgresql/data/postgresql.conf -c 'select 1'",
        "psql -L/tmp/log -c 'select 1'",
        "pg_dump --fil=/tmp/x directus",
        "psql --out=/tmp/x -c 'select 1'",
        "pg_restore --list -f /var/lib/postgresql/data/PG_VERSION /tmp/x",
        "X=a/psql rm -rf /var/lib/postgresql/data",
        "PGOPTIONS='-c default_transaction_read_only=off' psql -c 'DROP TABLE t'",
        "psql -tc 'DELETE FROM dot_tools'",
        "cat /etc/hostname",
    ];
    let spellings = [
        "postgres",
        "/postgres",
        "3d75749429f4",
        "some-labelled-container",
    ];
    for c in spellings {
        for cmd in commands {
            let line = format!("command = {}", toml_string(cmd));
            refused(&artefact(c, &line), "runs a free-form command in container");
        }
    }
    for cmd in commands {
        accepted(&artefact(
            "copy",
            &format!("command = {}", toml_string(cmd)),
        ));
    }
}

/// Class 2: SQL that writes or acts, hidden or plain, in a query artefact
/// and in a check. Twin: a read-only query in the same place.
#[test]
fn sql_must_be_provably_read_only() {
    let attacks = [
        (
            "SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity",
            "sql.function",
        ),
        ("SELECT pg_catalog.\"pg_cancel_backend\"(1)", "sql.function"),
        (
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "sql.function",
        ),
        (
            "SELECT * FROM pg_create_physical_replication_slot('s')",
            "sql.function",
        ),
        (
            "SELECT pg_create_logical_replication_slot('s', 'test_decoding')",
            "sql.function",
        ),
        ("SELECT pg_stat_reset()", "sql.function"),
        ("SELECT pg_switch_wal()", "sql.function"),
        ("SELECT pg_reload_conf()", "sql.function"),
        ("SELECT lo_import('/etc/passwd')", "sql.secret"),
        ("SELECT lo_unlink(1)", "sql.function"),
        ("SELECT lo_from_bytea(0, 'x')", "sql.function"),
        ("SELECT pg_read_file('/etc/passwd')", "sql.secret"),
        (
            "SELECT query_to_xml('DELETE FROM dot_tools', true, true, '')",
            "sql.function",
        ),
        ("SELECT nextval('s')", "sql.function"),
        ("SELECT pg_advisory_lock(1)", "sql.function"),
        ("SELECT pg_notify('c', 'x')", "sql.function"),
        ("SELECT dblink_exec('', 'DROP TABLE t')", "sql.function"),
        ("SELECT public.count(1)", "sql.function"),
        (
            "START TRANSACTION READ WRITE; DELETE FROM dot_tools; END",
            "sql.one_statement",
        ),
        ("START TRANSACTION READ WRITE", "sql.select_only"),
        ("SELECT $$x$$; DROP TABLE dot_tools", "sql.one_statement"),
        ("SELECT 1 -- ;\n; DROP TABLE dot_tools", "sql.one_statement"),
        (
            "SELECT 1 /* ; */; DELETE FROM dot_tools",
            "sql.one_statement",
        ),
        (
            "WITH d AS (DELETE FROM dot_tools RETURNING *) SELECT * FROM d",
            "sql.data_modifying",
        ),
        ("SELECT * INTO copy_of FROM dot_tools", "sql.into"),
        ("SELECT * FROM dot_tools FOR UPDATE", "sql.locking"),
        ("DO $$BEGIN DELETE FROM dot_tools; END$$", "sql.parse"),
        ("COPY dot_tools TO '/tmp/x'", "sql.select_only"),
        ("SET default_transaction_read_only = off", "sql.select_only"),
        ("VACUUM FULL", "sql.select_only"),
        ("\\! rm -rf /", "sql.parse"),
        ("SELECT 1 OPERATOR(public.+) 2", "sql.operator"),
        ("SELECT 'x'::user_type", "sql.cast"),
        // Secrets read into artefacts, in every spelling and place.
        ("SELECT rolname, rolpassword FROM pg_authid", "sql.secret"),
        (
            "SELECT rolpassword FROM pg_catalog.\"pg_authid\"",
            "sql.secret",
        ),
        ("SELECT * FROM PG_CATALOG.PG_SHADOW", "sql.secret"),
        (
            "WITH s AS (SELECT * FROM pg_user_mappings) SELECT * FROM s",
            "sql.secret",
        ),
        (
            "SELECT * FROM pg_class c, LATERAL (SELECT * FROM pg_file_settings) f",
            "sql.secret",
        ),
        (
            "SELECT (SELECT count(*) FROM pg_hba_file_rules)",
            "sql.secret",
        ),
        ("SELECT * FROM pg_ident_file_mappings", "sql.secret"),
        ("SELECT * FROM pg_largeobject", "sql.secret"),
        ("SELECT stavalues1 FROM pg_statistic", "sql.secret"),
        ("SELECT query FROM pg_stat_activity", "sql.secret"),
        (
            "SELECT * FROM pg_stat_file('postgresql.conf')",
            "sql.secret",
        ),
        ("SELECT pg_ls_dir('.')", "sql.secret"),
        // Where the parser and PostgreSQL would read the text differently.
        ("SELECT $1$x$1$", "sql.dollar_quote"),
        ("SELECT '{}'::user_type[]", "sql.cast"),
        ("SELECT ARRAY['x']::user_type[]", "sql.cast"),
        ("SELECT CAST('{}' AS user_type[])", "sql.cast"),
        ("SELECT user_type 'x'", "sql.cast"),
        ("SELECT 'x'::uint8", "sql.cast"),
        ("SELECT (t).evil FROM dot_tools t", "sql.field_notation"),
        (
            "SELECT * FROM pg_stat_database d, LATERAL pg_terminate_backend(d.datid::int4)",
            "sql.function",
        ),
        ("SELECT \"COUNT\"(1)", "sql.function"),
        ("SELECT 'a' IS NORMALIZED", "sql.unknown"),
        (
            "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH '.')",
            "sql.unknown",
        ),
    ];
    for (sql, rule) in attacks {
        let q = format!(
            "query = {{ database = \"directus\", sql = {} }}",
            toml_string(sql)
        );
        refused(&artefact("postgres", &q), rule);
        let check = format!(
            "[checks.c]\ncontainer = \"copy\"\ndatabase = \"directus\"\nsql = {}\nsame_as = \"postgres\"\n",
            toml_string(sql)
        );
        refused(&check, rule);
    }
    accepted(&artefact(
        "postgres",
        "query = { database = \"directus\", sql = \"SELECT count(*) FROM dot_tools WHERE id IN (991, 992)\" }",
    ));
    accepted(
        "[checks.c]\ncontainer = \"copy\"\ndatabase = \"directus\"\nsql = \"SELECT count(*) FROM information_schema.tables\"\nsame_as = \"postgres\"\n",
    );
}

/// Class 3: the connection cannot be overridden: names are names, never
/// connection strings, URIs or options. Twin: plain names.
#[test]
fn connection_parameters_are_plain_names() {
    for (field, value) in [
        (
            "database",
            "directus options='-c default_transaction_read_only=off'",
        ),
        (
            "database",
            "dbname=directus options=-cdefault_transaction_read_only=off",
        ),
        ("database", "postgresql://directus@/directus?options=x"),
        ("user", "--dbname=other"),
        ("user", "directus options=x"),
    ] {
        let other = if field == "database" {
            "user = \"directus\""
        } else {
            "database = \"directus\""
        };
        let q = format!("pg_dump = {{ {field} = {}, {other} }}", toml_string(value));
        refused(&artefact("postgres", &q), "a plain PostgreSQL name");
        let check = format!(
            "[checks.c]\ncontainer = \"postgres\"\nhost = \"vps\"\n{field} = {}\n{other}\nsql = \"SELECT 1\"\nexpect = \"1\"\n",
            toml_string(value)
        );
        refused(&check, "a plain PostgreSQL name");
    }
    accepted(&artefact(
        "postgres",
        "pg_dump = { user = \"directus\", database = \"directus\" }",
    ));
}

/// Class 5: nothing is fed into production; `verify` is for commands only.
#[test]
fn verify_never_runs_in_production() {
    refused(
        &artefact(
            "postgres",
            "pg_dump = { database = \"directus\" }\nverify = \"psql -U directus\"",
        ),
        "`verify` is for `command` artefacts",
    );
    refused(
        &artefact(
            "postgres",
            "command = \"cat\"\nverify = \"psql -U directus\"",
        ),
        "runs a free-form command in container",
    );
    accepted(
        "[artefacts.x]\npath = \"/srv/backups/x.out\"\ncommand = \"echo x\"\nverify = \"grep -q x\"\n",
    );
}

/// Class 6: cutter's own containers cannot be named like something Docker
/// would resolve to production (an ID prefix), nor like production itself.
#[test]
fn own_containers_cannot_take_production_identities() {
    for (field, value, says) in [
        ("name", "3d75749429f4", "looks like an ID"),
        ("name", "beef", "looks like an ID"),
        ("name", "postgres", "would replace protected container"),
        ("name", "/postgres", "is not a valid Docker container name"),
        (
            "volume",
            "/var/lib/postgresql/data",
            "is not a valid Docker volume",
        ),
        ("volume", "pgdata", "would mount protected volume"),
        ("network", "prod-net", "would attach to protected network"),
        (
            "network",
            "container:postgres",
            "is not a valid Docker network",
        ),
        ("mount", "/data,readonly=false", "is not a mount point"),
        ("image", "--privileged", "is not an image reference"),
    ] {
        let body = format!(
            "[containers.evil]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n{field} = {}\n",
            toml_string(value)
        )
        .replace("image = \"postgres:16\"\nlifecycle = \"persistent\"\nimage =", "lifecycle = \"persistent\"\nimage =");
        refused(&body, says);
    }
    accepted(
        "[containers.evil]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\nname = \"cutter-copy\"\n",
    );
}

/// Class 7: paths in normal form only; `stderr` is a bare name.
#[test]
fn paths_are_in_normal_form() {
    for path in [
        "/srv/backups/../../etc/x",
        "/srv//backups/x",
        "/srv/./backups/x",
        "/srv/backups/x\ny",
    ] {
        refused(
            &format!(
                "[artefacts.x]\npath = {}\ncommand = \"echo x\"\n",
                toml_string(path)
            ),
            "not in normal form",
        );
    }
    for stderr in ["../x", "..", "a/b", "SHA256SUMS"] {
        refused(
            &format!(
                "[artefacts.x]\npath = \"/srv/x\"\ncommand = \"echo x\"\nstderr = {}\n",
                toml_string(stderr)
            ),
            "`stderr` is a file name beside the artefact",
        );
    }
    refused(
        "[artefacts.x]\npath = \"/etc/cutter/x\"\ncommand = \"echo x\"\n",
        "would write under protected path `/etc`",
    );
    accepted(
        "[artefacts.x]\npath = \"/srv/backups/x\"\ncommand = \"echo x\"\nstderr = \"x.err\"\n",
    );
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Class 7 at run time: a symlink that leads into a protected path is
/// refused before anything is written; the twin without the link works.
#[test]
fn a_symlink_into_a_protected_path_is_refused_at_apply() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    std::fs::create_dir_all(dir.join("prod")).unwrap();
    std::os::unix::fs::symlink(dir.join("prod"), dir.join("link")).unwrap();
    let plan = format!(
        "[hosts.here]\nlocal = true\nfree_form = \"allow\"\n[hosts.here.protected]\npaths = [\"{p}/prod\"]\n\
         [artefacts.a]\npath = \"{p}/link/sub/x.txt\"\ncommand = \"echo attack\"\n",
        p = dir.display()
    );
    let home = dir.display().to_string();
    let t = t
        .plan(&plan)
        .env("HOME", &home)
        .args(&["apply", "--yes", "plan.toml"]);
    let r = t.status(1);
    assert!(
        r.stderr.contains("resolves under protected path"),
        "{}",
        r.stderr
    );
    let written: Vec<_> = walk(&dir.join("prod"));
    assert!(
        written.is_empty(),
        "written under the protected path: {written:?}"
    );
    // twin: the same plan without protection writes through the link
    let twin = plan.replace(
        &format!("paths = [\"{}/prod\"]", dir.display()),
        "paths = []",
    );
    let t = t.plan(&twin).args(&["apply", "--yes", "plan.toml"]);
    t.status(0);
    assert!(dir.join("prod/sub/x.txt").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// Whether a process whose arguments contain `marker` runs on this machine.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(marker))
            .unwrap_or(false)
    })
}

/// Class 8: a step that never ends is stopped at its timeout, and none of
/// its processes outlive it.
#[test]
fn a_step_that_never_ends_is_stopped_with_its_processes() {
    let marker = format!("4242{}", std::process::id());
    let t = Test::new().plan(&format!(
        "[hosts.here]\nlocal = true\n[artefacts.a]\npath = \"{}/x.txt\"\ncommand = \"sleep {marker}\"\ntimeout = \"2s\"\n",
        "/tmp/cutter-boundary-never"
    ));
    let home = t.path().display().to_string();
    let t = t.env("HOME", &home);
    let started = Instant::now();
    let r = t.args(&["apply", "--yes", "plan.toml"]).status(1);
    assert!(r.stderr.contains("timeout of 2s"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !running(&format!("sleep {marker}")),
        "the step's process outlived it"
    );
}

/// kill -9 of cutter mid-step: the host ends the step's processes, because
/// its lifeline (cutter's end of standard input) closed.
#[test]
fn killing_cutter_ends_the_steps_processes() {
    let marker = format!("4343{}", std::process::id());
    let t = Test::new().plan(&format!(
        "[hosts.here]\nlocal = true\n[artefacts.a]\npath = \"{}/x.txt\"\ncommand = \"sleep {marker}\"\n",
        "/tmp/cutter-boundary-killed"
    ));
    let mut child = std::process::Command::new(crate::test::cutter_bin())
        .args(["apply", "--yes", "plan.toml"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("HOME", t.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !running(&format!("sleep {marker}")) {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(&format!("sleep {marker}")) {
        assert!(
            Instant::now() < deadline,
            "the step's process outlived cutter by 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// On the real stack: production addressed by an ID prefix is resolved to
/// its full ID and only read; a query that never ends inside production is
/// stopped at its timeout, and neither its `psql` nor its server backend
/// outlives the step.
#[test]
fn stack_production_by_id_prefix_is_only_read_and_runaway_queries_end() {
    let s = stack();
    let id = String::from_utf8_lossy(&s.ssh("docker inspect -f '{{.Id}}' postgres").stdout)
        .trim()
        .to_string();
    let t = StackTest::new("boundary");
    t.plan(&format!(
        r#"
[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"
[hosts.vps.protected]
containers = ["postgres"]

[artefacts.count]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/count.psv"
container = "{prefix}"
query = {{ user = "directus", database = "directus", sql = "SELECT count(*) FROM dot_tools WHERE id IN (991, 992)" }}

[artefacts.runaway]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/runaway.psv"
container = "/postgres"
query = {{ user = "directus", database = "directus", sql = "SELECT count(*) FROM generate_series(1, 100000000000)" }}
timeout = "3s"
"#,
        prefix = &id[..12]
    ));
    let r = t.expect(&["apply", "--yes", "plan.toml"], 1);
    assert!(r.stderr.contains("artefact.runaway failed"), "{}", r.stderr);
    assert!(r.stderr.contains("Finished artefact.count"), "{}", r.stderr);
    let count = s.ssh(&format!("cat '{}/count.psv'", t.remote_root));
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "2");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let top =
            String::from_utf8_lossy(&s.ssh("docker top postgres -eo pid,args").stdout).to_string();
        let backends = String::from_utf8_lossy(
            &s.ssh("docker exec postgres psql -X -U directus -d directus -tAc \"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'cutter-%' AND query LIKE '%100000000000%' AND pid <> pg_backend_pid()\"")
                .stdout,
        )
        .trim()
        .to_string();
        // Only this test's query: other tests run their own meanwhile.
        if !top.contains("100000000000") && backends == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the runaway query outlived its step:\n{top}\nbackends: {backends}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A published port is a port, never a Docker option in disguise.
#[test]
fn published_ports_cannot_smuggle_options() {
    for port in [
        "--privileged",
        "-v=/:/host",
        "5432",
        "a:b",
        "127.0.0.1:5433:5432/evil",
    ] {
        refused(
            &format!(
                "[containers.evil]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\nname = \"cutter-evil\"\nports = [{}]\n",
                toml_string(port)
            ),
            "is not a port to publish",
        );
    }
    accepted(
        "[containers.evil]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\nname = \"cutter-evil\"\nports = [\"127.0.0.1:5433:5432\", \"5434:5432/tcp\"]\n",
    );
}

/// The throw-away container that checks a custom-format dump starts while
/// the dump runs; when the dump fails, it is removed all the same and no
/// temporary file stays beside the artefact.
#[test]
fn stack_a_failed_dump_leaves_no_verification_container() {
    let s = stack();
    let t = StackTest::new("verifier");
    t.plan(
        r#"
[hosts.vps]
ssh = "{{ env.CUTTER_SSH_HOST }}"
[hosts.vps.protected]
containers = ["postgres"]

[artefacts.dump]
path = "{{ env.CUTTER_BACKUP_ROOT }}/nodb.dump"
container = "postgres"
pg_dump = { user = "directus", database = "no_such_database", format = "custom" }
"#,
    );
    let from = s.audit_len();
    let r = t.expect(&["apply", "--yes", "plan.toml"], 1);
    assert!(r.stderr.contains("artefact.dump failed"), "{}", r.stderr);
    let nonce = regex::Regex::new(r"cutter-verify-([0-9a-f]{16})").unwrap();
    let names: Vec<String> = s
        .audit_since(from)
        .iter()
        .flat_map(|e| {
            nonce
                .captures_iter(e)
                .map(|c| c[0].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !names.is_empty(),
        "the step did not start a verification container"
    );
    for name in names {
        let left = s.ssh(&format!("docker ps -aq --filter name=^/{name}$"));
        assert_eq!(
            String::from_utf8_lossy(&left.stdout).trim(),
            "",
            "{name} left behind"
        );
    }
    let files = s.ssh(&format!("ls -A '{}'", t.remote_root));
    let files = String::from_utf8_lossy(&files.stdout).to_string();
    assert!(
        !files.contains(".nodb.dump."),
        "temporary files left behind: {files}"
    );
}
