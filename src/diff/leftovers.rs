//! Leftovers: containers, volumes and networks a plan made on a host that
//! its desired state no longer holds (yesterday's `{{ date }}`-named test, a
//! container of a killed apply, a network an interrupted teardown left, a
//! verification container of a dead step). They are found by label, never by
//! name alone: only what carries cutter's managed label and this plan's
//! label (or, made before volumes and networks carried the plan's label,
//! the managed label and a name this plan gives) is ever one.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::{Action, Diff, short};
use crate::observe::HostState;
use crate::plan::{Lifecycle, MANAGED_LABEL, PLAN_LABEL, Plan};

/// One Docker object to remove, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// `container`, `volume` or `network`.
    pub what: &'static str,
    pub name: String,
    /// The full ID (containers, networks); the name for volumes.
    pub id: String,
    /// The value of its `cutter.plan` label as observed (empty when it has
    /// none): removal re-reads its labels and goes ahead only if unchanged.
    pub plan_label: String,
    /// Where it came from: its `cutter.*` labels.
    pub origin: String,
}

impl Leftover {
    /// The plan's words for it.
    pub fn describe(&self) -> String {
        format!(
            "leftover {} `{}`{} ({}): not in the plan, removed",
            self.what,
            self.name,
            if self.id != self.name {
                format!(" {}", short(&self.id))
            } else {
                String::new()
            },
            self.origin
        )
    }
}

/// The container steps' actions in `diff`, for [`find`].
pub fn container_actions(diff: &Diff) -> HashMap<String, Action> {
    diff.changes
        .iter()
        .filter(|c| c.kind == crate::graph::StepKind::Container)
        .map(|c| (c.step.clone(), c.action))
        .collect()
}

