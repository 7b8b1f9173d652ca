//! Rendering a plan (or drift) for people and scripts.
//!
//! [`PlanView`] is the one model every format renders from; its JSON form is
//! the saved plan (`cutter plan -o plan.json`) and is documented in
//! `docs/plan-json.md` (`format_version` 1).

pub mod describe;
pub mod markdown;
pub mod text;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::step;
use crate::diff::{Action, Diff};
use crate::graph::{StepGraph, StepKind};
use crate::observe::HostState;
use crate::plan::{Connection, Plan};

pub const FORMAT_VERSION: u32 = 1;

/// The JSON Schema of the plan JSON (`cutter plan --format json`, saved
/// plans), versioned with it by `format_version`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(PlanView)).unwrap_or_default();
    if let Some(o) = schema.as_object_mut() {
        o.insert(
            "$id".into(),
            format!("urn:cutter:schema:plan-json:{FORMAT_VERSION}").into(),
        );
        o.insert(
            "title".into(),
            format!("cutter plan JSON, format_version {FORMAT_VERSION}").into(),
        );
    }
    schema
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanView {
    pub format_version: u32,
    pub cutter_version: String,
    /// Absolute path of the plan file and its SHA-256 when planned.
    pub plan_file: String,
    pub plan_sha256: String,
    pub generated_at: String,
    /// SHA-256 over the observed facts the plan depends on.
    pub observed_fingerprint: String,
    pub summary: Summary,
    pub hosts: Vec<HostView>,
    /// The step graph as a mermaid flowchart.
    pub mermaid: String,
    /// The `--target` the plan was made for, if any: a saved plan applies
    /// only with the same target.
    #[serde(default)]
    pub target: Option<String>,
    /// Failures of earlier applies that still stand on the hosts.
    #[serde(default)]
    pub standing: Vec<crate::diff::Standing>,
    /// What the plan makes again on request (`--replace`).
    #[serde(default)]
    pub replace: Vec<String>,
    /// Variables set with `--var`/`--var-file` (name → value); a saved plan
    /// is applied with them. Absent when none were set.
    #[serde(default, skip_serializing_if = "indexmap::IndexMap::is_empty")]
    pub vars: indexmap::IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub create: usize,
    pub replace: usize,
    pub start: usize,
    pub run: usize,
    pub destroy: usize,
    pub conflict: usize,
    /// Steps of hosts that were not observed (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: usize,
    pub unchanged: usize,
    /// Protected resources declared across hosts; the plan only ever reads them.
    pub protected: usize,
    /// Whether cutter can prove production untouched: false when a step
    /// runs free-form shell in the shell of a host with protected
    /// resources (see `not_provable`).
    pub production_untouched: bool,
    /// Why production untouched is not provable, one line per host with
    /// protected resources where steps run free-form host commands (named).
    #[serde(default)]
    pub not_provable: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostView {
    pub name: String,
    /// `local` or `ssh <alias>`.
    pub connection: String,
    pub protected: Vec<String>,
    /// On a host with protected resources (declared, or shared with another
    /// entry for the same machine): the steps that run free-form shell in
    /// its own shell (an artefact's `command`/`verify` without
    /// `container`), which make production untouched unprovable.
    #[serde(default)]
    pub not_provable_steps: Vec<String>,
    pub changes: Vec<ChangeView>,
    pub unchanged: Vec<ChangeView>,
    /// Why the host was not observed, when it was not: its steps are all
    /// `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unobserved: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeView {
    pub step: String,
    pub resource: String,
    pub kind: StepKind,
    pub action: Action,
    pub reasons: Vec<String>,
    /// What the step does, in words: `{label, text}` lines such as
    /// `writes <path>`, `from pg_dump of database …`.
    #[serde(default)]
    pub description: Vec<describe::Detail>,
    /// The exact commands the step runs, in order (secrets never appear).
    pub commands: Vec<String>,
    /// Bookkeeping after the commands: SHA256SUMS, manifest, results.
    #[serde(default)]
    pub bookkeeping: Vec<String>,
    /// Names of secrets passed on standard input, shown masked.
    pub masked_secrets: Vec<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} to create, {} to replace, {} to start, {} to run, {} to destroy",
            self.create, self.replace, self.start, self.run, self.destroy
        );
        if self.conflict > 0 {
            s.push_str(&format!(", {} in conflict", self.conflict));
        }
        if self.unknown > 0 {
            s.push_str(&format!(", {} unknown (host not observed)", self.unknown));
        }
        if !self.not_provable.is_empty() {
            s.push_str(&format!(
                "; production untouched not provable: {}",
                self.not_provable.join("; ")
            ));
        } else if self.protected > 0 && self.production_untouched {
            s.push_str(&format!(
                "; production untouched ({} protected, read only)",
                self.protected
            ));
        } else if self.protected == 0 {
            s.push_str("; nothing declared protected");
        }
        s
    }

    pub fn pending(&self) -> usize {
        self.create
            + self.replace
            + self.start
            + self.run
            + self.destroy
            + self.conflict
            + self.unknown
    }

    /// Whether any step has commands to show (not a conflict, not unknown).
    pub fn runs_anything(&self) -> bool {
        self.pending() > self.conflict + self.unknown
    }
}

