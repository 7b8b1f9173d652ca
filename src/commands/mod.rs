//! One module per subcommand, each with an `exec` that `run` calls; the
//! helpers they share live here: loading a plan with the command line's
//! variables, checking `--target` and `--replace`, printing a plan, reading
//! saved plans and reports, writing standard output, asking for confirmation.

pub(crate) mod apply;
pub(crate) mod completions;
pub(crate) mod destroy;
pub(crate) mod drift;
pub(crate) mod graph;
pub(crate) mod init;
mod locks;
pub(crate) mod man;
pub(crate) mod plan;
pub(crate) mod report;
mod saved;
pub(crate) mod schema;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod unlock;
pub(crate) mod validate;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;

use miette::{IntoDiagnostic, Result, miette};

use crate::cli::{Format, Inputs};
use crate::diff::Diff;
use crate::graph::StepGraph;
use crate::observe;
use crate::plan::{Plan, VarOverrides};
use crate::printer::{Printer, Verb};
use crate::render::{self, PlanView};

/// Load a plan with the command line's variables; variables of a
/// `--var-file` that the plan does not declare are reported, not refused.
pub(crate) fn load(
    path: &Path,
    inputs: &Inputs,
    printer: &Printer,
) -> Result<(Plan, VarOverrides)> {
    crate::clock::check()?;
    let overrides = VarOverrides::from_args(&inputs.vars, &inputs.var_files)?;
    let plan = crate::plan::load_with(path, &overrides)?;
    warn_unused(&overrides, path, printer);
    Ok((plan, overrides))
}

pub(crate) fn warn_unused(overrides: &VarOverrides, path: &Path, printer: &Printer) {
    for (name, origin) in overrides.unused() {
        printer.status(
            Verb::Warning,
            &format!(
                "variable `{name}` from {origin} is not declared by `{}`: ignored",
                path.display()
            ),
        );
    }
}

/// Refuse an unknown `--target` before any host is contacted.
pub(crate) fn check_target(plan: &Plan, target: Option<&str>) -> Result<()> {
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
    let close = crate::plan::vars::did_you_mean(t, valid.iter().copied())
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
pub(crate) fn emit(
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

/// Ask on the terminal before doing something that cannot be undone; only
/// `yes` confirms. Without a terminal there is nobody to ask: `--yes` is
/// required, and refusing names what was refused (`what`) and `help`.
pub(crate) fn confirm(printer: &Printer, question: &str, what: &str, help: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            code = "cutter::confirm",
            help = help.to_string(),
            "refusing to {what} without confirmation: standard input is not a terminal"
        ));
    }
    printer.ask(&format!("{question} Only `yes` is accepted: "));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).into_diagnostic()?;
    Ok(answer.trim() == "yes")
}

/// The largest saved plan or report read (64 MiB).
const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// Read a saved plan or a report: a regular file of bounded size, so that
/// `/dev/zero` or a FIFO is an error rather than a hang.
pub(crate) fn read_json_file(path: &Path) -> Result<String> {
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

/// Refuse a JSON document (a saved plan, a report) written in another
/// format than the `supported` one this cutter reads, before reading it as
/// this one's: the fields of a newer format may mean something else, and a
/// document read half-right would be shown as if it were right.
pub(crate) fn check_format_version(
    text: &str,
    path: &Path,
    what: &str,
    supported: u32,
    code: &str,
) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        format_version: serde_json::Value,
    }
    // Anything else wrong is for the full read to report.
    let Ok(Versioned { format_version }) = serde_json::from_str::<Versioned>(text) else {
        return Ok(());
    };
    let (message, help) = match format_version.as_u64() {
        Some(n) if n == u64::from(supported) => return Ok(()),
        Some(n) if n > u64::from(supported) => (
            format!(
                "`{}` is a {what} of format_version {n}, newer than this cutter reads ({supported})",
                path.display()
            ),
            "read it with the newer cutter that wrote it, or upgrade cutter",
        ),
        _ => (
            format!(
                "`{}` is a {what} of format_version {format_version}, which this cutter does not read ({supported})",
                path.display()
            ),
            "read it with the cutter that wrote it",
        ),
    };
    Err(miette::MietteDiagnostic::new(message)
        .with_code(code.to_string())
        .with_help(help)
        .into())
}

/// Write machine output; a closed pipe or a full disk is an error (exit 1), not a panic.
pub(crate) fn stdout(text: &str) -> Result<()> {
    crate::printer::stdout_text(text).map_err(stdout_error)
}

pub(crate) fn stdout_error(e: std::io::Error) -> miette::Report {
    miette!(
        code = "cutter::stdout",
        "cannot write to standard output: {e}"
    )
}

pub(crate) fn conflict_error(diff: &Diff) -> miette::Report {
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

/// `--replace` names must be artefacts or containers of the plan.
pub(crate) fn replace_set(plan: &Plan, names: &[String]) -> Result<BTreeSet<String>> {
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

pub(crate) fn verify_mode(all: bool) -> observe::Verify {
    if all {
        observe::Verify::All
    } else {
        observe::Verify::AsNeeded
    }
}
