//! Protection for one run: what the plan declares, plus what observation
//! found on each host, shared by every host entry that reaches the same
//! machine.
//!
//! Declared protection names containers, volumes, networks and paths. What
//! they occupy on the host is observed: Docker's root directory (where
//! every volume's and container's data lives), each protected volume's data
//! folder and each protected container's mount sources. And a second host
//! entry for the same machine (`local = true` beside an SSH alias to this
//! machine, two aliases) is the same machine: both entries get the union
//! of their protection. The host primitives (`crate::host`) then refuse to
//! write at or under any of these real paths, and this module refuses, at
//! plan time, a plan whose declarations the union makes unsafe.

use std::collections::HashMap;

use miette::Diagnostic;
use thiserror::Error;

use crate::observe::HostState;
use crate::observe::machine::DEFAULT_DOCKER_ROOT;
use crate::plan::{FreeForm, ObservedPath, Plan, Protected};

#[derive(Debug, Error, Diagnostic)]
pub enum ProtectError {
    #[error(
        "cannot tell which machine host `{host}` is: its `/etc/machine-id` and its Docker daemon's ID could not be read"
    )]
    #[diagnostic(
        code(cutter::unknown_machine),
        help(
            "protection belongs to a machine, and host entries reaching the same machine share it; with several hosts and protected resources, cutter must tell them apart. Give the host an `/etc/machine-id` (`systemd-machine-id-setup`) or let the operator read `docker info`"
        )
    )]
    UnknownMachine { host: String },
    #[error("{what}")]
    #[diagnostic(
        code(cutter::protected_by_observation),
        help(
            "observation found this protected on the host ({why}); write elsewhere, or use another name"
        )
    )]
    Refused { what: String, why: String },
    #[error(
        "artefact `{artefact}` runs a free-form command in the shell of host `{host}`, the same machine as host `{twins}`, which protects resources there: cutter cannot prove the command leaves them alone"
    )]
    #[diagnostic(
        code(cutter::free_form),
        help(
            "free-form host commands are refused by default on a machine with protected resources: make the file with `pg_dump` or `query`, or run the command in a container this plan declares; or set `free_form = \"allow\"` on `[hosts.{host}]` to run it anyway, and plan and report then say \"production untouched\" is not provable for it"
        )
    )]
    FreeForm {
        artefact: String,
        host: String,
        twins: String,
    },
}

/// Add to each observed host's protection what observation found, merge
/// the protection of host entries that reach the same machine, and refuse
/// a plan that would write or create under the result.
pub fn apply(plan: &mut Plan, states: &HashMap<String, HostState>) -> Result<(), ProtectError> {
    let hosts: Vec<String> = plan
        .hosts
        .keys()
        .filter(|h| states.contains_key(*h))
        .cloned()
        .collect();
    let guarded = hosts
        .iter()
        .any(|h| plan.hosts.get(h).is_some_and(|x| !x.protected.is_empty()));
    if hosts.len() > 1 && guarded {
        for h in &hosts {
            if !states[h].machine.is_known() {
                return Err(ProtectError::UnknownMachine { host: h.clone() });
            }
        }
    }
    let own: HashMap<String, Vec<ObservedPath>> = hosts
        .iter()
        .map(|h| {
            (
                h.clone(),
                observed_paths(&plan.hosts[h].protected, &states[h]),
            )
        })
        .collect();
    let declared: HashMap<String, Protected> = hosts
        .iter()
        .map(|h| (h.clone(), plan.hosts[h].protected.clone()))
        .collect();
    for h in &hosts {
        let mut p = declared[h].clone();
        p.observed = own[h].clone();
        for other in &hosts {
            if other == h {
                continue;
            }
            let Some(same) = states[h].machine.same_as(&states[other].machine) else {
                continue;
            };
            let twin = &declared[other];
            if !twin.is_empty() && !p.shared_with.contains(other) {
                p.shared_with.push(other.clone());
            }
            let why = |what: &str| {
                format!("{what} on host `{other}`, the same machine as `{h}` ({same})")
            };
            for path in &twin.paths {
                push_path(&mut p, path, why("declared protected"));
            }
            for o in &own[other] {
                push_path(&mut p, &o.path, why(&o.why));
            }
            for (mine, theirs) in [
                (&mut p.containers, &twin.containers),
                (&mut p.labels, &twin.labels),
                (&mut p.volumes, &twin.volumes),
                (&mut p.networks, &twin.networks),
            ] {
                for x in theirs {
                    if !mine.contains(x) {
                        mine.push(x.clone());
                    }
                }
            }
        }
        if let Some(host) = plan.hosts.get_mut(h) {
            host.protected = p;
        }
    }
    refuse(plan)
}