/// The plan as observed; `unobserved` holds why each host that was not
/// observed was not.
pub fn view(
    plan: &Plan,
    graph: &StepGraph,
    diff: &Diff,
    states: &HashMap<String, HostState>,
    unobserved: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> PlanView {
    let mut summary = Summary {
        production_untouched: true,
        ..Default::default()
    };
    let mut hosts = Vec::new();
    for host in plan.used_hosts() {
        let p = &host.protected;
        let mut protected: Vec<String> = Vec::new();
        protected.extend(p.containers.iter().map(|c| format!("container {c}")));
        protected.extend(p.labels.iter().map(|c| format!("containers labelled {c}")));
        protected.extend(p.volumes.iter().map(|c| format!("volume {c}")));
        protected.extend(p.networks.iter().map(|c| format!("network {c}")));
        protected.extend(p.paths.iter().map(|c| format!("path {c}")));
        summary.protected += protected.len();
        // Found by observation, with the reason: never written under.
        // Docker's root is protected on every host; it is worth a line only
        // where something is protected at all.
        let docker_only = p.observed.iter().all(|o| o.why.starts_with("Docker's"));
        if !p.is_empty() || !docker_only {
            protected.extend(
                p.observed
                    .iter()
                    .map(|o| format!("real path {} ({})", o.path, o.why)),
            );
        }
        let mut hv = HostView {
            name: host.name.clone(),
            connection: match &host.connection {
                Connection::Local => "local".into(),
                Connection::Ssh(t) => format!("ssh {}", t.destination),
            },
            protected,
            not_provable_steps: Vec::new(),
            changes: Vec::new(),
            unchanged: Vec::new(),
            unobserved: (!states.contains_key(&host.name)).then(|| {
                unobserved
                    .get(&host.name)
                    .cloned()
                    .unwrap_or_else(|| "not observed".into())
            }),
        };
        for ch in diff.changes.iter().filter(|c| c.host == host.name) {
            let (description, commands, bookkeeping, masked) =
                if matches!(ch.action, Action::Noop | Action::Conflict | Action::Unknown) {
                    Default::default()
                } else {
                    preview(plan, graph, diff, states, &ch.step, now)
                };
            let cv = ChangeView {
                step: ch.step.clone(),
                resource: ch.resource.clone(),
                kind: ch.kind,
                action: ch.action,
                reasons: ch.reasons.clone(),
                description,
                commands,
                bookkeeping,
                masked_secrets: masked,
            };
            match ch.action {
                Action::Noop => {
                    summary.unchanged += 1;
                    hv.unchanged.push(cv);
                    continue;
                }
                Action::Create => summary.create += 1,
                Action::Replace => summary.replace += 1,
                Action::Start => summary.start += 1,
                Action::Run => summary.run += 1,
                Action::Destroy => summary.destroy += 1,
                Action::Conflict => summary.conflict += 1,
                Action::Unknown => summary.unknown += 1,
            }
            if ch.action != Action::Conflict && plan.unprovable_step(&ch.step) {
                hv.not_provable_steps.push(ch.step.clone());
            }
            hv.changes.push(cv);
        }
        if !hv.not_provable_steps.is_empty() {
            summary.production_untouched = false;
            summary.not_provable.push(not_provable(
                &host.name,
                &hv.not_provable_steps,
                plan.guards.values().filter(|g| g.host == host.name).count(),
            ));
        }
        hosts.push(hv);
    }
    PlanView {
        format_version: FORMAT_VERSION,
        cutter_version: env!("CARGO_PKG_VERSION").into(),
        plan_file: plan.canonical_file(),
        plan_sha256: plan.sha256.clone(),
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        observed_fingerprint: fingerprint(plan, states),
        summary,
        hosts,
        mermaid: graph.to_mermaid(),
        target: None,
        standing: diff.standing.clone(),
        replace: Vec::new(),
        vars: indexmap::IndexMap::new(),
    }
}

/// What cutter cannot prove on a host with protected resources: `steps`
/// run free-form shell in its own shell, and only its guards (if any) would
/// notice what they changed.
pub fn not_provable(host: &str, steps: &[String], guards: usize) -> String {
    format!(
        "{} free-form host command(s) on `{host}` ({}); {}",
        steps.len(),
        steps.join(", "),
        if guards > 0 {
            "guards only"
        } else {
            "no guard declared"
        }
    )
}

type Preview = (Vec<describe::Detail>, Vec<String>, Vec<String>, Vec<String>);

/// What a step would do, in words, and the commands it would run, built by
/// the same code as the apply's, with secrets masked.
fn preview(
    plan: &Plan,
    graph: &StepGraph,
    diff: &Diff,
    states: &HashMap<String, HostState>,
    id: &str,
    now: DateTime<Utc>,
) -> Preview {
    let produced = HashMap::new();
    let inputs = step::Inputs {
        plan,
        graph,
        diff,
        states,
        now,
        produced: &produced,
    };
    let words = describe::step(&inputs, id);
    let secrets: HashMap<String, Vec<(String, String)>> = plan
        .containers
        .values()
        .map(|c| {
            (
                c.name.clone(),
                c.secrets
                    .iter()
                    .map(|(k, _)| (k.clone(), "********".to_string()))
                    .collect(),
            )
        })
        .collect();
    match step::build(&inputs, id, &secrets) {
        Ok(s) => (words, s.commands, s.bookkeeping, s.masked),
        Err(e) => (
            {
                let mut words = words;
                words.push(describe::Detail {
                    label: "cannot".into(),
                    text: format!("run as the hosts are now: {e}"),
                });
                words
            },
            vec![format!("# cannot run: {e}")],
            Vec::new(),
            Vec::new(),
        ),
    }
}

/// A digest of the observed facts the plan depends on: a saved plan is
/// refused when this changes before it is applied.
pub fn fingerprint(plan: &Plan, states: &HashMap<String, HostState>) -> String {
    let mut h = Sha256::new();
    for host in plan.used_hosts() {
        let Some(s) = states.get(&host.name) else {
            continue;
        };
        h.update(format!("host {}\n", host.name));
        for (name, a) in &s.artefacts {
            match &a.newest {
                Some(f) => h.update(format!(
                    "artefact {name} {} {} {} {:?} {:?} {}\n",
                    f.path,
                    f.size,
                    f.sha256,
                    f.recorded_sha256,
                    f.sums_conflict,
                    f.evidence.keys().cloned().collect::<Vec<_>>().join(",")
                )),
                None => h.update(format!("artefact {name} missing\n")),
            }
        }
        if let Some(d) = &s.docker {
            // Containers cutter does not own, as resolved: a saved plan is
            // pinned to the exact containers it was reviewed against.
            let mut refs: Vec<&str> = plan
                .artefacts
                .values()
                .filter(|a| a.host == host.name)
                .filter_map(|a| match &a.place {
                    crate::plan::Place::External(r) => Some(r.as_str()),
                    _ => None,
                })
                .collect();
            refs.sort();
            refs.dedup();
            for r in refs {
                match d.resolve(r) {
                    Ok(x) => h.update(format!("external {r} {} {}\n", x.id, x.image_id)),
                    Err(e) => h.update(format!("external {r} {e}\n")),
                }
            }
            for c in plan.containers.values().filter(|c| c.host == host.name) {
                match d.container(&c.docker_name) {
                    Some(x) => h.update(format!("container {} {} {}\n", c.name, x.id, x.state)),
                    None => h.update(format!("container {} missing\n", c.name)),
                }
            }
        }
    }
    hex::encode(h.finalize())
}
