//! Honest claims: a free-form command in the shell of a host with protected
//! resources is arbitrary shell that no one can prove leaves production
//! alone. `validate` refuses it by default; with `free_form = "allow"` it
//! runs, and plan and report say "production untouched" is not provable,
//! naming the steps. Each case has its unprotected twin, where the same
//! command runs and nothing is claimed about production (there is none).

use crate::diagnostics::{assert_never_says, assert_says, unwrapped};
use crate::local::Site;
use crate::stack::StackTest;
use crate::test::Test;

/// The same artefact on a host with or without protected resources, and
/// with an optional `free_form` line.
fn plan(protected: bool, free_form: Option<&str>) -> String {
    let mut s = String::from("[hosts.here]\nlocal = true\n");
    if let Some(f) = free_form {
        s.push_str(&format!("free_form = \"{f}\"\n"));
    }
    if protected {
        s.push_str(
            "[hosts.here.protected]\npaths = [\"{out}/prod\"]\ncontainers = [\"postgres\"]\n",
        );
    }
    s.push_str(
        "[artefacts.notes]\npath = \"{out}/notes.txt\"\ncommand = \"echo notes\"\nverify = \"grep -q notes\"\n",
    );
    s
}

fn validate(plan: &str) -> (i32, String) {
    let site = Site::new(plan);
    let r = site.run("2026-05-15T08:00:00Z", &["validate", "plan.toml"]);
    (r.status, unwrapped(&r.stderr))
}

#[test]
fn free_form_host_commands_are_refused_by_default_where_something_is_protected() {
    let (status, err) = validate(&plan(true, None));
    assert_eq!(status, 1, "{err}");
    assert_says(
        &err,
        "artefact `notes` runs a free-form command in the shell of host `here`, which cutter cannot prove leaves production alone",
    );
    // It points at the command, at the verify command and at what is protected.
    assert_says(&err, "command = \"echo notes\"");
    assert_says(&err, "`command`: arbitrary shell on host `here`");
    assert_says(&err, "`verify`: arbitrary shell on host `here`");
    assert_says(&err, "protected path `");
    assert_says(&err, "(and 1 more) on host `here`");
    // The help names the setting.
    assert_says(&err, "free_form = \"allow\"");
    assert_says(&err, "[hosts.here]");
    // The unprotected twin is valid as it is.
    let (status, err) = validate(&plan(false, None));
    assert_eq!(status, 0, "{err}");
}

#[test]
fn free_form_refuse_and_allow_are_explicit_settings() {
    // `refuse` on a host with nothing protected: refused, the setting labelled.
    let (status, err) = validate(&plan(false, Some("refuse")));
    assert_eq!(status, 1, "{err}");
    assert_says(&err, "free-form host commands refused here");
    assert_says(&err, "free_form = \"refuse\"");
    // `allow` where something is protected: valid.
    let (status, err) = validate(&plan(true, Some("allow")));
    assert_eq!(status, 0, "{err}");
    // Anything else is a diagnostic, not a panic.
    let (status, err) = validate(&plan(true, Some("sometimes")));
    assert_eq!(status, 1, "{err}");
    assert_says(&err, "unknown `free_form` value `sometimes`");
    assert_says(&err, "expected `refuse` or `allow`");
}

/// Commands inside a container this plan declares (restore tests, its own
/// copies) are not host shell: they stay valid on a protected host.
#[test]
fn commands_in_the_plans_own_containers_are_not_host_commands() {
    let r = Test::new()
        .plan(
            "[hosts.vps]\nssh = \"vps\"\n[hosts.vps.protected]\ncontainers = [\"postgres\"]\n\
             [containers.copy]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\nready = \"pg_isready\"\n\
             [artefacts.listing]\npath = \"/srv/backups/listing.txt\"\ncontainer = \"copy\"\ncommand = \"ls /\"\nverify = \"grep -q .\"\n",
        )
        .args(&["validate", "plan.toml"])
        .run();
    assert_eq!(r.status, 0, "{}", r.stderr);
}

