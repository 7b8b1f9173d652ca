//! Arguments → command → exit code.
//!
//! The CLI is parsed before any runtime exists; the runtime is built here
//! and shut down explicitly so a stray task cannot hang the exit.

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{CommandFactory, Parser as _};
use futures::StreamExt;
use miette::{IntoDiagnostic, Result, miette};

use crate::apply::{self, lock};
use crate::cli::{Cli, Command, Format, GraphFormat, Inputs, ReportFormat};
use crate::diff::{self, Action, Diff};
use crate::exit_status::ExitStatus;
use crate::graph::{StepGraph, StepKind};
use crate::observe::{self, HostState};
use crate::plan::{self, Plan, VarOverrides};
use crate::printer::Printer;
use crate::remote::{self, Transport};
use crate::render::{self, PlanView};
use crate::report;

/// How many hosts are connected to and observed at once: below sshd's
/// default `MaxStartups` (10), so that many plan hosts behind one server do
/// not get their connections dropped.
const HOST_CONCURRENCY: usize = 8;

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are not errors; a usage error exits 1,
            // not clap's 2, which means "changes pending" here.
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Failure.code()
            } else {
                ExitStatus::Success.code()
            };
        }
    };
    if let Some(f) = &cli.ssh_config {
        // Read by the SSH transport for hosts without their own `ssh_config`.
        // SAFETY: set before the runtime and any other thread exist.
        unsafe { std::env::set_var("CUTTER_SSH_CONFIG", f) };
    }
    let printer = Printer::new(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(execute(cli.command, &printer));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(status) => status.code(),
        Err(report) => {
            // Rendered first: miette writes a character at a time, and
            // standard error is unbuffered. Standard error may be gone too
            // (a closed terminal): never panic over it.
            let text = format!("{report:?}\n");
            let _ = std::io::stderr().write_all(text.as_bytes());
            ExitStatus::Failure.code()
        }
    }
}

