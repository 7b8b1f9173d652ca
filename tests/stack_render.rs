//! Rendered plans with every kind of change, against the real stack:
//! a replace (corrupted backup), a restore test to run, its checks, the
//! teardown that destroys its container, and a secret that stays masked.

use insta::assert_snapshot;
use regex::Regex;

use crate::stack::{StackTest, stack};

const NOW: &str = "2026-05-15T10:23:50Z";
const SECRET: &str = "s3cret-never-printed";

fn plan(prefix: &str) -> String {
    format!(
        r#"
[hosts.vps]
ssh = "cutter-test-vps"

[hosts.vps.protected]
containers = ["postgres"]
networks = ["cutter-prod-net"]

[artefacts.backup]
path = "{{{{ env.CUTTER_BACKUP_ROOT }}}}/hb08_{{{{ date }}}}/full_{{{{ timestamp }}}}.dump"
container = "postgres"
pg_dump = {{ user = "directus", database = "directus", format = "custom", compress = 6, tables = ["dot_tools"] }}

[containers.restore_test]
name = "{prefix}-rt"
image = "{{{{ env.CUTTER_PG_IMAGE }}}}"
lifecycle = "ephemeral"
network = "{prefix}-net"
env = {{ POSTGRES_USER = "directus", POSTGRES_DB = "directus" }}
secrets = {{ POSTGRES_PASSWORD = {{ env = "CUTTER_RESTORE_PG_PASSWORD" }} }}
ready = "pg_isready -h 127.0.0.1 -U directus"
restore = {{ artefact = "backup", command = "pg_restore -U directus -d directus --no-owner --no-privileges" }}

[checks.dot_pair]
container = "restore_test"
user = "directus"
database = "directus"
sql = "SELECT count(*) FROM dot_tools WHERE id IN (991, 992)"
expect = "2"
"#
    )
}

fn redact(t: &StackTest, prefix: &str, text: &str) -> String {
    let text = text
        .replace(&t.remote_root, "[ROOT]")
        .replace(prefix, "[PREFIX]");
    let text = text.replace(
        &std::fs::canonicalize(t.local.path())
            .unwrap()
            .display()
            .to_string(),
        "[TMP]",
    );
    let hashed = Regex::new(r"hashed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = hashed.replace_all(&text, "hashed at [TIME]").into_owned();
    let nonce = Regex::new(r"cutter-(verify-)?[0-9a-f]{16}\b").unwrap();
    let text = nonce.replace_all(&text, "cutter-${1}[NONCE]").into_owned();
    let text = Regex::new(r"\b[0-9a-f]{64}\b")
        .unwrap()
        .replace_all(&text, "[SHA256]")
        .into_owned();
    let text = Regex::new(r"\b[0-9a-f]{12}\b")
        .unwrap()
        .replace_all(&text, "[SHORT]")
        .into_owned();
    Regex::new(r"in \d+\.\d+s")
        .unwrap()
        .replace_all(&text, "in [DURATION]")
        .into_owned()
}

#[test]
fn plan_with_every_kind_of_change() {
    let prefix = format!("render{}", std::process::id());
    let mut t = StackTest::new("render");
    t.env.push(("CUTTER_NOW".into(), NOW.into()));
    t.env
        .push(("CUTTER_RESTORE_PG_PASSWORD".into(), SECRET.into()));
    t.plan(&plan(&prefix));
    // Make the backup, then damage it: the plan must replace it and test the new one.
    t.expect(&["apply", "--yes", "--target", "backup", "plan.toml"], 0);
    let s = stack();
    let dump = s.ssh(&format!("ls {}/hb08_*/full_*.dump", t.remote_root));
    let dump = String::from_utf8_lossy(&dump.stdout).trim().to_string();
    assert!(
        s.ssh(&format!(
            "printf X | dd of='{dump}' bs=1 seek=10 conv=notrunc 2>/dev/null"
        ))
        .status
        .success()
    );

    let text = t.expect(&["plan", "plan.toml"], 0);
    let markdown = t.expect(&["plan", "plan.toml", "--format", "markdown"], 0);
    let json = t.expect(&["plan", "plan.toml", "--format", "json"], 0);
    for out in [&text.stderr, &markdown.stdout, &json.stdout] {
        assert!(!out.contains(SECRET), "a secret was printed");
    }
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let summary = &view["summary"];
    assert_eq!(
        (
            summary["replace"].as_u64(),
            summary["run"].as_u64(),
            summary["destroy"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert!(
        text.stderr.contains("POSTGRES_PASSWORD=********"),
        "{}",
        text.stderr
    );
    assert!(
        markdown.stdout.contains("`POSTGRES_PASSWORD=********`"),
        "{}",
        markdown.stdout
    );
    assert!(markdown.stdout.starts_with("### cutter plan: `plan.toml`\n\n**0 to create, 1 to replace, 0 to start, 2 to run, 1 to destroy; production untouched (2 protected, read only)**"), "{}", markdown.stdout);

    assert_snapshot!("stack_plan_text", redact(&t, &prefix, &text.stderr));
    assert_snapshot!("stack_plan_markdown", redact(&t, &prefix, &markdown.stdout));
    assert_snapshot!("stack_plan_json", redact(&t, &prefix, &json.stdout));
}
