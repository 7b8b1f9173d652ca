//! Container steps: create, wait until ready, restore; teardown.

use super::*;

use crate::observe::probe::COMPLETIONS_DIR;

/// Labels cutter puts on what it creates.
pub(super) fn labels(plan: &Plan, c: &Container) -> String {
    label_args(&[
        format!("{MANAGED_LABEL}=true"),
        format!("cutter.resource={}", c.name),
        format!("cutter.lifecycle={}", c.lifecycle.as_str()),
        format!("{PLAN_LABEL}={}", plan.canonical_file()),
    ])
}

/// Labels of a container's volume or network: whose they are, so that a
/// leftover is found by label whatever its name.
fn owned_labels(plan: &Plan, c: &Container) -> String {
    label_args(&[
        format!("{MANAGED_LABEL}=true"),
        format!("cutter.resource={}", c.name),
        format!("{PLAN_LABEL}={}", plan.canonical_file()),
    ])
}

fn label_args(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| format!("--label {}", quote(l)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// IDs of cutter's containers called exactly `name` (managed label only).
pub(super) fn own_ids(var: &str, docker_name: &str) -> String {
    format!(
        "{var}=$(docker ps -aq --no-trunc --filter {} --filter {})",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(&format!("name=^/{}$", regex::escape(docker_name)))
    )
}

/// Remove cutter's own container called like `c` and its volume, found by
/// exact name and the managed label (never anything else).
pub(super) fn remove_own(c: &Container) -> [String; 2] {
    [
        format!(
            "{}; [ -z \"$old\" ] || {{ {}; docker rm -f -v $old > /dev/null; }}",
            own_ids("old", &c.docker_name),
            forget_completions("$old")
        ),
        format!(
            "if {}; then docker volume rm -- {} > /dev/null; fi",
            own_volume_test(&c.volume),
            quote(&c.volume)
        ),
    ]
}

/// Remove the completion records of the containers `ids` (a shell word),
/// before the containers themselves: a container is never left with the
/// record of a removed one, and one without a record counts as incomplete.
pub(super) fn forget_completions(ids: &str) -> String {
    format!("for i in {ids}; do rm -f -- \"{COMPLETIONS_DIR}/$i.json\"; done")
}

/// Write the completion record of the container `$cid`, last, through the
/// host primitives: a temporary in the records' folder (entered by its real
/// path, checked against the protected paths), every write checked, then
/// renamed into place. Its presence is what makes a persistent container
/// count as made.
fn write_completion(plan: &Plan, c: &Container, restore_file: Option<&str>) -> String {
    let static_part = serde_json::json!({
        "container": c.docker_name,
        "resource": c.name,
        "restored_from": restore_file,
    })
    .to_string();
    let fmt = format!(
        "{},\"id\":\"%s\",\"restored_sha256\":\"%s\",\"restore_exit\":\"%s\",\"ready_at\":\"%s\",\"completed_at\":\"%s\"}}\\n",
        static_part[..static_part.len() - 1]
            .replace('\\', "\\\\")
            .replace('%', "%%")
    );
    // The folder is under the login's home: `$HOME` must expand, so it is
    // the one argument of `cutter_enter` not built by `host::enter`.
    let mut enter = format!("cutter_enter \"{COMPLETIONS_DIR}\"");
    for p in plan.hosts[&c.host].protected.real_paths() {
        enter.push(' ');
        enter.push_str(&quote(p));
    }
    format!(
        "{enter}; record=$(printf {} \"$cid\" \"${{src_sha:-}}\" \"${{rc:-}}\" \"${{ready_at:-}}\" \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"); \
         {}; cutter_write \"$cutter_w\" \"$record\"; cutter_put \"$cutter_w\" \"./$cid.json\"",
        quote(&fmt),
        crate::host::temp("cutter_w", "record"),
    )
}

/// Whether cutter's own volume `name` exists (exact name, managed label).
pub(super) fn own_volume_test(name: &str) -> String {
    format!(
        "docker volume ls -q --filter {} | grep -qxF -- {}",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(name)
    )
}

/// `var=` the full ID of cutter's own network `name` (exact name), or empty.
pub(super) fn own_network_id(var: &str, name: &str) -> String {
    format!(
        "{var}=$(docker network ls -q --no-trunc --filter {} --format '{{{{.ID}}}} {{{{.Name}}}}' | awk -v n={} '$2 == n {{ print $1 }}')",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(name)
    )
}

/// Create (or recreate, for an ephemeral test) a container, wait until it is
/// ready, and restore an artefact into it.
pub fn container(
    plan: &Plan,
    c: &Container,
    restore_file: Option<&str>,
    start_only: bool,
    replace: bool,
    secrets: Vec<(String, String)>,
    nonce: &str,
) -> Script {
    // What runs inside the container (ready checks, the restore) carries the
    // step's marker as an unused last argument, and in its environment,
    // which every process it starts inherits (also one that `exec`s): on a
    // timeout or when cutter dies, the supervisor ends them from inside the
    // container, as root there (see `Script::supervised`).
    let marker = quote(&format!("application_name=cutter-{nonce}"));
    let env_marker = quote(&format!("{STEP_ENV}=cutter-{nonce}"));
    let (name, vol, net) = (quote(&c.docker_name), quote(&c.volume), quote(&c.network));
    let mut s = Script::default();
    if start_only {
        s.commands.push(own_lookup("cid", &c.docker_name));
        s.commands.push("docker start \"$cid\" > /dev/null".into());
    } else {
        if c.lifecycle == Lifecycle::Ephemeral || replace {
            // A leftover of an interrupted test, or a copy being made again:
            // cutter's own, found by label.
            s.commands.extend(remove_own(c));
        }
        s.commands.push(format!(
            "{}; [ -n \"$netid\" ] || netid=$(docker network create --driver bridge {} -- {net})",
            own_network_id("netid", &c.network),
            owned_labels(plan, c)
        ));
        s.commands.push(format!(
            "{} || docker volume create {} --label {} -- {vol} > /dev/null; {} || {{ echo {} >&2; exit 1; }}",
            own_volume_test(&c.volume),
            owned_labels(plan, c),
            quote(&format!("cutter.container={}", c.docker_name)),
            own_volume_test(&c.volume),
            quote(&format!("volume `{}` exists and is not cutter's", c.volume)),
        ));
        let mut run = format!(
            "cid=$(docker run -d --name {name} {} --network \"$netid\" --mount {}",
            labels(plan, c),
            quote(&format!("type=volume,src={},dst={}", c.volume, c.mount))
        );
        for (k, v) in &c.env {
            run.push_str(&format!(" -e {}", quote(&format!("{k}={v}"))));
        }
        for p in &c.ports {
            run.push_str(&format!(" {}", quote(&format!("--publish={p}"))));
        }
        if !secrets.is_empty() {
            // The secrets are the step's whole input, which is a file
            // unlinked as soon as the supervisor opened it (see
            // `Script::supervised`): docker reads them from there, and no
            // copy of them is ever made on the host.
            run.push_str(" --env-file /dev/stdin");
            s.masked = secrets.iter().map(|(k, _)| k.clone()).collect();
            let mut input = String::new();
            for (k, v) in &secrets {
                input.push_str(&format!("{k}={}\n", v.replace('\n', "")));
            }
            s.stdin = Some(input.into_bytes());
        }
        run.push_str(&format!(" {})", quote(&c.image)));
        s.commands.push(run);
    }
    if c.ready.is_some() || (c.restore.is_some() && restore_file.is_some() && !start_only) {
        s.own_targets.push(c.docker_name.clone());
    }
    if let Some(ready) = &c.ready {
        s.commands.push(format!(
            "since=$(date +%s); until docker exec -e {env_marker} \"$cid\" timeout -k 2 10 sh -c {} sh {marker} > /dev/null 2>&1; do [ $(( $(date +%s) - since )) -lt 120 ] || {{ docker logs --tail 20 \"$cid\" >&2; echo 'container not ready after 120s (the last lines of its log are above)' >&2; exit 1; }}; sleep 0.5; done; ready_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
            quote(ready)
        ));
    }
    if let (Some(r), Some(file), false) = (&c.restore, restore_file, start_only) {
        let inside = "/tmp/cutter-restore.dump";
        let persistent = c.lifecycle == Lifecycle::Persistent;
        if persistent {
            // What was restored, for the completion record.
            s.commands.push(format!(
                "src_sha=$(sha256sum < {}) || exit 1; src_sha=${{src_sha%% *}}",
                quote(file)
            ));
        }
        s.commands
            .push(format!("docker cp -- {} \"$cid:{inside}\"", quote(file),));
        s.commands.push(format!(
            "rc=0; rerr=$(docker exec -e {env_marker} \"$cid\" timeout -k 10 {} sh -c {} sh {inside} {marker} 2>&1 > /dev/null) || rc=$?",
            c.timeout.as_secs().max(1),
            quote(&format!("{} \"$1\"", r.command))
        ));
        s.commands
            .push(format!("docker exec \"$cid\" rm -f {inside}"));
        s.commands.push(printf(&[
            (Key::RestoreExit, "\"$rc\""),
            (
                Key::RestoreStderr,
                "\"$(printf '%s' \"$rerr\" | base64 -w0)\"",
            ),
        ]));
    }
    if c.lifecycle == Lifecycle::Persistent && !start_only {
        s.setup
            .push(format!("trap {} EXIT", crate::host::DROP_TEMPS));
        s.commands.push(write_completion(
            plan,
            c,
            restore_file.filter(|_| c.restore.is_some()),
        ));
    }
    s.commands.push(format!(
        "docker inspect -f '{}' \"$cid\"",
        template(&[
            (Key::Id, "{{.Id}}"),
            (Key::State, "{{.State.Status}}"),
            (Key::Image, "{{.Config.Image}}"),
            (Key::ImageId, "{{.Image}}"),
        ])
    ));
    s
}

/// Remove what [`crate::diff::leftovers::find`] found: each object by its full
/// ID (volumes by name), and only after its labels, read again now, are
/// still cutter's managed label and the plan label it was found with.
/// Containers go first (with their completion records), then what they used.
pub fn remove_leftovers(items: &[crate::diff::leftovers::Leftover]) -> Script {
    let mut s = Script::default();
    for what in ["container", "volume", "network"] {
        for l in items.iter().filter(|l| l.what == what) {
            let labels = if what == "container" {
                ".Config.Labels"
            } else {
                ".Labels"
            };
            let read = format!(
                "docker {what} inspect -f '{{{{index {labels} \"{MANAGED_LABEL}\"}}}}|{{{{index {labels} \"{PLAN_LABEL}\"}}}}' {} 2>/dev/null",
                quote(&l.id)
            );
            let remove = match what {
                "container" => format!(
                    "{}; docker rm -f -v {} > /dev/null",
                    forget_completions(&quote(&l.id)),
                    quote(&l.id)
                ),
                _ => format!("docker {what} rm -- {} > /dev/null", quote(&l.id)),
            };
            s.commands.push(format!(
                "if [ \"$({read})\" = {} ]; then {remove}; else echo {} >&2; fi",
                quote(&format!("true|{}", l.plan_label)),
                quote(&format!(
                    "{what} `{}` is gone or its labels changed: left alone",
                    l.name
                ))
            ));
        }
    }
    s
}

/// Remove an ephemeral container with its volume and its network (when no
/// other container uses it) — only what carries cutter's label — then prove
/// they are gone.
pub fn teardown(c: &Container) -> Script {
    let mut s = Script::default();
    s.commands.extend(remove_own(c));
    s.commands.push(format!(
        "{}; if [ -n \"$netid\" ] && [ -z \"$(docker network inspect -f '{{{{range .Containers}}}}x{{{{end}}}}' \"$netid\" 2>/dev/null)\" ]; then docker network rm \"$netid\" > /dev/null; fi",
        own_network_id("netid", &c.network)
    ));
    s.commands.push(format!(
        "c=$(docker ps -aq --filter {}); v=$(docker volume ls -q --filter {}); n=$(docker network ls -q --filter {})",
        quote(&format!("name=^/{}$", regex::escape(&c.docker_name))),
        quote(&format!("name=^{}$", regex::escape(&c.volume))),
        quote(&format!("name=^{}$", regex::escape(&c.network)))
    ));
    s.commands.push(format!(
        "{}; [ -z \"$c$v\" ]",
        printf(&[
            (Key::ContainerLeft, "\"$c\""),
            (Key::VolumeLeft, "\"$v\""),
            (Key::NetworkLeft, "\"$n\""),
        ])
    ));
    s
}
