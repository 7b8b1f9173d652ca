//! Steps an earlier apply started and never saw end: each left its
//! in-flight record on its host (see `apply::failures`).

use super::Standing;
use crate::observe::HostState;

/// Why step `id` counts as interrupted on this host, if it does: it started
/// in an earlier apply and its end was never recorded.
pub(super) fn interrupted(host: &HostState, id: &str) -> Option<String> {
    let record = host.in_flight.get(id)?;
    Some(format!(
        "interrupted in an earlier apply ({})",
        started_by(record)
    ))
}

/// `started at T by HOLDER`, from a step's in-flight record.
pub fn started_by(record: &serde_json::Value) -> String {
    let text = |k: &str| record.get(k).and_then(|v| v.as_str()).unwrap_or("?");
    format!("started at {} by {}", text("started_at"), text("holder"))
}

/// The interrupted steps of `host`, as standing entries of the plan.
pub(super) fn standing(host: &str, state: &HostState) -> Vec<Standing> {
    state
        .in_flight
        .iter()
        .map(|(step, record)| Standing {
            host: host.to_string(),
            step: step.clone(),
            what: format!(
                "interrupted: {}, and its end was never recorded",
                started_by(record)
            ),
            clear: format!(
                "`cutter apply` runs `{step}` again when it is still needed and clears this when it ends (or `--acknowledge {step}`)"
            ),
        })
        .collect()
}
