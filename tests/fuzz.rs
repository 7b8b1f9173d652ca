//! Property tests over everything cutter parses (issue 10): plan files,
//! saved plans and reports. Whatever the input, loading and rendering it
//! returns (a plan, or diagnostics that render) and never panics.
//!
//! Inputs are mutations of real plans, saved plans and reports (bytes
//! inserted, deleted, replaced or duplicated, with a dictionary of tokens
//! that reach deep: templates, huge numbers, durations, Docker names,
//! cycles), plans assembled from random parts, and arbitrary text.
//!
//! A short run is part of the normal test suite (256 cases per property).
//! Run longer locally with, for example:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test lib fuzz
//! ```
//!
//! A failing case is shrunk and printed, and its seed saved under
//! `tests/proptest-regressions/` so that it is replayed first next time.
//! A hang shows as a property that does not finish: run it under
//! `timeout 30m` to catch one in CI.

use std::path::Path;
use std::sync::OnceLock;

use cutter::apply::script;
use cutter::graph::StepGraph;
use cutter::plan::{self, Plan};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::local::Site;

const QUICKSTART: &str = include_str!("../plans/quickstart.toml");
const HB: &str = include_str!("../plans/hb08-09.toml");

/// A plan with every kind of resource, protection and template.
const EVERYTHING: &str = r#"
[vars]
root = "/srv/backups"
twice = "{{ var.root }}{{ var.root }}"

[hosts.vps]
ssh = "prod"
free_form = "allow"
connect_timeout = "5s"
keepalive = "15s"

[hosts.vps.protected]
containers = ["postgres"]
labels = ["com.example.prod=true"]
volumes = ["pgdata"]
networks = ["prod_default"]
paths = ["/var/lib/docker"]

[artefacts.backup]
path = "{{ var.root }}/hb08_{{ date }}/full_{{ timestamp }}.dump"
container = "postgres"
pg_dump = { user = "app", database = "app", format = "custom", compress = 6 }
stderr = "pg_dump.stderr"
min_size = "1 KiB"
max_age = "60m"

[artefacts.counts]
path = "{{ var.root }}/rowcounts.txt"
container = "postgres"
query = { user = "app", database = "app", separator = "|", sql = "SELECT relname, n_live_tup FROM pg_stat_user_tables" }
after = ["backup"]

[artefacts.notes]
path = "{{ var.root }}/notes_{{ timestamp }}.txt"
command = "uname -a; df -h"
verify = "grep -q ."
max_age = "1h 30min"

[containers.restore_test]
image = "postgres:16"
lifecycle = "ephemeral"
env = { POSTGRES_USER = "app" }
secrets = { POSTGRES_PASSWORD = { env = "RESTORE_PW" } }
ready = "pg_isready -h 127.0.0.1 -U app"
restore = { artefact = "backup", command = "pg_restore -U app -d app", tolerated_errors = ['role "admin" does not exist'], ok_exit_codes = [0, 1] }

[containers.rehearsal]
name = "rehearsal"
image = "postgres:16"
lifecycle = "persistent"
network = "rehearsal-net"
volume = "rehearsal-data"
ports = ["127.0.0.1:5433:5432"]

[checks.tables]
container = "restore_test"
user = "app"
database = "app"
sql = "SELECT count(*) FROM information_schema.tables"
same_as = "postgres"

[checks.rows]
container = "restore_test"
rowcounts = { artefact = "counts", tables = ["public.users"] }

[checks.value]
container = "rehearsal"
sql = "SELECT 1"
expect = "1"

[guards.production_untouched]
kind = "protected-unchanged"

[guards.no_ddl]
kind = "schema-unchanged"
container = "postgres"
"#;

