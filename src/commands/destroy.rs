//! `cutter destroy`: remove a persistent container cutter made, with its
//! volume (and its network when unused), under the host lock.

use std::path::PathBuf;
use std::time::Duration;

use miette::{Result, miette};

use super::session::Session;
use super::{confirm, load};
use crate::apply::{self, lock};
use crate::cli::Inputs;
use crate::exit_status::ExitStatus;
use crate::observe;
use crate::printer::{Printer, Verb};

pub(crate) async fn exec(
    plan: PathBuf,
    name: String,
    inputs: Inputs,
    yes: bool,
    lock_wait: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (mut plan, _) = load(&plan, &inputs, printer)?;
    let Some(c) = plan.containers.get(&name) else {
        let known: Vec<String> = plan
            .containers
            .values()
            .filter(|c| c.lifecycle == crate::plan::Lifecycle::Persistent)
            .map(|c| format!("`{}`", c.name))
            .collect();
        return Err(miette!(
            code = "cutter::unknown_target",
            "cannot destroy `{name}`: no container of that name (persistent containers: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        ));
    };
    if c.lifecycle != crate::plan::Lifecycle::Persistent {
        return Err(miette!(
            code = "cutter::destroy",
            "`{name}` is ephemeral: cutter removes it after its checks on every apply"
        ));
    }
    let c = c.clone();
    let session = Session::open(&mut plan, printer, observe::Verify::AsNeeded).await?;
    let result = destroy(&session, &c, yes, lock_wait, printer).await;
    session.close().await;
    result
}

/// Remove a persistent container cutter made, with its volume and its
/// network when unused, under the host lock.
async fn destroy(
    session: &Session<'_>,
    c: &crate::plan::Container,
    yes: bool,
    lock_wait: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus> {
    let docker = session.state(&c.host)?.docker.as_ref();
    let Some(found) = docker.and_then(|d| d.container(&c.docker_name)) else {
        printer.status(
            Verb::Unchanged,
            &format!("no container `{}` on host `{}`", c.docker_name, c.host),
        );
        return Ok(ExitStatus::Success);
    };
    if found
        .labels
        .get(crate::plan::MANAGED_LABEL)
        .map(String::as_str)
        != Some("true")
    {
        return Err(miette!(
            code = "cutter::conflict",
            "`{}` on host `{}` was not created by cutter: refusing to remove it",
            c.docker_name,
            c.host
        ));
    }
    printer.status(
        Verb::Destroy,
        &format!(
            "container `{}` ({}) on host `{}`, its volume `{}` and its network `{}` if unused",
            c.docker_name,
            crate::diff::short(&found.id),
            c.host,
            c.volume,
            c.network
        ),
    );
    if !yes
        && !confirm(
            printer,
            "Destroy it?",
            "destroy",
            "pass `--yes` to destroy without a prompt",
        )?
    {
        printer.status(Verb::Cancelled, "nothing was destroyed");
        return Ok(ExitStatus::Failure);
    }
    let t = session.transport(&c.host)?;
    let holder = lock::holder(&session.plan.file.display().to_string());
    let locked = matches!(
        lock::acquire(t.as_ref(), &holder, lock_wait.unwrap_or_default(), printer).await?,
        lock::Acquired::Taken { .. }
    );
    let script = apply::script::teardown(c);
    let out = t.run(&script.body(), None).await;
    if locked {
        lock::release(t.as_ref(), &holder).await;
    }
    let out = out?;
    if !out.success() {
        return Err(miette!(
            code = "cutter::destroy",
            "destroying `{}` failed: {}",
            c.docker_name,
            out.stderr_tail()
        ));
    }
    printer.status(Verb::Destroyed, &format!("{} on {}", c.docker_name, c.host));
    Ok(ExitStatus::Success)
}
