//! What a host sends back is parsed without panicking, whatever it is:
//! arbitrary bytes, and mutations of well-formed output (see
//! [`crate::fuzzing`]).

use proptest::prelude::*;

use super::*;
use crate::fuzzing::{config, edit, lossy, mutate, mutated};

const HASH_A: &str = "a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5";

const SUMS: &[u8] = b"a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5  a.dump\n\\b3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5  new\\nline\nC3F5C9D2E1B0A3F5C9D2E1B0A3F5C9D2E1B0A3F5C9D2E1B0A3F5C9D2E1B0A3F5 *b.dump\n";

const INSPECT: &[u8] = br#"{"Id":"0123abcd","Name":"/cutter-db","Image":"sha256:ff","RestartCount":0,"State":{"Status":"running","StartedAt":"2026-05-15T08:00:00Z"},"Config":{"Image":"postgres:16","Labels":{"cutter.managed":"true"}},"NetworkSettings":{"Networks":{"cutter-net":{}},"Ports":{"5432/tcp":[{"HostIp":"127.0.0.1","HostPort":"5433"}]}},"Mounts":[{"Type":"volume","Name":"cutter-vol"}]}
"#;

const VOLUMES: &[u8] =
    br#"[{"Name":"cutter-vol","Labels":{"cutter.managed":"true"}},{"Name":"x","Labels":null}]"#;

const NETWORKS: &[u8] =
    br#"[{"Name":"cutter-net","Driver":"bridge","Internal":true,"Labels":{"cutter.managed":"true"}}]"#;

const VERIFIED: &[u8] = b"1234 1795830561.123456789 42 1795830561.123456789 a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5c9d2e1b0a3f5 1795830562\n";

const MANIFEST: &[u8] = br#"{"cutter":"0.1.0","artefact":"a","path":"/srv/a.dump","taken_at":"2026-05-15T08:00:00Z","sha256":"a3f5","size":1234}
"#;

/// Well-formed probe output for [`plan`]: every kind of record, then the
/// small files' contents as `grep -H -Z` prints them.
fn probe_output() -> &'static [u8] {
    static OUT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let mut out = Vec::new();
        let mut rec = |fields: &[&[u8]]| {
            out.extend_from_slice(fields.len().to_string().as_bytes());
            out.push(0);
            for f in fields {
                out.extend_from_slice(f);
                out.push(0);
            }
        };
        let tag = |r: Record| r.tag().as_bytes();
        rec(&[tag(Record::Generation), b"abc123"]);
        rec(&[
            tag(Record::Machine),
            b"0123456789abcdef",
            br#""/var/lib/docker" "ABCD:EFGH""#,
        ]);
        rec(&[
            tag(Record::Lock),
            b"ops@box pid 12 plan p.toml since 2026-05-15T08:00:00Z",
        ]);
        rec(&[tag(Record::Artefact), b"0", b"2", b"/srv/a.dump"]);
        rec(&[tag(Record::Sums), b"/srv", b"/srv/SHA256SUMS"]);
        rec(&[
            tag(Record::Evidence),
            b"0",
            b"cutter.json",
            b"/srv/a.dump.cutter.json",
        ]);
        rec(&[tag(Record::Verified), b"0", b"/srv/.a.dump.cutter-verified"]);
        rec(&[tag(Record::Match), b"0", b"/srv/a.dump", b"1"]);
        rec(&[tag(Record::Artefact), b"1", b"0"]);
        rec(&[
            tag(Record::Stat),
            b"1234 1795830561.123456789 42 1795830561.123456789 /srv/a.dump",
        ]);
        rec(&[tag(Record::Docker), b"containers", b"0", INSPECT]);
        rec(&[tag(Record::Docker), b"volumes", b"0", VOLUMES]);
        rec(&[tag(Record::Docker), b"networks", b"0", NETWORKS]);
        rec(&[
            tag(Record::Failure),
            b"p-12345678.check.c.json",
            b"/h/.cutter/failures/f.json",
        ]);
        rec(&[tag(Record::Contents)]);
        for (path, text) in [
            ("/srv/SHA256SUMS", SUMS),
            ("/srv/a.dump.cutter.json", MANIFEST),
            ("/srv/.a.dump.cutter-verified", VERIFIED),
            (
                "/h/.cutter/failures/f.json",
                br#"{"failed_at":"2026-05-15T08:00:00Z","error":"x"}"#.as_slice(),
            ),
        ] {
            for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                out.extend_from_slice(path.as_bytes());
                out.push(0);
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        out
    })
}

fn plan() -> &'static Plan {
    static PLAN: std::sync::OnceLock<Plan> = std::sync::OnceLock::new();
    PLAN.get_or_init(|| {
        crate::plan::load_str(
            std::path::Path::new("plan.toml"),
            "[hosts.h]\nssh = \"h\"\n[artefacts.a]\npath = \"/srv/a.dump\"\ncommand = \"echo a\"\n[artefacts.b]\npath = \"/srv/b_{{ timestamp }}.dump\"\ncommand = \"echo b\"\nkeep = { last = 2 }\n",
            &|_| None,
        )
        .expect("plan")
    })
}

