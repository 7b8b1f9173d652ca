//! Judging what a finished step reported: a restore against its tolerated
//! errors, a check against what it expects, a guard's readings before and
//! after.

use std::collections::HashMap;

use super::{RunState, Status, StepOutcome, script};
use crate::graph::StepKind;
use crate::observe::{self, ContainerInfo};
use crate::plan::{CheckKind, GuardKind, Plan};

/// Judge a finished step's results: checks compare, guards compare before and after.
pub(super) fn interpret(plan: &Plan, state: &mut RunState, o: &mut StepOutcome, stdout: &str) {
    match o.kind {
        StepKind::Artefact if o.status == Status::Ok => {
            if let Some(w) = o.result.written() {
                state.produced.insert(o.resource.clone(), w.path.clone());
            }
        }
        StepKind::Container => {
            if let Some(restore) = o.result.restore() {
                let (code, stderr) = (restore.exit, restore.stderr.clone());
                let c = &plan.containers[&o.resource];
                let r = c
                    .restore
                    .as_ref()
                    .expect("restore results come from a restore");
                let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
                let untolerated: Vec<&str> = errors
                    .iter()
                    .copied()
                    .filter(|l| !r.tolerated_errors.iter().any(|t| l.contains(t.as_str())))
                    .collect();
                let ok = r.ok_exit_codes.contains(&code)
                    || (!errors.is_empty() && untolerated.is_empty());
                o.evidence.push(format!(
                    "restore exit code {code} ({}){}",
                    if code == 0 {
                        "clean"
                    } else if ok {
                        "non-fatal: only tolerated errors"
                    } else {
                        "fatal"
                    },
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!("\n{}", stderr.trim())
                    }
                ));
                if !ok && o.status == Status::Ok {
                    o.status = Status::Failed;
                    o.error = Some(format!(
                        "restore into `{}` exited {code}: {}",
                        c.docker_name,
                        untolerated.first().copied().unwrap_or("(no error line)")
                    ));
                }
            }
        }
        StepKind::Check if o.status == Status::Ok => {
            let k = &plan.checks[&o.resource];
            let read = o.result.check();
            let raw = read.result.unwrap_or_default();
            let result = raw.trim().to_string();
            let (ok, evidence) = match &k.kind {
                CheckKind::Equals { expect, .. } => (
                    result == expect.trim(),
                    vec![format!("expected `{}`, saw `{result}`", expect.trim())],
                ),
                CheckKind::SameAs { other, .. } => {
                    let theirs = read.other.unwrap_or_default().trim().to_string();
                    (
                        result == theirs,
                        vec![format!(
                            "`{}` gave `{result}`, `{}` gave `{theirs}`",
                            place_name(plan, &k.place),
                            place_name(plan, other)
                        )],
                    )
                }
                CheckKind::Rowcounts { tables, artefact } => {
                    let snapshot = parse_rowcounts(read.snapshot.as_deref().unwrap_or_default());
                    let seen = parse_rowcounts(&raw);
                    let mut ok = true;
                    let mut ev = Vec::new();
                    for t in tables {
                        let (want, got) = (snapshot.get(t), seen.get(t));
                        let same = want.is_some() && want == got;
                        ok &= same;
                        ev.push(format!(
                            "{t}: snapshot `{artefact}` {}, restored {} {}",
                            want.map_or("absent".into(), |v| v.to_string()),
                            got.map_or("absent".into(), |v| v.to_string()),
                            if same { "PASS" } else { "FAIL" }
                        ));
                    }
                    let passed = ev.iter().filter(|e| e.ends_with("PASS")).count();
                    ev.insert(0, format!("{passed}/{} tables match", tables.len()));
                    (ok, ev)
                }
            };
            o.evidence = evidence;
            if !ok {
                o.status = Status::Failed;
                o.error = Some(format!(
                    "check `{}` failed: {}",
                    o.resource,
                    o.evidence.join("; ")
                ));
            }
        }
        StepKind::GuardBefore if o.status == Status::Ok => {
            let reading = guard_reading(plan, &o.resource, stdout);
            o.evidence = vec![reading.clone()];
            state.guard_before.insert(o.resource.clone(), reading);
        }
        StepKind::GuardAfter if o.status == Status::Ok => {
            let after = guard_reading(plan, &o.resource, stdout);
            match state.guard_before.get(&o.resource) {
                Some(before) if *before == after => {
                    o.evidence = vec![
                        format!("before: {before}"),
                        format!("after:  {after}"),
                        "identical".into(),
                    ]
                }
                Some(before) => {
                    let diff = similar::TextDiff::from_lines(before.as_str(), after.as_str())
                        .unified_diff()
                        .header("before", "after")
                        .to_string();
                    o.status = Status::Failed;
                    o.evidence = vec![format!("before: {before}"), format!("after:  {after}")];
                    o.error = Some(format!(
                        "guard `{}` failed: protected state changed during the apply\n{diff}",
                        o.resource
                    ));
                }
                None => {
                    o.status = Status::Failed;
                    o.error = Some(format!(
                        "guard `{}` has no reading from before the apply",
                        o.resource
                    ));
                }
            }
        }
        _ => {}
    }
}

