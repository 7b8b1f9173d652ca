//! Bad plans: `cutter validate` exits 1 without panicking, says what is wrong
//! and points at the offending place in the file (file name, line, label).
//! Validation contacts no host, so plans may name hosts that do not exist.

use crate::test::Test;

/// miette wraps long messages at 80 columns, continuing them on lines that
/// start with `│`; join those back so that messages can be matched whole.
pub fn unwrapped(stderr: &str) -> String {
    let continuation = regex::Regex::new(r"\n *│ ").unwrap();
    continuation.replace_all(stderr, " ").into_owned()
}

/// `cutter validate plan.toml` on `plan`: exit 1, no panic; returns stderr.
pub fn invalid(plan: &str) -> String {
    let run = Test::new()
        .plan(plan)
        .args(&["validate", "plan.toml"])
        .status(1);
    assert_never_says(&run.stderr, "panicked");
    assert_says(&run.stderr, "plan.toml: the plan is invalid");
    unwrapped(&run.stderr)
}

/// stderr shows `source` as line `line` of plan.toml, labelled with `label`.
#[track_caller]
pub fn assert_points_at(stderr: &str, line: usize, source: &str, label: &str) {
    assert!(stderr.contains("[plan.toml:"), "no file name in\n{stderr}");
    assert!(
        stderr.contains(&format!("{line} │ {source}\n")),
        "line {line} `{source}` not shown in\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("╰── {label}")),
        "label `{label}` not shown in\n{stderr}"
    );
}

/// `output` contains `message`.
#[track_caller]
pub fn assert_says(output: &str, message: &str) {
    assert!(
        output.contains(message),
        "expected `{message}` in\n{output}"
    );
}

/// `output` does not contain `message`.
#[track_caller]
pub fn assert_never_says(output: &str, message: &str) {
    assert!(
        !output.contains(message),
        "did not expect `{message}` in\n{output}"
    );
}

#[test]
fn malformed_toml() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a
path = "/tmp/a"
"#,
    );
    assert_says(&err, "cutter::invalid_plan");
    assert_says(&err, "TOML syntax error");
    assert_says(&err, "[plan.toml:4:");
    assert_points_at(&err, 4, "[artefacts.a", "unclosed table, expected `]`");
}

#[test]
fn unknown_key() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"
colour = 1
"#,
    );
    assert_says(&err, "unknown key: field `colour`");
    assert_says(&err, "[plan.toml:7:1]");
    assert_points_at(
        &err,
        7,
        "colour = 1",
        "unknown field `colour`, expected one of",
    );
}

#[test]
fn wrong_type() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"
max_age = 5
"#,
    );
    assert_says(
        &err,
        "wrong type: invalid type: integer `5`, expected a string",
    );
    assert_says(&err, "[plan.toml:7:11]");
    assert_points_at(&err, 7, "max_age = 5", "invalid type: integer `5`");
}

#[test]
fn unknown_reference_in_after() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"
after = ["nope"]
"#,
    );
    assert_says(&err, "unknown resource `nope`");
    assert_points_at(
        &err,
        7,
        r#"after = ["nope"]"#,
        "nothing of this name is declared",
    );
    assert_says(&err, "help: declared: a");
}

#[test]
fn unknown_host() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
host = "nope"
path = "/tmp/a"
command = "true"
"#,
    );
    assert_says(&err, "unknown host `nope`");
    assert_points_at(&err, 5, r#"host = "nope""#, "no host of this name");
    assert_says(&err, "declared hosts: `local`");
}

#[test]
fn unknown_artefact_in_rowcounts() {
    let err = invalid(
        r#"[hosts.db]
ssh = "nowhere"

[artefacts.rowcounts]
path = "/srv/backups/rowcounts.txt"
command = "true"

[checks.counts_match]
container = "restore_test"
rowcounts = { artefact = "nope", tables = ["public.items"] }
"#,
    );
    assert_says(&err, "unknown artefact `nope`");
    assert_points_at(
        &err,
        10,
        r#"rowcounts = { artefact = "nope", tables = ["public.items"] }"#,
        "nothing of this name is declared",
    );
    assert_says(&err, "declared: rowcounts");
}

#[test]
fn duplicate_name_across_kinds() {
    let err = invalid(
        r#"[hosts.db]
ssh = "nowhere"

[artefacts.pg]
path = "/srv/backups/pg.dump"
command = "true"

[containers.pg]
image = "postgres:16"
lifecycle = "persistent"
"#,
    );
    assert_says(&err, "duplicate name `pg`");
    assert_points_at(
        &err,
        4,
        "[artefacts.pg]",
        "first declared here as artefact `pg`",
    );
    assert_points_at(
        &err,
        8,
        "[containers.pg]",
        "declared again here as container `pg`",
    );
}

