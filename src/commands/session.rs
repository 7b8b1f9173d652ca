//! A command run's connections to the plan's hosts and what was observed
//! on them: connect, observe (again when needed), plan, close.
//!
//! A host that cannot be reached or observed does not stop the others: it
//! is kept in `unobserved` with the reason, its steps are `unknown`, and
//! the command exits 1 after doing what it can with the rest. Only when no
//! host at all is observed does opening fail, with the first host's own
//! diagnostic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use miette::{Diagnostic, Result, miette};

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
    /// The hosts connected to.
    pub(crate) transports: HashMap<String, Arc<dyn Transport>>,
    /// The hosts observed: every host of the plan is here or in `unobserved`.
    pub(crate) states: HashMap<String, HostState>,
    /// The hosts not observed (unreachable, or their observation failed),
    /// with why.
    pub(crate) unobserved: BTreeMap<String, String>,
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
        let mut unobserved = BTreeMap::new();
        let mut first_error: Option<miette::Report> = None;
        for (h, t) in hosts.iter().zip(connected) {
            match t {
                Ok(t) => {
                    transports.insert(h.name.clone(), t);
                }
                Err(e) => {
                    unobserved.insert(h.name.clone(), reason(&e));
                    first_error.get_or_insert(e.into());
                }
            }
        }
        let close = |transports: HashMap<String, Arc<dyn Transport>>| async move {
            futures::future::join_all(transports.values().map(|t| t.close())).await;
        };
        let mut states = HashMap::new();
        let observed = observe_all(
            plan,
            &transports,
            verify,
            printer,
            &mut states,
            &mut unobserved,
        )
        .await;
        if let Err(e) = observed {
            first_error.get_or_insert(e);
        }
        if states.is_empty()
            && let Some(e) = first_error
        {
            // Nothing to show: the host's own diagnostic, as for a plan with
            // a single host.
            close(transports).await;
            return Err(e);
        }
        if let Err(e) = crate::protect::apply(plan, &states) {
            close(transports).await;
            return Err(e.into());
        }
        Ok(Session {
            plan,
            graph,
            transports,
            states,
            unobserved,
            now: crate::clock::now(),
            verify,
            replace: BTreeSet::new(),
        })
    }

    /// Observe every connected host again (under the apply lock). A host
    /// whose observation fails moves to `unobserved`; the first such error
    /// is returned, after every host was tried.
    pub(crate) async fn observe(&mut self, printer: &Printer) -> Result<()> {
        observe_all(
            self.plan,
            &self.transports,
            self.verify,
            printer,
            &mut self.states,
            &mut self.unobserved,
        )
        .await
    }

    /// The error a command ends with when some hosts were not observed,
    /// after showing what it could for the others.
    pub(crate) fn unobserved_error(&self) -> Option<miette::Report> {
        if self.unobserved.is_empty() {
            return None;
        }
        let hosts: Vec<String> = self
            .unobserved
            .iter()
            .map(|(h, why)| format!("host `{h}`: {why}"))
            .collect();
        Some(miette!(
            code = "cutter::unobserved",
            help = "what the other hosts need is shown; make the host reachable (see why above) and run again",
            "{} of {} host(s) could not be observed, so their steps are unknown:\n  {}",
            self.unobserved.len(),
            self.unobserved.len() + self.states.len(),
            hosts.join("\n  ")
        ))
    }

    /// What is observed of `host`, or why it was not.
    pub(crate) fn state(&self, host: &str) -> Result<&HostState> {
        self.states.get(host).ok_or_else(|| self.not_observed(host))
    }

    /// The connection to `host`, or why there is none.
    pub(crate) fn transport(&self, host: &str) -> Result<Arc<dyn Transport>> {
        self.transports
            .get(host)
            .cloned()
            .ok_or_else(|| self.not_observed(host))
    }

    fn not_observed(&self, host: &str) -> miette::Report {
        miette!(
            code = "cutter::unobserved",
            "host `{host}` could not be observed: {}",
            self.unobserved
                .get(host)
                .map_or("it is not connected", String::as_str)
        )
    }

    /// The plan view of `diff`, with why each unobserved host was not.
    pub(crate) fn view(&self, diff: &Diff) -> PlanView {
        render::view(
            self.plan,
            &self.graph,
            diff,
            &self.states,
            &self.unobserved,
            self.now,
        )
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
        let mut view = self.view(&diff);
        view.target = target.map(str::to_string);
        view.replace = self.replace.iter().cloned().collect();
        Ok((diff, view))
    }

    pub(crate) async fn close(&self) {
        futures::future::join_all(self.transports.values().map(|t| t.close())).await;
    }
}

/// Observe every connected host, a bounded number at once, into `states`;
/// a host whose observation fails moves to `unobserved`, and the first
/// such error is returned after every host was tried.
async fn observe_all(
    plan: &Plan,
    transports: &HashMap<String, Arc<dyn Transport>>,
    verify: observe::Verify,
    printer: &Printer,
    states: &mut HashMap<String, HostState>,
    unobserved: &mut BTreeMap<String, String>,
) -> Result<()> {
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
    let mut first_error = None;
    for ((name, _), r) in hosts.iter().zip(results) {
        match r {
            Ok(state) => {
                unobserved.remove(*name);
                states.insert((*name).clone(), state);
            }
            Err(e) => {
                states.remove(*name);
                unobserved.insert((*name).clone(), reason(&e));
                first_error.get_or_insert(e);
            }
        }
    }
    for w in diff::future_dated(plan, states, crate::clock::now()) {
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
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// An error and its help on one line: why a host was not observed.
fn reason(e: &dyn Diagnostic) -> String {
    let mut text = e.to_string();
    if let Some(help) = e.help() {
        let help = help.to_string();
        let help = help.trim();
        if !help.is_empty() {
            text.push_str(": ");
            text.push_str(&help.lines().collect::<Vec<_>>().join(" "));
        }
    }
    text
}
