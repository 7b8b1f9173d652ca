//! One command model: the script of a step, built the same way for `plan`
//! (secrets masked) and for `apply` (secrets raw), so that what the plan
//! shows is by construction what the apply runs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::script::{self, Exec, Script};
use crate::diff::{Action, Diff};
use crate::graph::{StepGraph, StepKind};
use crate::observe::HostState;
use crate::plan::{CheckKind, GuardKind, Place, Plan};

/// What a step's script depends on besides the plan.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub graph: &'a StepGraph,
    pub diff: &'a Diff,
    pub states: &'a HashMap<String, HostState>,
    pub now: DateTime<Utc>,
    /// Artefact → path made earlier in this apply.
    pub produced: &'a HashMap<String, String>,
}

/// A step's marker, put into the arguments of everything it starts inside
/// containers; the same for `plan` and `apply` at the same "now".
pub fn nonce(plan: &Plan, step: &str, now: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(plan.sha256.as_bytes());
    h.update(step.as_bytes());
    h.update(now.to_rfc3339().as_bytes());
    hex::encode(h.finalize())[..16].to_string()
}

/// Where `place` runs on `host`, resolved from observation: a container
/// cutter does not own becomes its full ID, whatever the plan's spelling.
pub fn exec(inputs: &Inputs<'_>, host: &str, place: &Place) -> Result<Exec, String> {
    match place {
        Place::Host => Ok(Exec::Host),
        Place::Own(resource) => Ok(Exec::Own {
            docker_name: inputs.plan.containers[resource].docker_name.clone(),
        }),
        Place::External(reference) => {
            let docker = inputs
                .states
                .get(host)
                .and_then(|s| s.docker.as_ref())
                .ok_or_else(|| format!("Docker was not observed on host `{host}`"))?;
            let c = docker.resolve(reference)?;
            if c.labels.get(crate::plan::MANAGED_LABEL).map(String::as_str) == Some("true") {
                return Err(format!(
                    "`{reference}` is a container cutter created: name it by its resource in the plan"
                ));
            }
            Ok(Exec::External {
                id: c.id.clone(),
                image_id: c.image_id.clone(),
                name: c.name.clone(),
            })
        }
    }
}

impl Inputs<'_> {
    /// The artefact's file: made in this apply, to be made by it, or the
    /// newest observed.
    pub fn artefact_file(&self, name: &str) -> Option<String> {
        if let Some(p) = self.produced.get(name) {
            return Some(p.clone());
        }
        let a = &self.plan.artefacts[name];
        let remade = self.diff.get(&format!("artefact.{name}")).is_some_and(|c| {
            !matches!(c.action, Action::Noop | Action::Conflict | Action::Unknown)
        });
        if remade {
            return Some(a.path.render(self.now));
        }
        self.states
            .get(&a.host)
            .and_then(|s| s.artefacts.get(name))
            .and_then(|s| s.newest.as_ref())
            .map(|f| f.path.clone())
    }

    /// The file whose restore test the teardown of container `name`
    /// records: only when the container step runs in this apply (removing
    /// a leftover of an earlier apply records nothing).
    pub fn tested_file(&self, name: &str) -> Option<String> {
        let runs = self
            .diff
            .get(&format!("container.{name}"))
            .is_some_and(|c| matches!(c.action, Action::Run | Action::Create | Action::Replace));
        let r = self.plan.containers.get(name)?.restore.as_ref()?;
        runs.then(|| self.artefact_file(&r.artefact)).flatten()
    }

    /// The older files retention deletes for artefact `name` in this run
    /// (`None` when its host was not observed).
    pub fn prune_files(&self, name: &str) -> Option<Vec<String>> {
        let a = &self.plan.artefacts[name];
        let remade = self.diff.get(&format!("artefact.{name}")).is_some_and(|c| {
            !matches!(c.action, Action::Noop | Action::Conflict | Action::Unknown)
        });
        let host = self.states.get(&a.host)?;
        Some(crate::diff::prune_list(a, host, self.now, remade))
    }

    /// The newest observed file of an artefact, when it fails its checksum:
    /// it is moved aside when a new one is made.
    fn corrupted(&self, name: &str) -> Option<String> {
        let a = &self.plan.artefacts[name];
        let f = self
            .states
            .get(&a.host)?
            .artefacts
            .get(name)?
            .newest
            .as_ref()?;
        match &f.recorded_sha256 {
            Some(rec) if *rec != f.sha256 => Some(f.path.clone()),
            _ => None,
        }
    }
}

