//! `cutter apply`: apply a plan file, or a saved plan exactly as reviewed.
//!
//! 1. Load the plan (or the saved plan and the plan file it names), observe.
//! 2. Check a saved plan's contract; show the plan and confirm.
//! 3. Take each host's lock; unless the host's apply generation proves
//!    that no apply ran since step 1, observe again under it; apply what is
//!    still missing and confirmed.
//! 4. Observe once more and write the evidence report (and its copies).

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use miette::{Result, miette};

use super::locks::Locks;
use super::saved::{check_contract, pending_steps};
use super::session::Session;
use super::{
    check_target, confirm, conflict_error, emit, read_json_file, replace_set, warn_unused,
};
use crate::apply;
use crate::cli::{Format, Inputs};
use crate::diff::{self, Diff};
use crate::exit_status::ExitStatus;
use crate::observe;
use crate::plan::{self, VarOverrides};
use crate::printer::{Printer, Verb};
use crate::render::{self, PlanView};
use crate::report;

/// What `cutter apply` was asked to do.
pub(crate) struct Options {
    /// Variables (not with a saved plan, which carries its own).
    pub(crate) inputs: Inputs,
    pub(crate) yes: bool,
    pub(crate) parallelism: usize,
    pub(crate) target: Option<String>,
    pub(crate) lock_wait: Option<Duration>,
    pub(crate) report_dir: PathBuf,
    pub(crate) sign_key: Option<PathBuf>,
    pub(crate) acknowledge: Vec<String>,
    pub(crate) replace: Vec<String>,
}

pub(crate) async fn exec(path: &Path, opts: &Options, printer: &Printer) -> Result<ExitStatus> {
    // A saved plan names its plan file and what it expected to find.
    let saved: Option<PlanView> = if path.extension().is_some_and(|e| e == "json") {
        let text = read_json_file(path)?;
        super::check_format_version(
            &text,
            path,
            "saved plan",
            render::FORMAT_VERSION,
            "cutter::saved_plan",
        )?;
        let view: PlanView = serde_json::from_str(&text).map_err(|e| {
            miette!(
                code = "cutter::saved_plan",
                "`{}` is not a saved cutter plan: {e}",
                path.display()
            )
        })?;
        Some(view)
    } else {
        None
    };
    let plan_path = saved
        .as_ref()
        .map_or(path.to_path_buf(), |v| PathBuf::from(&v.plan_file));
    let overrides = match &saved {
        Some(v) => {
            if !opts.inputs.is_empty() {
                return Err(miette!(
                    code = "cutter::saved_plan",
                    help = "drop `--var`/`--var-file`, or plan again with the new values",
                    "a saved plan applies with the variables it was planned with"
                ));
            }
            VarOverrides::saved(&v.vars)
        }
        None => VarOverrides::from_args(&opts.inputs.vars, &opts.inputs.var_files)?,
    };
    crate::clock::check()?;
    let mut plan = plan::load_with(&plan_path, &overrides)?;
    warn_unused(&overrides, &plan_path, printer);
    check_target(&plan, opts.target.as_deref())?;
    if let Some(v) = &saved
        && v.plan_sha256 != plan.sha256
    {
        return Err(miette!(
            code = "cutter::stale_plan",
            help = "run `cutter plan -o` again and review the new plan",
            "the saved plan `{}` is stale: `{}` changed since it was planned",
            path.display(),
            plan_path.display()
        ));
    }
    // A saved plan replaces exactly what was reviewed.
    let wanted = match &saved {
        Some(v) if !opts.replace.is_empty() && opts.replace != v.replace => {
            return Err(miette!(
                code = "cutter::saved_plan_contract",
                help = "run `cutter plan --replace ... -o` again and review the new plan",
                "the saved plan `{}` was made with --replace {:?}, not {:?}",
                path.display(),
                v.replace,
                opts.replace
            ));
        }
        Some(v) => v.replace.clone(),
        None => opts.replace.clone(),
    };
    let replace = replace_set(&plan, &wanted)?;
    let mut session = Session::open(&mut plan, printer, observe::Verify::AsNeeded).await?;
    session.replace = replace;
    if let Some(v) = &saved
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&v.generated_at)
    {
        // Names made from `{{ timestamp }}` are the ones that were reviewed.
        session.now = t.with_timezone(&chrono::Utc);
    }
    let result = apply_in(&mut session, saved.as_ref(), path, opts, printer).await;
    session.close().await;
    result
}