#[test]
fn duplicate_table() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"

[artefacts.a]
path = "/tmp/b"
command = "true"
"#,
    );
    assert_says(&err, "duplicate");
    assert_points_at(&err, 8, "[artefacts.a]", "duplicate key");
}

#[test]
fn cycle_of_three_names_every_member_and_edge() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.one]
path = "/tmp/one"
command = "true"
after = ["three"]

[artefacts.two]
path = "/tmp/two"
command = "true"
after = ["one"]

[artefacts.three]
path = "/tmp/three"
command = "true"
after = ["two"]
"#,
    );
    assert_says(&err, "dependency cycle: `one` → `two` → `three` → `one`");
    assert_points_at(&err, 7, r#"after = ["three"]"#, "`one` runs after `three`");
    assert_points_at(&err, 12, r#"after = ["one"]"#, "`two` runs after `one`");
    assert_points_at(&err, 17, r#"after = ["two"]"#, "`three` runs after `two`");
    assert_says(&err, "break the cycle");
}

#[test]
fn self_cycle() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.one]
path = "/tmp/one"
command = "true"
after = ["one"]
"#,
    );
    assert_says(&err, "`one` is after itself");
    assert_points_at(
        &err,
        7,
        r#"after = ["one"]"#,
        "this `after` names the resource itself",
    );
}

/// A host whose production is a PostgreSQL container on its own network and volume.
const PRODUCTION: &str = r#"[hosts.db]
ssh = "nowhere"

[hosts.db.protected]
containers = ["postgres"]
networks = ["prod-net"]
volumes = ["prod-data"]
paths = ["/var/lib/prod"]
"#;

#[test]
fn writing_command_in_a_protected_container() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[artefacts.dump]
path = "/srv/backups/dump.sql"
container = "postgres"
command = "psql -c 'DROP TABLE x'"
"#
    ));
    assert_says(
        &err,
        "artefact `dump` runs a free-form command in container `postgres`, which this plan does not own",
    );
    assert_points_at(
        &err,
        13,
        r#"command = "psql -c 'DROP TABLE x'""#,
        "a shell command",
    );
}

#[test]
fn container_named_like_a_protected_container() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[containers.postgres]
image = "postgres:16"
lifecycle = "persistent"
network = "copy-net"
volume = "copy-data"
"#
    ));
    assert_says(
        &err,
        "container `postgres` would replace protected container `postgres`",
    );
    assert_points_at(
        &err,
        10,
        "[containers.postgres]",
        "this name belongs to production",
    );
    assert_points_at(
        &err,
        5,
        r#"containers = ["postgres"]"#,
        "protected here on host `db`",
    );
}

#[test]
fn container_whose_docker_name_is_protected() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[containers.copy]
name = "postgres"
image = "postgres:16"
lifecycle = "persistent"
network = "copy-net"
volume = "copy-data"
"#
    ));
    assert_says(
        &err,
        "container `copy` would replace protected container `postgres`",
    );
    assert_points_at(
        &err,
        11,
        r#"name = "postgres""#,
        "this name belongs to production",
    );
}

#[test]
fn container_on_a_protected_network() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[containers.copy]
image = "postgres:16"
lifecycle = "persistent"
network = "prod-net"
volume = "copy-data"
"#
    ));
    assert_says(
        &err,
        "container `copy` would attach to protected network `prod-net`",
    );
    assert_points_at(&err, 13, r#"network = "prod-net""#, "production's network");
    assert_points_at(
        &err,
        6,
        r#"networks = ["prod-net"]"#,
        "protected here on host `db`",
    );
}

#[test]
fn container_on_a_protected_volume() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[containers.copy]
image = "postgres:16"
lifecycle = "persistent"
network = "copy-net"
volume = "prod-data"
"#
    ));
    assert_says(
        &err,
        "container `copy` would mount protected volume `prod-data`",
    );
    assert_points_at(&err, 14, r#"volume = "prod-data""#, "production's volume");
    assert_points_at(
        &err,
        7,
        r#"volumes = ["prod-data"]"#,
        "protected here on host `db`",
    );
}