async fn execute(command: Command, printer: &Printer) -> Result<ExitStatus> {
    match command {
        Command::Validate { plan, inputs } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let graph = StepGraph::build(&plan);
            printer.status(
                "Valid",
                &format!(
                    "{}: {} host(s), {} artefact(s), {} container(s), {} check(s), {} guard(s), {} step(s)",
                    plan.file.display(),
                    plan.hosts.len(),
                    plan.artefacts.len(),
                    plan.containers.len(),
                    plan.checks.len(),
                    plan.guards.len(),
                    graph.graph.node_count()
                ),
            );
            Ok(ExitStatus::Success)
        }
        Command::Graph {
            plan,
            inputs,
            format,
        } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let graph = StepGraph::build(&plan);
            stdout(&match format {
                GraphFormat::Dot => graph.to_dot(),
                GraphFormat::Mermaid => graph.to_mermaid(),
            })?;
            Ok(ExitStatus::Success)
        }
        Command::Plan {
            plan,
            inputs,
            format,
            out,
            target,
            detailed_exitcode,
            verify,
            replace,
        } => {
            let (plan, overrides) = load(&plan, &inputs, printer)?;
            check_target(&plan, target.as_deref())?;
            let replace = replace_set(&plan, &replace)?;
            let mut session = Session::open(&plan, printer, verify_mode(verify)).await?;
            session.replace = replace;
            let result = async {
                let (diff, mut view) = session.plan(target.as_deref())?;
                view.vars = overrides.values();
                if let Some(out) = &out {
                    std::fs::write(out, serde_json::to_string_pretty(&view).into_diagnostic()?)
                        .map_err(|e| miette!("cannot write `{}`: {e}", out.display()))?;
                    printer.status(
                        "Saved",
                        &format!(
                            "plan to {} (apply it with `cutter apply {}`)",
                            out.display(),
                            out.display()
                        ),
                    );
                }
                emit(&view, format, "cutter plan", true, printer)?;
                if diff.conflicts().next().is_some() {
                    return Err(conflict_error(&diff));
                }
                Ok(if detailed_exitcode && view.summary.pending() > 0 {
                    ExitStatus::Changes
                } else {
                    ExitStatus::Success
                })
            }
            .await;
            session.close().await;
            result
        }
        Command::Drift {
            plan,
            inputs,
            format,
            verify,
        } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let session = Session::open(&plan, printer, verify_mode(verify)).await?;
            let result = session.drift(format, printer);
            session.close().await;
            result
        }
        Command::Apply {
            plan,
            inputs,
            yes,
            parallelism,
            target,
            lock_wait,
            report_dir,
            sign_key,
            acknowledge,
            replace,
        } => {
            let opts = ApplyOptions {
                inputs,
                replace,
                yes,
                parallelism,
                target,
                lock_wait,
                report_dir,
                sign_key,
                acknowledge,
            };
            apply(&plan, &opts, printer).await
        }
        Command::Report {
            report,
            format,
            verify,
        } => {
            if let Some(allowed) = &verify {
                let who = crate::signature::verify(&report, allowed)?;
                printer.status(
                    "Verified",
                    &format!("{} was signed by `{who}`", report.display()),
                );
                return Ok(ExitStatus::Success);
            }
            let text = read_json_file(&report)?;
            let r: report::Report = serde_json::from_str(&text)
                .map_err(|e| miette!("`{}` is not a cutter report: {e}", report.display()))?;
            match format {
                ReportFormat::Markdown => stdout(&report::markdown(&r))?,
                ReportFormat::Json => stdout(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&r).into_diagnostic()?
                ))?,
            }
            Ok(ExitStatus::Success)
        }
        Command::Schema => {
            let schema = crate::plan::json_schema::plan_schema();
            stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).into_diagnostic()?
            ))?;
            Ok(ExitStatus::Success)
        }
        Command::Init { path } => {
            init(&path)?;
            printer.status(
                "Created",
                &format!(
                    "{}: a starter plan; next `cutter plan {}`",
                    path.display(),
                    path.display()
                ),
            );
            Ok(ExitStatus::Success)
        }
        Command::Man { dir } => {
            match dir {
                None => stdout(&String::from_utf8_lossy(
                    &crate::man::page().into_diagnostic()?,
                ))?,
                Some(dir) => {
                    crate::man::write_all(&dir).map_err(|e| {
                        miette!("cannot write man pages to `{}`: {e}", dir.display())
                    })?;
                    printer.status("Wrote", &format!("man pages to {}", dir.display()));
                }
            }
            Ok(ExitStatus::Success)
        }
        Command::Unlock {
            plan,
            host,
            inputs,
            yes,
        } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let h = plan.hosts.get(&host).ok_or_else(|| {
                miette!(
                    code = "cutter::unknown_host",
                    "unknown host `{host}`: the plan declares {}",
                    plan.hosts
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let t = remote::connect(h).await?;
            let result = async {
                let Some(holder) = lock::holder_of(t.as_ref()).await? else {
                    printer.status("Unlocked", &format!("host `{host}` holds no apply lock"));
                    return Ok(ExitStatus::Success);
                };
                printer.status("Locked", &format!("host `{host}` by {holder}"));
                if !yes {
                    if !std::io::stdin().is_terminal() {
                        return Err(miette!(
                            code = "cutter::confirm",
                            help = "pass `--yes` to remove it without a prompt",
                            "refusing to remove the lock without confirmation: standard input is not a terminal"
                        ));
                    }
                    let _ = write!(
                        std::io::stderr(),
                        "Remove this lock? Only if that apply is not running. Only `yes` is accepted: "
                    );
                    let _ = std::io::stderr().flush();
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer).into_diagnostic()?;
                    if answer.trim() != "yes" {
                        printer.status("Cancelled", "the lock stays");
                        return Ok(ExitStatus::Failure);
                    }
                }
                if lock::unlock(t.as_ref(), &holder).await? {
                    printer.status("Unlocked", &format!("host `{host}` (was held by {holder})"));
                    Ok(ExitStatus::Success)
                } else {
                    Err(miette!("the lock of host `{host}` changed hands meanwhile: nothing removed"))
                }
            }
            .await;
            t.close().await;
            result
        }
        Command::Status {
            plan,
            inputs,
            format,
        } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let session = Session::open(&plan, printer, observe::Verify::AsNeeded).await?;
            let result = session.status(format);
            session.close().await;
            result
        }
        Command::Destroy {
            plan,
            name,
            inputs,
            yes,
            lock_wait,
        } => {
            let (plan, _) = load(&plan, &inputs, printer)?;
            let Some(c) = plan.containers.get(&name) else {
                let known: Vec<String> = plan
                    .containers
                    .values()
                    .filter(|c| c.lifecycle == crate::plan::Lifecycle::Persistent)
                    .map(|c| format!("`{}`", c.name))
                    .collect();
                return Err(miette!(
                    code = "cutter::unknown_target",
                    "cannot destroy `{name}`: no container of that name (persistent containers: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            if c.lifecycle != crate::plan::Lifecycle::Persistent {
                return Err(miette!(
                    code = "cutter::destroy",
                    "`{name}` is ephemeral: cutter removes it after its checks on every apply"
                ));
            }
            let c = c.clone();
            let session = Session::open(&plan, printer, observe::Verify::AsNeeded).await?;
            let result = session.destroy(&c, yes, lock_wait, printer).await;
            session.close().await;
            result
        }
        Command::Completions { shell } => {
            // Generated into memory: clap_complete panics when its writer fails.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cutter", &mut script);
            stdout(&String::from_utf8_lossy(&script))?;
            Ok(ExitStatus::Success)
        }
    }
}

