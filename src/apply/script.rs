//! The shell each step runs on its host.
//!
//! A step is a short list of commands, shown verbatim by `cutter plan`, run
//! as one script so that a step costs one round trip. Every value from the
//! plan is quoted with [`quote`]; secrets travel on standard input, never
//! on a command line. Results come back as `cutter:KEY=VALUE` lines.

use chrono::{DateTime, Utc};

use crate::diff::evidence_name;
use crate::plan::template::TIMESTAMP_FORMAT;
use crate::plan::{Artefact, Check, CheckKind, Container, Lifecycle, MANAGED_LABEL, Plan};
use crate::remote::quote;

/// Forces every SQL session into read-only transactions.
pub const READ_ONLY_PGOPTIONS: &str = "-c default_transaction_read_only=on";

#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The commands, as shown to the operator.
    pub commands: Vec<String>,
    /// Run before the commands (traps, temporary names); not shown.
    pub setup: Vec<String>,
    /// Run after the commands: recording checksums, manifests and results.
    pub bookkeeping: Vec<String>,
    /// Standard input (secrets), never shown.
    pub stdin: Option<Vec<u8>>,
    /// Secret names whose values are fed on stdin, for display.
    pub masked: Vec<String>,
    /// A file whose size shows the step's progress (the temporary output).
    pub progress_file: Option<String>,
}

impl Script {
    pub fn text(&self) -> String {
        let mut s = String::from("set -eu\n");
        for line in self
            .setup
            .iter()
            .chain(&self.commands)
            .chain(&self.bookkeeping)
        {
            s.push_str(line);
            s.push('\n');
        }
        s
    }
}

fn exec_prefix(container: &str, read_only: bool, stdin: bool) -> String {
    let mut s = String::from("docker exec");
    if stdin {
        s.push_str(" -i");
    }
    if read_only {
        s.push_str(&format!(
            " -e {}",
            quote(&format!("PGOPTIONS={READ_ONLY_PGOPTIONS}"))
        ));
    }
    s.push(' ');
    s.push_str(&quote(container));
    s
}

/// `sh -c COMMAND` on the host or inside a container.
fn shell_in(container: Option<&str>, read_only: bool, stdin: bool, command: &str) -> String {
    match container {
        Some(c) => format!(
            "{} sh -c {}",
            exec_prefix(c, read_only, stdin),
            quote(command)
        ),
        None => format!("sh -c {}", quote(command)),
    }
}