/// With `allow`, the command runs, and the plan (text, markdown, JSON) and
/// the evidence report say production untouched is not provable, naming the
/// step; the unprotected twin runs the same command and claims nothing.
#[test]
fn allowed_free_form_host_commands_are_not_provable_in_plan_and_report() {
    let site = Site::new(&plan(true, Some("allow")));
    let text = site.cutter(0, &["plan", "plan.toml"]);
    assert_says(
        &text.stdout,
        "production untouched not provable: 1 free-form host command(s) on `here` (artefact.notes); no guard declared",
    );
    assert_never_says(&text.stdout, "production untouched (");
    let md = site.cutter(0, &["plan", "plan.toml", "--format", "markdown"]);
    assert_says(
        &md.stdout,
        "production untouched not provable: 1 free-form host command(s) on `here` (artefact.notes)",
    );
    assert_says(
        &md.stdout,
        "Production untouched is **not provable** here: free-form host command(s) in `artefact.notes`.",
    );
    let json = site.cutter(0, &["plan", "plan.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["summary"]["production_untouched"], false);
    assert_eq!(
        v["summary"]["not_provable"][0],
        "1 free-form host command(s) on `here` (artefact.notes); no guard declared"
    );
    assert_eq!(
        v["hosts"][0]["not_provable_steps"],
        serde_json::json!(["artefact.notes"])
    );

    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_eq!(site.read("notes.txt"), "notes\n");
    let (md, json) = report(&site);
    assert_says(
        &md,
        "## production\n\n- production untouched **not provable**: 1 free-form host command(s) on `here` (artefact.notes); no guard declared",
    );
    assert_eq!(
        json["not_provable"],
        serde_json::json!([
            "1 free-form host command(s) on `here` (artefact.notes); no guard declared"
        ])
    );
    assert_never_says(
        &md,
        "- nothing cutter did not create was stopped, removed or overwritten\n",
    );

    // The twin: nothing protected, the same command runs, nothing is
    // claimed about production and nothing is said to be unprovable.
    let twin = Site::new(&plan(false, None));
    let text = twin.cutter(0, &["plan", "plan.toml"]);
    assert_says(&text.stdout, "nothing declared protected");
    assert_never_says(&text.stdout, "not provable");
    twin.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_eq!(twin.read("notes.txt"), "notes\n");
    let (md, json) = report(&twin);
    assert_never_says(&md, "not provable");
    assert_eq!(json["not_provable"], serde_json::json!([]));
}

/// The newest report's Markdown and JSON.
fn report(site: &Site) -> (String, serde_json::Value) {
    let dir = site.dir().join("cutter-reports");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let md = files
        .iter()
        .rfind(|p| p.extension().is_some_and(|e| e == "md"));
    let json = files
        .iter()
        .rfind(|p| p.extension().is_some_and(|e| e == "json"));
    (
        std::fs::read_to_string(md.expect("a Markdown report")).unwrap(),
        serde_json::from_str(&std::fs::read_to_string(json.expect("a JSON report")).unwrap())
            .unwrap(),
    )
}

/// Over real SSH: the same host command runs on the unprotected twin; with
/// production declared protected, `apply` refuses the plan before any host
/// is contacted and the command never runs.
#[test]
fn stack_free_form_host_command_runs_on_the_twin_and_is_refused_beside_production() {
    let t = StackTest::new("claims");
    let marker = format!("{}/ran", t.remote_root);
    let body = format!(
        "[artefacts.notes]\npath = \"{{{{ env.CUTTER_BACKUP_ROOT }}}}/notes.txt\"\ncommand = \"touch {marker} && echo notes\"\n"
    );
    let host = "[hosts.vps]\nssh = \"{{ env.CUTTER_SSH_HOST }}\"\n";
    let protected = "[hosts.vps.protected]\ncontainers = [\"postgres\"]\n";

    t.plan(&format!("{host}{protected}{body}"));
    let r = t.expect(&["apply", "plan.toml", "--yes"], 1);
    assert_says(
        &unwrapped(&r.stderr),
        "runs a free-form command in the shell of host `vps`",
    );
    let ran = |what: &str| {
        crate::stack::stack()
            .ssh(&format!("test -e '{what}'"))
            .status
            .success()
    };
    assert!(!ran(&marker), "the refused command ran");

    t.plan(&format!("{host}{body}"));
    let r = t.expect(&["apply", "plan.toml", "--yes"], 0);
    assert_never_says(&r.stdout, "not provable");
    assert!(ran(&marker), "the twin's command did not run");
}

/// A second host entry for the same machine (`local = true` beside an SSH
/// alias to it) shares the first one's production: its free-form host
/// commands are refused by default too, once observation shows it is the
/// same machine; with `allow`, they are not provable.
#[test]
fn stack_free_form_host_command_on_a_second_name_for_a_protected_machine() {
    let t = StackTest::new("claims-twin");
    let out = t.local.path().join("out").display().to_string();
    let plan = |free_form: &str| {
        format!(
            "[hosts.prod]\nssh = \"{{{{ env.CUTTER_SSH_HOST }}}}\"\n[hosts.prod.protected]\ncontainers = [\"postgres\"]\n\
             [hosts.here]\nlocal = true\n{free_form}\n\
             [artefacts.notes]\nhost = \"here\"\npath = \"{out}/notes.txt\"\ncommand = \"echo notes\"\n\
             [guards.prod_untouched]\nhost = \"prod\"\nkind = \"protected-unchanged\"\n"
        )
    };
    t.plan(&plan(""));
    let r = t.expect(&["plan", "plan.toml"], 1);
    let err = unwrapped(&r.stderr);
    assert_says(
        &err,
        "artefact `notes` runs a free-form command in the shell of host `here`, the same machine as host `prod`",
    );
    assert_says(&err, "cutter::free_form");
    assert_says(&err, "on `[hosts.here]` to run it anyway");

    t.plan(&plan("free_form = \"allow\""));
    let r = t.expect(&["plan", "plan.toml"], 0);
    assert_says(
        &r.stdout,
        "production untouched not provable: 1 free-form host command(s) on `here` (artefact.notes); no guard declared",
    );
}