/// The plan `cutter init` writes.
const STARTER: &str = include_str!("../examples/starter.toml");

fn init(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| miette!("cannot create `{}`: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                miette!(
                    code = "cutter::init",
                    help = "name another file: `cutter init plans/new.toml`",
                    "`{}` already exists: not overwritten",
                    path.display()
                )
            } else {
                miette!("cannot write `{}`: {e}", path.display())
            }
        })?;
    file.write_all(STARTER.as_bytes())
        .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))
}

/// Load a plan with the command line's variables; variables of a
/// `--var-file` that the plan does not declare are reported, not refused.
fn load(path: &Path, inputs: &Inputs, printer: &Printer) -> Result<(Plan, VarOverrides)> {
    crate::clock::check()?;
    let overrides = VarOverrides::from_args(&inputs.vars, &inputs.var_files)?;
    let plan = plan::load_with(path, &overrides)?;
    warn_unused(&overrides, path, printer);
    Ok((plan, overrides))
}

fn warn_unused(overrides: &VarOverrides, path: &Path, printer: &Printer) {
    for (name, origin) in overrides.unused() {
        printer.status(
            "Warning",
            &format!(
                "variable `{name}` from {origin} is not declared by `{}`: ignored",
                path.display()
            ),
        );
    }
}

/// Refuse an unknown `--target` before any host is contacted.
fn check_target(plan: &Plan, target: Option<&str>) -> Result<()> {
    let Some(t) = target else { return Ok(()) };
    if StepGraph::build(plan).main(t).is_some() {
        return Ok(());
    }
    let valid: Vec<&str> = plan
        .artefacts
        .keys()
        .chain(plan.containers.keys())
        .chain(plan.checks.keys())
        .map(String::as_str)
        .collect();
    let names: Vec<String> = valid.iter().map(|n| format!("`{n}`")).collect();
    let close = plan::vars::did_you_mean(t, valid.iter().copied())
        .map_or(String::new(), |c| format!("did you mean `{c}`? "));
    Err(miette!(
        code = "cutter::unknown_target",
        help = if names.is_empty() {
            "the plan declares no artefact, container or check".to_string()
        } else {
            format!("{close}valid targets: {}", names.join(", "))
        },
        "unknown target `{t}`: no artefact, container or check of that name in `{}`",
        plan.file.display()
    ))
}

/// Print a plan on standard output; `words` describes each step (a plan),
/// otherwise only why it is listed (drift, conflicts).
fn emit(
    view: &PlanView,
    format: Format,
    title: &str,
    words: bool,
    printer: &Printer,
) -> Result<()> {
    let shown = render::text::Shown {
        words,
        commands: printer.verbose(),
    };
    match format {
        Format::Text => printer
            .plan_text(&render::text::render(view, title, shown))
            .map_err(stdout_error),
        Format::Json => stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(view).into_diagnostic()?
        )),
        Format::Markdown => stdout(&render::markdown::render(view, title, shown)),
    }
}

/// The largest saved plan or report read (64 MiB).
const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// Read a saved plan or a report: a regular file of bounded size, so that
/// `/dev/zero` or a FIFO is an error rather than a hang.
fn read_json_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| miette!("cannot read `{}`: {e}", path.display());
    // Checked before opening: opening a FIFO blocks.
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(miette!("`{}` is not a regular file", path.display()));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err(miette!(
            "`{}` is larger than {MAX_JSON_BYTES} bytes",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| miette!("`{}` is not UTF-8 text", path.display()))
}

/// Write machine output; a closed pipe or a full disk is an error (exit 1), not a panic.
fn stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

fn stdout_error(e: std::io::Error) -> miette::Report {
    miette!(
        code = "cutter::stdout",
        "cannot write to standard output: {e}"
    )
}

fn conflict_error(diff: &Diff) -> miette::Report {
    let lines: Vec<String> = diff
        .conflicts()
        .map(|c| format!("{}: {}", c.step, c.reasons.join("; ")))
        .collect();
    miette!(
        code = "cutter::conflict",
        help = "cutter never touches what it did not create: rename the resource in the plan, or move the existing thing aside yourself",
        "the plan conflicts with what is on the host:\n  {}",
        lines.join("\n  ")
    )
}