/// The script of step `id`; `secrets` holds each container's secret values
/// (masked for display).
pub fn build(
    inputs: &Inputs<'_>,
    id: &str,
    secrets: &HashMap<String, Vec<(String, String)>>,
) -> Result<Script, String> {
    let step = &inputs.graph.graph[inputs
        .graph
        .node(id)
        .ok_or_else(|| format!("unknown step `{id}`"))?];
    let plan = inputs.plan;
    let nonce = nonce(plan, id, inputs.now);
    Ok(match step.kind {
        StepKind::Artefact => {
            let a = &plan.artefacts[&step.resource];
            let exec = exec(inputs, &a.host, &a.place)?;
            let quarantine = inputs.corrupted(&a.name);
            script::artefact(plan, a, &exec, inputs.now, &nonce, quarantine.as_deref())?
        }
        StepKind::Container => {
            let c = &plan.containers[&step.resource];
            let action = inputs.diff.get(id).map(|ch| ch.action);
            let file =
                match &c.restore {
                    Some(r) => Some(inputs.artefact_file(&r.artefact).ok_or_else(|| {
                        format!("artefact `{}` has no file to restore", r.artefact)
                    })?),
                    None => None,
                };
            script::container(
                plan,
                c,
                file.as_deref(),
                action == Some(Action::Start),
                action == Some(Action::Replace),
                secrets.get(&c.name).cloned().unwrap_or_default(),
                &nonce,
            )
        }
        StepKind::Check => {
            let k = &plan.checks[&step.resource];
            let here = exec(inputs, &k.host, &k.place)?;
            let (other, snapshot) = match &k.kind {
                CheckKind::SameAs { other, .. } => (Some(exec(inputs, &k.host, other)?), None),
                CheckKind::Rowcounts { artefact, .. } => (None, inputs.artefact_file(artefact)),
                CheckKind::Equals { .. } => (None, None),
            };
            script::check(k, &here, other.as_ref(), snapshot.as_deref(), &nonce)
        }
        StepKind::Teardown => {
            let c = &plan.containers[&step.resource];
            let mut s = script::teardown(c);
            if let Some(file) = inputs.tested_file(&c.name) {
                let w = script::write_evidence(plan, &c.host, &file, c)?;
                s.setup.extend(w.setup);
                s.commands.extend(w.commands);
            }
            s
        }
        StepKind::Prune => {
            let a = &plan.artefacts[&step.resource];
            let files = inputs
                .prune_files(&a.name)
                .ok_or_else(|| format!("host `{}` was not observed", a.host))?;
            script::prune(plan, a, &files)?
        }
        StepKind::Leftovers => {
            let state = inputs
                .states
                .get(&step.host)
                .ok_or_else(|| format!("host `{}` was not observed", step.host))?;
            let actions = crate::diff::leftovers::container_actions(inputs.diff);
            script::remove_leftovers(&crate::diff::leftovers::find(
                plan, &step.host, state, &actions,
            ))
        }
        StepKind::GuardBefore | StepKind::GuardAfter => {
            let g = &plan.guards[&step.resource];
            match &g.kind {
                GuardKind::ProtectedUnchanged => {
                    let host = plan
                        .hosts
                        .get(&step.host)
                        .ok_or_else(|| format!("host `{}` is not in the plan", step.host))?;
                    script::protected_state(&host.protected)
                }
                GuardKind::SchemaUnchanged {
                    container,
                    user,
                    database,
                } => {
                    let exec = exec(inputs, &g.host, container)?;
                    script::schema_hash(
                        &exec,
                        user,
                        database,
                        &nonce,
                        std::time::Duration::from_secs(600),
                    )
                }
            }
        }
    })
}

/// The timeout of a step.
pub fn timeout(plan: &Plan, graph: &StepGraph, id: &str) -> std::time::Duration {
    use std::time::Duration;
    let Some(n) = graph.node(id) else {
        return Duration::from_secs(600);
    };
    let step = &graph.graph[n];
    match step.kind {
        StepKind::Artefact => plan.artefacts[&step.resource].timeout,
        StepKind::Container => plan.containers[&step.resource].timeout,
        StepKind::Check => plan.checks[&step.resource].timeout,
        StepKind::Teardown | StepKind::Prune | StepKind::Leftovers => Duration::from_secs(300),
        StepKind::GuardBefore | StepKind::GuardAfter => Duration::from_secs(600),
    }
}
