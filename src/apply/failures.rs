//! Failures that stand: a failed guard, check or restore is recorded on its
//! host (`~/.cutter/failures/<plan>.<step>.json`) and stays until it is dealt
//! with: a check or a restore that passes in a later apply clears its own
//! record; a guard's record is cleared only by an explicit acknowledgement.

use super::{Status, StepOutcome};
use crate::graph::StepKind;
use crate::observe::probe::{FAILURES_DIR, failure_prefix};
use crate::plan::Plan;
use crate::remote::{RemoteError, Transport};
use crate::shell::quote;

fn record_path(plan: &Plan, step: &str) -> String {
    format!(
        "\"{FAILURES_DIR}\"/{}",
        quote(&format!("{}.{step}.json", failure_prefix(plan)))
    )
}

/// Record this apply's failures on `host` and clear what passed.
pub async fn sync(
    t: &dyn Transport,
    plan: &Plan,
    outcomes: &[StepOutcome],
    now: &str,
) -> Result<(), String> {
    let mut script = format!("set -e; mkdir -p \"{FAILURES_DIR}\"\n");
    let mut records = Vec::new();
    for o in outcomes.iter().filter(|o| o.host == t.host()) {
        let recorded = matches!(
            o.kind,
            StepKind::Check | StepKind::Container | StepKind::GuardAfter
        );
        if !recorded {
            continue;
        }
        let path = record_path(plan, &o.step);
        match o.status {
            Status::Failed => {
                let record = serde_json::json!({
                    "step": o.step,
                    "failed_at": now,
                    "error": o.error,
                    "evidence": o.evidence,
                    "plan": plan.file.display().to_string(),
                })
                .to_string();
                script.push_str(&format!(
                    "printf '%s\\n' {} > {path}.tmp && mv -f -- {path}.tmp {path}\n",
                    quote(&record)
                ));
                records.push(o.step.clone());
            }
            // A guard's failure is cleared only by acknowledgement.
            Status::Ok if o.kind != StepKind::GuardAfter => {
                script.push_str(&format!("rm -f -- {path}\n"));
            }
            _ => {}
        }
    }
    if script.lines().count() == 1 {
        // Nothing to record or clear on this host: no round trip.
        return Ok(());
    }
    let out = t.run(&script, None).await.map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.stderr_tail());
    }
    Ok(())
}

/// Remove the records of `steps` (an operator acknowledged them).
pub async fn acknowledge(
    t: &dyn Transport,
    plan: &Plan,
    steps: &[String],
) -> Result<bool, RemoteError> {
    let mut script = String::from("set -e\n");
    for s in steps {
        script.push_str(&format!("rm -f -- {}\n", record_path(plan, s)));
    }
    Ok(t.run(&script, None).await?.success())
}