/// Connections and observations for one command run.
struct Session<'a> {
    plan: &'a Plan,
    graph: StepGraph,
    transports: HashMap<String, Arc<dyn Transport>>,
    states: HashMap<String, HostState>,
    now: chrono::DateTime<chrono::Utc>,
    /// Which artefacts observation hashes in full.
    verify: observe::Verify,
    /// Resources made again on request (`--replace`).
    replace: BTreeSet<String>,
}

/// `--replace` names must be artefacts or containers of the plan.
fn replace_set(plan: &Plan, names: &[String]) -> Result<BTreeSet<String>> {
    for n in names {
        if !plan.artefacts.contains_key(n) && !plan.containers.contains_key(n) {
            let mut known: Vec<String> = plan
                .artefacts
                .keys()
                .chain(plan.containers.keys())
                .map(|k| format!("`{k}`"))
                .collect();
            known.sort();
            return Err(miette!(
                code = "cutter::unknown_replace",
                "cannot replace `{n}`: no artefact or container of that name (the plan has {})",
                known.join(", ")
            ));
        }
    }
    Ok(names.iter().cloned().collect())
}

fn verify_mode(all: bool) -> observe::Verify {
    if all {
        observe::Verify::All
    } else {
        observe::Verify::AsNeeded
    }
}

impl<'a> Session<'a> {
    async fn open(
        plan: &'a Plan,
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
        let mut session = Session {
            plan,
            graph,
            transports,
            states: HashMap::new(),
            now: crate::clock::now(),
            verify,
            replace: BTreeSet::new(),
        };
        if let Some(e) = first_error {
            session.close().await;
            return Err(e.into());
        }
        if let Err(e) = session.observe(printer).await {
            session.close().await;
            return Err(e);
        }
        Ok(session)
    }

    async fn observe(&mut self, printer: &Printer) -> Result<()> {
        let started = std::time::Instant::now();
        let hosts: Vec<(String, Arc<dyn Transport>)> = self
            .transports
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let plan = self.plan;
        let results: Vec<_> = futures::stream::iter(
            hosts
                .iter()
                .map(|(_, t)| observe::observe(plan, t.as_ref(), self.verify)),
        )
        .buffered(HOST_CONCURRENCY)
        .collect()
        .await;
        for ((name, _), r) in hosts.iter().zip(results) {
            self.states.insert(name.clone(), r?);
        }
        printer.status(
            "Observed",
            &format!(
                "{} host(s) in {:.2}s",
                hosts.len(),
                started.elapsed().as_secs_f64()
            ),
        );
        Ok(())
    }

