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
use crate::observe::{self, ContainerInfo, HostState};
use crate::plan::{CheckKind, GuardKind, Plan, SecretSource};
use crate::printer::{Printer, Verb};
use crate::remote::{Output, Transport};

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
    let mut set: JoinSet<(NodeIndex, StepOutcome)> = JoinSet::new();
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
            let n = waiting[&key];
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
            let job = match build(ctx, &state, &step.id, &secrets, &outcomes) {
                Ok(job) => job,
                Err(e) => {
                    done.insert(n, Status::Failed);
                    ctx.printer
                        .status(Verb::Failed, &format!("{}: {e}", step.id));
                    outcomes.push(outcome(ctx, &step.id, Status::Failed, 0.0, Some(e)));
                    continue;
                }
            };
            ctx.printer.status(
                verb(action, step.kind),
                &format!("{} on {}", step.id, step.host),
            );
            let transport = ctx.transports[&step.host].clone();
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
                        o.status = Status::Failed;
                        let help = miette::Diagnostic::help(&e)
                            .map(|h| h.to_string())
                            .unwrap_or_default();
                        o.error = Some(format!("{e}: {help}"));
                    }
                }
                o.seconds = started.elapsed().as_secs_f64();
                (n, o)
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
                        let out = ctx.transports[&r.host].run(&cmd, None).await.ok()?;
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
        let (n, mut o) = joined.map_err(|e| miette::miette!("a step panicked: {e}"))?;
        running.remove(&n);
        let raw_stdout = std::mem::take(&mut o.evidence);
        interpret(
            ctx,
            &mut state,
            &mut o,
            raw_stdout.first().map(String::as_str).unwrap_or(""),
        );
        match o.status {
            Status::Ok => ctx
                .printer
                .status(Verb::Finished, &format!("{} in {:.2}s", o.step, o.seconds)),
            _ => ctx.printer.error(&format!(
                "{} failed after {:.2}s: {}",
                o.step,
                o.seconds,
                o.error.as_deref().unwrap_or("")
            )),
        }
        done.insert(n, o.status);
        outcomes.push(o);
    }
    ctx.printer.clear();
    Ok(outcomes)
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
        let c = &plan.containers[&node.resource];
        if let Some(r) = &c.restore
            && let Some(file) = inputs.artefact_file(&r.artefact)
        {
            let container_step = outcomes
                .iter()
                .find(|o| o.step == format!("container.{}", c.name));
            let checks: Vec<&StepOutcome> = outcomes
                .iter()
                .filter(|o| {
                    o.kind == StepKind::Check
                        && plan.checks[&o.resource].own_container() == Some(&c.name)
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

/// Judge a finished step's results: checks compare, guards compare before and after.
fn interpret(ctx: &Context<'_>, state: &mut RunState, o: &mut StepOutcome, stdout: &str) {
    let plan = ctx.plan;
    match o.kind {
        StepKind::Artefact if o.status == Status::Ok => {
            if let Some(w) = o.result.written() {
                state.produced.insert(o.resource.clone(), w.path.clone());
            }
        }
        StepKind::Container => {
            if let Some(restore) = o.result.restore() {
                let (code, stderr) = (restore.exit, restore.stderr.clone());
                let c = &plan.containers[&o.resource];
                let r = c
                    .restore
                    .as_ref()
                    .expect("restore results come from a restore");
                let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
                let untolerated: Vec<&str> = errors
                    .iter()
                    .copied()
                    .filter(|l| !r.tolerated_errors.iter().any(|t| l.contains(t.as_str())))
                    .collect();
                let ok = r.ok_exit_codes.contains(&code)
                    || (!errors.is_empty() && untolerated.is_empty());
                o.evidence.push(format!(
                    "restore exit code {code} ({}){}",
                    if code == 0 {
                        "clean"
                    } else if ok {
                        "non-fatal: only tolerated errors"
                    } else {
                        "fatal"
                    },
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!("\n{}", stderr.trim())
                    }
                ));
                if !ok && o.status == Status::Ok {
                    o.status = Status::Failed;
                    o.error = Some(format!(
                        "restore into `{}` exited {code}: {}",
                        c.docker_name,
                        untolerated.first().copied().unwrap_or("(no error line)")
                    ));
                }
            }
        }
        StepKind::Check if o.status == Status::Ok => {
            let k = &plan.checks[&o.resource];
            let read = o.result.check();
            let raw = read.result.unwrap_or_default();
            let result = raw.trim().to_string();
            let (ok, evidence) = match &k.kind {
                CheckKind::Equals { expect, .. } => (
                    result == expect.trim(),
                    vec![format!("expected `{}`, saw `{result}`", expect.trim())],
                ),
                CheckKind::SameAs { other, .. } => {
                    let theirs = read.other.unwrap_or_default().trim().to_string();
                    (
                        result == theirs,
                        vec![format!(
                            "`{}` gave `{result}`, `{}` gave `{theirs}`",
                            place_name(plan, &k.place),
                            place_name(plan, other)
                        )],
                    )
                }
                CheckKind::Rowcounts { tables, artefact } => {
                    let snapshot = parse_rowcounts(read.snapshot.as_deref().unwrap_or_default());
                    let seen = parse_rowcounts(&raw);
                    let mut ok = true;
                    let mut ev = Vec::new();
                    for t in tables {
                        let (want, got) = (snapshot.get(t), seen.get(t));
                        let same = want.is_some() && want == got;
                        ok &= same;
                        ev.push(format!(
                            "{t}: snapshot `{artefact}` {}, restored {} {}",
                            want.map_or("absent".into(), |v| v.to_string()),
                            got.map_or("absent".into(), |v| v.to_string()),
                            if same { "PASS" } else { "FAIL" }
                        ));
                    }
                    let passed = ev.iter().filter(|e| e.ends_with("PASS")).count();
                    ev.insert(0, format!("{passed}/{} tables match", tables.len()));
                    (ok, ev)
                }
            };
            o.evidence = evidence;
            if !ok {
                o.status = Status::Failed;
                o.error = Some(format!(
                    "check `{}` failed: {}",
                    o.resource,
                    o.evidence.join("; ")
                ));
            }
        }
        StepKind::GuardBefore if o.status == Status::Ok => {
            let reading = guard_reading(plan, &o.resource, stdout);
            o.evidence = vec![reading.clone()];
            state.guard_before.insert(o.resource.clone(), reading);
        }
        StepKind::GuardAfter if o.status == Status::Ok => {
            let after = guard_reading(plan, &o.resource, stdout);
            match state.guard_before.get(&o.resource) {
                Some(before) if *before == after => {
                    o.evidence = vec![
                        format!("before: {before}"),
                        format!("after:  {after}"),
                        "identical".into(),
                    ]
                }
                Some(before) => {
                    let diff = similar::TextDiff::from_lines(before.as_str(), after.as_str())
                        .unified_diff()
                        .header("before", "after")
                        .to_string();
                    o.status = Status::Failed;
                    o.evidence = vec![format!("before: {before}"), format!("after:  {after}")];
                    o.error = Some(format!(
                        "guard `{}` failed: protected state changed during the apply\n{diff}",
                        o.resource
                    ));
                }
                None => {
                    o.status = Status::Failed;
                    o.error = Some(format!(
                        "guard `{}` has no reading from before the apply",
                        o.resource
                    ));
                }
            }
        }
        _ => {}
    }
}

/// A guard's reading, one line per protected thing, sorted.
fn guard_reading(plan: &Plan, guard: &str, stdout: &str) -> String {
    let g = &plan.guards[guard];
    match &g.kind {
        GuardKind::SchemaUnchanged { .. } => format!(
            "schema sha256 {}",
            stdout.split_whitespace().next().unwrap_or("")
        ),
        GuardKind::ProtectedUnchanged => {
            let protected = &plan.hosts[&g.host].protected;
            let mut parts = stdout.split(script::STATE_SEPARATOR);
            let containers: Vec<ContainerInfo> =
                observe::parse_inspect(parts.next().unwrap_or("")).unwrap_or_default();
            let volumes: Vec<serde_json::Value> =
                serde_json::from_str(parts.next().unwrap_or("[]").trim()).unwrap_or_default();
            let networks: Vec<serde_json::Value> =
                serde_json::from_str(parts.next().unwrap_or("[]").trim()).unwrap_or_default();
            let mut lines: Vec<String> = containers
                .iter()
                .filter(|c| protected.covers(*c))
                .map(|c| {
                    format!(
                        "{} id={} image={} state={} restarts={} started={}",
                        c.name, c.id, c.image, c.state, c.restart_count, c.started_at
                    )
                })
                .collect();
            for name in &protected.containers {
                if !containers
                    .iter()
                    .any(|c| crate::plan::Protected::names(name, c))
                {
                    lines.push(format!("{name} absent"));
                }
            }
            let text = |v: &serde_json::Value, k: &str| {
                v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
            };
            for name in &protected.volumes {
                match volumes.iter().find(|v| text(v, "Name") == *name) {
                    Some(v) => lines.push(format!(
                        "volume {name} created={} mountpoint={}",
                        text(v, "CreatedAt"),
                        text(v, "Mountpoint")
                    )),
                    None => lines.push(format!("volume {name} absent")),
                }
            }
            for name in &protected.networks {
                match networks.iter().find(|n| text(n, "Name") == *name) {
                    Some(n) => {
                        let mut attached: Vec<String> = n
                            .get("Containers")
                            .and_then(|c| c.as_object())
                            .map(|c| c.values().map(|x| text(x, "Name")).collect())
                            .unwrap_or_default();
                        attached.sort();
                        lines.push(format!(
                            "network {name} id={} containers={}",
                            crate::diff::short(&text(n, "Id")),
                            attached.join(",")
                        ));
                    }
                    None => lines.push(format!("network {name} absent")),
                }
            }
            lines.sort();
            lines.join("\n")
        }
    }
}

/// `schema|table|rows` lines into `schema.table` → rows.
pub fn parse_rowcounts(text: &str) -> HashMap<String, i64> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            let (s, t, n) = (parts.next()?, parts.next()?, parts.next()?);
            Some((format!("{s}.{t}"), n.trim().parse().ok()?))
        })
        .collect()
}

/// The Docker name of a place, for evidence.
fn place_name(plan: &Plan, place: &crate::plan::Place) -> String {
    match place {
        crate::plan::Place::Own(n) => plan.containers[n].docker_name.clone(),
        crate::plan::Place::External(r) => r.clone(),
        crate::plan::Place::Host => "the host".into(),
    }
}