/// Produce an artefact atomically: temporary name, checks, checksum, rename,
/// then record it in `SHA256SUMS` and write cutter's manifest beside it.
pub fn artefact(plan: &Plan, a: &Artefact, now: DateTime<Utc>) -> Script {
    let path = a.path.render(now);
    let (dir, name) = path
        .rsplit_once('/')
        .map(|(d, n)| (if d.is_empty() { "/" } else { d }, n))
        .unwrap();
    let tmp = format!("{dir}/.{name}.cutter-tmp");
    let err_tmp = format!("{dir}/.{name}.cutter-stderr");
    let sums = format!("{dir}/SHA256SUMS");
    let lock = format!("{dir}/.SHA256SUMS.cutter-lock");
    // Per artefact: another step's cleanup must never remove it.
    let q_sums_tmp = quote(&format!("{dir}/.SHA256SUMS.{name}.cutter-tmp"));
    let (q_dir, q_tmp, q_err, q_sums, q_lock, q_path) = (
        quote(dir),
        quote(&tmp),
        quote(&err_tmp),
        quote(&sums),
        quote(&lock),
        quote(&path),
    );
    let escaped = name.contains('\\') || name.contains('\n') || name.contains('\r');
    let sum_name = name
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    let prefix = if escaped { "\\" } else { "" };
    let q_sum_name = quote(&sum_name);
    let manifest = serde_json::json!({
        "cutter": env!("CARGO_PKG_VERSION"),
        "artefact": a.name,
        "plan": std::fs::canonicalize(&plan.file).unwrap_or(plan.file.clone()).display().to_string(),
        "plan_sha256": plan.sha256,
        "path": path,
        "taken_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "command": a.command,
        "container": a.container,
    });
    let manifest = manifest.to_string();
    let static_part = manifest[..manifest.len() - 1]
        .replace('\\', "\\\\")
        .replace('%', "%%");
    let manifest_fmt = format!("{static_part},\"sha256\":\"%s\",\"size\":%s}}\\n");

    let mut s = Script {
        progress_file: Some(tmp.clone()),
        ..Script::default()
    };
    // On failure, the command's own stderr (pg_dump's error, docker's
    // refusal) is the cause: show its last lines before the file goes. On a
    // full disk that message could not be written either, so say so from
    // `df`. Exit 3 and 4 are the size and format checks below, which print
    // their own reason last.
    s.setup.push(format!(
        "locked=; cleanup() {{ rc=$?; case $rc in 0|3|4) ;; *) if [ -s {q_err} ]; then tail -n 8 -- {q_err} >&2 || :; fi; \
         free=$(df -Pk -- {q_dir} 2>/dev/null | tail -n 1) || free=; set -- $free; \
         if [ \"${{4:-}}\" = 0 ]; then echo \"No space left on device: ${{6:-the file system}} has 0 KiB free\" >&2; fi;; esac; \
         rm -f -- {q_tmp} {q_err} {q_sums_tmp}; if [ -n \"$locked\" ]; then rmdir -- {q_lock} 2>/dev/null || :; fi; }}; trap cleanup EXIT; trap 'exit 130' INT TERM HUP",
    ));
    s.commands.push(format!("mkdir -p -- {q_dir}"));
    s.commands.push(format!(
        "{} > {q_tmp} 2> {q_err}",
        shell_in(a.container.as_deref(), a.in_protected, false, &a.command)
    ));
    if let Some(min) = a.min_size {
        s.commands.push(format!(
            "size=$(stat -c %s -- {q_tmp}); [ \"$size\" -ge {min} ] || {{ echo \"output is $size bytes, below min_size {min}\" >&2; exit 3; }}"
        ));
    }
    if let Some(verify) = &a.verify {
        s.commands.push(format!(
            "{} < {q_tmp} > /dev/null || {{ echo {} >&2; exit 4; }}",
            shell_in(a.container.as_deref(), a.in_protected, true, verify),
            quote(&format!("format check `{verify}` rejected the output"))
        ));
    }
    s.commands.push(format!(
        "sha=$(sha256sum < {q_tmp}); sha=${{sha%% *}}; size=$(stat -c %s -- {q_tmp})"
    ));
    s.commands.push(format!(
        "printf {} \"$sha\" \"$size\" > {}",
        quote(&manifest_fmt),
        quote(&format!("{path}.cutter.json"))
    ));
    s.commands.push(format!("mv -f -- {q_tmp} {q_path}"));
    match &a.stderr {
        Some(f) => s
            .commands
            .push(format!("mv -f -- {q_err} {}", quote(&format!("{dir}/{f}")))),
        None => s.commands.push(format!("rm -f -- {q_err}")),
    }
    s.bookkeeping.push(format!(
        "until mkdir -- {q_lock} 2>/dev/null; do sleep 0.1; done; locked=1"
    ));
    // Rewrite SHA256SUMS: drop this name's old line and lines of files that
    // are gone, so `sha256sum -c` keeps passing; then add this file's line.
    let h = "?".repeat(64);
    s.bookkeeping.push(format!(
        "{{ if [ -f {q_sums} ]; then while IFS= read -r l || [ -n \"$l\" ]; do \
         case \"$l\" in \\\\*) e=${{l#?}}; n=${{e#{h}  }};; *) e=; n=${{l#{h}  }}; [ \"$n\" != \"$l\" ] || n=${{l#{h} \\*}};; esac; \
         [ \"$n\" != {q_sum_name} ] || continue; \
         [ -n \"$e\" ] || [ -e {q_dir}/\"$n\" ] || continue; \
         printf '%s\\n' \"$l\"; done < {q_sums}; fi; \
         printf '{}%s  %s\\n' \"$sha\" {q_sum_name}; }} > {q_sums_tmp} && mv -f -- {q_sums_tmp} {q_sums}",
        if prefix.is_empty() { "" } else { "\\\\" },
    ));
    s.bookkeeping.push(format!("rmdir -- {q_lock}; locked="));
    s.bookkeeping.push(format!(
        "printf 'cutter:path=%s\\ncutter:sha256=%s\\ncutter:size=%s\\n' {q_path} \"$sha\" \"$size\""
    ));
    s
}