    fn diff(&self) -> Diff {
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

    fn plan(&self, target: Option<&str>) -> Result<(Diff, PlanView)> {
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

    fn drift(&self, format: Format, printer: &Printer) -> Result<ExitStatus> {
        let mut diff = self.diff();
        // Drift is about the state of resources; checks, teardowns and guards only run with an apply.
        for c in &mut diff.changes {
            if !matches!(c.kind, StepKind::Artefact | StepKind::Container) {
                c.action = Action::Noop;
            }
        }
        let view = render::view(self.plan, &self.graph, &diff, &self.states, self.now);
        emit(&view, format, "cutter drift", false, printer)?;
        if diff.has_changes() || !diff.standing.is_empty() {
            for c in diff.pending() {
                printer.status("Drift", &format!("{}: {}", c.step, c.reasons.join("; ")));
            }
            for f in &diff.standing {
                printer.status(
                    "Failed",
                    &format!(
                        "{} on {} {} (to clear: {})",
                        f.step, f.host, f.what, f.clear
                    ),
                );
            }
            Ok(ExitStatus::Changes)
        } else {
            printer.status(
                "In sync",
                &format!("{} matches the hosts", self.plan.file.display()),
            );
            Ok(ExitStatus::Success)
        }
    }

    async fn close(&self) {
        futures::future::join_all(self.transports.values().map(|t| t.close())).await;
    }

    /// What the hosts hold, without planning.
    fn status(&self, format: crate::cli::StatusFormat) -> Result<ExitStatus> {
        use std::fmt::Write as _;
        if let crate::cli::StatusFormat::Json = format {
            let states: std::collections::BTreeMap<&String, &HostState> =
                self.states.iter().collect();
            stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&states).into_diagnostic()?
            ))?;
            return Ok(ExitStatus::Success);
        }
        let now = crate::clock::now().timestamp();
        let mut s = String::new();
        for host in self.plan.used_hosts() {
            let Some(state) = self.states.get(&host.name) else {
                continue;
            };
            let _ = writeln!(s, "host {}", host.name);
            if let Some(l) = &state.lock {
                let _ = writeln!(s, "  locked by {l}");
            }
            for (name, a) in &state.artefacts {
                match &a.newest {
                    Some(f) => {
                        let _ = writeln!(
                            s,
                            "  artefact {name}: {} ({} bytes, {} match(es), modified {} ago, {})",
                            f.path,
                            f.size,
                            a.matches,
                            humantime::format_duration(std::time::Duration::from_secs(
                                (now - f.mtime).max(0) as u64
                            )),
                            match f.verified_at {
                                Some(_) if f.verified_now => format!(
                                    "hashed now, {}",
                                    if f.recorded_sha256.as_deref() == Some(&f.sha256) {
                                        "matches SHA256SUMS"
                                    } else {
                                        "DOES NOT match SHA256SUMS"
                                    }
                                ),
                                Some(t) => format!(
                                    "last hashed {} ago",
                                    humantime::format_duration(std::time::Duration::from_secs(
                                        (now - t).max(0) as u64
                                    ))
                                ),
                                None => "never hashed".into(),
                            }
                        );
                    }
                    None => {
                        let _ = writeln!(s, "  artefact {name}: missing");
                    }
                }
            }
            for c in self
                .plan
                .containers
                .values()
                .filter(|c| c.host == host.name)
            {
                let seen = state
                    .docker
                    .as_ref()
                    .and_then(|d| d.container(&c.docker_name));
                let _ = writeln!(
                    s,
                    "  container {} ({}): {}",
                    c.name,
                    c.docker_name,
                    seen.map_or("absent".to_string(), |x| format!(
                        "{} {} (image {})",
                        x.state,
                        crate::diff::short(&x.id),
                        x.image
                    ))
                );
            }
            for (step, f) in &state.failures {
                let _ = writeln!(
                    s,
                    "  standing failure {step}: {}",
                    f.get("error").and_then(|e| e.as_str()).unwrap_or("")
                );
            }
        }
        stdout(&s)?;
        Ok(ExitStatus::Success)
    }

    /// Remove a persistent container cutter made, with its volume and its
    /// network when unused, under the host lock.
    async fn destroy(
        &self,
        c: &crate::plan::Container,
        yes: bool,
        lock_wait: Option<Duration>,
        printer: &Printer,
    ) -> Result<ExitStatus> {
        let docker = self.states[&c.host].docker.as_ref();
        let Some(found) = docker.and_then(|d| d.container(&c.docker_name)) else {
            printer.status(
                "Unchanged",
                &format!("no container `{}` on host `{}`", c.docker_name, c.host),
            );
            return Ok(ExitStatus::Success);
        };
        if found
            .labels
            .get(crate::plan::MANAGED_LABEL)
            .map(String::as_str)
            != Some("true")
        {
            return Err(miette!(
                code = "cutter::conflict",
                "`{}` on host `{}` was not created by cutter: refusing to remove it",
                c.docker_name,
                c.host
            ));
        }
        printer.status(
            "Destroy",
            &format!(
                "container `{}` ({}) on host `{}`, its volume `{}` and its network `{}` if unused",
                c.docker_name,
                crate::diff::short(&found.id),
                c.host,
                c.volume,
                c.network
            ),
        );
        if !yes {
            if !std::io::stdin().is_terminal() {
                return Err(miette!(
                    code = "cutter::confirm",
                    help = "pass `--yes` to destroy without a prompt",
                    "refusing to destroy without confirmation: standard input is not a terminal"
                ));
            }
            eprint!("Destroy it? Only `yes` is accepted: ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).into_diagnostic()?;
            if answer.trim() != "yes" {
                printer.status("Cancelled", "nothing was destroyed");
                return Ok(ExitStatus::Failure);
            }
        }
        let t = self.transports[&c.host].clone();
        let holder = lock::holder(&self.plan.file.display().to_string());
        let locked = lock::acquire(t.as_ref(), &holder, lock_wait.unwrap_or_default()).await?;
        let script = apply::script::teardown(c);
        let out = t.run(&script.body(), None).await;
        if locked {
            lock::release(t.as_ref(), &holder).await;
        }
        let out = out?;
        if !out.success() {
            return Err(miette!(
                code = "cutter::destroy",
                "destroying `{}` failed: {}",
                c.docker_name,
                out.stderr_tail()
            ));
        }
        printer.status("Destroyed", &format!("{} on {}", c.docker_name, c.host));
        Ok(ExitStatus::Success)
    }

    /// Clear standing failures the operator dealt with; each must stand.
    async fn acknowledge(&mut self, steps: &[String], printer: &Printer) -> Result<()> {
        for step in steps {
            let hosts: Vec<String> = self
                .states
                .iter()
                .filter(|(_, s)| s.failures.contains_key(step))
                .map(|(h, _)| h.clone())
                .collect();
            if hosts.is_empty() {
                let standing: Vec<String> = self
                    .states
                    .values()
                    .flat_map(|s| s.failures.keys().map(|k| format!("`{k}`")))
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
                    self.transports[&h].as_ref(),
                    self.plan,
                    std::slice::from_ref(step),
                )
                .await?
                {
                    return Err(miette!("cannot clear `{step}` on host `{h}`"));
                }
                if let Some(s) = self.states.get_mut(&h) {
                    s.failures.remove(step);
                }
                printer.status("Acknowledged", &format!("{step} on {h}"));
            }
        }
        Ok(())
    }
}