/// The leftovers of `plan` on `host`; `actions` are the container steps'
/// actions (an ephemeral container whose test runs removes its own
/// namesake first, so that one is not a leftover).
pub fn find(
    plan: &Plan,
    host: &str,
    state: &HostState,
    actions: &HashMap<String, Action>,
) -> Vec<Leftover> {
    let Some(docker) = &state.docker else {
        return Vec::new();
    };
    let path = plan.canonical_file();
    let mut desired: [BTreeSet<&str>; 3] = Default::default();
    let mut named: BTreeSet<&str> = BTreeSet::new();
    for c in plan.containers.values().filter(|c| c.host == host) {
        named.extend([c.docker_name.as_str(), &c.volume, &c.network]);
        let runs = actions
            .get(&format!("container.{}", c.name))
            .is_some_and(|a| *a != Action::Noop);
        // An ephemeral test that runs removes its namesake first; one that
        // does not, but whose container is still there, is torn down by its
        // own teardown step, with its volume and network.
        let torn_down =
            c.lifecycle == Lifecycle::Ephemeral && docker.container(&c.docker_name).is_some();
        if c.lifecycle == Lifecycle::Persistent || runs || torn_down {
            desired[0].insert(&c.docker_name);
            desired[1].insert(&c.volume);
            desired[2].insert(&c.network);
        }
    }
    // A resource of this plan on another of its hosts is that host's.
    let elsewhere = |labels: &indexmap::IndexMap<String, String>| {
        labels
            .get("cutter.resource")
            .and_then(|r| plan.containers.get(r))
            .is_some_and(|c| c.host != host)
    };
    let ours = |labels: &indexmap::IndexMap<String, String>, name: &str, by_name: bool| {
        labels.get(MANAGED_LABEL).map(String::as_str) == Some("true")
            && match labels.get(PLAN_LABEL) {
                Some(p) => *p == path,
                None => by_name && named.contains(name),
            }
            && !elsewhere(labels)
    };
    let origin = |labels: &indexmap::IndexMap<String, String>| {
        let l: Vec<String> = labels
            .iter()
            .filter(|(k, _)| k.starts_with("cutter."))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("labels {}", l.join(", "))
    };
    let mut out = Vec::new();
    let mut push = |what, name: &str, id: &str, labels: &indexmap::IndexMap<String, String>| {
        out.push(Leftover {
            what,
            name: name.to_string(),
            id: id.to_string(),
            plan_label: labels.get(PLAN_LABEL).cloned().unwrap_or_default(),
            origin: origin(labels),
        })
    };
    // Containers always carried the plan's label.
    for c in &docker.containers {
        if ours(&c.labels, &c.name, false) && !desired[0].contains(c.name.as_str()) {
            push("container", &c.name, &c.id, &c.labels);
        }
    }
    for v in &docker.volumes {
        if ours(&v.labels, &v.name, true) && !desired[1].contains(v.name.as_str()) {
            push("volume", &v.name, &v.name, &v.labels);
        }
    }
    for n in &docker.networks {
        if ours(&n.labels, &n.name, true) && !desired[2].contains(n.name.as_str()) {
            push("network", &n.name, &n.id, &n.labels);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::observe::{ContainerInfo, DockerState, NetworkInfo, VolumeInfo};

    fn labels(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn container(name: &str, l: IndexMap<String, String>) -> ContainerInfo {
        ContainerInfo {
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            image: "postgres:16".into(),
            image_id: String::new(),
            state: "running".into(),
            restart_count: 0,
            started_at: String::new(),
            labels: l,
            networks: Vec::new(),
            volumes: Vec::new(),
            mount_sources: Vec::new(),
            published_ports: Vec::new(),
        }
    }

    /// Only what carries the managed label and this plan's label (or, for
    /// volumes and networks of before, a name the plan gives) is a
    /// leftover, and never what the plan holds.
    #[test]
    fn leftovers_are_this_plans_labelled_objects_it_no_longer_holds() {
        let plan = crate::plan::load_str(
            std::path::Path::new("/plans/p.toml"),
            "[hosts.h]\nssh = \"h\"\n[artefacts.a]\npath = \"/srv/a.sql\"\ncommand = \"echo\"\n[containers.copy]\nname = \"copy\"\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n[containers.test]\nname = \"test-{{ date }}\"\nimage = \"postgres:16\"\nlifecycle = \"ephemeral\"\nnetwork = \"test-net\"\nrestore = { artefact = \"a\", command = \"psql -f\" }\n",
            &|_| None,
        )
        .expect("plan");
        let path = plan.canonical_file();
        let mine = |extra: &[(&str, &str)]| {
            let mut l = labels(&[("cutter.managed", "true"), ("cutter.plan", &path)]);
            l.extend(labels(extra));
            l
        };
        let state = HostState {
            docker: Some(DockerState {
                containers: vec![
                    container("copy", mine(&[("cutter.resource", "copy")])),
                    container("test-2026-01-01", mine(&[("cutter.resource", "test")])),
                    container("cutter-verify-0123", mine(&[("cutter.role", "verify")])),
                    container(
                        "theirs",
                        labels(&[("cutter.managed", "true"), ("cutter.plan", "/other.toml")]),
                    ),
                    container("unmanaged", labels(&[("cutter.plan", &path)])),
                ],
                volumes: vec![
                    VolumeInfo {
                        name: "copy-data".into(),
                        mountpoint: String::new(),
                        device: Default::default(),
                        labels: labels(&[("cutter.managed", "true")]),
                    },
                    VolumeInfo {
                        name: "test-2026-01-01-data".into(),
                        mountpoint: String::new(),
                        device: Default::default(),
                        labels: mine(&[]),
                    },
                ],
                networks: vec![NetworkInfo {
                    id: "n1".into(),
                    name: "test-net".into(),
                    driver: "bridge".into(),
                    internal: false,
                    labels: labels(&[("cutter.managed", "true")]),
                }],
            }),
            ..Default::default()
        };
        let idle: HashMap<String, Action> = [("container.test".to_string(), Action::Noop)].into();
        let found: Vec<(&str, String)> = find(&plan, "h", &state, &idle)
            .into_iter()
            .map(|l| (l.what, l.name))
            .collect();
        assert_eq!(
            found,
            [
                ("container", "test-2026-01-01".to_string()),
                ("container", "cutter-verify-0123".to_string()),
                ("volume", "test-2026-01-01-data".to_string()),
                ("network", "test-net".to_string()),
            ]
        );
        // When the test runs, its network is in use again, not a leftover.
        let runs: HashMap<String, Action> = [("container.test".to_string(), Action::Run)].into();
        assert!(
            !find(&plan, "h", &state, &runs)
                .iter()
                .any(|l| l.name == "test-net")
        );
    }
}
