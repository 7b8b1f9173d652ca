//! What a plan takes from outside: `--var`, `--var-file`, `--target`, and
//! that validating a plan never needs a secret.

use crate::diagnostics::{assert_never_says, assert_says};
use crate::local::Site;

/// `out` defaults to a folder no test may write; runs point it elsewhere.
const VARS: &str = r#"
[vars]
out = "/nonexistent/cutter-default"
name = "from-plan"

[hosts.here]
local = true

[artefacts.note]
path = "{{ var.out }}/{{ var.name }}.txt"
command = "echo note"
"#;

#[test]
fn var_overrides_a_declared_variable() {
    let site = Site::new(VARS);
    let out = site.out().display().to_string();
    let run = site.cutter(0, &["plan", "plan.toml", "--var", &format!("out={out}")]);
    assert_says(&run.stdout, &format!("writes   `{out}/from-plan.txt`"));
    site.cutter(
        0,
        &[
            "apply",
            "plan.toml",
            "--yes",
            "--var",
            &format!("out={out}"),
            "--var",
            "name=set",
        ],
    );
    assert_eq!(site.read("set.txt"), "note\n");
    site.cutter(
        0,
        &[
            "drift",
            "plan.toml",
            "--var",
            &format!("out={out}"),
            "--var=name=set",
        ],
    );
    // Without the override the plan looks elsewhere: drift.
    site.cutter(2, &["drift", "plan.toml", "--var", &format!("out={out}")]);
}

#[test]
fn var_file_sets_variables_and_var_wins_over_it() {
    let site = Site::new(VARS);
    let out = site.out().display().to_string();
    std::fs::write(
        site.dir().join("site.toml"),
        format!("out = \"{out}\"\nname = \"from-file\"\n"),
    )
    .unwrap();
    std::fs::write(site.dir().join("later.toml"), "name = \"later-file\"\n").unwrap();
    let run = site.cutter(0, &["plan", "plan.toml", "--var-file", "site.toml"]);
    assert_says(&run.stdout, &format!("writes   `{out}/from-file.txt`"));
    let run = site.cutter(
        0,
        &[
            "plan",
            "plan.toml",
            "--var-file",
            "site.toml",
            "--var-file",
            "later.toml",
        ],
    );
    assert_says(&run.stdout, &format!("writes   `{out}/later-file.txt`"));
    let run = site.cutter(
        0,
        &[
            "plan",
            "plan.toml",
            "--var",
            "name=flag",
            "--var-file",
            "site.toml",
        ],
    );
    assert_says(&run.stdout, &format!("writes   `{out}/flag.txt`"));
    let graph = site.cutter(0, &["graph", "plan.toml", "--var-file", "site.toml"]);
    assert_says(&graph.stdout, "artefact.note");
}

/// An override is literal, and replaces the declared value before it is
/// read: a variable taken from an unset environment variable is fine once
/// it is set on the command line.
#[test]
fn an_overridden_variable_does_not_read_the_environment() {
    let site = Site::new(
        "[vars]\nout = \"{{ env.CUTTER_TEST_UNSET_ROOT }}\"\n[hosts.here]\nlocal = true\n\
         [artefacts.note]\npath = \"{{ var.out }}/note.txt\"\ncommand = \"echo note\"\n",
    );
    let run = site.cutter(1, &["validate", "plan.toml"]);
    assert_says(
        &run.stderr,
        "environment variable `CUTTER_TEST_UNSET_ROOT` is not set",
    );
    let out = site.out().display().to_string();
    site.cutter(
        0,
        &["validate", "plan.toml", "--var", &format!("out={out}")],
    );
}

#[test]
fn an_unknown_var_is_refused_naming_the_declared_ones() {
    let site = Site::new(VARS);
    let run = site.cutter(1, &["validate", "plan.toml", "--var", "ot=/tmp/x"]);
    assert_says(&run.stderr, "unknown variable `ot` set with `--var`");
    assert_says(&run.stderr, "did you mean `out`?");
    assert_says(&run.stderr, "declares `out`, `name`");
    let run = site.cutter(1, &["validate", "plan.toml", "--var", "zzz=1"]);
    assert_never_says(&run.stderr, "did you mean");
    let run = site.cutter(1, &["validate", "plan.toml", "--var", "no-equals-sign"]);
    assert_says(&run.stderr, "expected NAME=VALUE");
}

/// One variable file may serve several plans: what a plan does not declare
/// is reported and ignored.
#[test]
fn a_var_file_entry_the_plan_does_not_declare_is_a_warning() {
    let site = Site::new(VARS);
    std::fs::write(
        site.dir().join("site.toml"),
        "name = \"x\"\nelsewhere = \"y\"\n",
    )
    .unwrap();
    let run = site.cutter(0, &["validate", "plan.toml", "--var-file", "site.toml"]);
    assert_says(
        &run.stderr,
        "variable `elsewhere` from `--var-file site.toml` is not declared",
    );
}