/// What `cutter apply` was asked to do.
struct ApplyOptions {
    /// Variables (not with a saved plan, which carries its own).
    inputs: Inputs,
    yes: bool,
    parallelism: usize,
    target: Option<String>,
    lock_wait: Option<Duration>,
    report_dir: PathBuf,
    sign_key: Option<PathBuf>,
    acknowledge: Vec<String>,
    replace: Vec<String>,
}

async fn apply(path: &Path, opts: &ApplyOptions, printer: &Printer) -> Result<ExitStatus> {
    // A saved plan names its plan file and what it expected to find.
    let saved: Option<PlanView> = if path.extension().is_some_and(|e| e == "json") {
        let text = read_json_file(path)?;
        let view: PlanView = serde_json::from_str(&text).map_err(|e| {
            miette!(
                code = "cutter::saved_plan",
                "`{}` is not a saved cutter plan: {e}",
                path.display()
            )
        })?;
        if view.format_version != render::FORMAT_VERSION {
            return Err(miette!(
                code = "cutter::saved_plan",
                "`{}` has format_version {}, this cutter reads {}",
                path.display(),
                view.format_version,
                render::FORMAT_VERSION
            ));
        }
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
    let plan = plan::load_with(&plan_path, &overrides)?;
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
    let mut session = Session::open(&plan, printer, observe::Verify::AsNeeded).await?;
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
    opts: &ApplyOptions,
    printer: &Printer,
) -> Result<ExitStatus> {
    let plan = session.plan;
    let target = opts.target.clone();
    let (yes, parallelism, lock_wait, report_dir) = (
        opts.yes,
        opts.parallelism,
        opts.lock_wait,
        opts.report_dir.as_path(),
    );
    if !opts.acknowledge.is_empty() {
        session.acknowledge(&opts.acknowledge, printer).await?;
    }
    let (diff, view) = session.plan(target.as_deref())?;
    let mut only: Option<BTreeSet<String>> = None;
    if let Some(saved) = saved {
        if saved.observed_fingerprint != view.observed_fingerprint {
            return Err(miette!(
                code = "cutter::stale_plan",
                help = "run `cutter plan -o` again and review the new plan",
                "the saved plan `{}` is stale: the hosts changed since it was planned",
                path.display()
            ));
        }
        check_contract(saved, &view, target.as_deref(), path)?;
        only = Some(
            saved
                .hosts
                .iter()
                .flat_map(|h| h.changes.iter().map(|c| c.step.clone()))
                .collect(),
        );
    }
    if diff.conflicts().next().is_some() {
        emit(&view, Format::Text, "cutter apply", false, printer)?;
        return Err(conflict_error(&diff));
    }
    if !diff.has_changes() {
        if !diff.standing.is_empty() {
            emit(&view, Format::Text, "cutter apply", false, printer)?;
        }
        printer.status(
            "Unchanged",
            &format!(
                "{}: the hosts already match ({} step(s) in place)",
                plan.file.display(),
                view.summary.unchanged
            ),
        );
        return Ok(ExitStatus::Success);
    }
    emit(&view, Format::Text, "cutter apply", true, printer)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(miette!(
                code = "cutter::confirm",
                help = "pass `--yes` to apply without a prompt",
                "refusing to apply without confirmation: standard input is not a terminal"
            ));
        }
        let _ = write!(
            std::io::stderr(),
            "Apply these changes? Only `yes` is accepted: "
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).into_diagnostic()?;
        if answer.trim() != "yes" {
            printer.status("Cancelled", "nothing was applied");
            return Ok(ExitStatus::Failure);
        }
    }

    let holder = lock::holder(&plan.file.display().to_string());
    let mut locked: Vec<Arc<dyn Transport>> = Vec::new();
    for t in session.transports.values() {
        match lock::acquire(t.as_ref(), &holder, lock_wait.unwrap_or_default()).await {
            Ok(true) => locked.push(t.clone()),
            Ok(false) => {}
            Err(e) => {
                for l in &locked {
                    lock::release(l.as_ref(), &holder).await;
                }
                return Err(e.into());
            }
        }
    }

    // Another apply may have run while this one waited for the lock (or
    // between the plan and the lock): observe again under the lock, and
    // apply only what is still missing, never more than was confirmed.
    let confirmed: BTreeSet<String> = pending_steps(&view);
    let fresh = match session.observe(printer).await {
        Ok(()) => session.plan(target.as_deref()),
        Err(e) => Err(e),
    };
    let (diff, view) = match fresh {
        Ok((d, v)) => {
            let now: BTreeSet<String> = pending_steps(&v);
            let changed = v.observed_fingerprint != view.observed_fingerprint;
            if changed && (saved.is_some() || !now.is_subset(&confirmed)) {
                for l in &locked {
                    lock::release(l.as_ref(), &holder).await;
                }
                return Err(miette!(
                    code = "cutter::stale_plan",
                    help = "run plan (or apply) again and review what is missing now",
                    "the hosts changed before the lock was taken (another apply?): not applying what was not reviewed"
                ));
            }
            if changed {
                printer.status(
                    "Re-observed",
                    &format!(
                        "the hosts changed while waiting for the lock: {} of {} confirmed step(s) remain",
                        now.len(),
                        confirmed.len()
                    ),
                );
            }
            if now.is_empty() {
                for l in &locked {
                    lock::release(l.as_ref(), &holder).await;
                }
                printer.status("Unchanged", "another apply already did everything");
                return Ok(ExitStatus::Success);
            }
            (d, v)
        }
        Err(e) => {
            for l in &locked {
                lock::release(l.as_ref(), &holder).await;
            }
            return Err(e);
        }
    };
    let _ = &view;

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        // SIGINT (Ctrl-C), SIGTERM (a cancelled CI job) or SIGHUP (the
        // terminal closed): stop starting steps and clean up; a second
        // signal exits at once. Standard error may be gone with the
        // terminal, so writing to it must not panic.
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
                flag.store(true, Ordering::SeqCst);
                let _ = writeln!(
                    std::io::stderr(),
                    "\ninterrupted: finishing running steps, starting no new ones, tearing down test containers (again to exit at once)"
                );
            } else {
                let _ = writeln!(
                    std::io::stderr(),
                    "\ninterrupted twice: exiting now; the host lock and test containers may remain (the next apply removes a dead local lock)"
                );
                std::process::exit(130);
            }
        }
    });
    // The report's times are real even when `CUTTER_NOW` fixes "now".
    let started = chrono::Utc::now();
    let ctx = apply::Context {
        plan,
        graph: &session.graph,
        diff: &diff,
        states: &session.states,
        transports: &session.transports,
        now: session.now,
        printer,
    };
    let acknowledged = opts.acknowledge.clone();
    let sign_key = opts.sign_key.clone();
    let opts = apply::Options {
        parallelism,
        only,
        interrupted: interrupted.clone(),
    };
    let outcomes = apply::run(&ctx, &opts).await;
    watcher.abort();
    if let Ok(outcomes) = &outcomes {
        let at = crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for t in session.transports.values() {
            if let Err(e) = apply::failures::sync(t.as_ref(), plan, outcomes, &at).await {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cannot record failures on host `{}`: {e}",
                    t.host()
                );
            }
        }
    }
    for t in &locked {
        lock::release(t.as_ref(), &holder).await;
    }
    let outcomes = outcomes?;

    // Evidence: observe again, so the report holds only what the hosts show.
    let mut after = HashMap::new();
    let mut unobserved = Vec::new();
    for (name, t) in &session.transports {
        match observe::observe(plan, t.as_ref(), observe::Verify::AsNeeded).await {
            Ok(state) => {
                after.insert(name.clone(), state);
            }
            Err(e) => unobserved.push(format!(
                "host `{name}` could not be observed after the apply: {e}"
            )),
        }
    }
    let finished = chrono::Utc::now();
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let mut r = report::build(
        plan,
        &after,
        &outcomes,
        &started.to_rfc3339(),
        &finished.to_rfc3339(),
        was_interrupted,
        // Freshness is judged by the plan's "now" (`CUTTER_NOW` when set),
        // like every other freshness decision.
        crate::clock::now(),
    );
    r.not_done.extend(unobserved);
    r.operator = holder.clone();
    r.acknowledged = acknowledged;
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
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let (md, json) = report::write(&r, report_dir, &stem, &stamp)
        .map_err(|e| miette!("cannot write the report to `{}`: {e}", report_dir.display()))?;
    printer.status(
        "Report",
        &format!("{} and {}", md.display(), json.display()),
    );
    let sig = match &sign_key {
        Some(key) => {
            let sig = crate::signature::sign(&json, key)?;
            printer.status("Signed", &format!("{}", sig.display()));
            Some(sig)
        }
        None => None,
    };
    // A copy of the evidence stays on each host, beside its artefacts.
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
            let file = format!("cutter-report-{stem}-{stamp}.json");
            match report::copy_to_host(t.as_ref(), plan, name, &dir, &file, &json, sig.as_deref())
                .await
            {
                Ok(()) => printer.status("Kept", &format!("a copy on {name} in {dir}/{file}")),
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: cannot keep a copy of the report on host `{name}`: {e}"
                    );
                }
            }
        }
    }
    let total: f64 = outcomes.iter().map(|o| o.seconds).sum();
    printer.line(&format!(
        "{:>12} {} step(s), {:.2}s of step time, {:.2}s wall",
        "Timings",
        outcomes.len(),
        total,
        (finished - started).num_milliseconds() as f64 / 1000.0
    ));
    for o in &outcomes {
        printer.line(&format!(
            "{:>12} {:>8.3}s {} ({:?})",
            "", o.seconds, o.step, o.status
        ));
    }
    if r.result == "applied" {
        printer.status("Applied", &format!("{} step(s)", outcomes.len()));
        Ok(ExitStatus::Success)
    } else {
        let failed: Vec<String> = r
            .not_done
            .iter()
            .filter(|n| n.contains(" failed:") || n.contains(" skipped:"))
            .cloned()
            .collect();
        Err(miette!(
            code = "cutter::apply_failed",
            help = "fix the cause and run apply again: it resumes with what is still missing; failed checks and guards stand on the host (see `cutter drift`) until they pass again or are acknowledged",
            "apply {}:\n  {}",
            if was_interrupted {
                "interrupted"
            } else {
                "failed"
            },
            failed.join("\n  ")
        ))
    }
}

