//! What each step would run, from a plan and a fixed observation, with no
//! host: the plan's fields and the observed facts in, the exact commands
//! out, as snapshots (in the manner of pyinfra's operation tests). A change
//! to a command builder shows here as a reviewed diff of shell text; read
//! the quoting.
//!
//! The plan file is never read (its path only names it in labels and
//! manifests) and "now" is fixed, so nonces and names are stable.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use cutter::apply::step::{self, Inputs};
use cutter::diff::{self, Action};
use cutter::graph::StepGraph;
use cutter::observe::{ArtefactState, ContainerInfo, DockerState, FileState, HostState};
use cutter::plan::Plan;

/// Production's database container, as Docker showed it.
const PROD_ID: &str = "3d75a1c0ffee00000000000000000000000000000000000000000000000000aa";
const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const PLAN: &str = r#"
[hosts.db]
ssh = "ops@db.example"
free_form = "allow"

[hosts.db.protected]
paths = ["/srv/shop"]
containers = ["postgres"]

# A dated dump of production, read-only; two older ones are kept.
[artefacts.dump]
path = "/backups/shop_{{ timestamp }}.dump"
container = "postgres"
pg_dump = { user = "shop", database = "shop", format = "custom", compress = 6, exclude_tables = ["public.session's"] }
stderr = "pg_dump.stderr"
min_size = "1 KiB"
max_age = "1h"
keep = { last = 2 }

# A read-only query of production.
[artefacts.counts]
path = "/backups/counts.psv"
container = "postgres"
query = { user = "shop", database = "shop", separator = "|", sql = "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname <> 'it''s'" }

# A command on the host, into a folder whose name needs quoting.
[artefacts.etc]
path = "/backups/it's here/etc.tar"
command = "tar -cf - /etc/hostname"
verify = "tar -tf - > /dev/null"

# Restored, checked, then torn down.
[containers.restore_test]
name = "shop-restore-test"
image = "postgres:16"
lifecycle = "ephemeral"
network = "shop-restore-net"
volume = "shop-restore-data"
env = { POSTGRES_USER = "shop", POSTGRES_DB = "shop" }
secrets = { POSTGRES_PASSWORD = { env = "SHOP_PG_PASSWORD" } }
ready = "pg_isready -U shop -d shop"
restore = { artefact = "dump", command = "pg_restore -U shop -d shop --no-owner" }

[checks.orders_match]
container = "restore_test"
user = "shop"
database = "shop"
sql = "SELECT count(*) FROM orders"
same_as = "postgres"

[checks.counts_match]
container = "restore_test"
user = "shop"
database = "shop"
rowcounts = { artefact = "counts", tables = ["public.orders", "app.it's"] }

# A copy that stays, published on the host's loopback only.
[containers.staging]
name = "shop-staging"
image = "postgres:16"
lifecycle = "persistent"
network = "shop-staging-net"
volume = "shop-staging-data"
ports = ["127.0.0.1:5433:5432"]
restore = { artefact = "dump", command = "pg_restore -U shop -d shop --no-owner" }
after = ["restore_test"]
"#;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 15, 8, 0, 0).unwrap()
}

fn plan() -> Plan {
    cutter::plan::load_str(Path::new("/plans/shop.toml"), PLAN, &|_| None)
        .unwrap_or_else(|e| panic!("the test plan is invalid: {e:?}"))
}

/// A dump cutter made, `hour` o'clock today, recorded in SHA256SUMS.
fn dump_file(hour: u32) -> FileState {
    let at = Utc.with_ymd_and_hms(2026, 5, 15, hour, 0, 0).unwrap();
    FileState {
        path: format!("/backups/shop_{}.dump", at.format("%Y%m%dT%H%M%SZ")),
        size: 4096,
        mtime: at.timestamp(),
        sha256: SHA.into(),
        inode: 7,
        ctime: at.timestamp(),
        verified_at: Some(at.timestamp()),
        verified_now: false,
        recorded_sha256: Some(SHA.into()),
        manifest: Some(serde_json::json!({ "artefact": "dump" })),
        evidence: Default::default(),
        sums_conflict: Vec::new(),
        unreadable: Default::default(),
    }
}