#[test]
fn the_well_formed_probe_output_reads_fully() {
    let state = parse(plan(), "h", probe_output()).expect("parses");
    let f = state.artefacts["a"].newest.as_ref().expect("newest");
    assert_eq!(f.recorded_sha256.as_deref(), Some(HASH_A));
    assert!(f.manifest.is_some(), "{:?}", f.unreadable);
    assert_eq!(f.sha256, HASH_A, "vouched for by the verification record");
    assert_eq!(
        state.docker.as_ref().unwrap().containers[0].name,
        "cutter-db"
    );
    assert_eq!(state.failures.len(), 1);
    assert_eq!(state.generation.as_deref(), Some("abc123"));
}

#[test]
fn sums_round_trip_odd_names() {
    let h = "a".repeat(64);
    for name in ["plain.dump", "with space", "new\nline", "back\\slash"] {
        let (escaped_name, escaped) = crate::host::sums_name(name);
        let line = format!("{}{h}  {escaped_name}\n", if escaped { "\\" } else { "" });
        assert_eq!(parse_sums(&line).hashes.get(name), Some(&h), "{name:?}");
    }
}

#[test]
fn sums_accept_binary_marker() {
    let h = "b".repeat(64);
    assert_eq!(
        parse_sums(&format!("{h} *x.dump\n")).hashes.get("x.dump"),
        Some(&h)
    );
}

#[test]
fn a_character_across_byte_64_is_not_a_checksum_line() {
    let line = format!("{}é  x.dump\n{HASH_A}  y.dump\n", "a".repeat(63));
    let sums = parse_sums(&line);
    assert_eq!(sums.hashes.len(), 1);
    assert_eq!(sums.hashes.get("y.dump").map(String::as_str), Some(HASH_A));
}

#[test]
fn lines_that_disagree_are_a_conflict_and_repeats_are_not() {
    let other = "b".repeat(64);
    let text = format!("{other}  x.dump\n{HASH_A}  x.dump\n{HASH_A}  y.dump\n{HASH_A}  y.dump\n");
    let sums = parse_sums(&text);
    assert_eq!(sums.conflicts.len(), 1);
    assert_eq!(sums.conflicts["x.dump"], vec![other, HASH_A.to_string()]);
}

#[test]
fn a_truncated_manifest_is_unreadable_not_absent() {
    let mut out = probe_output().to_vec();
    let full = std::str::from_utf8(MANIFEST).unwrap().trim_end();
    let at = out
        .windows(full.len())
        .position(|w| w == full.as_bytes())
        .unwrap();
    out.drain(at + 20..at + full.len());
    let state = parse(plan(), "h", &out).expect("parses");
    let f = state.artefacts["a"].newest.as_ref().unwrap();
    assert!(f.manifest.is_none());
    assert!(f.unreadable["cutter.json"].contains("not valid JSON"));
}

#[test]
fn a_record_with_no_fields_is_an_error() {
    assert!(parse(plan(), "h", b"0\0").is_err());
}

#[test]
fn times_out_of_range_are_not_times() {
    assert_eq!(nanos("1.5"), Some(1_500_000_000));
    assert_eq!(nanos("99999999999999999999999999999999999999"), None);
    assert_eq!(nanos("1.é"), None);
    assert_eq!(nanos("1."), None);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn probe_output_of_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(plan(), "h", &bytes);
    }

    #[test]
    fn probe_output_mutated(bytes in mutated_probe()) {
        let _ = parse(plan(), "h", &bytes);
    }

    #[test]
    fn contents_of_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = split_contents(&bytes);
    }

    #[test]
    fn sums_of_any_text(text in any::<String>()) {
        let _ = parse_sums(&text);
    }

    #[test]
    fn sums_mutated(bytes in mutated(SUMS)) {
        let sums = parse_sums(&lossy(&bytes));
        for h in sums.hashes.values() {
            prop_assert_eq!(h.len(), 64);
        }
    }

    #[test]
    fn sum_names_of_any_text(text in any::<String>()) {
        let _ = unescape_sum_name(&text);
    }

    #[test]
    fn verification_records_of_any_text(text in any::<String>()) {
        let _ = Verified::parse(&text);
    }

    #[test]
    fn verification_records_mutated(bytes in mutated(VERIFIED)) {
        let _ = Verified::parse(&lossy(&bytes));
    }

    #[test]
    fn stat_fields_of_any_text(a in any::<String>(), b in any::<String>(), c in any::<String>(), d in any::<String>()) {
        let _ = Meta::parse(&a, &b, &c, &d);
        let _ = nanos(&b);
    }

    #[test]
    fn records_of_any_text(text in any::<String>()) {
        let _ = read_record(&text);
    }

    #[test]
    fn manifests_mutated(bytes in mutated(MANIFEST)) {
        let _ = read_record(&lossy(&bytes));
    }

    #[test]
    fn inspect_of_any_text(text in any::<String>()) {
        let _ = parse_inspect(&text);
        let _ = parse_volumes(&text);
        let _ = parse_networks(&text);
    }

    #[test]
    fn inspect_mutated(c in mutated(INSPECT), v in mutated(VOLUMES), n in mutated(NETWORKS)) {
        let _ = parse_inspect(&lossy(&c));
        let _ = parse_volumes(&lossy(&v));
        let _ = parse_networks(&lossy(&n));
    }
}

fn mutated_probe() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(edit(), 1..6).prop_map(|edits| mutate(probe_output(), &edits))
}