/// What observation of one host adds to its declared protection.
fn observed_paths(declared: &Protected, state: &HostState) -> Vec<ObservedPath> {
    let mut p = Protected::default();
    if let Some(root) = &state.machine.docker_root {
        push_path(&mut p, root, "Docker's root directory".into());
    }
    push_path(
        &mut p,
        DEFAULT_DOCKER_ROOT,
        "Docker's default root directory".into(),
    );
    if let Some(d) = &state.docker {
        for v in &d.volumes {
            let named = declared.volumes.contains(&v.name);
            let used = d
                .containers
                .iter()
                .any(|c| declared.covers(c) && c.volumes.contains(&v.name));
            if !(named || used) {
                continue;
            }
            if v.mountpoint.starts_with('/') {
                push_path(
                    &mut p,
                    &v.mountpoint,
                    format!("data of protected volume `{}`", v.name),
                );
            }
            if let Some(dir) = &v.device {
                push_path(
                    &mut p,
                    dir,
                    format!("the host folder behind protected volume `{}`", v.name),
                );
            }
        }
        for c in d.containers.iter().filter(|c| declared.covers(*c)) {
            for s in &c.mount_sources {
                push_path(
                    &mut p,
                    s,
                    format!("mounted by protected container `{}`", c.name),
                );
            }
        }
    }
    p.observed
}

/// Add `path` unless a protected path already covers it (a volume's data
/// folder under Docker's root adds nothing to the boundary).
fn push_path(p: &mut Protected, path: &str, why: String) {
    if p.path_covering(path).is_none() {
        p.observed.push(ObservedPath {
            path: path.to_string(),
            why,
        });
    }
}

/// Refuse declarations the observed and shared protection makes unsafe:
/// an artefact written under a protected real path, a container of the
/// plan taking a protected name, network or volume.
fn refuse(plan: &Plan) -> Result<(), ProtectError> {
    let why = |p: &Protected, path: &str| {
        p.observed
            .iter()
            .find(|o| o.path == path)
            .map(|o| o.why.clone())
            .unwrap_or_else(|| "declared in the plan".into())
    };
    for a in plan.artefacts.values() {
        let Some(h) = plan.hosts.get(&a.host) else {
            continue;
        };
        let shown = a.path.display();
        if let Some(p) = h.protected.path_covering(&shown) {
            return Err(ProtectError::Refused {
                what: format!(
                    "artefact `{}` would write under protected path `{p}` on host `{}`",
                    a.name, a.host
                ),
                why: why(&h.protected, p),
            });
        }
    }
    for a in plan.artefacts.values().filter(|a| a.runs_host_shell()) {
        let Some(h) = plan.hosts.get(&a.host) else {
            continue;
        };
        // Refused at validate when the host entry itself protects
        // something; here, when another entry for the same machine does.
        if h.free_form == FreeForm::Unset && h.refuses_free_form() {
            return Err(ProtectError::FreeForm {
                artefact: a.name.clone(),
                host: a.host.clone(),
                twins: h.protected.shared_with.join("`, `"),
            });
        }
    }
    for c in plan.containers.values() {
        let Some(h) = plan.hosts.get(&c.host) else {
            continue;
        };
        let p = &h.protected;
        let clash = if p
            .containers
            .iter()
            .any(|x| x.trim_start_matches('/') == c.docker_name)
        {
            Some(format!(
                "would replace protected container `{}`",
                c.docker_name
            ))
        } else if p.volumes.contains(&c.volume) {
            Some(format!("would mount protected volume `{}`", c.volume))
        } else if p.networks.contains(&c.network) {
            Some(format!("would attach to protected network `{}`", c.network))
        } else {
            None
        };
        if let Some(clash) = clash {
            return Err(ProtectError::Refused {
                what: format!("container `{}` {clash} on host `{}`", c.name, c.host),
                why: "protected on this machine, here or under another host entry".into(),
            });
        }
    }
    Ok(())
}
