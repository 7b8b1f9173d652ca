//! A command run's connections to the plan's hosts and what was observed
//! on them: connect, observe (again when needed), plan, close.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use miette::{Result, miette};

use crate::diff::{self, Action, Diff};
use crate::graph::{StepGraph, StepKind};
use crate::observe::{self, HostState};
use crate::plan::Plan;
use crate::printer::{Printer, Verb};
use crate::remote::{self, Transport};
use crate::render::{self, PlanView};

/// How many hosts are connected to and observed at once. Many plan hosts
/// behind one server can exceed sshd's default `MaxStartups` (10); the
/// connections it drops before authentication are retried (see
/// `remote::connect`).
const HOST_CONCURRENCY: usize = 16;

/// Connections and observations for one command run.
pub(crate) struct Session<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) graph: StepGraph,
    pub(crate) transports: HashMap<String, Arc<dyn Transport>>,
    pub(crate) states: HashMap<String, HostState>,
    pub(crate) now: chrono::DateTime<chrono::Utc>,
    /// Which artefacts observation hashes in full.
    pub(crate) verify: observe::Verify,
    /// Resources made again on request (`--replace`).
    pub(crate) replace: BTreeSet<String>,
}

impl<'a> Session<'a> {
    /// Connect to the plan's hosts and observe them. What observation
    /// finds protected on each host, and on every other host entry for the
    /// same machine, is added to the plan's protection first (see
    /// [`crate::protect`]): every step is built against that.
    pub(crate) async fn open(
        plan: &'a mut Plan,
        printer: &Printer,
        verify: observe::Verify,
    ) -> Result<Session<'a>> {
        let graph = StepGraph::build(plan);
        let hosts = plan.used_hosts();
        let connected: Vec<_> = futures::stream::iter(hosts.iter().map(|h| remote::connect(h)))
            .buffered(HOST_CONCURRENCY)
            .collect()
            .await;
        let mut transports: HashMap<String, Arc<dyn Transport>> = HashMap::new();
        let mut first_error = None;
        for (h, t) in hosts.iter().zip(connected) {
            match t {
                Ok(t) => {
                    transports.insert(h.name.clone(), t);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let close = |transports: HashMap<String, Arc<dyn Transport>>| async move {
            futures::future::join_all(transports.values().map(|t| t.close())).await;
        };
        if let Some(e) = first_error {
            close(transports).await;
            return Err(e.into());
        }
        let states = match observe_all(plan, &transports, verify, printer).await {
            Ok(states) => states,
            Err(e) => {
                close(transports).await;
                return Err(e);
            }
        };
        if let Err(e) = crate::protect::apply(plan, &states) {
            close(transports).await;
            return Err(e.into());
        }
        Ok(Session {
            plan,
            graph,
            transports,
            states,
            now: crate::clock::now(),
            verify,
            replace: BTreeSet::new(),
        })
    }

    /// Observe every host again (under the apply lock).
    pub(crate) async fn observe(&mut self, printer: &Printer) -> Result<()> {
        self.states = observe_all(self.plan, &self.transports, self.verify, printer).await?;
        Ok(())
    }

    pub(crate) fn diff(&self) -> Diff {
        diff::diff_replacing(
            self.plan,
            &self.graph,
            &self.states,
            self.now,
            &self.replace,
        )
    }

    /// Steps a `--target` keeps: the target, what it depends on, the
    /// teardowns of ephemeral containers among them, and the guards.
    fn target_steps(&self, target: &str) -> Result<BTreeSet<String>> {
        let main = self.graph.main(target).ok_or_else(|| {
            miette!(
                code = "cutter::unknown_target",
                "unknown target `{target}`: no artefact, container or check of that name"
            )
        })?;
        let mut keep: BTreeSet<String> = self
            .graph
            .closure(main)
            .into_iter()
            .map(|n| self.graph.graph[n].id.clone())
            .collect();
        keep.retain(|id| !id.starts_with("guard-"));
        let containers: Vec<String> = keep
            .iter()
            .filter_map(|id| id.strip_prefix("container.").map(str::to_string))
            .collect();
        for c in containers {
            if self.graph.node(&format!("teardown.{c}")).is_some() {
                keep.insert(format!("teardown.{c}"));
            }
        }
        for n in self.graph.graph.node_indices() {
            let s = &self.graph.graph[n];
            if matches!(s.kind, StepKind::GuardBefore | StepKind::GuardAfter) {
                keep.insert(s.id.clone());
            }
        }
        Ok(keep)
    }

    pub(crate) fn plan(&self, target: Option<&str>) -> Result<(Diff, PlanView)> {
        let mut diff = self.diff();
        if let Some(t) = target {
            let keep = self.target_steps(t)?;
            for c in &mut diff.changes {
                if !keep.contains(&c.step) && c.action != Action::Noop {
                    c.action = Action::Noop;
                    c.reasons = vec![format!("not part of target `{t}`")];
                }
            }
        }
        let mut view = render::view(self.plan, &self.graph, &diff, &self.states, self.now);
        view.target = target.map(str::to_string);
        view.replace = self.replace.iter().cloned().collect();
        Ok((diff, view))
    }

    pub(crate) async fn close(&self) {
        futures::future::join_all(self.transports.values().map(|t| t.close())).await;
    }
}

/// Observe every connected host, a bounded number at once.
async fn observe_all(
    plan: &Plan,
    transports: &HashMap<String, Arc<dyn Transport>>,
    verify: observe::Verify,
    printer: &Printer,
) -> Result<HashMap<String, HostState>> {
    let started = std::time::Instant::now();
    let hosts: Vec<(&String, &Arc<dyn Transport>)> = transports.iter().collect();
    let results: Vec<_> = futures::stream::iter(
        hosts
            .iter()
            .map(|(_, t)| observe::observe(plan, t.as_ref(), verify)),
    )
    .buffered(HOST_CONCURRENCY)
    .collect()
    .await;
    let mut states = HashMap::new();
    for ((name, _), r) in hosts.iter().zip(results) {
        states.insert((*name).clone(), r?);
    }
    for w in diff::future_dated(plan, &states, crate::clock::now()) {
        printer.warn(&w);
    }
    printer.status(
        Verb::Observed,
        &format!(
            "{} host(s) in {:.2}s",
            hosts.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(states)
}