/// Labels cutter puts on what it creates.
fn labels(plan: &Plan, c: &Container) -> String {
    [
        format!("{MANAGED_LABEL}=true"),
        format!("cutter.resource={}", c.name),
        format!(
            "cutter.lifecycle={}",
            if c.lifecycle == Lifecycle::Ephemeral {
                "ephemeral"
            } else {
                "persistent"
            }
        ),
        format!("cutter.plan={}", plan.file.display()),
    ]
    .iter()
    .map(|l| format!("--label {}", quote(l)))
    .collect::<Vec<_>>()
    .join(" ")
}

/// Create (or recreate, for an ephemeral test) a container, wait until it is
/// ready, and restore an artefact into it.
pub fn container(
    plan: &Plan,
    c: &Container,
    restore_file: Option<&str>,
    start_only: bool,
    secrets: Vec<(String, String)>,
) -> Script {
    let (name, vol, net) = (quote(&c.docker_name), quote(&c.volume), quote(&c.network));
    let mut s = Script::default();
    if start_only {
        s.commands.push(format!("docker start {name} > /dev/null"));
    } else {
        if c.lifecycle == Lifecycle::Ephemeral {
            // A leftover of an interrupted test: cutter's own (checked by the diff).
            s.commands
                .push(format!("docker rm -f -v {name} > /dev/null 2>&1 || :"));
            s.commands
                .push(format!("docker volume rm {vol} > /dev/null 2>&1 || :"));
        }
        let managed = quote(&format!("{MANAGED_LABEL}=true"));
        s.commands.push(format!(
            "docker network inspect {net} > /dev/null 2>&1 || docker network create --driver bridge --label {managed} {net} > /dev/null"
        ));
        s.commands.push(format!(
            "docker volume inspect {vol} > /dev/null 2>&1 || docker volume create --label {managed} --label {} {vol} > /dev/null",
            quote(&format!("cutter.container={}", c.docker_name))
        ));
        let mut run = format!(
            "docker run -d --name {name} {} --network {net} -v {}",
            labels(plan, c),
            quote(&format!("{}:{}", c.volume, c.mount))
        );
        for (k, v) in &c.env {
            run.push_str(&format!(" -e {}", quote(&format!("{k}={v}"))));
        }
        for p in &c.ports {
            run.push_str(&format!(" -p {}", quote(p)));
        }
        if !secrets.is_empty() {
            s.setup.push("envfile=$(umask 077 && mktemp); trap 'rm -f -- \"$envfile\"' EXIT; cat > \"$envfile\"".into());
            run.push_str(" --env-file \"$envfile\"");
            s.masked = secrets.iter().map(|(k, _)| k.clone()).collect();
            let mut input = String::new();
            for (k, v) in &secrets {
                input.push_str(&format!("{k}={}\n", v.replace('\n', "")));
            }
            s.stdin = Some(input.into_bytes());
        }
        run.push_str(&format!(" {} > /dev/null", quote(&c.image)));
        s.commands.push(run);
        if !secrets.is_empty() {
            s.commands.push("rm -f -- \"$envfile\"".into());
        }
    }
    if let Some(ready) = &c.ready {
        s.commands.push(format!(
            "i=0; until docker exec {name} sh -c {} > /dev/null 2>&1; do i=$((i+1)); [ $i -lt 240 ] || {{ echo 'container not ready after 120s' >&2; docker logs --tail 20 {name} >&2; exit 1; }}; sleep 0.5; done",
            quote(ready)
        ));
    }
    if let (Some(r), Some(file), false) = (&c.restore, restore_file, start_only) {
        let inside = "/tmp/cutter-restore.dump";
        s.setup
            .push("rerr=$(mktemp); trap 'rm -f -- \"$rerr\" ${envfile:+\"$envfile\"}' EXIT".into());
        s.commands.push(format!(
            "docker cp {} {}",
            quote(file),
            quote(&format!("{}:{inside}", c.docker_name))
        ));
        s.commands.push(format!(
            "rc=0; docker exec {name} sh -c {} sh {inside} 2> \"$rerr\" || rc=$?",
            quote(&format!("{} \"$1\"", r.command))
        ));
        s.commands
            .push(format!("docker exec {name} rm -f {inside}"));
        s.commands.push(
            "printf 'cutter:restore_exit=%s\\ncutter:restore_stderr_b64=%s\\n' \"$rc\" \"$(base64 -w0 < \"$rerr\")\"".into(),
        );
    }
    s.commands.push(format!(
        "docker inspect -f 'cutter:id={{{{.Id}}}}\ncutter:state={{{{.State.Status}}}}\ncutter:image={{{{.Config.Image}}}}' {name}"
    ));
    s
}

