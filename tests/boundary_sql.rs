//! The read-only SQL boundary through the CLI: each refusal class names what
//! it refuses, and on the real stack a query that reads a secret changes
//! nothing while its twin, reading an allowed catalog, runs in production
//! as rendered (every function from `pg_catalog`).

use crate::diagnostics::{assert_never_says, unwrapped};
use crate::stack::{StackTest, stack};
use crate::test::Test;

fn plan(sql: &str) -> String {
    format!(
        "[hosts.vps]\nssh = \"nowhere\"\n\n[hosts.vps.protected]\ncontainers = [\"postgres\"]\n\n\
         [artefacts.x]\npath = \"/srv/backups/x.out\"\ncontainer = \"postgres\"\n\
         query = {{ database = \"directus\", sql = {} }}\n",
        toml_string(sql)
    )
}

fn toml_string(s: &str) -> String {
    format!("'''{s}'''")
}

fn validate(sql: &str) -> (i32, String) {
    let run = Test::new()
        .plan(&plan(sql))
        .args(&["validate", "plan.toml"])
        .run();
    assert_never_says(&run.stderr, "panicked");
    (run.status, unwrapped(&run.stderr))
}

/// Every refusal class, with the rule and the name the diagnostic gives;
/// each has a twin that validates.
#[test]
fn each_refusal_names_what_it_refuses() {
    let refusals = [
        (
            "SELECT rolpassword FROM pg_authid",
            "sql.secret",
            "`pg_authid`",
        ),
        (
            "SELECT * FROM pg_catalog.\"pg_hba_file_rules\"",
            "sql.secret",
            "`pg_hba_file_rules`",
        ),
        (
            "SELECT * FROM pg_stat_file('postgresql.conf')",
            "sql.secret",
            "`pg_stat_file`",
        ),
        ("SELECT $1$x$1$", "sql.dollar_quote", "`$1$`"),
        ("SELECT '{}'::evil[]", "sql.cast", "`evil`"),
        ("SELECT evil_type 'x'", "sql.cast", "`evil_type`"),
        ("SELECT (x).f FROM t", "sql.field_notation", "`(x).f`"),
        (
            "SELECT * FROM t, LATERAL pg_terminate_backend(t.pid)",
            "sql.function",
            "`pg_terminate_backend`",
        ),
        ("SELECT \"COUNT\"(1)", "sql.function", "`COUNT`"),
        ("SELECT 'a' IS NORMALIZED", "sql.unknown", "`'a' IS`"),
        (
            "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH '.')",
            "sql.unknown",
            "`XMLTABLE(",
        ),
        (
            &format!("SELECT 1 AS {}", "a".repeat(64)),
            "sql.identifier",
            "63-byte",
        ),
    ];
    for (sql, rule, names) in refusals {
        let (status, err) = validate(sql);
        assert_eq!(status, 1, "accepted {sql}\n{err}");
        assert!(err.contains(rule), "expected `{rule}` for {sql} in\n{err}");
        assert!(err.contains(names), "expected {names} for {sql} in\n{err}");
    }
    let twins = [
        "SELECT rolname, rolpassword FROM pg_roles",
        "SELECT usename, passwd FROM pg_user",
        "SELECT sum(numbackends) FROM pg_stat_database",
        "SELECT $a$x$a$",
        "SELECT '{}'::int4[]",
        "SELECT date '2020-01-01'",
        "SELECT x[1] FROM t",
        "SELECT * FROM t, LATERAL generate_series(1, t.n)",
        "SELECT \"count\"(1)",
        &format!("SELECT 1 AS {}", "a".repeat(63)),
    ];
    for sql in twins {
        let (status, err) = validate(sql);
        assert_eq!(status, 0, "refused {sql}\n{err}");
    }
}

/// On the real stack: the twin reads allowed catalogs inside production and
/// runs as rendered; the query that reads `pg_authid` is refused before
/// anything runs, and leaves no file.
#[test]
fn stack_a_query_reading_secrets_changes_nothing_and_its_twin_runs() {
    let s = stack();
    let plan = |name: &str, sql: &str| {
        format!(
            r#"
[hosts.vps]
ssh = "{{{{ env.CUTTER_SSH_HOST }}}}"
[hosts.vps.protected]
containers = ["postgres"]

[artefacts.{name}]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/{name}.psv"
container = "postgres"
query = {{ user = "directus", database = "directus", sql = {} }}
"#,
            toml_string(sql)
        )
    };
    let t = StackTest::new("boundary-sql");
    t.plan(&plan(
        "twin",
        "SELECT count(*) FILTER (WHERE rolname = 'directus'), coalesce(NULL, lower('A')), \
         ceil(1.5), substr('xyz', 2, 1), (SELECT count(*) FROM unnest(ARRAY[1, 2]) \
         WITH ORDINALITY AS u(x, n)), \"current_user\"() FROM pg_roles",
    ));
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    let twin = s.ssh(&format!("cat '{}/twin.psv'", t.remote_root));
    assert_eq!(
        String::from_utf8_lossy(&twin.stdout).trim(),
        "1|a|2|y|2|directus"
    );

    t.plan(&plan(
        "secret",
        "SELECT rolname, rolpassword FROM pg_authid",
    ));
    let r = t.expect(&["apply", "--yes", "plan.toml"], 1);
    let err = unwrapped(&r.stderr);
    assert!(err.contains("`pg_authid`"), "{err}");
    assert!(err.contains("sql.secret"), "{err}");
    let ls = s.ssh(&format!("ls -A '{}'", t.remote_root));
    let files = String::from_utf8_lossy(&ls.stdout).to_string();
    assert!(!files.contains("secret"), "{files}");
}
