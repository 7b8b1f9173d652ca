//! `cutter completions`: shell completion scripts.

use clap::CommandFactory;
use miette::Result;

use super::stdout;
use crate::cli::Cli;
use crate::exit_status::ExitStatus;

pub(crate) fn exec(shell: clap_complete::Shell) -> Result<ExitStatus> {
    // Generated into memory: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cutter", &mut script);
    stdout(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}