/// Tokens that take a mutated plan somewhere interesting.
const PLAN_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{ var.root }}",
    "{{ var.twice }}{{ var.twice }}",
    "{{ env.HOME }}",
    "{{ env.UNSET_X }}",
    "{{ date }}",
    "{{ timestamp }}",
    "{{ bogus }}",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "=",
    "\n",
    ",",
    "\\",
    "\\u00e9",
    "\\U0001F600",
    "é",
    "😀",
    "\u{0}",
    "\r\n",
    "#",
    "-1",
    "0",
    "255",
    "256",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "nan",
    "inf",
    "true",
    "\"60M\"",
    "\"6 months\"",
    "\"1.5h\"",
    "\"3651d\"",
    "\"99999999999999999999s\"",
    "\"20 EiB\"",
    "\"18446744073709551615\"",
    "\"-1 KiB\"",
    "\"\"",
    "\"  \"",
    "\"--privileged\"",
    "\"a b\"",
    "\"$(id)\"",
    "\"/\"",
    "\"relative/path\"",
    "\"/tmp/x/\"",
    "\"/tmp/..\"",
    "after = [\"backup\"]\n",
    "after = [\"tables\"]\n",
    "after = [\"nope\"]\n",
    "host = \"nope\"\n",
    "container = \"postgres\"\n",
    "container = \"tables\"\n",
    "lifecycle = \"ephemeral\"\n",
    "kind = \"schema-unchanged\"\n",
    "pg_dump = { user = \"app\", database = \"app\", format = \"plain\", schema_only = true }\n",
    "query = { user = \"app\", database = \"app\", sql = \"SELECT 1\" }\n",
    "timeout = \"5m\"\n",
    "\"0123abcd\"",
    "\n[vars]\na = \"{{ var.a }}\"\n",
    "\n[hosts.local]\nlocal = true\n",
    "\n[hosts.both]\nlocal = true\nssh = \"x\"\n",
    "\n[artefacts.x]\npath = \"/tmp/x\"\ncommand = \"true\"\nafter = [\"y\"]\n[artefacts.y]\npath = \"/tmp/y\"\ncommand = \"true\"\nafter = [\"x\"]\n",
    "\n[checks.c]\ncontainer = \"postgres\"\nsql = \"DROP TABLE x\"\nexpect = \"1\"\n",
    "\n[guards.g]\nkind = \"protected-unchanged\"\nhost = \"vps\"\n",
];

/// One edit of a text; positions and lengths are taken modulo its length.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, usize),
    Delete(Index, Index),
    Replace(Index, Index, usize),
    Duplicate(Index, Index),
    InsertText(Index, String),
}

fn edit(tokens: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    let n = tokens.len();
    prop_oneof![
        4 => (any::<Index>(), 0..n).prop_map(|(i, t)| Edit::Insert(i, t)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Edit::Delete(i, j)),
        3 => (any::<Index>(), any::<Index>(), 0..n).prop_map(|(i, j, t)| Edit::Replace(i, j, t)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Edit::Duplicate(i, j)),
        1 => (any::<Index>(), ".{0,12}").prop_map(|(i, s)| Edit::InsertText(i, s)),
    ]
}

/// The nearest character boundary at or before `index` of `text`.
fn boundary(text: &str, index: &Index) -> usize {
    let mut at = if text.is_empty() {
        0
    } else {
        index.index(text.len() + 1)
    };
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A range of at most 40 bytes starting at `start`.
fn range(text: &str, start: &Index, len: &Index) -> (usize, usize) {
    let a = boundary(text, start);
    let mut b = (a + len.index(41)).min(text.len());
    while !text.is_char_boundary(b) {
        b -= 1;
    }
    (a, b)
}

fn apply_edits(seed: &str, edits: &[Edit], tokens: &[&str]) -> String {
    let mut text = seed.to_string();
    for e in edits {
        match e {
            Edit::Insert(i, t) => {
                let at = boundary(&text, i);
                text.insert_str(at, tokens[*t]);
            }
            Edit::Delete(i, j) => {
                let (a, b) = range(&text, i, j);
                text.replace_range(a..b, "");
            }
            Edit::Replace(i, j, t) => {
                let (a, b) = range(&text, i, j);
                text.replace_range(a..b, tokens[*t]);
            }
            Edit::Duplicate(i, j) => {
                let (a, b) = range(&text, i, j);
                let copy = text[a..b].to_string();
                text.insert_str(b, &copy);
            }
            Edit::InsertText(i, s) => {
                let at = boundary(&text, i);
                text.insert_str(at, s);
            }
        }
    }
    text
}

fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/op".into()),
        "RESTORE_PW" => Some("secret".into()),
        "BIG" => Some("x".repeat(70 * 1024)),
        "CUTTER_BACKUP_ROOT" => Some("/srv/backups".into()),
        "CUTTER_PG_IMAGE" => Some("postgres:15".into()),
        "CUTTER_SSH_HOST" => Some("prod-vps".into()),
        _ => None,
    }
}

