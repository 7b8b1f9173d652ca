//! `cutter init`: write a starter plan; never overwrites a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use miette::{Result, miette};

use crate::exit_status::ExitStatus;
use crate::printer::{Printer, Verb};

pub(crate) fn exec(path: PathBuf, printer: &Printer) -> Result<ExitStatus> {
    init(&path)?;
    printer.status(
        Verb::Created,
        &format!(
            "{}: a starter plan; next `cutter plan {}`",
            path.display(),
            path.display()
        ),
    );
    Ok(ExitStatus::Success)
}

/// The plan `cutter init` writes.
const STARTER: &str = include_str!("../../examples/starter.toml");

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
