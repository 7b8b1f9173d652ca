//! Diff: desired state against observed state, step by step.
//!
//! Each step of the graph gets an [`Action`] and the reasons for it, in
//! graph order. Only steps whose action is not `Noop` run on apply; steps
//! that exist only to serve others (checks, teardowns, guards) run when
//! what they serve runs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::{StepGraph, StepKind};
use crate::observe::{FileState, HostState};
use crate::plan::{Artefact, Container, Lifecycle, MANAGED_LABEL, Place, Plan};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing to do: the host already matches.
    Noop,
    /// Missing: make it.
    Create,
    /// Present but wrong (corrupted, stale, too small): make a new one.
    Replace,
    /// A persistent container exists but is not running.
    Start,
    /// A test, check, teardown or guard that runs because something else does.
    Run,
    /// Remove what cutter made for a test (ephemeral container and volume).
    Destroy,
    /// In the way and not cutter's: apply refuses.
    Conflict,
    /// Its host could not be observed (unreachable, or the observation
    /// failed): whether anything is needed there is not known, and apply
    /// runs nothing there.
    Unknown,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Noop => "unchanged",
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Start => "start",
            Action::Run => "run",
            Action::Destroy => "destroy",
            Action::Conflict => "conflict",
            Action::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub step: String,
    pub resource: String,
    pub kind: StepKind,
    pub host: String,
    pub action: Action,
    /// Why the action is needed (or why nothing is).
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Failures of earlier applies that still stand on the hosts.
    pub standing: Vec<Standing>,
}

/// A failed guard, check or restore of an earlier apply, recorded on the
/// host until it is dealt with.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Standing {
    pub host: String,
    pub step: String,
    /// When it failed and why.
    pub what: String,
    /// How to clear it.
    pub clear: String,
}

impl Diff {
    pub fn pending(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action != Action::Noop)
    }
    pub fn has_changes(&self) -> bool {
        self.pending().next().is_some()
    }
    pub fn conflicts(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action == Action::Conflict)
    }
    /// Whether apply has something to run on the hosts that were observed.
    pub fn has_work(&self) -> bool {
        self.pending().any(|c| c.action != Action::Unknown)
    }
    pub fn get(&self, step: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.step == step)
    }
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

mod container;
mod interrupted;
pub mod leftovers;
mod time;
use container::{container_action, leftovers};
use interrupted::interrupted;
pub use interrupted::started_by;
pub use time::{dated_in_future, future_dated, prune_list, taken_at};

/// Compare the plan with what the hosts have.
pub fn diff(
    plan: &Plan,
    graph: &StepGraph,
    states: &HashMap<String, HostState>,
    now: DateTime<Utc>,
) -> Diff {
    diff_replacing(plan, graph, states, now, &std::collections::BTreeSet::new())
}

