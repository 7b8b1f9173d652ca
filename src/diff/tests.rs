//! Steps of hosts that were not observed, and leftovers of ephemeral tests.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::observe::{ArtefactState, ContainerInfo, DockerState};

const PLAN: &str = "[hosts.h]\nlocal = true\n[hosts.g]\nlocal = true\n\
[artefacts.a]\nhost = \"h\"\npath = \"/srv/a.txt\"\ncommand = \"echo a\"\n\
[artefacts.b]\nhost = \"g\"\npath = \"/srv/b.txt\"\ncommand = \"echo b\"\n\
[containers.rt]\nhost = \"h\"\nname = \"rt\"\nimage = \"pg\"\nlifecycle = \"ephemeral\"\n\
restore = { artefact = \"a\", command = \"cat\" }\n";

fn plan() -> Plan {
    crate::plan::load_str(
        std::path::Path::new("/nonexistent/plan.toml"),
        PLAN,
        &|_| None,
    )
    .expect("plan")
}

/// Host `h` holds `a`, whose restore test passed, and, with `labels`, a
/// container `rt`.
fn host_h(labels: Option<&[(&str, &str)]>) -> HostState {
    let file = FileState {
        path: "/srv/a.txt".into(),
        size: 2,
        mtime: 0,
        sha256: "ab".into(),
        inode: 1,
        ctime: 0,
        verified_at: Some(0),
        verified_now: true,
        recorded_sha256: Some("ab".into()),
        manifest: Some(serde_json::json!({})),
        evidence: BTreeMap::from([(
            "restore-test.rt.json".to_string(),
            serde_json::json!({ "passed": true }),
        )]),
        sums_conflict: Vec::new(),
        unreadable: BTreeMap::new(),
    };
    let mut state = HostState {
        host: "h".into(),
        docker: Some(DockerState::default()),
        ..Default::default()
    };
    state.artefacts.insert(
        "a".into(),
        ArtefactState {
            matches: 1,
            newest: Some(file),
            all: Vec::new(),
        },
    );
    if let (Some(d), Some(labels)) = (state.docker.as_mut(), labels) {
        d.containers.push(ContainerInfo {
            id: "0123456789abcdef".into(),
            name: "rt".into(),
            image: "pg".into(),
            image_id: "sha256:1".into(),
            state: "running".into(),
            restart_count: 0,
            started_at: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            networks: Vec::new(),
            volumes: Vec::new(),
            mount_sources: Vec::new(),
            published_ports: Vec::new(),
        });
    }
    state
}

fn action(d: &Diff, step: &str) -> Action {
    d.get(step).map(|c| c.action).expect("step")
}

fn diff_of(plan: &Plan, states: &HashMap<String, HostState>) -> Diff {
    let graph = StepGraph::build(plan);
    diff(plan, &graph, states, Utc::now())
}

#[test]
fn every_step_of_a_host_that_was_not_observed_is_unknown() {
    let plan = plan();
    let states = HashMap::from([("h".to_string(), host_h(None))]);
    let d = diff_of(&plan, &states);
    let b = d.get("artefact.b").expect("step");
    assert_eq!(b.action, Action::Unknown);
    assert!(b.reasons[0].contains("host `g` was not observed"));
    // `h` is in place: pending are only the unknown steps, which apply
    // does not run.
    assert_eq!(action(&d, "artefact.a"), Action::Noop);
    assert_eq!(action(&d, "container.rt"), Action::Noop);
    assert!(d.has_changes());
    assert!(!d.has_work());
    // No host observed at all: no panic, all unknown.
    let d = diff_of(&plan, &HashMap::new());
    assert!(d.changes.iter().all(|c| c.action == Action::Unknown));
}

#[test]
fn a_leftover_test_container_of_this_plan_is_torn_down_though_its_test_passed() {
    let plan = plan();
    let file = plan.canonical_file();
    let ours = [
        (MANAGED_LABEL, "true"),
        ("cutter.resource", "rt"),
        ("cutter.plan", file.as_str()),
    ];
    let d = diff_of(
        &plan,
        &HashMap::from([("h".to_string(), host_h(Some(&ours)))]),
    );
    assert_eq!(action(&d, "container.rt"), Action::Noop);
    let t = d.get("teardown.rt").expect("teardown");
    assert_eq!(t.action, Action::Destroy);
    assert!(
        t.reasons[0].starts_with("leftover: `rt`"),
        "{:?}",
        t.reasons
    );
    // Another plan's container, or one for another resource, is not ours
    // to remove.
    for labels in [
        [
            (MANAGED_LABEL, "true"),
            ("cutter.resource", "rt"),
            ("cutter.plan", "/elsewhere/plan.toml"),
        ],
        [
            (MANAGED_LABEL, "true"),
            ("cutter.resource", "other"),
            ("cutter.plan", file.as_str()),
        ],
    ] {
        let d = diff_of(
            &plan,
            &HashMap::from([("h".to_string(), host_h(Some(&labels)))]),
        );
        assert_eq!(action(&d, "teardown.rt"), Action::Noop, "{labels:?}");
    }
    // Without a leftover, nothing to remove.
    let d = diff_of(&plan, &HashMap::from([("h".to_string(), host_h(None))]));
    assert_eq!(action(&d, "teardown.rt"), Action::Noop);
}
