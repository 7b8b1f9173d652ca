//! Container steps: create, wait until ready, restore; teardown.

use super::*;

/// Labels cutter puts on what it creates.
pub(super) fn labels(plan: &Plan, c: &Container) -> String {
    [
        format!("{MANAGED_LABEL}=true"),
        format!("cutter.resource={}", c.name),
        format!("cutter.lifecycle={}", c.lifecycle.as_str()),
        format!(
            "cutter.plan={}",
            std::fs::canonicalize(&plan.file)
                .unwrap_or(plan.file.clone())
                .display()
        ),
    ]
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
            "{}; [ -z \"$old\" ] || docker rm -f -v $old > /dev/null",
            own_ids("old", &c.docker_name)
        ),
        format!(
            "if {}; then docker volume rm -- {} > /dev/null; fi",
            own_volume_test(&c.volume),
            quote(&c.volume)
        ),
    ]
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
    let managed = quote(&format!("{MANAGED_LABEL}=true"));
    // What runs inside the container (ready checks, the restore) carries the
    // step's marker as an unused last argument, so that on a timeout or when
    // cutter dies the supervisor finds and ends it there (`docker top`), as
    // it does in production.
    let marker = quote(&format!("application_name=cutter-{nonce}"));
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
            "{}; [ -n \"$netid\" ] || netid=$(docker network create --driver bridge --label {managed} -- {net})",
            own_network_id("netid", &c.network)
        ));
        s.commands.push(format!(
            "{} || docker volume create --label {managed} --label {} -- {vol} > /dev/null; {} || {{ echo {} >&2; exit 1; }}",
            own_volume_test(&c.volume),
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
        s.targets.push(name.clone());
    }
    if let Some(ready) = &c.ready {
        s.commands.push(format!(
            "i=0; until docker exec \"$cid\" timeout -k 2 10 sh -c {} sh {marker} > /dev/null 2>&1; do i=$((i+1)); [ $i -lt 240 ] || {{ echo 'container not ready after 120s' >&2; docker logs --tail 20 \"$cid\" >&2; exit 1; }}; sleep 0.5; done",
            quote(ready)
        ));
    }
    if let (Some(r), Some(file), false) = (&c.restore, restore_file, start_only) {
        let inside = "/tmp/cutter-restore.dump";
        s.commands
            .push(format!("docker cp -- {} \"$cid:{inside}\"", quote(file),));
        s.commands.push(format!(
            "rc=0; rerr=$(docker exec \"$cid\" timeout -k 10 {} sh -c {} sh {inside} {marker} 2>&1 > /dev/null) || rc=$?",
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
