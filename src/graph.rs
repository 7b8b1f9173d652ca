//! The step graph: what runs before what.
//!
//! Each resource expands to steps (an ephemeral container also gets a
//! teardown step after all its checks; a guard observes before and after
//! everything else). Edges come from `after = [...]` and from references.
//! Order is deterministic: ties go to declaration order.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use crate::plan::{Lifecycle, Plan};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Artefact,
    Container,
    Check,
    Teardown,
    /// Retention: delete older files of a timestamped artefact.
    Prune,
    GuardBefore,
    GuardAfter,
    /// Remove what this plan made on a host and no longer wants (found by
    /// label); its resource is the host.
    Leftovers,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable id, e.g. `artefact.backup`, `teardown.restore_test`.
    pub id: String,
    pub resource: String,
    pub kind: StepKind,
    pub host: String,
}

pub struct StepGraph {
    pub graph: DiGraph<Step, &'static str>,
    index: HashMap<String, NodeIndex>,
}

impl StepGraph {
    pub fn build(plan: &Plan) -> StepGraph {
        let mut g = StepGraph {
            graph: DiGraph::new(),
            index: HashMap::new(),
        };
        for guard in plan.guards.values() {
            g.add(&guard.name, StepKind::GuardBefore, &guard.host);
        }
        for a in plan.artefacts.values() {
            g.add(&a.name, StepKind::Artefact, &a.host);
        }
        for c in plan.containers.values() {
            g.add(&c.name, StepKind::Container, &c.host);
        }
        for c in plan.checks.values() {
            g.add(&c.name, StepKind::Check, &c.host);
        }
        for c in plan
            .containers
            .values()
            .filter(|c| c.lifecycle == Lifecycle::Ephemeral)
        {
            let teardown = g.add(&c.name, StepKind::Teardown, &c.host);
            let main = g.main(&c.name).unwrap();
            g.graph.add_edge(main, teardown, "tears down");
            for check in plan
                .checks
                .values()
                .filter(|k| k.own_container() == Some(c.name.as_str()))
            {
                let n = g.main(&check.name).unwrap();
                g.graph.add_edge(n, teardown, "checked before teardown");
            }
        }
        for host in plan.hosts.keys().filter(|h| plan.uses_docker(h)) {
            g.add(host, StepKind::Leftovers, host);
        }
        for a in plan.artefacts.values().filter(|a| a.keep.is_some()) {
            let prune = g.add(&a.name, StepKind::Prune, &a.host);
            let main = g.main(&a.name).unwrap();
            g.graph.add_edge(main, prune, "then prunes older");
        }
        for d in &plan.deps {
            if let (Some(a), Some(b)) = (g.main(&d.before), g.main(&d.after)) {
                g.graph.add_edge(a, b, d.why);
                // After a container means after it has passed its checks too.
                if d.why == "after" && plan.containers.contains_key(&d.before) {
                    for check in plan.checks.values().filter(|k| {
                        k.own_container() == Some(d.before.as_str()) && k.name != d.after
                    }) {
                        let n = g.main(&check.name).unwrap();
                        g.graph.add_edge(n, b, "after the checks of");
                    }
                }
            }
        }
        let guards: Vec<_> = plan.guards.values().map(|x| x.name.clone()).collect();
        let work: Vec<NodeIndex> = g
            .graph
            .node_indices()
            .filter(|n| {
                !matches!(
                    g.graph[*n].kind,
                    StepKind::GuardBefore | StepKind::GuardAfter
                )
            })
            .collect();
        for name in &guards {
            let host = &plan.guards[name].host;
            let before = g.index[&format!("guard-before.{name}")];
            for n in &work {
                g.graph.add_edge(before, *n, "guarded");
            }
            let after = g.add(name, StepKind::GuardAfter, host);
            for n in &work {
                g.graph.add_edge(*n, after, "guarded");
            }
            if work.is_empty() {
                g.graph.add_edge(before, after, "guarded");
            }
        }
        g
    }

    fn add(&mut self, resource: &str, kind: StepKind, host: &str) -> NodeIndex {
        let id = step_id(kind, resource);
        let n = self.graph.add_node(Step {
            id: id.clone(),
            resource: resource.to_string(),
            kind,
            host: host.to_string(),
        });
        self.index.insert(id, n);
        n
    }

    /// The step that puts a resource in place.
    pub fn main(&self, resource: &str) -> Option<NodeIndex> {
        ["artefact", "container", "check"]
            .iter()
            .find_map(|k| self.index.get(&format!("{k}.{resource}")).copied())
    }

    pub fn node(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    /// Steps in a deterministic topological order.
    pub fn order(&self) -> Vec<NodeIndex> {
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors_directed(n, petgraph::Incoming).count())
            .collect();
        let mut ready: BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .collect();
        let mut out = Vec::new();
        while let Some(n) = ready.pop_first() {
            out.push(n);
            for m in self.graph.neighbors_directed(n, petgraph::Outgoing) {
                indegree[m.index()] -= 1;
                if indegree[m.index()] == 0 {
                    ready.insert(m);
                }
            }
        }
        out
    }

    /// Direct predecessors of a step.
    pub fn dependencies(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self
            .graph
            .neighbors_directed(n, petgraph::Incoming)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// `n` and everything it transitively depends on.
    pub fn closure(&self, n: NodeIndex) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![n];
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(self.graph.neighbors_directed(x, petgraph::Incoming));
            }
        }
        seen
    }

    pub fn to_dot(&self) -> String {
        let mut s = String::from(
            "digraph cutter {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for n in self.order() {
            let step = &self.graph[n];
            let _ = writeln!(
                s,
                "  \"{}\" [label=\"{}\\n@{}\"];",
                step.id, step.id, step.host
            );
        }
        for e in self.sorted_edges() {
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                self.graph[e.0].id, self.graph[e.1].id, e.2
            );
        }
        s.push_str("}\n");
        s
    }

    pub fn to_mermaid(&self) -> String {
        let mut s = String::from("flowchart LR\n");
        let ids: HashMap<NodeIndex, String> = self
            .order()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, format!("s{i}")))
            .collect();
        for n in self.order() {
            let step = &self.graph[n];
            let _ = writeln!(s, "  {}[\"{}<br/>@{}\"]", ids[&n], step.id, step.host);
        }
        for e in self.sorted_edges() {
            let _ = writeln!(s, "  {} -->|{}| {}", ids[&e.0], e.2, ids[&e.1]);
        }
        s
    }

    fn sorted_edges(&self) -> Vec<(NodeIndex, NodeIndex, &'static str)> {
        let pos: HashMap<NodeIndex, usize> = self
            .order()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        let mut edges: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| (e.source(), e.target(), *e.weight()))
            .collect();
        edges.sort_by_key(|e| (pos[&e.0], pos[&e.1], e.2));
        edges.dedup_by_key(|e| (e.0, e.1));
        edges
    }
}

pub fn step_id(kind: StepKind, resource: &str) -> String {
    let prefix = match kind {
        StepKind::Artefact => "artefact",
        StepKind::Container => "container",
        StepKind::Check => "check",
        StepKind::Teardown => "teardown",
        StepKind::Prune => "prune",
        StepKind::GuardBefore => "guard-before",
        StepKind::GuardAfter => "guard-after",
        StepKind::Leftovers => "leftovers",
    };
    format!("{prefix}.{resource}")
}