/// Compare, making the resources in `replace` again even where they match
/// (`--replace NAME`): a fresh backup before `max_age` says so, a restore
/// test run again, a persistent copy made again, or a file at a fixed path
/// that cutter did not make overwritten (refused without it).
pub fn diff_replacing(
    plan: &Plan,
    graph: &StepGraph,
    states: &HashMap<String, HostState>,
    now: DateTime<Utc>,
    replace: &std::collections::BTreeSet<String>,
) -> Diff {
    let mut actions: HashMap<String, (Action, Vec<String>)> = HashMap::new();
    for a in plan.artefacts.values() {
        // A host that was not observed gets no action here: its steps are
        // all unknown (below).
        let Some(state) = states.get(&a.host) else {
            continue;
        };
        let mut act = artefact_action(a, state, now);
        if replace.contains(&a.name) {
            let exists = state.artefacts.get(&a.name).and_then(|s| s.newest.as_ref());
            act = match (act.0, exists) {
                (_, None) => act,
                (Action::Conflict, Some(f)) => (
                    Action::Replace,
                    vec![format!(
                        "--replace: overwrites `{}`, a file cutter did not make",
                        f.path
                    )],
                ),
                (_, Some(_)) => (
                    Action::Replace,
                    vec!["--replace: made again on request".into()],
                ),
            };
        }
        let step = format!("artefact.{}", a.name);
        if act.0 == Action::Noop
            && let Some(why) = interrupted(state, &step)
        {
            act = (Action::Replace, vec![format!("{why}: it is made again")]);
        }
        actions.insert(step, act);
    }
    for c in plan.containers.values() {
        let Some(state) = states.get(&c.host) else {
            continue;
        };
        let artefact_changes = c
            .restore
            .as_ref()
            .and_then(|r| actions.get(&format!("artefact.{}", r.artefact)))
            .is_some_and(|(a, _)| *a != Action::Noop);
        let mut act = container_action(plan, c, state, artefact_changes);
        if replace.contains(&c.name) && act.0 != Action::Conflict {
            act = match (c.lifecycle, act.0) {
                (Lifecycle::Ephemeral, _) => (
                    Action::Run,
                    vec!["--replace: the restore test runs again on request".into()],
                ),
                (Lifecycle::Persistent, Action::Create) => act,
                (Lifecycle::Persistent, _) => (
                    Action::Replace,
                    vec![format!(
                        "--replace: `{}` is removed and made again on request",
                        c.docker_name
                    )],
                ),
            };
        }
        // A persistent container whose making was interrupted may be
        // incomplete, whatever Docker shows of it. (What an interrupted
        // restore test leaves is a leftover its teardown removes; the
        // evidence on file stays what it was.)
        if c.lifecycle == Lifecycle::Persistent
            && matches!(act.0, Action::Noop | Action::Start)
            && let Some(why) = interrupted(state, &format!("container.{}", c.name))
        {
            act = (
                Action::Replace,
                vec![format!("{why}: `{}` is made again", c.docker_name)],
            );
        }
        actions.insert(format!("container.{}", c.name), act);
    }
    // A reference to a container cutter does not own must resolve, the way
    // Docker resolves it, to exactly one container that is not cutter's.
    for a in plan.artefacts.values() {
        if let Some(problem) = states
            .get(&a.host)
            .and_then(|state| external_problem(state, &a.place))
        {
            actions.insert(
                format!("artefact.{}", a.name),
                (Action::Conflict, vec![problem]),
            );
        }
    }
    let leftovers = leftovers(plan, states, &actions);
    let container_actions: HashMap<String, Action> =
        actions.iter().map(|(k, (a, _))| (k.clone(), *a)).collect();
    // Objects of this plan found by label that it no longer holds, by host.
    let labelled: HashMap<&String, Vec<leftovers::Leftover>> = plan
        .hosts
        .keys()
        .filter_map(|h| {
            let found = leftovers::find(plan, h, states.get(h)?, &container_actions);
            (!found.is_empty()).then_some((h, found))
        })
        .collect();
    let any_work = !leftovers.is_empty()
        || !labelled.is_empty()
        || actions.values().any(|(a, _)| *a != Action::Noop);
    // What was decided for a step; a step of a host that was not observed
    // is unknown.
    let action_of =
        |id: &str, host: &str| actions.get(id).cloned().unwrap_or_else(|| unknown(host));
    let mut changes = Vec::new();
    for n in graph.order() {
        let step = &graph.graph[n];
        let (action, reasons) = match step.kind {
            _ if !states.contains_key(&step.host) => unknown(&step.host),
            StepKind::Artefact | StepKind::Container => action_of(&step.id, &step.host),
            StepKind::Check
                if states
                    .get(&step.host)
                    .is_some_and(|s| s.failures.contains_key(&step.id)) =>
            {
                (
                    Action::Run,
                    vec!["failed in an earlier apply: runs again, and clears the failure when it passes".into()],
                )
            }
            StepKind::Check
                if states
                    .get(&step.host)
                    .is_some_and(|s| s.in_flight.contains_key(&step.id)) =>
            {
                (
                Action::Run,
                    vec!["interrupted in an earlier apply: runs again".into()],
                )
            }
            StepKind::Check => {
                let own = plan
                    .checks
                    .get(&step.resource)
                    .and_then(|k| k.own_container().map(str::to_string));
                match own {
                    Some(c) => match action_of(&format!("container.{c}"), &step.host) {
                        (Action::Noop | Action::Conflict | Action::Unknown, _) => {
                            (Action::Noop, vec![format!("container `{c}` is unchanged")])
                        }
                        _ => (Action::Run, vec![format!("container `{c}` is (re)made")]),
                    },
                    None if any_work => (Action::Run, vec!["verifies the apply".into()]),
                    None => (Action::Noop, vec!["nothing to apply".into()]),
                }
            }
            StepKind::Prune => {
                let remade = !matches!(
                    action_of(&format!("artefact.{}", step.resource), &step.host).0,
                    Action::Noop | Action::Conflict | Action::Unknown
                );
                let doomed = match (plan.artefacts.get(&step.resource), states.get(&step.host)) {
                    (Some(a), Some(state)) => prune_list(a, state, now, remade),
                    _ => Vec::new(),
                };
                if doomed.is_empty() {
                    (Action::Noop, vec!["nothing older to delete".into()])
                } else {
                    let mut reasons = vec![format!(
                        "retention: {} older file(s) cutter made are deleted",
                        doomed.len()
                    )];
                    reasons.extend(doomed.iter().map(|p| format!("delete `{p}`")));
                    (Action::Destroy, reasons)
                }
            }
            StepKind::Teardown => {
                match action_of(&format!("container.{}", step.resource), &step.host) {
                    (Action::Run | Action::Create | Action::Replace, _) => (
                        Action::Destroy,
                        vec![
                            "ephemeral: removed with its volume after its checks, even if one fails"
                                .into(),
                        ],
                    ),
                    _ => match leftovers.get(&step.resource) {
                        Some(why) => (Action::Destroy, vec![why.clone()]),
                        None => (Action::Noop, vec![]),
                    },
                }
            }
            StepKind::Leftovers => match labelled.get(&step.host) {
                Some(found) => (
                    Action::Destroy,
                    found.iter().map(|l| l.describe()).collect(),
                ),
                None if states.contains_key(&step.host) => {
                    (Action::Noop, vec!["nothing left over".into()])
                }
                None => unknown(&step.host),
            },
            StepKind::GuardBefore | StepKind::GuardAfter if any_work => {
                (Action::Run, vec!["proves production untouched".into()])
            }
            StepKind::GuardBefore | StepKind::GuardAfter => {
                (Action::Noop, vec!["nothing to apply".into()])
            }
        };
        changes.push(Change {
            step: step.id.clone(),
            resource: step.resource.clone(),
            kind: step.kind,
            host: step.host.clone(),
            action,
            reasons,
        });
    }
    let standing = standing(plan, states);
    Diff { changes, standing }
}

