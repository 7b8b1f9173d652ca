//! `cutter validate`: load and check a plan; contacts no host.

use std::path::PathBuf;

use miette::Result;

use super::load;
use crate::cli::Inputs;
use crate::exit_status::ExitStatus;
use crate::graph::StepGraph;
use crate::printer::{Printer, Verb};

pub(crate) fn exec(plan: PathBuf, inputs: Inputs, printer: &Printer) -> Result<ExitStatus> {
    let (plan, _) = load(&plan, &inputs, printer)?;
    let graph = StepGraph::build(&plan);
    printer.status(
        Verb::Valid,
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
