//! The evidence report an apply leaves behind, in Markdown and JSON.
//!
//! Every figure comes from the hosts: the outcome of each step as it ran and
//! a fresh observation after the apply. Nothing is copied from the plan.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::apply::{Status, StepOutcome};
use crate::diff::taken_at;
use crate::graph::StepKind;
use crate::observe::HostState;
use crate::plan::{Lifecycle, Plan};

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub cutter_version: String,
    pub plan_file: String,
    pub plan_sha256: String,
    pub started_at: String,
    pub finished_at: String,
    /// `applied`, `failed`, `interrupted` or `nothing to do`.
    pub result: String,
    pub hosts: Vec<HostReport>,
    pub steps: Vec<StepReport>,
    /// What was not done, and why.
    pub not_done: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HostReport {
    pub name: String,
    pub artefacts: Vec<ArtefactReport>,
    pub containers: Vec<ContainerReport>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ArtefactReport {
    pub name: String,
    pub path: Option<String>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub recorded_in_sha256sums: bool,
    pub taken_at_utc: Option<String>,
    /// Restore tests recorded beside the file.
    pub restore_tests: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContainerReport {
    pub name: String,
    pub docker_name: String,
    pub lifecycle: String,
    /// Observed after the apply: `running`, `exited`, ... or `absent`.
    pub state: String,
    pub id: Option<String>,
    pub image: Option<String>,
    pub volume_present: bool,
    pub networks: Vec<String>,
    pub published_ports: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StepReport {
    pub step: String,
    pub kind: StepKind,
    pub host: String,
    pub action: String,
    pub status: Status,
    pub seconds: f64,
    pub evidence: Vec<String>,
    pub error: Option<String>,
}

pub fn build(
    plan: &Plan,
    after: &HashMap<String, HostState>,
    outcomes: &[StepOutcome],
    started: &str,
    finished: &str,
    interrupted: bool,
) -> Report {
    let mut hosts = Vec::new();
    for host in plan.used_hosts() {
        let Some(state) = after.get(&host.name) else {
            continue;
        };
        let artefacts = plan
            .artefacts
            .values()
            .filter(|a| a.host == host.name)
            .map(|a| {
                let f = state.artefacts.get(&a.name).and_then(|s| s.newest.as_ref());
                ArtefactReport {
                    name: a.name.clone(),
                    path: f.map(|f| f.path.clone()),
                    size_bytes: f.map(|f| f.size),
                    sha256: f.map(|f| f.sha256.clone()),
                    recorded_in_sha256sums: f
                        .is_some_and(|f| f.recorded_sha256.as_deref() == Some(&f.sha256)),
                    taken_at_utc: f
                        .map(|f| taken_at(a, f).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    restore_tests: f
                        .map(|f| f.evidence.values().cloned().collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
        let containers = plan
            .containers
            .values()
            .filter(|c| c.host == host.name)
            .map(|c| {
                let docker = state.docker.as_ref();
                let seen = docker.and_then(|d| d.container(&c.docker_name));
                ContainerReport {
                    name: c.name.clone(),
                    docker_name: c.docker_name.clone(),
                    lifecycle: if c.lifecycle == Lifecycle::Ephemeral {
                        "ephemeral".into()
                    } else {
                        "persistent".into()
                    },
                    state: seen.map_or("absent".into(), |s| s.state.clone()),
                    id: seen.map(|s| s.id.clone()),
                    image: seen.map(|s| s.image.clone()),
                    volume_present: docker.is_some_and(|d| d.volume(&c.volume).is_some()),
                    networks: seen.map(|s| s.networks.clone()).unwrap_or_default(),
                    published_ports: seen.map(|s| s.published_ports.clone()).unwrap_or_default(),
                }
            })
            .collect();
        hosts.push(HostReport {
            name: host.name.clone(),
            artefacts,
            containers,
        });
    }
    let steps: Vec<StepReport> = outcomes
        .iter()
        .map(|o| StepReport {
            step: o.step.clone(),
            kind: o.kind,
            host: o.host.clone(),
            action: o.action.as_str().into(),
            status: o.status,
            seconds: (o.seconds * 1000.0).round() / 1000.0,
            evidence: o.evidence.clone(),
            error: o.error.clone(),
        })
        .collect();
    let mut not_done: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status != Status::Ok)
        .map(|o| {
            format!(
                "{} {}: {}",
                o.step,
                if o.status == Status::Failed {
                    "failed"
                } else {
                    "skipped"
                },
                o.error.as_deref().unwrap_or("")
            )
        })
        .collect();
    not_done.push("nothing cutter did not create was stopped, removed or overwritten".into());
    let result = if interrupted {
        "interrupted"
    } else if outcomes.is_empty() {
        "nothing to do"
    } else if outcomes.iter().all(|o| o.status == Status::Ok) {
        "applied"
    } else {
        "failed"
    };
    Report {
        format_version: 1,
        cutter_version: env!("CARGO_PKG_VERSION").into(),
        plan_file: plan.file.display().to_string(),
        plan_sha256: plan.sha256.clone(),
        started_at: started.into(),
        finished_at: finished.into(),
        result: result.into(),
        hosts,
        steps,
        not_done,
    }
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# cutter evidence report: `{}`\n", r.plan_file);
    let _ = writeln!(
        s,
        "- result: **{}**\n- started: {}\n- finished: {}\n- plan SHA-256: `{}`\n- cutter {}\n",
        r.result, r.started_at, r.finished_at, r.plan_sha256, r.cutter_version
    );
    for h in &r.hosts {
        let _ = writeln!(s, "## host `{}`\n", h.name);
        if !h.artefacts.is_empty() {
            s.push_str("### artefacts (observed after apply)\n\n| artefact | path | size (bytes) | SHA-256 | in SHA256SUMS | taken (UTC) |\n|---|---|---|---|---|---|\n");
            for a in &h.artefacts {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} | `{}` | {} | {} |",
                    a.name,
                    a.path.as_deref().unwrap_or("absent"),
                    a.size_bytes.map_or("-".into(), |v| v.to_string()),
                    a.sha256.as_deref().unwrap_or("-"),
                    if a.recorded_in_sha256sums {
                        "yes"
                    } else {
                        "no"
                    },
                    a.taken_at_utc.as_deref().unwrap_or("-")
                );
            }
            s.push('\n');
            for a in &h.artefacts {
                for t in &a.restore_tests {
                    let _ = writeln!(
                        s,
                        "Restore test of `{}`:\n\n```json\n{}\n```\n",
                        a.name,
                        serde_json::to_string_pretty(t).unwrap_or_default()
                    );
                }
            }
        }
        if !h.containers.is_empty() {
            s.push_str("### containers (observed after apply)\n\n| container | docker name | lifecycle | state | id | image | volume | networks | published ports |\n|---|---|---|---|---|---|---|---|---|\n");
            for c in &h.containers {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} | {} | `{}` | `{}` | {} | {} | {} |",
                    c.name,
                    c.docker_name,
                    c.lifecycle,
                    c.state,
                    c.id.as_deref().map_or("-", |i| &i[..i.len().min(12)]),
                    c.image.as_deref().unwrap_or("-"),
                    if c.volume_present {
                        "present"
                    } else {
                        "absent"
                    },
                    if c.networks.is_empty() {
                        "-".into()
                    } else {
                        c.networks.join(", ")
                    },
                    if c.published_ports.is_empty() {
                        "none".into()
                    } else {
                        c.published_ports.join(", ")
                    }
                );
            }
            s.push('\n');
        }
    }
    s.push_str("## steps\n\n| step | host | action | status | seconds |\n|---|---|---|---|---|\n");
    for st in &r.steps {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {:?} | {:.3} |",
            st.step, st.host, st.action, st.status, st.seconds
        );
    }
    s.push('\n');
    for st in r.steps.iter().filter(|st| {
        matches!(
            st.kind,
            StepKind::Check | StepKind::GuardAfter | StepKind::Container
        ) && (!st.evidence.is_empty() || st.error.is_some())
    }) {
        let _ = writeln!(s, "### `{}`: {:?}\n", st.step, st.status);
        for e in &st.evidence {
            let _ = writeln!(s, "    {}", e.replace('\n', "\n    "));
        }
        if let Some(e) = &st.error {
            let _ = writeln!(s, "\nerror: {}", e);
        }
        s.push('\n');
    }
    s.push_str("## not done\n\n");
    for n in &r.not_done {
        let _ = writeln!(s, "- {n}");
    }
    s
}

/// Write `<dir>/<plan>-<timestamp>.md` and `.json`; returns their paths.
pub fn write(
    r: &Report,
    dir: &Path,
    stem: &str,
    stamp: &str,
) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join(format!("{stem}-{stamp}.md"));
    let json = dir.join(format!("{stem}-{stamp}.json"));
    std::fs::write(&md, markdown(r))?;
    std::fs::write(&json, serde_json::to_string_pretty(r).unwrap_or_default())?;
    Ok((md, json))
}