/// Remove an ephemeral container with its volume (and its network when no
/// other container uses it), then prove they are gone.
pub fn teardown(c: &Container) -> Script {
    let (name, vol, net) = (quote(&c.docker_name), quote(&c.volume), quote(&c.network));
    let mut s = Script::default();
    s.commands
        .push(format!("docker rm -f -v {name} > /dev/null 2>&1 || :"));
    s.commands
        .push(format!("docker volume rm {vol} > /dev/null 2>&1 || :"));
    s.commands.push(format!(
        "[ -n \"$(docker network inspect -f '{{{{range .Containers}}}}x{{{{end}}}}' {net} 2>/dev/null)\" ] || docker network rm {net} > /dev/null 2>&1 || :"
    ));
    s.commands.push(format!(
        "c=$(docker ps -aq --filter {}); v=$(docker volume ls -q --filter {})",
        quote(&format!("name=^/{}$", regex::escape(&c.docker_name))),
        quote(&format!("name=^{}$", regex::escape(&c.volume)))
    ));
    s.commands.push("printf 'cutter:container_left=%s\\ncutter:volume_left=%s\\n' \"$c\" \"$v\"; [ -z \"$c$v\" ]".into());
    s
}

/// Write evidence JSON (given on stdin) beside an artefact.
pub fn write_evidence(artefact_path: &str, c: &Container, json: String) -> Script {
    let target = format!("{artefact_path}.{}", evidence_name(c));
    let mut s = Script::default();
    s.commands.push(format!(
        "cat > {}.cutter-tmp && mv -f -- {}.cutter-tmp {}",
        quote(&target),
        quote(&target),
        quote(&target)
    ));
    s.stdin = Some(json.into_bytes());
    s
}

fn psql(
    container: &str,
    read_only: bool,
    user: &str,
    db: &str,
    sql: &str,
    separator: Option<&str>,
) -> String {
    let mut s = format!(
        "{} psql -X -q -v ON_ERROR_STOP=1 -U {} -d {} -tA",
        exec_prefix(container, read_only, false),
        quote(user),
        quote(db)
    );
    if let Some(sep) = separator {
        s.push_str(&format!(" -F {}", quote(sep)));
    }
    s.push_str(&format!(" -c {}", quote(sql)));
    s
}

