//! `cutter report`: render a JSON evidence report, or verify its signature.

use std::path::PathBuf;

use miette::{IntoDiagnostic, Result, miette};

use super::{read_json_file, stdout};
use crate::cli::ReportFormat;
use crate::exit_status::ExitStatus;
use crate::printer::{Printer, Verb};
use crate::report;

pub(crate) fn exec(
    report: PathBuf,
    format: ReportFormat,
    verify: Option<PathBuf>,
    printer: &Printer,
) -> Result<ExitStatus> {
    if let Some(allowed) = &verify {
        let who = crate::signature::verify(&report, allowed)?;
        printer.status(
            Verb::Verified,
            &format!("{} was signed by `{who}`", report.display()),
        );
        return Ok(ExitStatus::Success);
    }
    let text = read_json_file(&report)?;
    super::check_format_version(
        &text,
        &report,
        "cutter report",
        report::FORMAT_VERSION,
        "cutter::report_format",
    )?;
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