#[test]
fn a_var_file_must_be_a_table_of_strings() {
    let site = Site::new(VARS);
    std::fs::write(site.dir().join("bad.toml"), "name = \"ok\"\nout = 3\n").unwrap();
    let run = site.cutter(1, &["validate", "plan.toml", "--var-file", "bad.toml"]);
    assert_says(&run.stderr, "variable `out` in `bad.toml` must be a string");
    assert_says(&run.stderr, "bad.toml:2:7");
    std::fs::write(site.dir().join("broken.toml"), "name = \n").unwrap();
    let run = site.cutter(1, &["validate", "plan.toml", "--var-file", "broken.toml"]);
    assert_says(&run.stderr, "is not a TOML file of variables");
    let run = site.cutter(1, &["validate", "plan.toml", "--var-file", "absent.toml"]);
    assert_says(&run.stderr, "cannot read `absent.toml`");
    assert_never_says(&run.stderr, "panicked");
}

/// A saved plan records the variables it was made with and applies with
/// them; new values need a new plan.
#[test]
fn a_saved_plan_applies_with_its_variables() {
    let site = Site::new(VARS);
    let out = site.out().display().to_string();
    site.cutter(
        0,
        &[
            "plan",
            "plan.toml",
            "--var",
            &format!("out={out}"),
            "--var",
            "name=saved",
            "-o",
            "plan.json",
        ],
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site.dir().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(saved["vars"]["name"], "saved");
    let run = site.cutter(1, &["apply", "plan.json", "--yes", "--var", "name=other"]);
    assert_says(
        &run.stderr,
        "a saved plan applies with the variables it was planned with",
    );
    site.cutter(0, &["apply", "plan.json", "--yes"]);
    assert_eq!(site.read("saved.txt"), "note\n");
}

/// Secrets are read when the apply needs them, never to validate or graph.
#[test]
fn validate_needs_no_secret() {
    let site = Site::new(
        r#"
[hosts.here]
local = true

[artefacts.backup]
path = "{out}/backup.txt"
command = "echo backup"

[containers.restore_test]
image = "postgres:16"
lifecycle = "ephemeral"
secrets = { POSTGRES_PASSWORD = { env = "CUTTER_TEST_NEVER_SET_PASSWORD" }, OTHER = { file = "/nonexistent/secret" } }
restore = { artefact = "backup", command = "cat" }
"#,
    );
    let run = site.cutter(0, &["validate", "plan.toml"]);
    assert_says(&run.stderr, "Valid");
    site.cutter(0, &["graph", "plan.toml"]);
}

/// A host that refuses connections at once (a closed port on loopback).
fn unreachable_site() -> Site {
    let site = Site::new(
        "[hosts.far]\nssh = \"far\"\nssh_config = \"{out}/../ssh_config\"\nconnect_timeout = \"5s\"\n\
         [artefacts.alpha]\npath = \"/tmp/alpha.txt\"\ncommand = \"echo a\"\n\
         [artefacts.beta]\npath = \"/tmp/beta.txt\"\ncommand = \"echo b\"\nafter = [\"alpha\"]\n",
    );
    std::fs::write(
        site.dir().join("ssh_config"),
        "Host far\n  HostName 127.0.0.1\n  Port 1\n  BatchMode yes\n",
    )
    .unwrap();
    site
}

#[test]
fn an_unknown_target_is_refused_before_any_host_is_contacted() {
    let site = unreachable_site();
    // Without a target, the host is contacted (and fails): the check below is meaningful.
    let run = site.cutter(1, &["plan", "plan.toml"]);
    assert_never_says(&run.stderr, "unknown target");
    for args in [
        &["plan", "plan.toml", "--target", "gamma"][..],
        &["apply", "plan.toml", "--yes", "--target", "gamma"][..],
    ] {
        let run = site.cutter(1, args);
        assert_says(&run.stderr, "unknown target `gamma`");
        assert_says(&run.stderr, "valid targets: `alpha`, `beta`");
        assert_never_says(&run.stderr, "Observed");
        assert_never_says(&run.stderr, "far");
        assert_never_says(&run.stderr, "did you mean");
    }
    let run = site.cutter(1, &["plan", "plan.toml", "--target", "alpah"]);
    assert_says(&run.stderr, "did you mean `alpha`?");
}

/// A usage error exits 1 like any bad input, not 2 ("drift").
#[test]
fn a_usage_error_exits_1() {
    let site = Site::new(VARS);
    let run = site.cutter(1, &["drift", "plan.toml", "--no-such-flag"]);
    assert_says(&run.stderr, "--no-such-flag");
    site.cutter(0, &["--version"]);
}