/// Load plan text the way `cutter validate` does, then use the result as
/// `graph`, `plan` and `apply` would: graph output, every step's script;
/// or render every diagnostic as the terminal would show it.
fn exercise_plan(text: &str) {
    match plan::load_str(Path::new("fuzz.toml"), text, &env) {
        Ok(plan) => use_plan(&plan),
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "an error without diagnostics");
            let mut out = String::new();
            miette::GraphicalReportHandler::new()
                .render_report(&mut out, &errors)
                .unwrap();
            assert!(out.contains("the plan is invalid"), "{out}");
        }
    }
}

fn use_plan(plan: &Plan) {
    let graph = StepGraph::build(plan);
    let _ = graph.to_dot();
    let _ = graph.to_mermaid();
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-15T08:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let external = script::Exec::External {
        id: "f".repeat(64),
        image_id: format!("sha256:{}", "e".repeat(64)),
        name: "postgres".into(),
    };
    let timeout = std::time::Duration::from_secs(60);
    for a in plan.artefacts.values() {
        for exec in [&script::Exec::Host, &external] {
            if let Ok(s) = script::artefact(plan, a, exec, now, "nonce", Some("/tmp/q")) {
                let _ = s.supervised("nonce", timeout);
            }
        }
    }
    for c in plan.containers.values() {
        let s = script::container(
            plan,
            c,
            Some("/tmp/dump"),
            false,
            true,
            Vec::new(),
            "0123456789abcdef",
        );
        let _ = s.supervised("nonce", timeout);
        let _ = script::teardown(c).body();
    }
    for k in plan.checks.values() {
        let s = script::check(k, &external, Some(&script::Exec::Host), Some("/tmp/r"), "n");
        let _ = s.supervised("n", timeout);
    }
}

fn seed_plan() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(QUICKSTART), Just(HB), Just(EVERYTHING)]
}

/// A plan assembled from parts: random names, references and values.
fn assembled_plan() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        "[a-z_-]{0,4}",
        ".{0,6}"
    ];
    let value = prop_oneof![
        Just("/tmp/x".to_string()),
        Just("/tmp/{{ date }}/x_{{ timestamp }}".to_string()),
        Just("postgres".to_string()),
        Just("60m".to_string()),
        Just("1 KiB".to_string()),
        Just("{{ var.v }}".to_string()),
        Just(String::new()),
        "[ -~]{0,16}",
    ];
    let key = prop::sample::select(vec![
        "path",
        "command",
        "container",
        "host",
        "image",
        "lifecycle",
        "name",
        "network",
        "volume",
        "mount",
        "sql",
        "expect",
        "same_as",
        "user",
        "database",
        "kind",
        "max_age",
        "min_size",
        "verify",
        "stderr",
        "ready",
    ]);
    let table = prop::sample::select(vec!["artefacts", "containers", "checks", "guards"]);
    let resource = (
        table,
        name.clone(),
        prop::collection::vec((key, value.clone()), 0..6),
        prop::collection::vec(name, 0..3),
    );
    (
        value,
        prop::bool::ANY,
        prop::collection::vec(resource, 0..6),
    )
        .prop_map(|(v, local, resources)| {
            let mut text = format!("[vars]\nv = {}\n\n", toml_string(&v));
            text.push_str(if local {
                "[hosts.h]\nlocal = true\n\n"
            } else {
                "[hosts.h]\nssh = \"alias\"\n[hosts.h.protected]\ncontainers = [\"postgres\"]\n\n"
            });
            for (table, name, fields, after) in resources {
                text.push_str(&format!("[{table}.{}]\n", toml_string(&name)));
                let mut seen = std::collections::BTreeSet::new();
                for (k, v) in fields {
                    if seen.insert(k) {
                        text.push_str(&format!("{k} = {}\n", toml_string(&v)));
                    }
                }
                if table != "guards" && !after.is_empty() {
                    let list: Vec<String> = after.iter().map(|a| toml_string(a)).collect();
                    text.push_str(&format!("after = [{}]\n", list.join(", ")));
                }
                text.push('\n');
            }
            text
        })
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A saved plan (`cutter plan -o`) and a report (`cutter apply`) made by the
/// real binary on a local plan, as seeds for the JSON properties.
fn json_seeds() -> &'static (String, String) {
    static SEEDS: OnceLock<(String, String)> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let site = Site::new(
            r#"
[hosts.local]
local = true

[artefacts.one]
path = "{out}/one_{{ timestamp }}.txt"
command = "echo one"
min_size = "1"
max_age = "1h"

[artefacts.two]
path = "{out}/two.txt"
command = "echo two"
after = ["one"]
"#,
        );
        site.cutter(0, &["plan", "-o", "saved.json", "plan.toml"]);
        let saved = std::fs::read_to_string(site.dir().join("saved.json")).unwrap();
        site.cutter(0, &["apply", "--yes", "plan.toml"]);
        let report = std::fs::read_dir(site.dir().join("cutter-reports"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .unwrap();
        (saved, std::fs::read_to_string(report).unwrap())
    })
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "0",
    "-1",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"é😀\"",
    "[]",
    "{}",
    "\"failed\"",
    "\"skipped\"",
    "\"create\"",
    "\"replace\"",
    "\"noop\"",
    "\"artefact\"",
    "\"teardown\"",
];

