//! What a host sends back, however odd, is read without a panic and
//! reported as it is (issue 18, items 8 and 9): a `SHA256SUMS` line with a
//! multi-byte character across byte 64, lines that disagree about one file,
//! a manifest cut short, files dated in the future.

use crate::diagnostics::{assert_never_says, assert_says};
use crate::local::Site;

/// One artefact at a fixed path.
const ONE: &str = r#"
[hosts.local]
local = true

[artefacts.alpha]
path = "{out}/alpha.txt"
command = "echo alpha"
"#;

fn sums(site: &Site) -> String {
    site.read("SHA256SUMS")
}

fn write_sums(site: &Site, text: &str) {
    std::fs::write(site.file("SHA256SUMS"), text).unwrap();
}

#[test]
fn a_sums_line_with_a_character_across_byte_64_is_skipped_without_a_panic() {
    let site = Site::new(ONE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    // `é` takes bytes 63 and 64.
    write_sums(
        &site,
        &format!("{}{}é  other.txt\n", sums(&site), "a".repeat(63)),
    );
    for args in [
        &["plan", "plan.toml"][..],
        &["drift", "plan.toml"],
        &["status", "plan.toml"],
        &["apply", "plan.toml", "--yes"],
    ] {
        let run = site.cutter(0, args);
        assert_never_says(&run.stderr, "panicked");
    }
    let run = site.cutter(0, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "In sync");
}

#[test]
fn conflicting_sums_lines_for_one_file_are_drift_and_apply_repairs_them() {
    let site = Site::new(ONE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let right = sums(&site);
    let wrong = format!("{}  alpha.txt\n", "0".repeat(64));
    // The wrong line first: the last line (the one read so far) is right.
    write_sums(&site, &format!("{wrong}{right}"));
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(site.out())
        .output()
        .unwrap();
    assert!(
        !check.status.success(),
        "sha256sum -c passes with the conflict"
    );

    let run = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "Drift artefact.alpha: conflicting");
    let run = site.cutter(0, &["plan", "plan.toml"]);
    assert_says(&run.stdout, "replace  artefact.alpha");
    assert_says(&run.stdout, "SHA256SUMS has 2 different lines for");
    assert_says(&run.stdout, "000000000000");

    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    site.assert_checksums_pass();
    assert_eq!(sums(&site).lines().count(), 1, "{}", sums(&site));
    let run = site.cutter(0, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "In sync");
}

#[test]
fn a_truncated_manifest_is_reported_unreadable_not_as_a_file_cutter_did_not_make() {
    let site = Site::new(ONE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let manifest = site.file("alpha.txt.cutter.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();

    let run = site.cutter(2, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "Drift artefact.alpha: unreadable manifest");
    let run = site.cutter(0, &["plan", "plan.toml"]);
    assert_says(&run.stdout, "replace  artefact.alpha");
    assert_says(&run.stdout, "alpha.txt.cutter.json` cannot be read");
    assert_never_says(&run.stdout, "not made by cutter");
    assert_never_says(&run.stdout, "did not make");

    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["artefact"], "alpha");
    let run = site.cutter(0, &["drift", "plan.toml"]);
    assert_says(&run.stderr, "In sync");
}

/// A timestamped artefact that must be at most an hour old, keeping two.
const HOURLY_KEEP: &str = r#"
[hosts.local]
local = true

[artefacts.snapshot]
path = "{out}/snapshot_{{ timestamp }}.txt"
command = "echo snapshot"
max_age = "60m"
keep = { last = 2 }
"#;

/// 30 days after the morning most tests run at.
const FUTURE: &str = "2026-06-14T08:00:00Z";

#[test]
fn an_artefact_dated_in_the_future_is_not_fresh_and_the_plan_warns_with_both_times() {
    let site = Site::new(HOURLY_KEEP);
    // Made by a run whose clock was 30 days ahead.
    site.cutter_at(FUTURE, 0, &["apply", "plan.toml", "--yes"]);
    assert!(site.file("snapshot_20260614T080000Z.txt").is_file());

    let run = site.cutter(2, &["plan", "plan.toml", "--detailed-exitcode"]);
    assert_says(&run.stdout, "replace  artefact.snapshot");
    assert_says(&run.stdout, "dated in the future");
    assert_says(&run.stderr, "warning");
    assert_says(
        &run.stderr,
        "is dated 2026-06-14T08:00:00Z, but now is 2026-05-15T08:00:00Z",
    );
    site.cutter(2, &["drift", "plan.toml"]);

    // The evidence report does not call it fresh either.
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    assert!(site.file("snapshot_20260515T080000Z.txt").is_file());
    let report = std::fs::read_dir(site.dir().join("cutter-reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .max()
        .expect("a JSON report");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let a = &r["hosts"][0]["artefacts"][0];
    assert_eq!(a["taken_at_utc"], FUTURE, "{a}");
    assert_eq!(a["fresh"], false, "{a}");

    // Within the skew it is not in the future.
    let run = site.cutter_at(
        "2026-06-14T07:57:00Z",
        0,
        &["plan", "plan.toml", "--detailed-exitcode"],
    );
    assert_never_says(&run.stdout, "dated in the future");
    assert_never_says(&run.stderr, "is dated");
}

#[test]
fn retention_never_keeps_a_future_dated_file_in_place_of_a_real_one() {
    let site = Site::new(HOURLY_KEEP);
    site.cutter_at(FUTURE, 0, &["apply", "plan.toml", "--yes"]);
    for now in [
        "2026-05-15T08:00:00Z",
        "2026-05-15T09:30:00Z",
        "2026-05-15T11:00:00Z",
    ] {
        site.cutter_at(now, 0, &["apply", "plan.toml", "--yes"]);
    }
    let files: Vec<String> = site
        .listing()
        .into_iter()
        .filter(|n| n.starts_with("snapshot_") && n.ends_with(".txt"))
        .collect();
    // The two newest real files are kept; the future one is neither kept
    // in their place nor deleted.
    assert_eq!(
        files,
        [
            "snapshot_20260515T093000Z.txt",
            "snapshot_20260515T110000Z.txt",
            "snapshot_20260614T080000Z.txt",
        ]
    );
    site.assert_checksums_pass();
}

#[test]
fn a_fixed_file_modified_in_the_future_is_not_fresh() {
    let site = Site::new(ONE);
    site.cutter(0, &["apply", "plan.toml", "--yes"]);
    let ahead = chrono::Utc::now() + chrono::Duration::days(30);
    let status = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("@{}", ahead.timestamp()))
        .arg(site.file("alpha.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = site.cutter(0, &["plan", "plan.toml"]);
    assert_says(&run.stdout, "replace  artefact.alpha");
    assert_says(&run.stdout, "dated in the future");
    assert_says(
        &run.stderr,
        &format!(
            "is dated {}",
            ahead.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    );
}
