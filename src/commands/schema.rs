//! `cutter schema`: the JSON Schema of plan files.

use miette::{IntoDiagnostic, Result};

use super::stdout;
use crate::exit_status::ExitStatus;

pub(crate) fn exec() -> Result<ExitStatus> {
    let schema = crate::plan::json_schema::plan_schema();
    stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).into_diagnostic()?
    ))?;
    Ok(ExitStatus::Success)
}
