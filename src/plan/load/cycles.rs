//! No resource may wait, through its dependencies, for itself.
//!
//! Run on a plan whose every reference resolved, so that each edge joins
//! two declared resources and its span labels the declaration that made it.

use std::collections::{BTreeSet, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::plan::{Diagnostics, Plan};

/// Resources as nodes; each edge weighs the index of its [`Dependency`](crate::plan::Dependency).
type DepGraph<'a> = DiGraph<&'a str, usize>;

/// Report every dependency cycle, naming each member and labelling the
/// declaration of each edge in it.
pub(super) fn check_cycles(plan: &Plan, diags: &mut Diagnostics) {
    let g = dependency_graph(plan);
    let mut sccs: Vec<Vec<NodeIndex>> =
        tarjan_scc(&g).into_iter().filter(|c| c.len() > 1).collect();
    for c in &mut sccs {
        c.sort();
    }
    sccs.sort();
    for scc in sccs {
        let (path, edges) = walk_cycle(&g, &scc);
        let d = diags.error(
            "cycle",
            cycle_message(&path.iter().map(|n| g[*n]).collect::<Vec<_>>()),
        );
        for &i in edges.iter().take(MAX_LABELS) {
            let dep = &plan.deps[i];
            d.label(
                dep.span.clone(),
                format!("`{}` {} `{}`", dep.after, describe(dep.why), dep.before),
            );
        }
        if edges.len() > MAX_LABELS {
            d.help(format!(
                "break the cycle by removing one of its {} dependencies (the first {MAX_LABELS} are shown)",
                edges.len()
            ));
        } else {
            d.help("break the cycle by removing one of these dependencies");
        }
    }
}

/// How many members of a cycle its message names, and how many of its
/// dependencies are labelled: rendering a label scans the plan file, so
/// labelling all of a cycle of thousands took minutes.
const MAX_NAMED: usize = 12;
const MAX_LABELS: usize = 12;

/// `dependency cycle: `a` → `b` → `a``, naming the first members of a long
/// one and how many more there are.
fn cycle_message(members: &[&str]) -> String {
    let name = |n: &str| format!("`{n}`");
    let mut shown: Vec<String> = members.iter().take(MAX_NAMED).map(|n| name(n)).collect();
    if members.len() > MAX_NAMED {
        shown.push(format!("… {} more", members.len() - MAX_NAMED));
    }
    shown.extend(members.first().map(|n| name(n)));
    if members.len() > MAX_NAMED {
        format!(
            "dependency cycle of {} resources: {}",
            members.len(),
            shown.join(" → ")
        )
    } else {
        format!("dependency cycle: {}", shown.join(" → "))
    }
}

fn dependency_graph(plan: &Plan) -> DepGraph<'_> {
    let mut g = DepGraph::new();
    let mut idx: HashMap<&str, NodeIndex> = HashMap::new();
    let names = plan
        .artefacts
        .keys()
        .chain(plan.containers.keys())
        .chain(plan.checks.keys());
    for name in names {
        idx.insert(name, g.add_node(name));
    }
    for (i, d) in plan.deps.iter().enumerate() {
        if let (Some(a), Some(b)) = (idx.get(d.before.as_str()), idx.get(d.after.as_str())) {
            g.add_edge(*a, *b, i);
        }
    }
    g
}

/// One cycle through a strongly connected component, from its first
/// member back to it: the members in order, and the edges taken.
fn walk_cycle(g: &DepGraph<'_>, scc: &[NodeIndex]) -> (Vec<NodeIndex>, Vec<usize>) {
    let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let start = scc[0];
    let mut path = vec![start];
    let mut edges = Vec::new();
    let mut seen = BTreeSet::from([start]);
    let mut cur = start;
    loop {
        let mut next: Vec<_> = g
            .edges(cur)
            .filter(|e| members.contains(&e.target()))
            .collect();
        next.sort_by_key(|e| e.target());
        // Close the cycle when possible, else go somewhere new.
        let e = next
            .iter()
            .find(|e| e.target() == start)
            .or_else(|| next.iter().find(|e| !seen.contains(&e.target())))
            .or(next.first())
            .copied();
        let Some(e) = e else { break };
        edges.push(*e.weight());
        if e.target() == start || !seen.insert(e.target()) {
            break;
        }
        path.push(e.target());
        cur = e.target();
    }
    (path, edges)
}

fn describe(why: &str) -> &str {
    match why {
        "after" => "runs after",
        other => other,
    }
}
