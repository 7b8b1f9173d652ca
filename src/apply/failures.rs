//! Failures that stand: a failed guard, check or restore is recorded on its
//! host (`~/.cutter/failures/<plan>.<step>.json`) as soon as cutter knows,
//! and stays until it is dealt with: a check or a restore that passes in a
//! later apply clears its own record; a guard's record is cleared only by an
//! explicit acknowledgement.
//!
//! Every step also says on its host that it is in flight
//! (`<plan>.<step>.in-flight`) before it starts anything, and the record goes
//! when the step's end is known. After kill -9 of cutter or a lost
//! connection, the next plan finds it and names the interrupted step.

use super::{Context, Script, Status, StepOutcome};
use crate::graph::{Step, StepKind};
use crate::observe::probe::{FAILURES_DIR, IN_FLIGHT_SUFFIX, failure_prefix};
use crate::plan::Plan;
use crate::remote::{RemoteError, Transport};
use crate::shell::quote;

fn record_path(plan: &Plan, step: &str) -> String {
    format!(
        "\"{FAILURES_DIR}\"/{}",
        quote(&format!("{}.{step}.json", failure_prefix(plan)))
    )
}

/// Where a step's "in flight" record lives while it runs: written by the
/// step's own script before it starts anything, removed when it ends (by
/// the script, or for the kinds with failure records by [`settle`], which
/// writes the failure in its place). One left behind means cutter never
/// learnt how the step ended: it was killed, or lost its connection.
fn in_flight_path(plan: &Plan, step: &str) -> String {
    format!(
        "\"{FAILURES_DIR}\"/{}",
        quote(&format!(
            "{}.{step}{IN_FLIGHT_SUFFIX}",
            failure_prefix(plan)
        ))
    )
}

/// Steps of these kinds keep a record when they fail; [`settle`] writes it
/// (or clears an old one) as soon as cutter knows the outcome.
fn keeps_failure_record(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::Check | StepKind::Container | StepKind::GuardAfter
    )
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Make the step's supervisor record that it is in flight before it starts,
/// and end that record when the step ends (see [`started`], [`finished`]).
pub(super) fn in_flight(ctx: &Context<'_>, step: &Step, job: &mut Script) {
    job.on_start = started(ctx.plan, &step.id, &stamp(chrono::Utc::now()), ctx.holder);
    job.on_end = finished(ctx.plan, step);
}

/// Record a step's failure (or clear its records) on its host the moment
/// its outcome is known, so that it stands even if cutter dies next.
pub(super) async fn settle_step(ctx: &Context<'_>, o: &StepOutcome) {
    let Some(t) = ctx.transports.get(&o.host) else {
        return;
    };
    if let Err(e) = settle(t.as_ref(), ctx.plan, o, &stamp(crate::clock::now())).await {
        ctx.printer.warn(&format!(
            "cannot record `{}` on host `{}`: {e}",
            o.step, o.host
        ));
    }
}

/// Shell for the step's supervisor, run before the step starts: records on
/// the host that `step` started (when, by whom), with checked writes. A
/// step whose start cannot be recorded does not run.
fn started(plan: &Plan, step: &str, at: &str, holder: &str) -> String {
    let record = serde_json::json!({
        "step": step,
        "started_at": at,
        "holder": holder,
        "plan": plan.file.display().to_string(),
    })
    .to_string();
    format!(
        r#"cutter_flight={path}
cutter_ftmp=
cutter_unrecorded() {{ rm -f -- "$cutter_ftmp"; echo "cutter: cannot record on the host that the step started (in {FAILURES_DIR})" >&2; exit 1; }}
mkdir -p -- "{FAILURES_DIR}" < /dev/null || cutter_unrecorded
cutter_ftmp=$(mktemp "{FAILURES_DIR}/.in-flight.XXXXXX" < /dev/null) || cutter_unrecorded
printf '%s\n' {record} > "$cutter_ftmp" || cutter_unrecorded
mv -fT -- "$cutter_ftmp" "$cutter_flight" < /dev/null || cutter_unrecorded"#,
        path = in_flight_path(plan, step),
        record = quote(&record),
    )
}

/// Shell for the step's supervisor, run once the step ended (not when it
/// is interrupted): a step with no failure record to keep is no longer in
/// flight. The others stay in flight until [`settle`] records their outcome.
/// A restore test's teardown that ran to its end also ends its container
/// step's interruption: what that left is gone, and the evidence on file is
/// what it was.
fn finished(plan: &Plan, step: &Step) -> String {
    match step.kind {
        k if keeps_failure_record(k) => String::new(),
        StepKind::Teardown => format!(
            "rm -f -- \"$cutter_flight\" {}",
            in_flight_path(plan, &format!("container.{}", step.resource))
        ),
        _ => "rm -f -- \"$cutter_flight\"".into(),
    }
}

/// Record the outcome of a step that keeps failure records, on its host, as
/// soon as it is known: a failure replaces the step's in-flight record; a
/// pass clears both (a guard's failure stays until it is acknowledged).
pub async fn settle(
    t: &dyn Transport,
    plan: &Plan,
    o: &StepOutcome,
    now: &str,
) -> Result<(), String> {
    // A skipped step never started; of a step whose outcome is unknown
    // (its host was lost) nothing is known: its in-flight record stays.
    if !keeps_failure_record(o.kind) || !matches!(o.status, Status::Ok | Status::Failed) {
        return Ok(());
    }
    let path = record_path(plan, &o.step);
    let flight = in_flight_path(plan, &o.step);
    let script = match o.status {
        Status::Failed => {
            let record = serde_json::json!({
                "step": o.step,
                "failed_at": now,
                "error": o.error,
                "evidence": o.evidence,
                "plan": plan.file.display().to_string(),
            })
            .to_string();
            format!(
                "mkdir -p -- \"{FAILURES_DIR}\" || exit 1\ntmp=$(mktemp \"{FAILURES_DIR}/.failure.XXXXXX\") || exit 1\nprintf '%s\\n' {} > \"$tmp\" || {{ rm -f -- \"$tmp\"; exit 1; }}\nmv -fT -- \"$tmp\" {path} || {{ rm -f -- \"$tmp\"; exit 1; }}\nrm -f -- {flight}\n",
                quote(&record)
            )
        }
        // A guard's failure is cleared only by acknowledgement.
        _ if o.kind == StepKind::GuardAfter => format!("rm -f -- {flight}\n"),
        _ => format!("rm -f -- {path} {flight}\n"),
    };
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
        script.push_str(&format!(
            "rm -f -- {} {}\n",
            record_path(plan, s),
            in_flight_path(plan, s)
        ));
    }
    Ok(t.run(&script, None).await?.success())
}