/// The action and reason of every step of a host that was not observed.
fn unknown(host: &str) -> (Action, Vec<String>) {
    (
        Action::Unknown,
        vec![format!(
            "host `{host}` was not observed: whether this step is needed is unknown, and apply runs nothing there"
        )],
    )
}

fn artefact_action(a: &Artefact, host: &HostState, now: DateTime<Utc>) -> (Action, Vec<String>) {
    let Some(f) = host.artefacts.get(&a.name).and_then(|s| s.newest.as_ref()) else {
        return (
            Action::Create,
            vec![format!("missing: nothing matches `{}`", a.path.display())],
        );
    };
    let mut reasons = Vec::new();
    let mut reasons_noop_note: Option<&str> = None;
    match &f.recorded_sha256 {
        None => reasons.push(format!("unrecorded: `{}` is not in its SHA256SUMS", f.path)),
        Some(rec) if *rec != f.sha256 => reasons.push(format!(
            "corrupted: `{}` has SHA-256 {} but SHA256SUMS records {}",
            f.path,
            short(&f.sha256),
            short(rec)
        )),
        Some(_) => {}
    }
    if !f.sums_conflict.is_empty() {
        reasons.push(format!(
            "conflicting: SHA256SUMS has {} different lines for `{}` ({}), so `sha256sum -c` fails",
            f.sums_conflict.len(),
            f.path,
            f.sums_conflict
                .iter()
                .map(|h| short(h))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let unreadable_manifest = match &f.manifest {
        Some(_) => None,
        None => f.unreadable.get("cutter.json"),
    };
    if let Some(why) = unreadable_manifest {
        reasons.push(format!(
            "unreadable manifest: `{}.cutter.json` cannot be read ({why}): its bookkeeping did not finish",
            f.path
        ));
    }
    let taken = taken_at(a, f);
    if let Some((t, reference)) = dated_in_future(a, f, now) {
        reasons.push(format!(
            "dated in the future: `{}` is dated {}, but now is {}: not fresh (check the clocks)",
            f.path,
            crate::clock::show(t),
            crate::clock::show(reference)
        ));
    }
    if let Some(min) = a.min_size
        && f.size < min
    {
        reasons.push(format!(
            "too small: `{}` is {} bytes, below min_size {min}",
            f.path, f.size
        ));
    }
    if let Some(max) = a.max_age {
        let age = now.signed_duration_since(taken);
        if age.to_std().is_ok_and(|age| age > max) {
            reasons.push(format!(
                "stale: `{}` was taken {} ago, max_age is {}",
                f.path,
                humantime::format_duration(std::time::Duration::from_secs(
                    age.num_seconds().max(0) as u64
                )),
                humantime::format_duration(max)
            ));
        }
    }
    if reasons.is_empty() && f.manifest.is_none() {
        reasons_noop_note = Some(" (accepted: cutter did not make it, it has no manifest)");
    }
    if reasons.is_empty() {
        let how = if f.verified_now {
            "hashed now".to_string()
        } else {
            format!(
                "metadata unchanged since it was hashed at {}",
                f.verified_at
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .map_or("?".into(), |t| t
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            )
        };
        return (
            Action::Noop,
            vec![format!(
                "`{}` ({} bytes, SHA-256 {}) matches SHA256SUMS ({how}){}",
                f.path,
                f.size,
                short(&f.sha256),
                reasons_noop_note.unwrap_or("")
            )],
        );
    }
    // A manifest that cannot be read is still cutter's name beside the
    // file: cutter made it and did not finish its bookkeeping.
    if !a.path.is_dated() && f.manifest.is_none() && unreadable_manifest.is_none() {
        reasons.push(format!(
            "`{}` was not made by cutter: refusing to overwrite it (`--replace {}` overwrites it)",
            f.path, a.name
        ));
        return (Action::Conflict, reasons);
    }
    (Action::Replace, reasons)
}

/// The first 12 characters of a hash or ID. IDs come from hosts and
/// reports, so it counts characters, never cuts inside one.
pub fn short(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(end, _)| &hash[..end])
}

/// Why a place outside cutter's own containers cannot be used, if it cannot.
pub fn external_problem(host: &HostState, place: &Place) -> Option<String> {
    let Place::External(r) = place else {
        return None;
    };
    let Some(docker) = &host.docker else {
        return Some("Docker was not observed".into());
    };
    match docker.resolve(r) {
        Err(e) => Some(e),
        Ok(c) if c.labels.get(MANAGED_LABEL).map(String::as_str) == Some("true") => Some(format!(
            "`{r}` is a container cutter created: name it by its resource in the plan"
        )),
        Ok(_) => None,
    }
}

/// The standing failures of this plan's steps on its hosts, and the steps
/// whose end was never recorded.
fn standing(plan: &Plan, states: &HashMap<String, HostState>) -> Vec<Standing> {
    let mut out = Vec::new();
    for host in plan.hosts.keys() {
        let Some(state) = states.get(host) else {
            continue;
        };
        out.extend(interrupted::standing(host, state));
        for (step, record) in &state.failures {
            let text = |k: &str| {
                record
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let clear = if step.starts_with("guard") {
                format!("investigate, then `cutter apply PLAN --acknowledge {step}`")
            } else {
                format!(
                    "`cutter apply` runs `{step}` again and clears it when it passes (or `--acknowledge {step}`)"
                )
            };
            out.push(Standing {
                host: host.clone(),
                step: step.clone(),
                what: format!("failed at {}: {}", text("failed_at"), text("error")),
                clear,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