async fn apply_in(
    session: &mut Session<'_>,
    saved: Option<&PlanView>,
    path: &Path,
    opts: &Options,
    printer: &Printer,
) -> Result<ExitStatus> {
    let mut run = Run {
        session,
        saved,
        path,
        opts,
        printer,
    };
    let confirmed = match run.confirm().await? {
        ControlFlow::Continue(c) => c,
        ControlFlow::Break(status) => return Ok(status),
    };
    let locks = Locks::take(run.session, run.opts.lock_wait, printer).await?;
    let diff = if locks.unchanged_since(&run.session.states) {
        // No apply ran since the observation that was confirmed: it still
        // stands, and is not made again.
        run.session
            .plan(run.opts.target.as_deref())
            .map(|(diff, _)| ControlFlow::Continue(diff))
    } else {
        run.observe_under_lock(&confirmed.view).await
    };
    let diff = match diff {
        Ok(ControlFlow::Continue(diff)) => diff,
        Ok(ControlFlow::Break(status)) => {
            locks.release().await;
            return Ok(status);
        }
        Err(e) => {
            locks.release().await;
            return Err(e);
        }
    };
    let interrupted = watch_signals();
    // The report's times are real even when `CUTTER_NOW` fixes "now".
    let started = chrono::Utc::now();
    let outcomes = run
        .steps(&diff, confirmed.only, &interrupted, &locks.holder)
        .await;
    locks.release().await;
    let outcomes = outcomes?;
    let was_interrupted = interrupted.flag.load(Ordering::SeqCst);
    let (r, times) = run
        .evidence(&outcomes, started, was_interrupted, &locks.holder)
        .await?;
    finish(printer, &outcomes, &times, &r)
}

/// One apply in an open session: what was asked, and where it reports.
struct Run<'r, 's> {
    session: &'r mut Session<'s>,
    /// The saved plan being applied as reviewed, if any.
    saved: Option<&'r PlanView>,
    /// The file given on the command line (the plan or the saved plan).
    path: &'r Path,
    opts: &'r Options,
    printer: &'r Printer,
}

/// What the operator confirmed: the plan as shown, and for a saved plan
/// the only steps it may run.
struct Confirmed {
    view: PlanView,
    only: Option<BTreeSet<String>>,
}

/// When the apply ran, in real time: `finished` after the last observation.
struct Times {
    started: chrono::DateTime<chrono::Utc>,
    finished: chrono::DateTime<chrono::Utc>,
}

/// The flag a first signal sets, and the task watching for signals.
struct Interruption {
    flag: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<()>,
}

/// SIGINT (Ctrl-C), SIGTERM (a cancelled CI job) or SIGHUP (the terminal
/// closed): stop starting steps and clean up; a second signal exits at
/// once. Standard error may be gone with the terminal, so writing to it
/// must not panic.
fn watch_signals() -> Interruption {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let watcher = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let mut signals = 0;
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                _ = term.recv() => {}
                _ = hangup.recv() => {}
            }
            signals += 1;
            if signals == 1 {
                set.store(true, Ordering::SeqCst);
                crate::printer::stderr_text(
                    "\ninterrupted: finishing running steps, starting no new ones, tearing down test containers (again to exit at once)\n",
                );
            } else {
                crate::printer::stderr_text(
                    "\ninterrupted twice: exiting now; the host lock and test containers may remain (the next apply removes a dead local lock)\n",
                );
                std::process::exit(130);
            }
        }
    });
    Interruption { flag, watcher }
}

