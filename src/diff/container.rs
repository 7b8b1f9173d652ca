//! What a container of the plan needs: its action from what runs on the
//! host, a persistent copy's completion record, ephemeral leftovers.

use super::*;

pub(super) fn container_action(
    plan: &Plan,
    c: &Container,
    host: &HostState,
    artefact_changes: bool,
) -> (Action, Vec<String>) {
    let Some(docker) = &host.docker else {
        return (Action::Create, vec!["Docker state unknown".into()]);
    };
    let existing = docker.container(&c.docker_name);
    if existing.is_none()
        && let Some(other) = docker.shadow(&c.docker_name)
    {
        return (
            Action::Conflict,
            vec![format!(
                "Docker would read `{}` as the ID prefix of container `{}` ({}): refusing to use the name",
                c.docker_name,
                other.name,
                short(&other.id)
            )],
        );
    }
    if let Some(e) = existing
        && e.labels.get(MANAGED_LABEL).map(String::as_str) != Some("true")
    {
        let protected = plan
            .hosts
            .get(&c.host)
            .is_some_and(|h| h.protected.covers(e));
        return (
            Action::Conflict,
            vec![format!(
                "a container named `{}` exists and was not created by cutter{}: refusing to touch it",
                c.docker_name,
                if protected { " (it is protected)" } else { "" }
            )],
        );
    }
    for (what, name, found) in [
        (
            "volume",
            &c.volume,
            docker.volume(&c.volume).map(|v| &v.labels),
        ),
        (
            "network",
            &c.network,
            docker.network(&c.network).map(|n| &n.labels),
        ),
    ] {
        if let Some(labels) = found
            && labels.get(MANAGED_LABEL).map(String::as_str) != Some("true")
        {
            return (
                Action::Conflict,
                vec![format!(
                    "{what} `{name}` exists and was not created by cutter: refusing to use it"
                )],
            );
        }
    }
    match c.lifecycle {
        Lifecycle::Persistent => match existing {
            Some(_) if host.failures.contains_key(&format!("container.{}", c.name)) => (
                Action::Replace,
                vec![format!(
                    "making `{}` failed in an earlier apply: it is made again",
                    c.docker_name
                )],
            ),
            None => (
                Action::Create,
                vec![format!("missing: no container `{}`", c.docker_name)],
            ),
            Some(e) if let Some(why) = incomplete(c, e, host) => (Action::Replace, vec![why]),
            Some(e) if e.state != "running" => (
                Action::Start,
                vec![format!("container `{}` is {}", c.docker_name, e.state)],
            ),
            Some(e) => (
                Action::Noop,
                vec![format!(
                    "container `{}` is running ({})",
                    c.docker_name,
                    short(&e.id)
                )],
            ),
        },
        Lifecycle::Ephemeral => {
            let restore = c.restore.as_ref().expect("ephemeral containers restore");
            let mut reasons = Vec::new();
            if artefact_changes {
                reasons.push(format!(
                    "artefact `{}` is new: its restore must be tested",
                    restore.artefact
                ));
            } else {
                let file = host
                    .artefacts
                    .get(&restore.artefact)
                    .and_then(|s| s.newest.as_ref());
                match file.map(|f| (f, f.evidence.get(&c.evidence_name()))) {
                    Some((_, Some(ev)))
                        if ev.get("passed") == Some(&serde_json::Value::Bool(true)) =>
                    {
                        return (
                            Action::Noop,
                            vec![format!("restore test passed for `{}`", file.unwrap().path)],
                        );
                    }
                    Some((f, Some(_))) => {
                        reasons.push(format!("the last restore test of `{}` failed", f.path))
                    }
                    Some((f, None)) => {
                        reasons.push(format!("restore test never ran for `{}`", f.path))
                    }
                    None => reasons.push(format!(
                        "artefact `{}` will be made first",
                        restore.artefact
                    )),
                }
            }
            if existing.is_some() {
                reasons.push(format!(
                    "a leftover `{}` from an earlier run is removed first",
                    c.docker_name
                ));
            }
            (Action::Run, reasons)
        }
    }
}

/// Why a persistent container cutter made does not count as made, if it
/// does not: only its completion record, written last by the step that made
/// it, proves that its restore finished (and its readiness passed).
fn incomplete(
    c: &Container,
    e: &crate::observe::ContainerInfo,
    host: &HostState,
) -> Option<String> {
    let what = if c.restore.is_some() {
        "its restore never finished"
    } else {
        "it never became ready"
    };
    let Some(record) = host.completions.get(&e.id) else {
        return Some(format!(
            "incomplete: `{}` ({}) has no completion record: {what} (interrupted?); it is made again",
            c.docker_name,
            short(&e.id)
        ));
    };
    let text = |k: &str| record.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if text("id") != e.id {
        return Some(format!(
            "incomplete: the completion record of `{}` ({}) names another container ({}); it is made again",
            c.docker_name,
            short(&e.id),
            short(text("id"))
        ));
    }
    if let Some(r) = &c.restore {
        // A restore that exited with a code the plan does not accept, and may
        // not tolerate: its failure is recorded at the end of the apply, so a
        // killed apply leaves only this to say it.
        let exit: Option<i32> = text("restore_exit").parse().ok();
        if r.tolerated_errors.is_empty() && exit.is_none_or(|x| !r.ok_exit_codes.contains(&x)) {
            return Some(format!(
                "incomplete: the restore into `{}` ({}) exited {}; it is made again",
                c.docker_name,
                short(&e.id),
                exit.map_or("without a code".into(), |x| x.to_string())
            ));
        }
    }
    None
}

/// Ephemeral containers whose restore test needs no new run but that an
/// earlier apply left behind (killed, or its connection lost before the
/// teardown): cutter's own (managed label), made for this resource of this
/// plan (`cutter.resource`, `cutter.plan` labels). Their teardown removes
/// them; by container name, the reason.
pub(super) fn leftovers(
    plan: &Plan,
    states: &HashMap<String, HostState>,
    actions: &HashMap<String, (Action, Vec<String>)>,
) -> HashMap<String, String> {
    let plan_file = plan.canonical_file();
    let mut out = HashMap::new();
    for c in plan.containers.values() {
        let quiet = actions
            .get(&format!("container.{}", c.name))
            .is_some_and(|(a, _)| *a == Action::Noop);
        if c.lifecycle != Lifecycle::Ephemeral || !quiet {
            continue;
        }
        let found = states
            .get(&c.host)
            .and_then(|s| s.docker.as_ref())
            .and_then(|d| d.container(&c.docker_name));
        let Some(e) = found else { continue };
        let label = |k: &str| e.labels.get(k).map(String::as_str);
        if label(MANAGED_LABEL) == Some("true")
            && label("cutter.resource") == Some(c.name.as_str())
            && label("cutter.plan") == Some(plan_file.as_str())
        {
            out.insert(
                c.name.clone(),
                format!(
                    "leftover: `{}` ({}, {}) of an earlier apply of this plan is still there: it is removed with its volume",
                    c.docker_name,
                    short(&e.id),
                    e.state
                ),
            );
        }
    }
    out
}
