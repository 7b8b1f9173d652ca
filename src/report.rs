//! The evidence report an apply leaves behind, in Markdown and JSON.
//!
//! Every figure comes from the hosts: the outcome of each step as it ran and
//! a fresh observation after the apply. Nothing is copied from the plan.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::apply::step_result::Key;
use crate::apply::{Status, StepOutcome};
use crate::diff::taken_at;
use crate::graph::StepKind;
use crate::observe::HostState;
use crate::plan::Plan;

/// The version of the report's JSON format, `format_version` in it.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub cutter_version: String,
    pub plan_file: String,
    pub plan_sha256: String,
    pub started_at: String,
    pub finished_at: String,
    pub result: Outcome,
    pub hosts: Vec<HostReport>,
    pub steps: Vec<StepReport>,
    /// What was not done, and why.
    pub not_done: Vec<String>,
    /// Who applied: user, machine and process of the apply.
    #[serde(default)]
    pub operator: String,
    /// Every operation sent into a container cutter does not own
    /// (production), exactly as composed.
    #[serde(default)]
    pub production_operations: Vec<String>,
    /// Failures of earlier applies that still stand after this one.
    #[serde(default)]
    pub standing_failures: Vec<crate::diff::Standing>,
    /// Standing failures an operator acknowledged with this apply.
    #[serde(default)]
    pub acknowledged: Vec<String>,
    /// Why production untouched is not provable: per host with protected
    /// resources, the steps of this apply that ran free-form shell in the
    /// host's own shell. Empty when none ran.
    #[serde(default)]
    pub not_provable: Vec<String>,
}

