//! `cutter graph`: the step graph as Graphviz dot or Mermaid.

use std::path::PathBuf;

use miette::Result;

use super::{load, stdout};
use crate::cli::{GraphFormat, Inputs};
use crate::exit_status::ExitStatus;
use crate::graph::StepGraph;
use crate::printer::Printer;

pub(crate) fn exec(
    plan: PathBuf,
    inputs: Inputs,
    format: GraphFormat,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (plan, _) = load(&plan, &inputs, printer)?;
    let graph = StepGraph::build(&plan);
    stdout(&match format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
    })?;
    Ok(ExitStatus::Success)
}