#[test]
fn artefact_under_a_protected_path() {
    let err = invalid(&format!(
        r#"{PRODUCTION}
[artefacts.dump]
path = "/var/lib/prod/backups/dump.sql"
command = "echo x"
"#
    ));
    assert_says(
        &err,
        "artefact `dump` would write under protected path `/var/lib/prod`",
    );
    assert_points_at(
        &err,
        11,
        r#"path = "/var/lib/prod/backups/dump.sql""#,
        "this path is protected",
    );
    assert_points_at(
        &err,
        8,
        r#"paths = ["/var/lib/prod"]"#,
        "protected here on host `db`",
    );
}

#[test]
fn several_errors_are_reported_at_once() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
host = "nope"
path = "/tmp/a"
command = "true"

[artefacts.b]
path = "/tmp/b"
command = "true"
after = ["missing"]

[artefacts.c]
path = "/tmp/c"
command = "true"
max_age = "soon"
"#,
    );
    assert_says(&err, "the plan is invalid (3 errors)");
    assert_points_at(&err, 5, r#"host = "nope""#, "no host of this name");
    assert_points_at(
        &err,
        12,
        r#"after = ["missing"]"#,
        "nothing of this name is declared",
    );
    assert_points_at(
        &err,
        17,
        r#"max_age = "soon""#,
        "expected a number at `soon`",
    );
}

#[test]
fn bad_duration() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"
max_age = "an hour"
"#,
    );
    assert_says(&err, "`an hour` is not a duration");
    assert_points_at(
        &err,
        7,
        r#"max_age = "an hour""#,
        "expected a number at `an hour`",
    );
    assert_says(&err, "write whole numbers with a lowercase unit");
}

#[test]
fn bad_size() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/a"
command = "true"
min_size = "huge"
"#,
    );
    assert_says(&err, "`huge` is not a size");
    assert_points_at(
        &err,
        7,
        r#"min_size = "huge""#,
        "`huge` does not start with a number",
    );
    assert_says(&err, r#"write e.g. "512", "1 KiB", "10 MB""#);
}

#[test]
fn bad_connect_timeout() {
    let err = invalid(
        r#"[hosts.db]
ssh = "nowhere"
connect_timeout = "later"
"#,
    );
    assert_says(&err, "`later` is not a duration");
    assert_points_at(
        &err,
        3,
        r#"connect_timeout = "later""#,
        "expected a number at `later`",
    );
}

#[test]
fn unknown_template() {
    let err = invalid(
        r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/{{ bogus }}/a.txt"
command = "true"
"#,
    );
    assert_says(&err, "unknown template `bogus`");
    assert_points_at(
        &err,
        5,
        r#"path = "/tmp/{{ bogus }}/a.txt""#,
        "unknown template `bogus`",
    );
    // The label underlines exactly `{{ bogus }}`.
    assert_says(&err, "[plan.toml:5:14]");
}

#[test]
fn unset_environment_variable() {
    let run = Test::new()
        .plan(
            r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/{{ env.CUTTER_TEST_UNSET_X }}/a.txt"
command = "true"
"#,
        )
        .args(&["validate", "plan.toml"])
        .status(1);
    // (The builder does not set it; the test process must not have it either.)
    assert!(std::env::var_os("CUTTER_TEST_UNSET_X").is_none());
    let err = unwrapped(&run.stderr);
    assert_says(
        &err,
        "environment variable `CUTTER_TEST_UNSET_X` is not set",
    );
    assert_points_at(
        &err,
        5,
        r#"path = "/tmp/{{ env.CUTTER_TEST_UNSET_X }}/a.txt""#,
        "environment variable `CUTTER_TEST_UNSET_X` is not set",
    );
}

#[test]
fn set_environment_variable_is_used() {
    Test::new()
        .plan(
            r#"[hosts.local]
local = true

[artefacts.a]
path = "/tmp/{{ env.CUTTER_TEST_SET_X }}/a.txt"
command = "true"
"#,
        )
        .env("CUTTER_TEST_SET_X", "backups")
        .args(&["validate", "plan.toml"])
        .status(0);
}

#[test]
fn host_with_neither_local_nor_ssh() {
    let err = invalid(
        r#"[hosts.local]

[artefacts.a]
path = "/tmp/a"
command = "true"
"#,
    );
    assert_says(
        &err,
        "host `local` says neither `local = true` nor `ssh = \"alias\"`",
    );
    assert_points_at(&err, 1, "[hosts.local]", "declared here");
    // One mistake, one error: the artefact on the plan's only host is not
    // also told that it needs `host = "..."`.
    assert_says(&err, "plan.toml: the plan is invalid\n");
    assert_never_says(&err, "needs `host");
}