/// A guard's reading, one line per protected thing, sorted.
fn guard_reading(plan: &Plan, guard: &str, stdout: &str) -> String {
    let g = &plan.guards[guard];
    match &g.kind {
        GuardKind::SchemaUnchanged { .. } => format!(
            "schema sha256 {}",
            stdout.split_whitespace().next().unwrap_or("")
        ),
        GuardKind::ProtectedUnchanged => {
            let Some(protected) = plan.hosts.get(&g.host).map(|h| &h.protected) else {
                return format!("host `{}` is not in the plan", g.host);
            };
            let mut parts = stdout.split(script::STATE_SEPARATOR);
            let containers: Vec<ContainerInfo> =
                observe::parse_inspect(parts.next().unwrap_or("")).unwrap_or_default();
            let volumes: Vec<serde_json::Value> =
                serde_json::from_str(parts.next().unwrap_or("[]").trim()).unwrap_or_default();
            let networks: Vec<serde_json::Value> =
                serde_json::from_str(parts.next().unwrap_or("[]").trim()).unwrap_or_default();
            let mut lines: Vec<String> = containers
                .iter()
                .filter(|c| protected.covers(*c))
                .map(|c| {
                    format!(
                        "{} id={} image={} state={} restarts={} started={}",
                        c.name, c.id, c.image, c.state, c.restart_count, c.started_at
                    )
                })
                .collect();
            for name in &protected.containers {
                if !containers
                    .iter()
                    .any(|c| crate::plan::Protected::names(name, c))
                {
                    lines.push(format!("{name} absent"));
                }
            }
            let text = |v: &serde_json::Value, k: &str| {
                v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
            };
            for name in &protected.volumes {
                match volumes.iter().find(|v| text(v, "Name") == *name) {
                    Some(v) => lines.push(format!(
                        "volume {name} created={} mountpoint={}",
                        text(v, "CreatedAt"),
                        text(v, "Mountpoint")
                    )),
                    None => lines.push(format!("volume {name} absent")),
                }
            }
            for name in &protected.networks {
                match networks.iter().find(|n| text(n, "Name") == *name) {
                    Some(n) => {
                        let mut attached: Vec<String> = n
                            .get("Containers")
                            .and_then(|c| c.as_object())
                            .map(|c| c.values().map(|x| text(x, "Name")).collect())
                            .unwrap_or_default();
                        attached.sort();
                        lines.push(format!(
                            "network {name} id={} containers={}",
                            crate::diff::short(&text(n, "Id")),
                            attached.join(",")
                        ));
                    }
                    None => lines.push(format!("network {name} absent")),
                }
            }
            lines.sort();
            lines.join("\n")
        }
    }
}

/// `schema|table|rows` lines into `schema.table` → rows.
pub fn parse_rowcounts(text: &str) -> HashMap<String, i64> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            let (s, t, n) = (parts.next()?, parts.next()?, parts.next()?);
            Some((format!("{s}.{t}"), n.trim().parse().ok()?))
        })
        .collect()
}

/// The Docker name of a place, for evidence.
fn place_name(plan: &Plan, place: &crate::plan::Place) -> String {
    match place {
        crate::plan::Place::Own(n) => plan.containers[n].docker_name.clone(),
        crate::plan::Place::External(r) => r.clone(),
        crate::plan::Place::Host => "the host".into(),
    }
}
