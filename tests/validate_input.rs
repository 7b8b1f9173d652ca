//! Bad input is refused at validate, with a diagnostic (issue 18, item 10):
//! control characters in names, file names the host would refuse once
//! cutter derives its own names from them, documents of a newer format, and
//! dependency cycles of any size, reported in time linear in the plan.

use crate::diagnostics::{assert_never_says, assert_points_at, assert_says, invalid, unwrapped};
use crate::local::Site;
use crate::test::Test;

/// No control character of the plan reaches the output raw.
#[track_caller]
fn assert_no_controls(output: &str) {
    assert!(
        !output
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "a raw control character in\n{output:?}"
    );
}

#[test]
fn control_characters_in_names_are_refused_and_shown_escaped() {
    let plan = r#"[vars]
"v\u0001" = "x"

[hosts."lo\u001b[2Jcal"]
local = true

[hosts.other]
local = true

[hosts.other.protected]
labels = ["com.example\u0007=true"]

[artefacts."a\u0007b"]
host = "other"
path = "/srv/a.txt"
command = "echo"

[artefacts.c]
host = "lo\u001b[2Jcal"
path = "/srv/c.txt"
command = "echo"
"#;
    let err = invalid(plan);
    assert_no_controls(&err);
    assert_says(
        &err,
        "host name `lo\\u{1b}[2Jcal` contains a control character",
    );
    assert_points_at(&err, 4, "[hosts.\"lo\\u001b[2Jcal\"]", "`\\u{1b}` here");
    assert_says(&err, "variable name `v\\u{1}` contains a control character");
    assert_says(
        &err,
        "protected label `com.example\\u{7}=true` contains a control character",
    );
    assert_says(&err, "invalid name `a\\u{7}b`");

    // Nothing else shows them raw either: not the Markdown plan.
    let run = Test::new()
        .plan(plan)
        .args(&["plan", "plan.toml", "--format", "markdown"])
        .status(1);
    assert_no_controls(&run.stdout);
    assert_no_controls(&run.stderr);
}

#[test]
fn a_file_name_with_no_room_for_cutters_own_names_is_refused_at_validate() {
    let name = format!("{}.txt", "x".repeat(236));
    let err = invalid(&format!(
        "[hosts.local]\nlocal = true\n\n[artefacts.long]\npath = \"/srv/{name}\"\ncommand = \"echo\"\n"
    ));
    assert_says(
        &err,
        "artefact `long` has a file name of 240 bytes: the host takes at most 255, and cutter's files beside it need up to 72 more",
    );
    assert_says(&err, "at most 183 bytes here");

    // A timestamp counts at its rendered width (16 bytes).
    let err = invalid(&format!(
        "[hosts.local]\nlocal = true\n\n[artefacts.long]\npath = \"/srv/{}_{{{{ timestamp }}}}\"\ncommand = \"echo\"\n",
        "x".repeat(170)
    ));
    assert_says(&err, "has a file name of 187 bytes");

    // An evidence file beside it needs room too.
    let err = invalid(&format!(
        "[hosts.local]\nlocal = true\n\n[artefacts.dump]\npath = \"/srv/{}.dump\"\ncontainer = \"postgres\"\npg_dump = {{ database = \"app\" }}\n\n[hosts.local.protected]\ncontainers = [\"postgres\"]\n\n[containers.{}]\nimage = \"postgres:16\"\nlifecycle = \"ephemeral\"\nrestore = {{ artefact = \"dump\", command = \"pg_restore -d app\" }}\n",
        "x".repeat(150),
        "t".repeat(40)
    ));
    assert_says(&err, "the restore test of container `tttt");
    assert_says(&err, ".restore-test.tttt");
}