#[test]
fn host_with_both_local_and_ssh() {
    let err = invalid(
        r#"[hosts.local]
local = true
ssh = "nowhere"
"#,
    );
    assert_says(&err, "host `local` is both local and ssh");
    assert_points_at(&err, 2, "local = true", "local here");
    assert_points_at(&err, 3, r#"ssh = "nowhere""#, "ssh here");
}

#[test]
fn validate_a_missing_file() {
    let run = Test::new().args(&["validate", "missing.toml"]).status(1);
    assert_never_says(&run.stderr, "panicked");
    let err = unwrapped(&run.stderr);
    assert_says(&err, "cannot read `missing.toml`");
    assert_says(&err, "No such file or directory");
}

#[test]
fn validate_the_quickstart_plan() {
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/plans/quickstart.toml");
    let run = Test::new().args(&["validate", quickstart]).status(0);
    assert_says(&run.stderr, "Valid");
    assert_says(
        &run.stderr,
        "1 host(s), 3 artefact(s), 0 container(s), 0 check(s), 0 guard(s), 3 step(s)",
    );
}

#[test]
fn validate_a_copy_of_the_quickstart_plan() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plans/quickstart.toml"
    ))
    .unwrap();
    let run = Test::new()
        .plan(&text)
        .args(&["validate", "plan.toml"])
        .status(0);
    assert_says(&run.stderr, "Valid plan.toml");
}

#[test]
fn validate_contacts_no_host() {
    // `nowhere` resolves to nothing; validation must not try.
    let run = Test::new()
        .plan(
            r#"[hosts.db]
ssh = "nowhere.invalid"
connect_timeout = "1s"

[artefacts.dump]
path = "/srv/backups/dump_{{ timestamp }}.sql"
command = "echo dump"
max_age = "1d"
"#,
        )
        .args(&["validate", "plan.toml"])
        .status(0);
    assert_says(&run.stderr, "1 artefact(s)");
}

/// A persistent container whose name changes every day would leave
/// yesterday's copy running unmentioned: refused, saying why.
#[test]
fn persistent_container_with_a_dated_name() {
    let err = invalid(
        r#"[hosts.here]
local = true

[containers.copy]
name = "copy-{{ date }}"
image = "postgres:16"
lifecycle = "persistent"
"#,
    );
    assert_says(
        &err,
        "persistent container `copy` has a name that changes with the date",
    );
    assert_says(&err, "yesterday's");
    assert_points_at(
        &err,
        5,
        r#"name = "copy-{{ date }}""#,
        "`{{ date }}` or `{{ timestamp }}` here",
    );
}

/// A wrong value that came from a variable points at the variable too.
#[test]
fn a_wrong_value_points_at_the_variable_it_came_from() {
    let err = invalid(
        r#"[vars]
root = "backups"

[hosts.here]
local = true

[artefacts.a]
path = "{{ var.root }}/a.txt"
command = "echo a"
"#,
    );
    assert_says(&err, "artefact `a` needs an absolute path");
    assert_points_at(
        &err,
        2,
        r#"root = "backups""#,
        "`var.root` gets its value here",
    );
    assert_points_at(
        &err,
        8,
        r#"path = "{{ var.root }}/a.txt""#,
        "not absolute: `backups/a.txt`",
    );
}

/// Every plan in `tests/fixtures/invalid/` fails `cutter validate` with the
/// stderr in its snapshot (`tests/snapshots/invalid/`): the message, the
/// line shown and the label, exactly. A new case is a new file; review its
/// snapshot with `cargo insta review`.
#[test]
fn invalid_plan_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut fixtures: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 10,
        "fixtures missing in {}",
        dir.display()
    );
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let t = Test::new()
            .plan(&std::fs::read_to_string(&fixture).unwrap())
            .args(&["validate", "plan.toml"]);
        let run = t.status(1);
        assert_never_says(&run.stderr, "panicked");
        // The temporary folder is the only part that varies between runs.
        let mut stderr = run.stderr.clone();
        for dir in [
            std::fs::canonicalize(t.path()).unwrap(),
            t.path().to_path_buf(),
        ] {
            stderr = stderr.replace(&dir.display().to_string(), "[TMP]");
        }
        insta::with_settings!({
            snapshot_path => "snapshots/invalid",
            prepend_module_to_snapshot => false,
            description => format!("cutter validate tests/fixtures/invalid/{name}.toml"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, stderr);
        });
    }
}