fn exercise_saved_plan(text: &str) {
    if let Ok(view) = serde_json::from_str::<cutter::render::PlanView>(text) {
        let all = cutter::render::text::Shown {
            words: true,
            commands: true,
        };
        let _ = cutter::render::text::render(&view, "cutter plan", all);
        let _ = cutter::render::markdown::render(&view, "cutter plan", all);
        let _ = serde_json::to_string_pretty(&view).unwrap();
    }
}

fn exercise_report(text: &str) {
    if let Ok(report) = serde_json::from_str::<cutter::report::Report>(text) {
        let _ = cutter::report::markdown(&report);
        let _ = serde_json::to_string_pretty(&report).unwrap();
    }
}

proptest! {
    #[test]
    fn fuzz_mutated_plans_never_panic(
        seed in seed_plan(),
        edits in prop::collection::vec(edit(PLAN_TOKENS), 1..8),
    ) {
        exercise_plan(&apply_edits(seed, &edits, PLAN_TOKENS));
    }

    #[test]
    fn fuzz_assembled_plans_never_panic(text in assembled_plan()) {
        exercise_plan(&text);
    }

    #[test]
    fn fuzz_arbitrary_text_never_panics(text in ".{0,400}") {
        exercise_plan(&text);
    }

    #[test]
    fn fuzz_saved_plans_never_panic(
        edits in prop::collection::vec(edit(JSON_TOKENS), 1..6),
    ) {
        exercise_saved_plan(&apply_edits(&json_seeds().0, &edits, JSON_TOKENS));
    }

    #[test]
    fn fuzz_reports_never_panic(
        edits in prop::collection::vec(edit(JSON_TOKENS), 1..6),
    ) {
        exercise_report(&apply_edits(&json_seeds().1, &edits, JSON_TOKENS));
    }
}

/// The seeds themselves load, parse and render: the mutations start from
/// valid input, so they reach past the first syntax check.
#[test]
fn fuzz_seeds_are_valid() {
    for seed in [QUICKSTART, HB, EVERYTHING] {
        let plan = plan::load_str(Path::new("seed.toml"), seed, &env);
        let plan = plan.unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
        use_plan(&plan);
    }
    let (saved, report) = json_seeds();
    serde_json::from_str::<cutter::render::PlanView>(saved).unwrap();
    serde_json::from_str::<cutter::report::Report>(report).unwrap();
}

/// Inputs at the edges of the limits, always run whatever the seed.
#[test]
fn fuzz_edge_cases() {
    for text in [
        // A variable that is 70 KiB from the environment.
        "[vars]\nbig = \"{{ env.BIG }}\"\n[hosts.h]\nlocal = true\n",
        // Escapes shift offsets between the file and the value.
        "[hosts.h]\nlocal = true\n[artefacts.a]\npath = \"/\\t\u{e9}{{ bogus }}\"\ncommand = \"true\"\n",
        // A multi-line string with a template error on its second line.
        "[hosts.h]\nlocal = true\n[artefacts.a]\npath = \"\"\"\n/x/{{ var.nope }}\"\"\"\ncommand = \"true\"\n",
        // Byte order mark, CRLF and a NUL.
        "\u{feff}[hosts.h]\r\nlocal = true\r\n[artefacts.a]\r\npath = \"/\u{0}\"\r\ncommand = \"true\"\r\n",
    ] {
        exercise_plan(text);
    }
}