/// The host: production's container running, three dumps from 04:00 to
/// 06:00 (the newest stale at 08:00, so a new one is due and the two
/// oldest go), nothing else of cutter's.
fn observed() -> HashMap<String, HostState> {
    let dumps: Vec<FileState> = [4, 5, 6].map(dump_file).into();
    let mut host = HostState {
        host: "db".into(),
        docker: Some(DockerState {
            containers: vec![ContainerInfo {
                id: PROD_ID.into(),
                name: "postgres".into(),
                image: "postgres:16".into(),
                image_id: "sha256:5f1e0000000000000000000000000000000000000000000000000000000000bb"
                    .into(),
                state: "running".into(),
                restart_count: 0,
                started_at: "2026-05-01T00:00:00Z".into(),
                labels: Default::default(),
                networks: vec!["shop-net".into()],
                volumes: vec!["shop-pgdata".into()],
                mount_sources: vec!["/var/lib/docker/volumes/shop-pgdata/_data".into()],
                published_ports: Vec::new(),
            }],
            volumes: Vec::new(),
            networks: Vec::new(),
        }),
        ..HostState::default()
    };
    host.artefacts.insert(
        "dump".into(),
        ArtefactState {
            matches: dumps.len(),
            all: dumps.iter().map(|f| (f.path.clone(), true)).collect(),
            newest: dumps.last().cloned(),
        },
    );
    HashMap::from([("db".to_string(), host)])
}

/// Every step the plan would run against `observed()`, in plan order, with
/// its action and the exact commands; secrets masked as `plan` shows them.
fn step_commands() -> String {
    let plan = plan();
    let graph = StepGraph::build(&plan);
    let states = observed();
    let diff = diff::diff(&plan, &graph, &states, now());
    let produced = HashMap::new();
    let inputs = Inputs {
        plan: &plan,
        graph: &graph,
        diff: &diff,
        states: &states,
        now: now(),
        produced: &produced,
    };
    let secrets: HashMap<String, Vec<(String, String)>> = HashMap::from([(
        "restore_test".to_string(),
        vec![("POSTGRES_PASSWORD".to_string(), "********".to_string())],
    )]);
    let mut out = String::new();
    for n in graph.order() {
        let id = &graph.graph[n].id;
        let action = diff.get(id).map_or(Action::Noop, |c| c.action);
        if action == Action::Noop {
            continue;
        }
        let s = step::build(&inputs, id, &secrets).unwrap_or_else(|e| panic!("{id}: {e}"));
        out.push_str(&format!("## {id} ({})\n", action.as_str()));
        for c in &s.commands {
            out.push_str(&format!("{c}\n"));
        }
        for c in &s.bookkeeping {
            out.push_str(&format!("(bookkeeping) {c}\n"));
        }
        for m in &s.masked {
            out.push_str(&format!("(secret on stdin) {m}\n"));
        }
        for p in &s.production_ops {
            out.push_str(&format!("(production) {p}\n"));
        }
        out.push('\n');
    }
    // Manifests name the cutter that wrote them.
    let version = format!("\\\"cutter\\\":\\\"{}\\\"", env!("CARGO_PKG_VERSION"));
    out.replace(&version, "\\\"cutter\\\":\\\"[VERSION]\\\"")
}

#[test]
fn step_commands_of_a_backup_restore_and_copy_plan() {
    insta::assert_snapshot!(step_commands());
}

/// Every step kind the plan has is covered by the snapshot above.
#[test]
fn step_commands_cover_every_kind_of_step() {
    let text = step_commands();
    for id in [
        "artefact.dump",
        "artefact.counts",
        "artefact.etc",
        "container.restore_test",
        "check.orders_match",
        "check.counts_match",
        "teardown.restore_test",
        "container.staging",
        "prune.dump",
    ] {
        assert!(
            text.contains(&format!("## {id} (")),
            "{id} missing:\n{text}"
        );
    }
}