impl Run<'_, '_> {
    /// Plan, hold a saved plan to what was reviewed, show the plan and ask;
    /// `Break` when there is nothing to do or the operator declined.
    async fn confirm(&mut self) -> Result<ControlFlow<ExitStatus, Confirmed>> {
        let (opts, printer) = (self.opts, self.printer);
        if !opts.acknowledge.is_empty() {
            acknowledge(self.session, &opts.acknowledge, printer).await?;
        }
        let (diff, view) = self.session.plan(opts.target.as_deref())?;
        let mut only: Option<BTreeSet<String>> = None;
        if let Some(saved) = self.saved {
            if saved.observed_fingerprint != view.observed_fingerprint {
                return Err(miette!(
                    code = "cutter::stale_plan",
                    help = "run `cutter plan -o` again and review the new plan",
                    "the saved plan `{}` is stale: the hosts changed since it was planned",
                    self.path.display()
                ));
            }
            check_contract(saved, &view, opts.target.as_deref(), self.path)?;
            only = Some(pending_steps(saved));
        }
        if diff.conflicts().next().is_some() {
            emit(&view, Format::Text, "cutter apply", false, printer)?;
            return Err(conflict_error(&diff));
        }
        // What a host not observed protects cannot be merged into a host
        // that may be the same machine (see `protect`): apply nothing.
        let session = &*self.session;
        if let Some(h) = session.unobserved.keys().find(|h| {
            session
                .plan
                .hosts
                .get(*h)
                .is_some_and(|x| !x.protected.is_empty())
        }) {
            emit(&view, Format::Text, "cutter apply", false, printer)?;
            return Err(miette!(
                code = "cutter::unobserved",
                help = "make the host reachable and apply again",
                "host `{h}` was not observed and declares protected resources: another host of the plan may be the same machine, so nothing is applied"
            ));
        }
        if !diff.has_work() {
            if !diff.standing.is_empty() || !self.session.unobserved.is_empty() {
                emit(&view, Format::Text, "cutter apply", false, printer)?;
            }
            if let Some(e) = self.session.unobserved_error() {
                return Err(e);
            }
            printer.status(
                Verb::Unchanged,
                &format!(
                    "{}: the hosts already match ({} step(s) in place)",
                    self.session.plan.file.display(),
                    view.summary.unchanged
                ),
            );
            return Ok(ControlFlow::Break(ExitStatus::Success));
        }
        emit(&view, Format::Text, "cutter apply", true, printer)?;
        if !opts.yes
            && !confirm(
                printer,
                "Apply these changes?",
                "apply",
                "pass `--yes` to apply without a prompt",
            )?
        {
            printer.status(Verb::Cancelled, "nothing was applied");
            return Ok(ControlFlow::Break(ExitStatus::Failure));
        }
        Ok(ControlFlow::Continue(Confirmed { view, only }))
    }

    /// Another apply may have run while this one waited for the lock (or
    /// between the plan and the lock): observe again under the lock, and
    /// apply only what is still missing, never more than was confirmed.
    async fn observe_under_lock(
        &mut self,
        confirmed: &PlanView,
    ) -> Result<ControlFlow<ExitStatus, Diff>> {
        let printer = self.printer;
        self.session.observe(printer).await?;
        let (diff, view) = self.session.plan(self.opts.target.as_deref())?;
        let (was, now) = (pending_steps(confirmed), pending_steps(&view));
        let changed = view.observed_fingerprint != confirmed.observed_fingerprint;
        if changed && (self.saved.is_some() || !now.is_subset(&was)) {
            return Err(miette!(
                code = "cutter::stale_plan",
                help = "run plan (or apply) again and review what is missing now",
                "the hosts changed before the lock was taken (another apply?): not applying what was not reviewed"
            ));
        }
        if changed {
            printer.status(
                Verb::ReObserved,
                &format!(
                    "the hosts changed while waiting for the lock: {} of {} confirmed step(s) remain",
                    now.len(),
                    was.len()
                ),
            );
        }
        if now.is_empty() {
            printer.status(Verb::Unchanged, "another apply already did everything");
            return Ok(ControlFlow::Break(ExitStatus::Success));
        }
        Ok(ControlFlow::Continue(diff))
    }

