//! Apply: run the pending steps over the DAG and collect their evidence.
//!
//! Phases:
//! 1. refuse conflicts, take each host's lock;
//! 2. run the pending steps as a ready queue: a step starts when every
//!    pending step it depends on has finished, at most `parallelism` at a
//!    time; only this task prints, workers send their outcome back;
//! 3. a failed step skips what depends on it, except that an ephemeral
//!    container is always torn down and guards always take their "after"
//!    reading;
//! 4. release the locks; the caller re-observes and writes the report.

pub mod failures;
mod interpret;
pub mod lock;
pub mod script;
pub mod step;
pub mod step_result;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use petgraph::graph::NodeIndex;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::diff::{Action, Diff};
use crate::graph::{StepGraph, StepKind};
use crate::observe::{self, HostState};
use crate::plan::{Plan, SecretSource};
use crate::printer::{Printer, Verb};
use crate::remote::{Output, Transport};

pub use interpret::parse_rowcounts;
pub use script::Script;
pub use step_result::StepResult;

/// Time between heartbeat lines when not on a terminal: 30 s, or less with
/// `CUTTER_HEARTBEAT_SECS` (1 to 30).
fn heartbeat_interval() -> Duration {
    static SECS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    Duration::from_secs(*SECS.get_or_init(|| {
        std::env::var("CUTTER_HEARTBEAT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| (1..=30).contains(v))
            .unwrap_or(30)
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
    /// What the step did on its host is not known: the host was not
    /// observed, or the connection to it was lost (before or while it ran).
    Unknown,
}

#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step: String,
    pub resource: String,
    pub kind: StepKind,
    pub host: String,
    pub action: Action,
    pub status: Status,
    pub seconds: f64,
    /// What the step reported, read once from its output.
    pub result: StepResult,
    /// For checks and guards: what was expected and what was seen.
    pub evidence: Vec<String>,
    pub error: Option<String>,
    /// The typed operations this step sent into containers cutter does not own.
    pub production_ops: Vec<String>,
}

pub struct Options {
    pub parallelism: usize,
    /// Run only these steps (a target and what it needs).
    pub only: Option<BTreeSet<String>>,
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
}

pub struct Context<'a> {
    pub plan: &'a Plan,
    pub graph: &'a StepGraph,
    pub diff: &'a Diff,
    pub states: &'a HashMap<String, HostState>,
    pub transports: &'a HashMap<String, Arc<dyn Transport>>,
    pub now: DateTime<Utc>,
    pub printer: &'a Printer,
    /// Who applies (the holder of the hosts' locks), for in-flight records.
    pub holder: &'a str,
}

struct Running {
    step: String,
    started: Instant,
    host: String,
    progress: Option<(String, String)>,
}

/// Run the pending steps; returns every step's outcome in completion order.
pub async fn run(ctx: &Context<'_>, opts: &Options) -> miette::Result<Vec<StepOutcome>> {
    let secrets = resolve_secrets(ctx)?;
    let order = ctx.graph.order();
    let pending: Vec<NodeIndex> = order
        .iter()
        .copied()
        .filter(|n| {
            let id = &ctx.graph.graph[*n].id;
            ctx.diff.get(id).is_some_and(|c| c.action != Action::Noop)
                && opts.only.as_ref().is_none_or(|only| only.contains(id))
        })
        .collect();
    let pending_set: BTreeSet<NodeIndex> = pending.iter().copied().collect();
    let position: HashMap<NodeIndex, usize> =
        order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut waiting: BTreeMap<usize, NodeIndex> =
        pending.iter().map(|n| (position[n], *n)).collect();
    let mut done: HashMap<NodeIndex, Status> = HashMap::new();
    let mut outcomes: Vec<StepOutcome> = Vec::new();
    let mut state = RunState::default();
    let mut set: JoinSet<(NodeIndex, StepOutcome, Option<String>)> = JoinSet::new();
    let mut running: HashMap<NodeIndex, Running> = HashMap::new();
    let mut last_beat = Instant::now();

    loop {
        // Start every step whose pending dependencies are finished.
        let stop = opts.interrupted.load(std::sync::atomic::Ordering::SeqCst);
        let keys: Vec<usize> = waiting.keys().copied().collect();
        for key in keys {
            if running.len() >= opts.parallelism.max(1) {
                break;
            }
            let Some(&n) = waiting.get(&key) else {
                continue;
            };
            let deps: Vec<NodeIndex> = ctx
                .graph
                .dependencies(n)
                .into_iter()
                .filter(|d| pending_set.contains(d))
                .collect();
            if deps.iter().any(|d| !done.contains_key(d)) {
                continue;
            }
            let step = ctx.graph.graph[n].clone();
            if let Some(why) = out_of_reach(ctx, &state, &step.id, &step.host) {
                waiting.remove(&key);
                ctx.printer
                    .status(Verb::Skipped, &format!("{} ({why})", step.id));
                done.insert(n, Status::Unknown);
                outcomes.push(outcome(ctx, &step.id, Status::Unknown, 0.0, Some(why)));
                continue;
            }
            let always = matches!(step.kind, StepKind::Teardown | StepKind::GuardAfter);
            let failed_dep = deps
                .iter()
                .find(|d| done[*d] != Status::Ok)
                .map(|d| ctx.graph.graph[*d].id.clone());
            let container_started = step.kind != StepKind::Teardown
                || ctx
                    .graph
                    .main(&step.resource)
                    .is_some_and(|m| done.get(&m).is_some_and(|s| *s != Status::Skipped));
            if (stop && !always) || (failed_dep.is_some() && !(always && container_started)) {
                waiting.remove(&key);
                let why = if stop {
                    "interrupted".to_string()
                } else {
                    format!("`{}` did not succeed", failed_dep.unwrap())
                };
                ctx.printer
                    .status(Verb::Skipped, &format!("{} ({why})", step.id));
                done.insert(n, Status::Skipped);
                outcomes.push(outcome(ctx, &step.id, Status::Skipped, 0.0, Some(why)));
                continue;
            }
            waiting.remove(&key);
            let action = ctx.diff.get(&step.id).map_or(Action::Run, |c| c.action);
            let mut job = match build(ctx, &state, &step.id, &secrets, &outcomes) {
                Ok(job) => job,
                Err(e) => {
                    done.insert(n, Status::Failed);
                    ctx.printer
                        .status(Verb::Failed, &format!("{}: {e}", step.id));
                    let o = outcome(ctx, &step.id, Status::Failed, 0.0, Some(e));
                    failures::settle_step(ctx, &o).await;
                    outcomes.push(o);
                    continue;
                }
            };
            failures::in_flight(ctx, &step, &mut job);
            ctx.printer.status(
                verb(action, step.kind),
                &format!("{} on {}", step.id, step.host),
            );
            let Some(transport) = ctx.transports.get(&step.host).cloned() else {
                // `out_of_reach` saw a connection: not expected, never a panic.
                continue;
            };
            let mut base = outcome(ctx, &step.id, Status::Ok, 0.0, None);
            base.production_ops = job.production_ops.clone();
            running.insert(
                n,
                Running {
                    step: step.id.clone(),
                    started: Instant::now(),
                    host: step.host.clone(),
                    progress: job.progress.clone(),
                },
            );
            let limit = step::timeout(ctx.plan, ctx.graph, &step.id);
            let nonce = step::nonce(ctx.plan, &step.id, ctx.now);
            let text = job.supervised(&nonce, limit);
            set.spawn(async move {
                let started = Instant::now();
                let mut o = base;
                let mut lost = None;
                // The host ends the step at `limit`; this is the backstop for
                // a host that cannot (dropping the command closes its
                // lifeline, which ends the step's processes there).
                let run = transport.run_held(&text, job.stdin.clone().unwrap_or_default());
                let result = match tokio::time::timeout(limit + Duration::from_secs(30), run).await
                {
                    Ok(r) => r,
                    Err(_) => Err(crate::remote::RemoteError::Lost {
                        host: transport.host().to_string(),
                        command: o.step.clone(),
                        detail: format!(
                            "no answer {}s after the step's timeout",
                            limit.as_secs() + 30
                        ),
                    }),
                };
                match result {
                    Ok(out) => {
                        let read = StepResult::parse(o.kind, &out.stdout_text());
                        if !out.success() {
                            o.status = Status::Failed;
                            o.error = Some(failure(&out));
                        }
                        match read {
                            Ok(r) => o.result = r,
                            Err(e) => {
                                o.status = Status::Failed;
                                o.error = Some(match o.error.take() {
                                    Some(first) => {
                                        format!("{first}; its results cannot be read: {e}")
                                    }
                                    None => format!("its results cannot be read: {e}"),
                                });
                            }
                        }
                        o.evidence
                            .push(String::from_utf8_lossy(&out.stdout).into_owned());
                    }
                    Err(e) => {
                        // No answer: whether the step finished on the host is
                        // not known. The host is lost when it no longer
                        // answers at all; then nothing more is run there.
                        o.status = Status::Unknown;
                        let help = miette::Diagnostic::help(&e)
                            .map(|h| h.to_string())
                            .unwrap_or_default();
                        o.error = Some(format!(
                            "{e}: {help}; whether it finished on the host is unknown (the next plan observes what it left)"
                        ));
                        if !answers(transport.as_ref()).await {
                            lost = Some(format!(
                                "the connection to host `{}` was lost during this apply",
                                transport.host()
                            ));
                        }
                    }
                }
                o.seconds = started.elapsed().as_secs_f64();
                (n, o, lost)
            });
        }
        if running.is_empty() {
            if waiting.is_empty() {
                break;
            }
            // Nothing can start and nothing runs, yet steps wait: a step they
            // need never finished. Not expected of a DAG, but never silent:
            // each one is reported as skipped, with the reason.
            for n in std::mem::take(&mut waiting).into_values() {
                let id = ctx.graph.graph[n].id.clone();
                let why = "a step it needs never finished".to_string();
                ctx.printer.status(Verb::Skipped, &format!("{id} ({why})"));
                done.insert(n, Status::Skipped);
                outcomes.push(outcome(ctx, &id, Status::Skipped, 0.0, Some(why)));
            }
            break;
        }
        let next = tokio::select! {
            r = set.join_next() => r,
            _ = tokio::time::sleep(Duration::from_millis(1000)) => {
                // Off a terminal (CI, cron, a log), a heartbeat line per
                // running step at least every 30 s says it is alive.
                let beat = !ctx.printer.is_live()
                    && last_beat.elapsed() >= heartbeat_interval();
                if ctx.printer.is_live() || beat {
                    // Bytes written so far by long-running producers (dumps).
                    let sizes = futures::future::join_all(running.values().map(|r| async {
                        let (dir, glob) = r.progress.as_ref()?;
                        // The temporary's name is made on the host (`mktemp`): found by its glob.
                        let cmd = format!("stat -c %s -- {}/{} 2>/dev/null || echo 0", crate::shell::quote(dir), glob);
                        let out = ctx.transports.get(&r.host)?.run(&cmd, None).await.ok()?;
                        out.stdout_text().trim().parse::<u64>().ok()
                    }))
                    .await;
                    if beat {
                        last_beat = Instant::now();
                        for (r, b) in running.values().zip(sizes) {
                            ctx.printer.status(
                                Verb::Running,
                                &format!(
                                    "{} for {}s{}",
                                    r.step,
                                    r.started.elapsed().as_secs(),
                                    b.map(|b| format!(", {b} bytes written")).unwrap_or_default()
                                ),
                            );
                        }
                    } else {
                        ctx.printer.progress(running.values().zip(sizes).map(|(r, b)| (r.step.as_str(), r.started.elapsed(), b)).collect());
                    }
                }
                continue;
            }
        };
        let Some(joined) = next else { break };
        let (n, mut o, lost) = joined.map_err(|e| miette::miette!("a step panicked: {e}"))?;
        running.remove(&n);
        if let Some(why) = lost
            && !state.lost.contains_key(&o.host)
        {
            ctx.printer
                .warn(&format!("{why}: its remaining steps are not run"));
            state.lost.insert(o.host.clone(), why);
        }
        let raw_stdout = std::mem::take(&mut o.evidence);
        interpret::interpret(
            ctx.plan,
            &mut state,
            &mut o,
            raw_stdout.first().map(String::as_str).unwrap_or(""),
        );
        match o.status {
            Status::Ok => ctx
                .printer
                .status(Verb::Finished, &format!("{} in {:.2}s", o.step, o.seconds)),
            _ => ctx.printer.error(&format!(
                "{} {} after {:.2}s: {}",
                o.step,
                if o.status == Status::Unknown {
                    "has an unknown outcome"
                } else {
                    "failed"
                },
                o.seconds,
                o.error.as_deref().unwrap_or("")
            )),
        }
        failures::settle_step(ctx, &o).await;
        done.insert(n, o.status);
        outcomes.push(o);
    }
    ctx.printer.clear();
    Ok(outcomes)
}

/// Why step `id` cannot run on `host`, if it cannot: the host was not
/// observed, or its connection was lost earlier in this apply.
fn out_of_reach(ctx: &Context<'_>, state: &RunState, id: &str, host: &str) -> Option<String> {
    if let Some(why) = state.lost.get(host) {
        return Some(format!("not run: {why}"));
    }
    let unobserved = ctx
        .diff
        .get(id)
        .is_some_and(|c| c.action == Action::Unknown);
    if unobserved || !ctx.transports.contains_key(host) {
        return Some(format!("not run: host `{host}` was not observed"));
    }
    None
}

/// Whether the host still answers a trivial command within 20 s.
async fn answers(transport: &dyn Transport) -> bool {
    let ping = transport.run("true", None);
    matches!(
        tokio::time::timeout(Duration::from_secs(20), ping).await,
        Ok(Ok(out)) if out.success()
    )
}

fn verb(action: Action, kind: StepKind) -> Verb {
    match (action, kind) {
        (_, StepKind::Check) => Verb::Checking,
        (_, StepKind::Teardown) => Verb::Removing,
        (_, StepKind::Prune) => Verb::Pruning,
        (_, StepKind::GuardBefore | StepKind::GuardAfter) => Verb::Guarding,
        (Action::Create, _) => Verb::Creating,
        (Action::Replace, _) => Verb::Replacing,
        (Action::Start, _) => Verb::Starting,
        _ => Verb::Running,
    }
}

fn failure(out: &Output) -> String {
    let tail = out.stderr_tail();
    format!(
        "{}{}",
        observe::code_text(out.code),
        if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        }
    )
}

fn outcome(
    ctx: &Context<'_>,
    id: &str,
    status: Status,
    seconds: f64,
    error: Option<String>,
) -> StepOutcome {
    let n = ctx.graph.node(id).unwrap();
    let step = &ctx.graph.graph[n];
    StepOutcome {
        step: id.to_string(),
        resource: step.resource.clone(),
        kind: step.kind,
        host: step.host.clone(),
        action: ctx.diff.get(id).map_or(Action::Run, |c| c.action),
        status,
        seconds,
        result: StepResult::None,
        evidence: Vec::new(),
        error,
        production_ops: Vec::new(),
    }
}

/// What earlier steps of this apply produced, for later ones.
#[derive(Default)]
struct RunState {
    /// Artefact name → path made in this apply.
    produced: HashMap<String, String>,
    /// Guard name → its "before" reading.
    guard_before: HashMap<String, String>,
    /// Hosts whose connection was lost during this apply, with how: their
    /// remaining steps are not run.
    lost: HashMap<String, String>,
}

fn resolve_secrets(ctx: &Context<'_>) -> miette::Result<HashMap<String, Vec<(String, String)>>> {
    let mut out = HashMap::new();
    for c in ctx.plan.containers.values() {
        let needed = ctx
            .diff
            .get(&format!("container.{}", c.name))
            .is_some_and(|ch| matches!(ch.action, Action::Create | Action::Replace | Action::Run));
        if !needed {
            continue;
        }
        let mut values = Vec::new();
        for (key, source) in &c.secrets {
            let value = match source {
                SecretSource::Env(var) => std::env::var(var).map_err(|_| {
                    miette::miette!(
                        code = "cutter::secret",
                        help = format!("export {var}=... before apply, or use `file = \"...\"`"),
                        "secret `{key}` of container `{}` reads environment variable `{var}`, which is not set",
                        c.name
                    )
                })?,
                SecretSource::File(path) => std::fs::read_to_string(path)
                    .map_err(|e| miette::miette!(code = "cutter::secret", "secret `{key}` of container `{}`: cannot read `{}`: {e}", c.name, path.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            };
            values.push((key.clone(), value));
        }
        out.insert(c.name.clone(), values);
    }
    Ok(out)
}

fn build(
    ctx: &Context<'_>,
    state: &RunState,
    id: &str,
    secrets: &HashMap<String, Vec<(String, String)>>,
    outcomes: &[StepOutcome],
) -> Result<Script, String> {
    let inputs = step::Inputs {
        plan: ctx.plan,
        graph: ctx.graph,
        diff: ctx.diff,
        states: ctx.states,
        now: ctx.now,
        produced: &state.produced,
    };
    let mut s = step::build(&inputs, id, secrets)?;
    let node = &ctx.graph.graph[ctx.graph.node(id).unwrap()];
    if node.kind == StepKind::Teardown {
        let plan = ctx.plan;
        if let Some(c) = plan.containers.get(&node.resource)
            && let Some(file) = inputs.tested_file(&c.name)
        {
            let container_step = outcomes
                .iter()
                .find(|o| o.step == format!("container.{}", c.name));
            let checks: Vec<&StepOutcome> = outcomes
                .iter()
                .filter(|o| {
                    o.kind == StepKind::Check
                        && plan.checks.get(&o.resource).and_then(|k| k.own_container())
                            == Some(c.name.as_str())
                })
                .collect();
            let passed = container_step.is_some_and(|o| o.status == Status::Ok)
                && checks.iter().all(|o| o.status == Status::Ok);
            let evidence = serde_json::json!({
                "passed": passed,
                "tested_at": ctx.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "container": c.docker_name,
                "container_id": container_step.and_then(|o| o.result.inspected()).map(|i| &i.id),
                "volume": c.volume,
                "network": c.network,
                "image": c.image,
                "image_id": container_step.and_then(|o| o.result.inspected()).map(|i| &i.image_id),
                "artefact": file,
                // Written as the script printed them: the exit code as text.
                "restore_exit": container_step.and_then(|o| o.result.restore()).map(|r| r.exit.to_string()),
                "restore_stderr": container_step.map(|o| o.result.restore().map(|r| r.stderr.as_str()).unwrap_or_default()),
                "checks": checks.iter().map(|o| serde_json::json!({"check": o.resource, "status": o.status, "evidence": o.evidence})).collect::<Vec<_>>(),
            });
            s.stdin = Some(evidence.to_string().into_bytes());
        }
    }
    Ok(s)
}
