//! `cutter unlock`: remove a host's apply lock left behind, after naming its holder.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use miette::{IntoDiagnostic, Result, miette};

use super::load;
use crate::apply::lock;
use crate::cli::Inputs;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::remote;

pub(crate) async fn exec(
    plan: PathBuf,
    host: String,
    inputs: Inputs,
    yes: bool,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (plan, _) = load(&plan, &inputs, printer)?;
    let h = plan.hosts.get(&host).ok_or_else(|| {
        miette!(
            code = "cutter::unknown_host",
            "unknown host `{host}`: the plan declares {}",
            plan.hosts
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let t = remote::connect(h).await?;
    let result = async {
        let Some(holder) = lock::holder_of(t.as_ref()).await? else {
            printer.status("Unlocked", &format!("host `{host}` holds no apply lock"));
            return Ok(ExitStatus::Success);
        };
        printer.status("Locked", &format!("host `{host}` by {holder}"));
        if !yes {
            if !std::io::stdin().is_terminal() {
                return Err(miette!(
                    code = "cutter::confirm",
                    help = "pass `--yes` to remove it without a prompt",
                    "refusing to remove the lock without confirmation: standard input is not a terminal"
                ));
            }
            let _ = write!(
                std::io::stderr(),
                "Remove this lock? Only if that apply is not running. Only `yes` is accepted: "
            );
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).into_diagnostic()?;
            if answer.trim() != "yes" {
                printer.status("Cancelled", "the lock stays");
                return Ok(ExitStatus::Failure);
            }
        }
        if lock::unlock(t.as_ref(), &holder).await? {
            printer.status("Unlocked", &format!("host `{host}` (was held by {holder})"));
            Ok(ExitStatus::Success)
        } else {
            Err(miette!("the lock of host `{host}` changed hands meanwhile: nothing removed"))
        }
    }
    .await;
    t.close().await;
    result
}
