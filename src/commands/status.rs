//! `cutter status`: what the plan's hosts hold now; observes, plans nothing.

use std::path::PathBuf;

use miette::{IntoDiagnostic, Result};

use super::session::Session;
use super::{load, stdout};
use crate::cli::{Inputs, StatusFormat};
use crate::exit_status::ExitStatus;
use crate::observe::{self, HostState};
use crate::printer::Printer;

pub(crate) async fn exec(
    plan: PathBuf,
    inputs: Inputs,
    format: StatusFormat,
    printer: &Printer,
) -> Result<ExitStatus> {
    let (mut plan, _) = load(&plan, &inputs, printer)?;
    let session = Session::open(&mut plan, printer, observe::Verify::AsNeeded).await?;
    let result = status(&session, format);
    session.close().await;
    result
}

/// What the hosts hold, without planning.
fn status(session: &Session<'_>, format: StatusFormat) -> Result<ExitStatus> {
    use std::fmt::Write as _;
    if let StatusFormat::Json = format {
        let states: std::collections::BTreeMap<&String, &HostState> =
            session.states.iter().collect();
        stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&states).into_diagnostic()?
        ))?;
        return session
            .unobserved_error()
            .map_or(Ok(ExitStatus::Success), Err);
    }
    let now = crate::clock::now().timestamp();
    let mut s = String::new();
    for host in session.plan.used_hosts() {
        let Some(state) = session.states.get(&host.name) else {
            if let Some(why) = session.unobserved.get(&host.name) {
                let _ = writeln!(s, "host {}\n  not observed: {why}", host.name);
            }
            continue;
        };
        let _ = writeln!(s, "host {}", host.name);
        if let Some(l) = &state.lock {
            let _ = writeln!(s, "  locked by {l}");
        }
        for (name, a) in &state.artefacts {
            match &a.newest {
                Some(f) => {
                    let _ = writeln!(
                        s,
                        "  artefact {name}: {} ({} bytes, {} match(es), modified {} ago, {})",
                        f.path,
                        f.size,
                        a.matches,
                        humantime::format_duration(std::time::Duration::from_secs(
                            (now - f.mtime).max(0) as u64
                        )),
                        match f.verified_at {
                            Some(_) if f.verified_now => format!(
                                "hashed now, {}",
                                if f.recorded_matches() {
                                    "matches SHA256SUMS"
                                } else {
                                    "DOES NOT match SHA256SUMS"
                                }
                            ),
                            Some(t) => format!(
                                "last hashed {} ago",
                                humantime::format_duration(std::time::Duration::from_secs(
                                    (now - t).max(0) as u64
                                ))
                            ),
                            None => "never hashed".into(),
                        }
                    );
                }
                None => {
                    let _ = writeln!(s, "  artefact {name}: missing");
                }
            }
        }
        for c in session
            .plan
            .containers
            .values()
            .filter(|c| c.host == host.name)
        {
            let seen = state
                .docker
                .as_ref()
                .and_then(|d| d.container(&c.docker_name));
            let _ = writeln!(
                s,
                "  container {} ({}): {}",
                c.name,
                c.docker_name,
                seen.map_or("absent".to_string(), |x| format!(
                    "{} {} (image {})",
                    x.state,
                    crate::diff::short(&x.id),
                    x.image
                ))
            );
        }
        for (step, f) in &state.failures {
            let _ = writeln!(
                s,
                "  standing failure {step}: {}",
                f.get("error").and_then(|e| e.as_str()).unwrap_or("")
            );
        }
        for (step, f) in &state.in_flight {
            let _ = writeln!(
                s,
                "  interrupted {step}: {}, its end never recorded",
                crate::diff::started_by(f)
            );
        }
    }
    stdout(&s)?;
    session
        .unobserved_error()
        .map_or(Ok(ExitStatus::Success), Err)
}