/// A saved plan is a contract: the same target, the same steps, and for
/// each step exactly the commands that were reviewed. Anything else (a
/// different `--target`, a step added or removed, a command edited by hand
/// or changed by a newer cutter) is refused.
fn check_contract(
    saved: &PlanView,
    now: &PlanView,
    target: Option<&str>,
    path: &Path,
) -> Result<()> {
    let refuse = |what: String| {
        Err(miette!(
            code = "cutter::saved_plan_contract",
            help = "run `cutter plan -o` again and review the new plan",
            "the saved plan `{}` cannot be applied as reviewed: {what}",
            path.display()
        ))
    };
    if saved.target.as_deref() != target {
        return refuse(format!(
            "it was made for {}, this apply asks for {}",
            saved
                .target
                .as_deref()
                .map_or("the whole plan".to_string(), |t| format!("target `{t}`")),
            target.map_or("the whole plan".to_string(), |t| format!("target `{t}`"))
        ));
    }
    let steps = |v: &PlanView| -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
        v.hosts
            .iter()
            .flat_map(|h| h.changes.iter())
            .map(|c| (c.step.clone(), (c.commands.clone(), c.bookkeeping.clone())))
            .collect()
    };
    let (reviewed, current) = (steps(saved), steps(now));
    for (step, commands) in &reviewed {
        match current.get(step) {
            None => return refuse(format!("step `{step}` would no longer run")),
            Some(c) if c != commands => {
                return refuse(format!(
                    "the commands of step `{step}` differ from the reviewed ones"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(step) = current.keys().find(|s| !reviewed.contains_key(*s)) {
        return refuse(format!("step `{step}` was not reviewed"));
    }
    // What the reviewer read: the words too (absent from older saved plans).
    let words =
        |v: &PlanView| -> std::collections::BTreeMap<String, Vec<render::describe::Detail>> {
            v.hosts
                .iter()
                .flat_map(|h| h.changes.iter())
                .map(|c| (c.step.clone(), c.description.clone()))
                .collect()
        };
    let current_words = words(now);
    for (step, said) in words(saved) {
        if !said.is_empty() && current_words.get(&step) != Some(&said) {
            return refuse(format!(
                "the description of step `{step}` differs from the reviewed one"
            ));
        }
    }
    Ok(())
}

/// The steps a plan view would run.
fn pending_steps(view: &PlanView) -> BTreeSet<String> {
    view.hosts
        .iter()
        .flat_map(|h| h.changes.iter().map(|c| c.step.clone()))
        .collect()
}
