//! `cutter plan`: observe the hosts and show what apply would change;
//! optionally save the plan for `cutter apply FILE`.

use std::path::PathBuf;

use miette::{IntoDiagnostic, Result, miette};

use super::session::Session;
use super::{check_target, conflict_error, emit, load, replace_set, verify_mode};
use crate::cli::{Format, Inputs};
use crate::exit_status::ExitStatus;
use crate::printer::{Printer, Verb};

/// What `cutter plan` was asked to do.
pub(crate) struct Options {
    pub(crate) format: Format,
    pub(crate) out: Option<PathBuf>,
    pub(crate) target: Option<String>,
    pub(crate) replace: Vec<String>,
    pub(crate) detailed_exitcode: bool,
    pub(crate) verify: bool,
}

pub(crate) async fn exec(
    plan: PathBuf,
    inputs: Inputs,
    opts: Options,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (mut plan, overrides) = load(&plan, &inputs, printer)?;
    check_target(&plan, opts.target.as_deref())?;
    let replace = replace_set(&plan, &opts.replace)?;
    let mut session = Session::open(&mut plan, printer, verify_mode(opts.verify)).await?;
    session.replace = replace;
    let result = async {
        let (diff, mut view) = session.plan(opts.target.as_deref())?;
        view.vars = overrides.values();
        let unobserved = session.unobserved_error();
        // A plan with unknown steps is not one to apply as reviewed.
        if let (Some(out), Some(_)) = (&opts.out, &unobserved) {
            printer.warn(&format!(
                "the plan is not saved to {}: some hosts were not observed",
                out.display()
            ));
        }
        if let (Some(out), None) = (&opts.out, &unobserved) {
            std::fs::write(out, serde_json::to_string_pretty(&view).into_diagnostic()?)
                .map_err(|e| miette!("cannot write `{}`: {e}", out.display()))?;
            printer.status(
                Verb::Saved,
                &format!(
                    "plan to {} (apply it with `cutter apply {}`)",
                    out.display(),
                    out.display()
                ),
            );
        }
        emit(&view, opts.format, "cutter plan", true, printer)?;
        if let Some(e) = unobserved {
            return Err(e);
        }
        if diff.conflicts().next().is_some() {
            return Err(conflict_error(&diff));
        }
        Ok(if opts.detailed_exitcode && view.summary.pending() > 0 {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        })
    }
    .await;
    session.close().await;
    result
}