    /// Run the steps (each records on its host that it is in flight, and
    /// how it ended).
    async fn steps(
        &self,
        diff: &Diff,
        only: Option<BTreeSet<String>>,
        interrupted: &Interruption,
        holder: &str,
    ) -> Result<Vec<apply::StepOutcome>> {
        let (session, plan) = (&*self.session, self.session.plan);
        let ctx = apply::Context {
            plan,
            graph: &session.graph,
            diff,
            states: &session.states,
            transports: &session.transports,
            now: session.now,
            printer: self.printer,
            holder,
        };
        let opts = apply::Options {
            parallelism: self.opts.parallelism,
            only,
            interrupted: interrupted.flag.clone(),
        };
        let outcomes = apply::run(&ctx, &opts).await;
        interrupted.watcher.abort();
        outcomes
    }

    /// Observe again, so the report holds only what the hosts show; write
    /// the report, sign it, and keep a copy on each host.
    async fn evidence(
        &self,
        outcomes: &[apply::StepOutcome],
        started: chrono::DateTime<chrono::Utc>,
        interrupted: bool,
        operator: &str,
    ) -> Result<(report::Report, Times)> {
        let (session, plan, printer) = (&*self.session, self.session.plan, self.printer);
        let mut after = HashMap::new();
        // A host not connected to was not observed either.
        let mut unobserved = session.unobserved.clone();
        for (name, t) in &session.transports {
            match observe::observe(plan, t.as_ref(), observe::Verify::AsNeeded).await {
                Ok(state) => {
                    unobserved.remove(name);
                    after.insert(name.clone(), state);
                }
                Err(e) => {
                    let help = miette::Diagnostic::help(&e)
                        .map(|h| format!(": {}", h.to_string().trim()))
                        .unwrap_or_default();
                    unobserved.insert(name.clone(), format!("{e}{help}"));
                }
            }
        }
        let times = Times {
            started,
            finished: chrono::Utc::now(),
        };
        let mut r = report::build(
            plan,
            &after,
            outcomes,
            &times.started.to_rfc3339(),
            &times.finished.to_rfc3339(),
            interrupted,
            // Freshness is judged by the plan's "now" (`CUTTER_NOW` when set),
            // like every other freshness decision.
            crate::clock::now(),
        );
        for h in &mut r.hosts {
            if let Some(why) = unobserved.remove(&h.name) {
                h.unobserved = Some(why.clone());
                r.not_done.push(format!(
                    "host `{}` could not be observed after the apply ({why}): what it holds is unknown",
                    h.name
                ));
            }
        }
        r.operator = operator.to_string();
        r.acknowledged = self.opts.acknowledge.clone();
        for h in &mut r.hosts {
            if let Some(t) = session.transports.get(&h.name) {
                h.identity = t.identity().await;
            }
        }
        let after_diff = diff::diff(plan, &session.graph, &after, crate::clock::now());
        r.standing_failures = after_diff.standing;
        let stem = plan
            .file
            .file_stem()
            .map_or("plan".into(), |s| s.to_string_lossy().into_owned());
        let stamp = times.started.format("%Y%m%dT%H%M%SZ").to_string();
        let report_dir = self.opts.report_dir.as_path();
        let (md, json) = report::write(&r, report_dir, &stem, &stamp)
            .map_err(|e| miette!("cannot write the report to `{}`: {e}", report_dir.display()))?;
        printer.status(
            Verb::Report,
            &format!("{} and {}", md.display(), json.display()),
        );
        let sig = match &self.opts.sign_key {
            Some(key) => {
                let sig = crate::signature::sign(&json, key)?;
                printer.status(Verb::Signed, &format!("{}", sig.display()));
                Some(sig)
            }
            None => None,
        };
        let file = format!("cutter-report-{stem}-{stamp}.json");
        self.keep_copies(&after, &file, &json, sig.as_deref()).await;
        Ok((r, times))
    }

