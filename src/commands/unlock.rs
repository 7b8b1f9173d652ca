//! `cutter unlock`: remove a host's apply lock left behind, after naming its holder.

use std::path::PathBuf;

use miette::{Result, miette};

use super::{confirm, load};
use crate::apply::lock;
use crate::cli::Inputs;
use crate::exit_status::ExitStatus;
use crate::printer::{Printer, Verb};
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
            printer.status(
                Verb::Unlocked,
                &format!("host `{host}` holds no apply lock"),
            );
            return Ok(ExitStatus::Success);
        };
        printer.status(Verb::Locked, &format!("host `{host}` by {holder}"));
        if !yes
            && !confirm(
                printer,
                "Remove this lock? Only if that apply is not running.",
                "remove the lock",
                "pass `--yes` to remove it without a prompt",
            )?
        {
            printer.status(Verb::Cancelled, "the lock stays");
            return Ok(ExitStatus::Failure);
        }
        if lock::unlock(t.as_ref(), &holder).await? {
            printer.status(
                Verb::Unlocked,
                &format!("host `{host}` (was held by {holder})"),
            );
            Ok(ExitStatus::Success)
        } else {
            Err(miette!(
                "the lock of host `{host}` changed hands meanwhile: nothing removed"
            ))
        }
    }
    .await;
    t.close().await;
    result
}
