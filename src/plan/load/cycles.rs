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
        let mut names: Vec<&str> = path.iter().map(|n| g[*n]).collect();
        names.push(g[scc[0]]);
        let d = diags.error(
            "cycle",
            format!(
                "dependency cycle: {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        );
        for i in edges {
            let dep = &plan.deps[i];
            d.label(
                dep.span.clone(),
                format!("`{}` {} `{}`", dep.after, describe(dep.why), dep.before),
            );
        }
        d.help("break the cycle by removing one of these dependencies");
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
