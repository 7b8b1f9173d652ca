//! The evidence report for an auditor: signed, kept on the host, verifiable
//! later without trusting the machine it sits on.

use crate::test::Test;

#[test]
fn a_signed_report_is_kept_on_the_host_and_verifies() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    let key = dir.join("signer");
    let made = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "auditor@example",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(dir.join("signer.pub")).unwrap();
    std::fs::write(dir.join("allowed_signers"), format!("ops@example {public}")).unwrap();
    let out = dir.join("out");
    let t = t
        .plan(&format!(
            "[hosts.here]\nlocal = true\n[artefacts.a]\npath = \"{}/a.txt\"\ncommand = \"echo a\"\nmax_age = \"1h\"\n",
            out.display()
        ))
        .env("HOME", &dir.display().to_string())
        .args(&[
            "apply",
            "--yes",
            "plan.toml",
            "--sign-key",
            key.to_str().unwrap(),
        ]);
    let r = t.status(0);
    assert!(r.stderr.contains("Signed"), "{}", r.stderr);
    let reports: Vec<_> = std::fs::read_dir(dir.join("cutter-reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    let report = &reports[0];
    let text = std::fs::read_to_string(report).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["operator"].as_str().unwrap().contains(" pid "), "{v:#}");
    assert_eq!(v["hosts"][0]["artefacts"][0]["fresh"], true, "{v:#}");
    assert!(
        v["hosts"][0]["identity"]
            .as_str()
            .unwrap()
            .starts_with("local machine")
    );
    // a copy and its signature beside the artefact, on the host
    let copy = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("cutter-report-") && n.ends_with(".json"))
        .expect("no copy of the report beside the artefact");
    assert_eq!(std::fs::read_to_string(out.join(&copy)).unwrap(), text);
    assert!(out.join(format!("{copy}.sig")).exists());
    // the folder stays verifiable
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success());

    let allowed = dir.join("allowed_signers");
    let verify = |file: &std::path::Path| {
        Test::new()
            .args(&[
                "report",
                file.to_str().unwrap(),
                "--verify",
                allowed.to_str().unwrap(),
            ])
            .run()
    };
    let ok = verify(&out.join(&copy));
    assert_eq!(ok.status, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.contains("signed by `ops@example`"),
        "{}",
        ok.stderr
    );
    // a changed report no longer verifies
    std::fs::write(out.join(&copy), text.replace("applied", "APPLIED")).unwrap();
    let bad = verify(&out.join(&copy));
    assert_eq!(bad.status, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("does not verify"), "{}", bad.stderr);
}