    /// A copy of the evidence stays on each host, beside its artefacts.
    async fn keep_copies(
        &self,
        after: &HashMap<String, observe::HostState>,
        file: &str,
        json: &Path,
        sig: Option<&Path>,
    ) {
        let (session, printer) = (&*self.session, self.printer);
        for (name, t) in &session.transports {
            let dirs: BTreeSet<String> = after
                .get(name)
                .map(|s| {
                    s.artefacts
                        .values()
                        .filter_map(|a| a.newest.as_ref())
                        .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            for dir in dirs {
                match report::copy_to_host(t.as_ref(), session.plan, name, &dir, file, json, sig)
                    .await
                {
                    Ok(()) => {
                        printer.status(Verb::Kept, &format!("a copy on {name} in {dir}/{file}"))
                    }
                    Err(e) => {
                        printer.warn(&format!(
                            "cannot keep a copy of the report on host `{name}`: {e}"
                        ));
                    }
                }
            }
        }
    }
}

/// Print the timings and turn the apply's outcome into an exit status.
fn finish(
    printer: &Printer,
    outcomes: &[apply::StepOutcome],
    times: &Times,
    r: &report::Report,
) -> Result<ExitStatus> {
    let total: f64 = outcomes.iter().map(|o| o.seconds).sum();
    printer.line(&format!(
        "{:>12} {} step(s), {:.2}s of step time, {:.2}s wall",
        "Timings",
        outcomes.len(),
        total,
        (times.finished - times.started).num_milliseconds() as f64 / 1000.0
    ));
    for o in outcomes {
        printer.line(&format!(
            "{:>12} {:>8.3}s {} ({:?})",
            "", o.seconds, o.step, o.status
        ));
    }
    let how = match r.result {
        report::Outcome::Applied => {
            printer.status(Verb::Applied, &format!("{} step(s)", outcomes.len()));
            return Ok(ExitStatus::Success);
        }
        report::Outcome::Interrupted => "interrupted",
        report::Outcome::Failed | report::Outcome::NothingToDo => "failed",
    };
    Err(miette!(
        code = "cutter::apply_failed",
        help = "fix the cause and run apply again: it resumes with what is still missing; failed checks and guards stand on the host (see `cutter drift`) until they pass again or are acknowledged",
        "apply {how}:\n  {}",
        report::unfinished(outcomes)
            .into_iter()
            .chain(
                r.hosts
                    .iter()
                    .filter(|h| h.unobserved.is_some())
                    .map(|h| format!("host `{}` was not observed after the apply", h.name))
            )
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// Clear standing failures the operator dealt with; each must stand.
async fn acknowledge(session: &mut Session<'_>, steps: &[String], printer: &Printer) -> Result<()> {
    for step in steps {
        let hosts: Vec<String> = session
            .states
            .iter()
            .filter(|(_, s)| s.failures.contains_key(step) || s.in_flight.contains_key(step))
            .map(|(h, _)| h.clone())
            .collect();
        if hosts.is_empty() {
            let standing: Vec<String> = session
                .states
                .values()
                .flat_map(|s| s.failures.keys().chain(s.in_flight.keys()))
                .map(|k| format!("`{k}`"))
                .collect();
            return Err(miette!(
                code = "cutter::acknowledge",
                "no standing failure `{step}` to acknowledge (standing: {})",
                if standing.is_empty() {
                    "none".into()
                } else {
                    standing.join(", ")
                }
            ));
        }
        for h in hosts {
            if !apply::failures::acknowledge(
                session.transport(&h)?.as_ref(),
                session.plan,
                std::slice::from_ref(step),
            )
            .await?
            {
                return Err(miette!("cannot clear `{step}` on host `{h}`"));
            }
            if let Some(s) = session.states.get_mut(&h) {
                s.failures.remove(step);
                s.in_flight.remove(step);
            }
            printer.status(Verb::Acknowledged, &format!("{step} on {h}"));
        }
    }
    Ok(())
}
