//! `cutter drift`: whether the hosts still match the plan (exit 2 when not).

use std::path::PathBuf;

use miette::Result;

use super::session::Session;
use super::{emit, load, verify_mode};
use crate::cli::{Format, Inputs};
use crate::diff::Action;
use crate::exit_status::ExitStatus;
use crate::graph::StepKind;
use crate::printer::{Printer, Verb};

pub(crate) async fn exec(
    plan: PathBuf,
    inputs: Inputs,
    format: Format,
    verify: bool,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (mut plan, _) = load(&plan, &inputs, printer)?;
    let session = Session::open(&mut plan, printer, verify_mode(verify)).await?;
    let result = drift(&session, format, printer);
    session.close().await;
    result
}

fn drift(session: &Session<'_>, format: Format, printer: &Printer) -> Result<ExitStatus> {
    let mut diff = session.diff();
    // Drift is about the state of resources; checks, teardowns and guards only run with an apply.
    for c in &mut diff.changes {
        if !matches!(
            c.kind,
            StepKind::Artefact | StepKind::Container | StepKind::Leftovers
        ) {
            c.action = Action::Noop;
        }
    }
    let view = session.view(&diff);
    emit(&view, format, "cutter drift", false, printer)?;
    let unobserved = session.unobserved_error();
    if diff.has_changes() || !diff.standing.is_empty() || unobserved.is_some() {
        for c in diff.pending().filter(|c| c.action != Action::Unknown) {
            printer.status(
                Verb::Drift,
                &format!("{}: {}", c.step, c.reasons.join("; ")),
            );
        }
        for f in &diff.standing {
            printer.status(
                Verb::Failed,
                &format!(
                    "{} on {} {} (to clear: {})",
                    f.step, f.host, f.what, f.clear
                ),
            );
        }
        // Never "in sync" while a host is unknown: an error, not drift.
        if let Some(e) = unobserved {
            return Err(e);
        }
        Ok(ExitStatus::Changes)
    } else {
        printer.status(
            Verb::InSync,
            &format!("{} matches the hosts", session.plan.file.display()),
        );
        Ok(ExitStatus::Success)
    }
}