/// How an apply ended, as the report states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Every step ran and succeeded.
    #[serde(rename = "applied")]
    Applied,
    /// A step failed, was skipped because one it needs failed, or has an
    /// unknown outcome (its host was lost); or a host could not be observed
    /// after the apply, so the report lacks its evidence.
    #[serde(rename = "failed")]
    Failed,
    /// A signal stopped the apply before every step had run.
    #[serde(rename = "interrupted")]
    Interrupted,
    /// No step had to run.
    #[serde(rename = "nothing to do")]
    NothingToDo,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::NothingToDo => "nothing to do",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HostReport {
    pub name: String,
    /// The host's identity as the connection checked it (SSH host-key
    /// fingerprints from known_hosts), or the local machine.
    #[serde(default)]
    pub identity: Option<String>,
    pub artefacts: Vec<ArtefactReport>,
    pub containers: Vec<ContainerReport>,
    /// Why the host could not be observed after the apply, when it could
    /// not: what it holds is then unknown, and its lists are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unobserved: Option<String>,
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
    /// Its `max_age`, its age when observed, and whether it is within it.
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
    #[serde(default)]
    pub age_seconds: Option<i64>,
    #[serde(default)]
    pub fresh: Option<bool>,
    /// From cutter's manifest: what made it, the dump's TOC entry count, its
    /// line count, and the server and pg_dump versions the dump records.
    #[serde(default)]
    pub producer: Option<serde_json::Value>,
    #[serde(default)]
    pub toc_entries: Option<u64>,
    #[serde(default)]
    pub lines: Option<u64>,
    #[serde(default)]
    pub versions: Option<String>,
    /// Differences between a restored copy and production that the restore
    /// tolerated (e.g. a role the dump does not carry: what it owned is missing).
    #[serde(default)]
    pub known_differences: Vec<String>,
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
    /// Results the step reported (for a teardown: what was left of the
    /// container, volume and network: empty means gone).
    #[serde(default)]
    pub results: std::collections::BTreeMap<String, String>,
    /// Operations this step sent into production.
    #[serde(default)]
    pub production_operations: Vec<String>,
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
    now: chrono::DateTime<chrono::Utc>,
) -> Report {
    let mut hosts = Vec::new();
    for host in plan.used_hosts() {
        let Some(state) = after.get(&host.name) else {
            hosts.push(HostReport {
                name: host.name.clone(),
                identity: None,
                artefacts: Vec::new(),
                containers: Vec::new(),
                unobserved: Some("not observed after the apply".into()),
            });
            continue;
        };
        let artefacts = plan
            .artefacts
            .values()
            .filter(|a| a.host == host.name)
            .map(|a| {
                let f = state.artefacts.get(&a.name).and_then(|s| s.newest.as_ref());
                let m = f.and_then(|f| f.manifest.as_ref());
                let age = f.map(|f| (now - taken_at(a, f)).num_seconds());
                let restore_tests: Vec<serde_json::Value> = f
                    .map(|f| f.evidence.values().cloned().collect())
                    .unwrap_or_default();
                let known_differences = restore_tests
                    .iter()
                    .filter_map(|t| t.get("restore_stderr").and_then(|v| v.as_str()))
                    .flat_map(|e| {
                        let lines: Vec<&str> = e.lines().collect();
                        lines
                            .iter()
                            .enumerate()
                            .filter(|(_, l)| l.contains("error:"))
                            .map(|(i, l)| {
                                // pg_restore names the statement that failed next.
                                let what = lines[i + 1..]
                                    .iter()
                                    .take(3)
                                    .find_map(|n| n.trim().strip_prefix("Command was:"))
                                    .map(|c| {
                                        format!(
                                            " (so this did not happen in the copy: {})",
                                            c.trim()
                                        )
                                    })
                                    .unwrap_or_default();
                                format!("tolerated by the restore test: {}{what}", l.trim())
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                ArtefactReport {
                    max_age_seconds: a.max_age.map(|d| d.as_secs()),
                    age_seconds: age,
                    fresh: a.max_age.zip(f).map(|(m, f)| {
                        crate::diff::dated_in_future(a, f, now).is_none()
                            && (now - taken_at(a, f)).num_seconds() <= m.as_secs() as i64
                    }),
                    producer: m.and_then(|m| m.get("producer").cloned()),
                    toc_entries: m
                        .and_then(|m| m.get("toc_entries"))
                        .and_then(|v| v.as_u64()),
                    lines: m.and_then(|m| m.get("lines")).and_then(|v| v.as_u64()),
                    versions: m
                        .and_then(|m| m.get("versions"))
                        .and_then(|v| v.as_str())
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                    known_differences,
                    name: a.name.clone(),
                    path: f.map(|f| f.path.clone()),
                    size_bytes: f.map(|f| f.size),
                    sha256: f.map(|f| f.sha256.clone()),
                    recorded_in_sha256sums: f.is_some_and(|f| f.recorded_matches()),
                    taken_at_utc: f
                        .map(|f| taken_at(a, f).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    restore_tests,
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
                    lifecycle: c.lifecycle.as_str().into(),
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
            identity: None,
            artefacts,
            containers,
            unobserved: None,
        });
    }
    let steps: Vec<StepReport> = outcomes
        .iter()
        .map(|o| StepReport {
            step: o.step.clone(),
            results: o.result.report_map(),
            production_operations: o.production_ops.clone(),
            kind: o.kind,
            host: o.host.clone(),
            action: o.action.as_str().into(),
            status: o.status,
            seconds: (o.seconds * 1000.0).round() / 1000.0,
            evidence: o.evidence.clone(),
            error: o.error.clone(),
        })
        .collect();
    let not_provable = not_provable(plan, outcomes);
    let mut not_done = unfinished(outcomes);
    not_done.push(if not_provable.is_empty() {
        "nothing cutter did not create was stopped, removed or overwritten".into()
    } else {
        "nothing cutter did not create was stopped, removed or overwritten by the operations cutter composes; what the free-form host commands did is not provable (see production)".into()
    });
    let result = if interrupted {
        Outcome::Interrupted
    } else if outcomes.iter().any(|o| o.status != Status::Ok)
        || hosts.iter().any(|h| h.unobserved.is_some())
    {
        Outcome::Failed
    } else if outcomes.is_empty() {
        Outcome::NothingToDo
    } else {
        Outcome::Applied
    };
    Report {
        format_version: FORMAT_VERSION,
        cutter_version: env!("CARGO_PKG_VERSION").into(),
        plan_file: plan.file.display().to_string(),
        plan_sha256: plan.sha256.clone(),
        started_at: started.into(),
        finished_at: finished.into(),
        result,
        hosts,
        production_operations: outcomes
            .iter()
            .flat_map(|o| o.production_ops.iter().map(|p| format!("{}: {p}", o.step)))
            .collect(),
        steps,
        not_done,
        operator: String::new(),
        standing_failures: Vec::new(),
        acknowledged: Vec::new(),
        not_provable,
    }
}

/// Per host with protected resources, the steps that ran (or began to run)
/// free-form shell in its own shell.
fn not_provable(plan: &Plan, outcomes: &[StepOutcome]) -> Vec<String> {
    plan.used_hosts()
        .into_iter()
        .filter_map(|h| {
            let steps: Vec<String> = outcomes
                .iter()
                .filter(|o| o.host == h.name && o.status != Status::Skipped)
                .filter(|o| plan.unprovable_step(&o.step))
                .map(|o| o.step.clone())
                .collect();
            (!steps.is_empty()).then(|| {
                crate::render::not_provable(
                    &h.name,
                    &steps,
                    plan.guards.values().filter(|g| g.host == h.name).count(),
                )
            })
        })
        .collect()
}

/// The steps that failed or were skipped, one line each with the error.
pub fn unfinished(outcomes: &[StepOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| o.status != Status::Ok)
        .map(|o| {
            format!(
                "{} {}: {}",
                o.step,
                match o.status {
                    Status::Failed => "failed",
                    Status::Unknown => "has an unknown outcome",
                    _ => "skipped",
                },
                o.error.as_deref().unwrap_or("")
            )
        })
        .collect()
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# cutter evidence report: `{}`\n", r.plan_file);
    let _ = writeln!(
        s,
        "- result: **{}**\n- started: {}\n- finished: {}\n- plan SHA-256: `{}`\n- cutter {}\n",
        r.result, r.started_at, r.finished_at, r.plan_sha256, r.cutter_version
    );
    if !r.operator.is_empty() {
        let _ = writeln!(s, "Applied by {}.\n", r.operator);
    }
    for h in &r.hosts {
        let _ = writeln!(s, "## host `{}`\n", h.name);
        if let Some(id) = &h.identity {
            let _ = writeln!(s, "Identity: {id}\n");
        }
        if let Some(why) = &h.unobserved {
            let _ = writeln!(
                s,
                "**Not observed after the apply** ({}): what this host holds now is unknown.\n",
                why.replace('\n', " ")
            );
        }
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
                let mut facts = Vec::new();
                if let (Some(max), Some(age)) = (a.max_age_seconds, a.age_seconds) {
                    facts.push(format!(
                        "age {age} s against max_age {max} s: {}",
                        if a.fresh == Some(true) {
                            "fresh"
                        } else {
                            "STALE"
                        }
                    ));
                }
                if let Some(t) = a.toc_entries {
                    facts.push(format!("{t} TOC entries (`pg_restore --list`)"));
                }
                if let Some(l) = a.lines {
                    facts.push(format!("{l} lines"));
                }
                if let Some(v) = &a.versions {
                    facts.push(format!("versions: {v}"));
                }
                if let Some(p) = &a.producer {
                    facts.push(format!("made by `{p}`"));
                }
                if !facts.is_empty() {
                    let _ = writeln!(s, "- `{}`: {}", a.name, facts.join("; "));
                }
                for d in &a.known_differences {
                    let _ = writeln!(
                        s,
                        "- `{}`: known difference of the restored copy: {d}",
                        a.name
                    );
                }
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
                    c.id.as_deref().map_or("-", crate::diff::short),
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
    if !r.not_provable.is_empty() {
        s.push_str("## production\n\n");
        for n in &r.not_provable {
            let _ = writeln!(s, "- production untouched **not provable**: {n}");
        }
        s.push('\n');
    }
    if !r.production_operations.is_empty() {
        s.push_str("## operations sent to production (exactly as composed)\n\n");
        for p in &r.production_operations {
            let _ = writeln!(s, "- `{p}`");
        }
        s.push('\n');
    }
    for st in r.steps.iter().filter(|st| st.kind == StepKind::Teardown) {
        let left = |k: Key| {
            st.results
                .get(k.name())
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let _ = writeln!(
            s,
            "Teardown `{}`: container {}, volume {}, network {}.\n",
            st.step,
            if left(Key::ContainerLeft).is_empty() {
                "gone"
            } else {
                "LEFT"
            },
            if left(Key::VolumeLeft).is_empty() {
                "gone"
            } else {
                "LEFT"
            },
            if left(Key::NetworkLeft).is_empty() {
                "gone"
            } else {
                "kept (in use) or LEFT"
            },
        );
    }
    if !r.standing_failures.is_empty() {
        s.push_str("## standing failures\n\n");
        for f in &r.standing_failures {
            let _ = writeln!(
                s,
                "- `{}` on `{}`: {} (to clear: {})",
                f.step, f.host, f.what, f.clear
            );
        }
        s.push('\n');
    }
    for a in &r.acknowledged {
        let _ = writeln!(s, "Acknowledged standing failure `{a}`.\n");
    }
    s.push_str("## not done\n\n");
    for n in &r.not_done {
        let _ = writeln!(s, "- {n}");
    }
    // Paths on a host may hold control characters; the report shows them escaped.
    crate::printer::escape_controls(&s, true)
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

/// Keep a copy of the report (and its signature) in `dir` on a host, under
/// the same protected-path check as artefacts.
pub async fn copy_to_host(
    t: &dyn crate::remote::Transport,
    plan: &Plan,
    host: &str,
    dir: &str,
    file: &str,
    json: &Path,
    sig: Option<&Path>,
) -> Result<(), String> {
    let protected = &plan
        .hosts
        .get(host)
        .ok_or_else(|| format!("host `{host}` is not in the plan"))?
        .protected;
    let mut pairs = vec![(
        file.to_string(),
        std::fs::read(json).map_err(|e| e.to_string())?,
    )];
    if let Some(sig) = sig {
        pairs.push((
            format!("{file}.sig"),
            std::fs::read(sig).map_err(|e| e.to_string())?,
        ));
    }
    for (name, bytes) in pairs {
        let leaf = crate::host::Leaf::new(&name)?;
        let mut s = crate::apply::Script::default();
        s.setup.push(format!(
            "trap '{}' EXIT; trap 'exit 130' INT TERM HUP",
            crate::host::DROP_TEMPS
        ));
        s.commands
            .push(crate::host::enter(dir, protected.real_paths()));
        s.commands.push(crate::host::write_stdin(&leaf));
        let out = t
            .run(&s.body(), Some(bytes))
            .await
            .map_err(|e| e.to_string())?;
        if !out.success() {
            return Err(out.stderr_tail());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    /// Reports already written, and scripts reading them, know these words.
    #[test]
    fn outcome_is_written_as_before() {
        for o in [
            Outcome::Applied,
            Outcome::Failed,
            Outcome::Interrupted,
            Outcome::NothingToDo,
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
        assert_eq!(Outcome::NothingToDo.to_string(), "nothing to do");
    }
}
