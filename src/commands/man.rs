//! `cutter man`: the man page on standard output, or one page per command in a directory.

use std::path::PathBuf;

use miette::{IntoDiagnostic, Result, miette};

use super::stdout;
use crate::exit_status::ExitStatus;
use crate::printer::{Printer, Verb};

pub(crate) fn exec(dir: Option<PathBuf>, printer: &Printer) -> Result<ExitStatus> {
    match dir {
        None => stdout(&String::from_utf8_lossy(
            &crate::man::page().into_diagnostic()?,
        ))?,
        Some(dir) => {
            crate::man::write_all(&dir)
                .map_err(|e| miette!("cannot write man pages to `{}`: {e}", dir.display()))?;
            printer.status(Verb::Wrote, &format!("man pages to {}", dir.display()));
        }
    }
    Ok(ExitStatus::Success)
}