fn b64(label: &str, command: &str) -> String {
    format!(
        "out=$({command}); printf 'cutter:{label}_b64=%s\\n' \"$(printf '%s' \"$out\" | base64 -w0)\""
    )
}

pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL counting rows of `schema.table` names, one `schema|table|count` line each.
pub fn rowcount_sql(tables: &[String]) -> String {
    tables
        .iter()
        .map(|t| {
            let (schema, table) = t.split_once('.').unwrap_or(("public", t));
            format!(
                "SELECT {}, {}, count(*) FROM {}.{}",
                quote_literal(schema),
                quote_literal(table),
                quote_ident(schema),
                quote_ident(table)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Run a check's queries; the comparison happens locally.
pub fn check(plan: &Plan, k: &Check, snapshot_file: Option<&str>) -> Script {
    let mut s = Script::default();
    match &k.kind {
        CheckKind::Equals { sql, .. } => {
            s.commands.push(b64(
                "result",
                &psql(
                    &k.container,
                    k.in_protected,
                    &k.user,
                    &k.database,
                    sql,
                    None,
                ),
            ));
        }
        CheckKind::SameAs {
            sql,
            other,
            other_protected,
        } => {
            s.commands.push(b64(
                "result",
                &psql(
                    &k.container,
                    k.in_protected,
                    &k.user,
                    &k.database,
                    sql,
                    None,
                ),
            ));
            s.commands.push(b64(
                "other",
                &psql(other, *other_protected, &k.user, &k.database, sql, None),
            ));
        }
        CheckKind::Rowcounts { tables, artefact } => {
            let file = snapshot_file
                .map(str::to_string)
                .unwrap_or_else(|| plan.artefacts[artefact].path.display());
            s.commands
                .push(b64("snapshot", &format!("cat -- {}", quote(&file))));
            s.commands.push(b64(
                "result",
                &psql(
                    &k.container,
                    k.in_protected,
                    &k.user,
                    &k.database,
                    &rowcount_sql(tables),
                    Some("|"),
                ),
            ));
        }
    }
    s
}

/// Read the state of protected containers, volumes and networks.
/// Separates the JSON documents of [`protected_state`].
pub const STATE_SEPARATOR: &str = "--cutter-protected--";

pub fn protected_state(p: &crate::plan::Protected) -> Script {
    let mut s = Script::default();
    s.commands.push(
        "ids=$(docker ps -aq --no-trunc); if [ -n \"$ids\" ]; then docker inspect $ids 2>/dev/null || :; else echo '[]'; fi".into(),
    );
    for (what, names) in [("volume", &p.volumes), ("network", &p.networks)] {
        let names: Vec<String> = names.iter().map(|n| quote(n)).collect();
        s.commands.push(format!(
            "echo {STATE_SEPARATOR}; {}",
            if names.is_empty() {
                "echo '[]'".to_string()
            } else {
                format!("docker {what} inspect {} 2>/dev/null || :", names.join(" "))
            }
        ));
    }
    s
}

/// Hash the schema of a database (`pg_dump --schema-only`), read-only.
pub fn schema_hash(container: &str, user: &str, db: &str) -> Script {
    let mut s = Script::default();
    s.commands.push(format!(
        "schema=$({} pg_dump --schema-only -U {} -d {}); printf '%s\\n' \"$schema\" | grep -v -e '^\\\\restrict ' -e '^\\\\unrestrict ' | sha256sum",
        exec_prefix(container, true, false),
        quote(user),
        quote(db)
    ));
    s
}

/// Parse `cutter:KEY=VALUE` lines.
pub fn results(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("cutter:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Decode a `_b64` result.
pub fn decode(results: &std::collections::BTreeMap<String, String>, key: &str) -> String {
    use base64::Engine;
    results
        .get(&format!("{key}_b64"))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn timestamp(now: DateTime<Utc>) -> String {
    now.format(TIMESTAMP_FORMAT).to_string()
}