#[test]
fn the_longest_file_name_validate_accepts_is_made_replaced_and_quarantined() {
    let name = format!("{}.txt", "x".repeat(179));
    assert_eq!(name.len(), 183);
    let site = Site::new(&format!(
        "[hosts.local]\nlocal = true\n\n[artefacts.long]\npath = \"{{out}}/{name}\"\ncommand = \"echo long\"\n"
    ));
    site.cutter(0, &["validate", "plan.toml"]);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    // Corrupted: the next apply moves it aside under a quarantine name.
    std::fs::write(site.file(&name), "LONG\n").unwrap();
    let run = site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert_never_says(&run.stderr, "File name too long");
    assert_eq!(site.read(&name), "long\n");
    assert!(
        site.listing()
            .iter()
            .any(|n| n.starts_with(".cutter-quarantine.") && n.ends_with(".cutter-verified")),
        "{:?}",
        site.listing()
    );
    site.assert_checksums_pass();
}

/// A local plan applied once, with its report's JSON file.
fn applied() -> (Site, std::path::PathBuf) {
    let site = Site::new(
        "[hosts.local]\nlocal = true\n\n[artefacts.a]\npath = \"{out}/a.txt\"\ncommand = \"echo a\"\n",
    );
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let json = std::fs::read_dir(site.dir().join("cutter-reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    (site, json)
}

/// Rewrite a JSON file with `format_version` set to `version`.
fn set_format_version(path: &std::path::Path, version: u64) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["format_version"] = version.into();
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn a_report_of_a_newer_format_is_refused() {
    let (site, json) = applied();
    let path = json.to_str().unwrap();
    site.cutter(0, &["report", path]);
    set_format_version(&json, 99);
    let run = site.cutter(1, &["report", path]);
    assert_says(
        &unwrapped(&run.stderr),
        "is a cutter report of format_version 99, newer than this cutter reads (1)",
    );
    assert_says(&run.stderr, "cutter::report_format");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn a_saved_plan_of_a_newer_format_is_refused_before_it_is_read() {
    let (site, _) = applied();
    site.cutter(0, &["plan", "plan.toml", "-o", "saved.json"]);
    let saved = site.dir().join("saved.json");
    // A newer format may rename what this one reads.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let hosts = v["hosts"].take();
    v["machines"] = hosts;
    v.as_object_mut().unwrap().remove("hosts");
    std::fs::write(&saved, serde_json::to_string(&v).unwrap()).unwrap();
    set_format_version(&saved, 99);
    let run = site.cutter(1, &["apply", "saved.json", "--yes"]);
    assert_says(
        &unwrapped(&run.stderr),
        "is a saved plan of format_version 99, newer than this cutter reads (1)",
    );
}

#[test]
fn a_dependency_cycle_of_thousands_is_reported_with_its_size_and_first_members() {
    let n = 5000;
    let mut plan = String::from("[hosts.l]\nlocal = true\n");
    for i in 0..n {
        plan.push_str(&format!(
            "[artefacts.a{i}]\npath = \"/o/a{i}\"\ncommand = \"e\"\nafter = [\"a{}\"]\n",
            (i + 1) % n
        ));
    }
    let err = invalid(&plan);
    assert_says(
        &err,
        "dependency cycle of 5000 resources: `a0` → `a4999` → `a4998`",
    );
    assert_says(&err, "… 4988 more → `a0`");
    assert_eq!(err.matches("╰── `").count(), 12, "{err}");
    assert_says(
        &err,
        "break the cycle by removing one of its 5000 dependencies",
    );
}

#[test]
fn a_report_with_odd_ids_and_control_characters_renders_escaped_without_a_panic() {
    let (site, json) = applied();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    v["hosts"][0]["containers"] = serde_json::json!([{
        "name": "copy\u{1b}[2J",
        "docker_name": "copy",
        "lifecycle": "persistent",
        "state": "running",
        // A multi-byte character across byte 12.
        "id": "0123456789aé€😀",
        "image": "postgres:16",
        "volume_present": true,
        "networks": [],
        "published_ports": []
    }]);
    std::fs::write(&json, serde_json::to_string(&v).unwrap()).unwrap();
    let run = site.cutter(0, &["report", json.to_str().unwrap()]);
    assert_says(&run.stdout, "0123456789aé");
    assert_says(&run.stdout, "copy\\u{1b}[2J");
    assert_no_controls(&run.stdout);
}
