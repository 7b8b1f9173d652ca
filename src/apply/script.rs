//! The shell each step runs on its host, built from typed values.
//!
//! A step is a short list of commands, shown verbatim by `cutter plan`, run
//! as one script so that a step costs one round trip. Every value from the
//! plan is quoted with [`quote`]; secrets travel on standard input, never on
//! a command line. Results come back as `cutter:KEY=VALUE` lines, written
//! and read by [`super::step_result`].
//!
//! The production boundary lives here:
//! - inside a container cutter did not create, only [`pg_dump_argv`] and
//!   [`psql_argv`] run, as an argument vector (`docker exec ID prog arg...`,
//!   no shell), as the operator's own uid, under `timeout`, with read-only
//!   forced through the connection string cutter builds;
//! - such a container is addressed by the full ID observed in this run;
//!   cutter's own containers by a lookup that only matches its managed label;
//! - files are written only after the target folder's real path (symlinks
//!   resolved on the host) is checked against the protected paths' real
//!   paths, and then only by relative names inside that folder;
//! - every step runs under [`Script::supervised`], which ends the step's
//!   processes on the host and inside containers on timeout, on a signal,
//!   or when cutter goes away (its standard input closes).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::step_result::{Key, printf, template};
use crate::plan::{
    Artefact, Check, CheckKind, Container, DumpFormat, Lifecycle, MANAGED_LABEL, PgDump, PgQuery,
    Plan, Producer, Protected,
};
use crate::shell::{here, join, quote};

/// Session settings forced on every connection cutter makes to a database it
/// does not own. They travel in the connection string, which takes
/// precedence over the environment and service files, and the accepted SQL
/// cannot change them (no `SET`, no `set_config`).
pub const READ_ONLY_OPTIONS: &str = "-c default_transaction_read_only=on -c standard_conforming_strings=on -c search_path=pg_catalog,public";

/// Run by an artefact step's cleanup, in its folder, with `$rc` its exit
/// status: on failure, the last lines of the command's stderr (`{q_err}`);
/// on a full disk, where even that message could not be written, what `df`
/// says. Exit 3 and 4 are the size and format checks, which print their own
/// reason last.
const STDERR_ON_FAILURE: &str = "case $rc in 0|3|4) ;; *) if [ -s {q_err} ]; then tail -n 8 -- {q_err} >&2 || :; fi; \
     free=$(df -Pk -- . 2>/dev/null | tail -n 1) || free=; set -- $free; \
     if [ \"${4:-}\" = 0 ]; then echo \"No space left on device: ${6:-the file system} has 0 KiB free\" >&2; fi;; esac; ";

/// Name prefix of throw-away verification containers.
pub const VERIFY_PREFIX: &str = "cutter-verify-";

#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The commands, as shown to the operator.
    pub commands: Vec<String>,
    /// Run before the commands (traps, temporary names); not shown.
    pub setup: Vec<String>,
    /// Run after the commands: recording checksums, manifests and results.
    pub bookkeeping: Vec<String>,
    /// Standard input (secrets, evidence), never shown.
    pub stdin: Option<Vec<u8>>,
    /// Secret names whose values are fed on stdin, for display.
    pub masked: Vec<String>,
    /// A file whose size shows the step's progress (the temporary output).
    pub progress_file: Option<String>,
    /// Containers (full IDs, or `$cid` words) where typed operations of this
    /// step run: their processes are ended with the step.
    pub targets: Vec<String>,
    /// Operations sent into containers cutter does not own, for the report.
    pub production_ops: Vec<String>,
}

/// Where an operation runs, resolved for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    Host,
    /// A container cutter owns, found by its exact name and managed label
    /// when the step runs.
    Own {
        docker_name: String,
    },
    /// A container cutter does not own, by its full observed ID.
    External {
        id: String,
        image_id: String,
        name: String,
    },
}

impl Exec {
    /// The shell word naming the container, after [`Exec::lookup`] ran.
    fn word(&self) -> String {
        match self {
            Exec::Host => String::new(),
            Exec::Own { .. } => "\"$cid\"".into(),
            Exec::External { id, .. } => quote(id),
        }
    }

    /// Commands that find the container before it is used.
    fn lookup(&self) -> Option<String> {
        match self {
            Exec::Own { docker_name } => Some(own_lookup("cid", docker_name)),
            _ => None,
        }
    }
}

/// `var=$(the full ID of cutter's own container NAME)`, failing when there
/// is none: matched by exact name and the managed label, never by prefix.
pub fn own_lookup(var: &str, docker_name: &str) -> String {
    format!(
        "{var}=$(docker ps -aq --no-trunc --filter {} --filter {}); case ${var} in ''|*[!0-9a-f]*) echo {} >&2; exit 1;; esac",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(&format!("name=^/{}$", regex::escape(docker_name))),
        quote(&format!(
            "cutter's container `{docker_name}` is not on the host"
        )),
    )
}

impl Script {
    /// The step body: setup, commands and bookkeeping.
    pub fn body(&self) -> String {
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

    /// The body under a supervisor that owns its processes. The body reads
    /// the step's input; after it, standard input stays open as a lifeline:
    /// when it closes (cutter stopped or was killed), on a signal, or after
    /// `timeout`, the body's process group ends, the step's processes
    /// inside containers (marked by `nonce` in their arguments) are ended
    /// and its verification container is removed.
    pub fn supervised(&self, nonce: &str, timeout: Duration) -> String {
        let input_len = self.stdin.as_ref().map_or(0, Vec::len);
        let targets: Vec<String> = self.targets.clone();
        format!(
            r#"set -u
cutter_body=
cutter_life=
cutter_reap() {{
  trap '' INT TERM HUP
  kill $cutter_life 2>/dev/null
  [ -z "$cutter_body" ] || kill -TERM "-$cutter_body" 2>/dev/null || kill -TERM "$cutter_body" 2>/dev/null || :
  for c in {targets}; do
    for p in $(docker top "$c" -eo pid,args 2>/dev/null | awk -v m=application_name=cutter-{nonce} 'index($0, m) {{ print $1 }}'); do kill -TERM "$p" 2>/dev/null || :; done
  done
  docker rm -f {VERIFY_PREFIX}{nonce} > /dev/null 2>&1 || :
  rm -f -- "${{cutter_reg:-/nonexistent}}"
}}
trap 'cutter_reap; exit 129' HUP
trap 'cutter_reap; exit 130' INT
trap 'cutter_reap; exit 143' TERM
{read_input}
cutter_script={body}
# `timeout` ends the step's whole process group at the step's timeout.
if command -v setsid > /dev/null 2>&1; then setsid timeout -k 10 {secs} sh -c "$cutter_script" cutter-step < "$cutter_in" & else timeout -k 10 {secs} sh -c "$cutter_script" cutter-step < "$cutter_in" & fi
cutter_body=$!
# Registered in the host's apply lock while it runs: the lock is not stale
# while a step of its holder still runs.
cutter_reg="{lock}/steps.$$"
[ ! -d "{lock}" ] || : > "$cutter_reg" 2>/dev/null || :
exec 3<&0
{{ while IFS= read -r _; do :; done; kill -HUP $$ 2>/dev/null; }} <&3 > /dev/null 2>&1 &
exec 3<&-
cutter_life=$!
cutter_rc=0
wait "$cutter_body" || cutter_rc=$?
kill "$cutter_life" 2>/dev/null
if [ "$cutter_rc" -eq 124 ] || [ "$cutter_rc" -eq 137 ]; then cutter_reap; echo "cutter: step stopped after its timeout of {secs}s" >&2; cutter_rc=124; fi
[ "$cutter_in" = /dev/null ] || rm -f -- "$cutter_in"
rm -f -- "$cutter_reg"
# 127 would read as "no such command" to the SSH layer and lose the output.
[ "$cutter_rc" -ne 127 ] || {{ echo "cutter: a command of the step was not found (exit 127)" >&2; cutter_rc=125; }}
exit $cutter_rc
"#,
            targets = if targets.is_empty() {
                "''".to_string()
            } else {
                targets.join(" ")
            },
            secs = timeout.as_secs().max(1),
            // The step's input, read off the connection before the lifeline
            // starts; a step without input reads nothing (no process spent).
            read_input = if input_len == 0 {
                "cutter_in=/dev/null".to_string()
            } else {
                format!(
                    "cutter_in=$(umask 077 && mktemp) || exit 1\nhead -c {input_len} > \"$cutter_in\""
                )
            },
            body = quote(&self.body()),
            lock = crate::observe::probe::LOCK_DIR,
        )
    }
}

/// The connection string cutter builds: a validated database name, the
/// step's marker, and the read-only options. Never taken from a plan.
fn conninfo(database: &str, nonce: &str, read_only: bool) -> String {
    let mut s = format!("dbname={database} application_name=cutter-{nonce}");
    if read_only {
        s.push_str(&format!(" options='{READ_ONLY_OPTIONS}'"));
    }
    s
}

/// `pg_dump` as an argument vector, from typed fields only.
pub fn pg_dump_argv(d: &PgDump, nonce: &str, read_only: bool) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "pg_dump".into(),
        "--no-password".into(),
        format!("--username={}", d.user),
        format!("--dbname={}", conninfo(&d.database, nonce, read_only)),
        format!("--format={}", d.format.flag()),
        "--lock-wait-timeout=300s".into(),
    ];
    if let Some(c) = d.compress {
        v.push(format!("--compress={c}"));
    }
    if d.schema_only {
        v.push("--schema-only".into());
    }
    for (flag, list) in [
        ("--table", &d.tables),
        ("--exclude-table", &d.exclude_tables),
        ("--schema", &d.schemas),
        ("--exclude-schema", &d.exclude_schemas),
    ] {
        v.extend(list.iter().map(|p| format!("{flag}={p}")));
    }
    v
}

/// `psql` running one accepted query as an argument vector: no psqlrc,
/// stop on error, unaligned tuples; the server ends the query at `timeout`.
pub fn psql_argv(
    user: &str,
    database: &str,
    sql: &str,
    separator: Option<&str>,
    nonce: &str,
    read_only: bool,
    timeout: Duration,
) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "psql".into(),
        "--no-psqlrc".into(),
        "--no-password".into(),
        "--quiet".into(),
        "--set=ON_ERROR_STOP=1".into(),
        "--tuples-only".into(),
        "--no-align".into(),
        format!("--username={user}"),
        format!(
            "--dbname={}",
            conninfo(database, nonce, read_only).replace(
                " options='",
                &format!(
                    " options='-c statement_timeout={}s ",
                    timeout.as_secs().max(1)
                )
            )
        ),
    ];
    if let Some(sep) = separator {
        v.push(format!("--field-separator={sep}"));
    }
    v.push(format!("--command={sql}"));
    v
}

/// `docker exec` of a typed operation: no shell inside the container, the
/// operator's uid (so that the supervisor may end it), bounded by `timeout`.
fn exec_typed(exec: &Exec, argv: &[String], timeout: Duration) -> String {
    format!(
        "docker exec -u \"$(id -u):$(id -g)\" {} timeout -k 10 {} {}",
        exec.word(),
        timeout.as_secs().max(1),
        join(argv)
    )
}

/// The operation that makes an artefact's content, writing standard output.
fn producer(a: &Artefact, exec: &Exec, nonce: &str, s: &mut Script) -> String {
    let read_only = matches!(exec, Exec::External { .. });
    match &a.producer {
        Producer::Command { command } => match exec {
            Exec::Host => format!("sh -c {}", quote(command)),
            _ => format!(
                "docker exec {} timeout -k 10 {} sh -c {}",
                exec.word(),
                a.timeout.as_secs().max(1),
                quote(command)
            ),
        },
        Producer::PgDump(d) => {
            let argv = pg_dump_argv(d, nonce, read_only);
            typed(exec, &argv, a.timeout, s)
        }
        Producer::Query(q) => {
            let argv = psql_argv(
                &q.user,
                &q.database,
                q.sql.as_str(),
                Some(&q.separator),
                nonce,
                read_only,
                a.timeout,
            );
            typed(exec, &argv, a.timeout, s)
        }
    }
}

fn typed(exec: &Exec, argv: &[String], timeout: Duration, s: &mut Script) -> String {
    if let Exec::External { name, .. } = exec {
        s.production_ops
            .push(format!("in `{name}`: {}", join(argv)));
        let w = exec.word();
        if !s.targets.contains(&w) {
            s.targets.push(w);
        }
    }
    exec_typed(exec, argv, timeout)
}

/// Also defines `cutter_nl`, a newline, for splitting text by lines
/// (`SHA256SUMS` is read once and split, not read a byte per system call).
/// Defines `cutter_enter DIR PROTECTED...`, which enters a folder for
/// writing: its real path on the host (symlinks resolved) must not be at or
/// under the real path of a protected path; it is created, entered with
/// `cd -P`, and every later write uses a name relative to it.
const ENTER_FN: &str = "cutter_nl='\n'\ncutter_enter() { cutter_dir=$(realpath -m -- \"$1\") || exit 1; shift; for p in \"$@\"; do rp=$(realpath -m -- \"$p\"); case \"$cutter_dir/\" in \"${rp%/}/\"*) echo \"refusing to write in $cutter_dir: it resolves under protected path $p\" >&2; exit 5;; esac; done; mkdir -p -- \"$cutter_dir\" && cd -P -- \"$cutter_dir\" && [ \"$(pwd -P)\" = \"$cutter_dir\" ] || { echo \"cannot enter $cutter_dir\" >&2; exit 5; }; }";

/// The definition of `cutter_enter`, for scripts built elsewhere.
pub fn enter_fn() -> &'static str {
    ENTER_FN
}

/// `cutter_enter DIR PROTECTED...`, for scripts built elsewhere.
pub fn enter_cmd(dir: &str, protected: &Protected) -> String {
    enter(dir, protected)
}

/// `cutter_enter DIR PROTECTED...` (see [`ENTER_FN`]).
fn enter(dir: &str, protected: &Protected) -> String {
    let mut s = format!("cutter_enter {}", quote(dir));
    for p in &protected.paths {
        s.push(' ');
        s.push_str(&quote(p));
    }
    s
}

fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('/')
        .map(|(d, n)| (if d.is_empty() { "/" } else { d }, n))
        .unwrap_or(("/", path))
}

/// Take the folder's `SHA256SUMS` lock, waiting at most a minute. A lock is
/// stale when its holder process is gone and it is at least 10 s old: a
/// holder read just before it released, whose lock another step then took,
/// must not make a waiter remove the new holder's lock.
fn sums_lock() -> String {
    "i=0; until mkdir -- ./.SHA256SUMS.cutter-lock 2>/dev/null; do \
     h=$(cat ./.SHA256SUMS.cutter-lock/pid 2>/dev/null || :); \
     if [ -n \"$h\" ] && [ ! -d \"/proc/$h\" ] && [ $(( $(date +%s) - $(stat -c %Y ./.SHA256SUMS.cutter-lock 2>/dev/null || date +%s) )) -ge 10 ]; then rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir ./.SHA256SUMS.cutter-lock 2>/dev/null || :; echo \"removed a stale SHA256SUMS lock of process $h\" >&2; continue; fi; \
     i=$((i+1)); [ $i -lt 600 ] || { echo \"SHA256SUMS in $cutter_dir is locked (./.SHA256SUMS.cutter-lock, process ${h:-unknown}) for over 60s\" >&2; exit 6; }; sleep 0.1; done; \
     echo $$ > ./.SHA256SUMS.cutter-lock/pid; locked=1"
        .into()
}

fn sums_unlock() -> String {
    "rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir -- ./.SHA256SUMS.cutter-lock; locked=".into()
}

/// Escape a name for a `SHA256SUMS` line as coreutils does; the flag says
/// whether the line needs a leading backslash.
pub fn sums_name(name: &str) -> (String, bool) {
    let escaped = name.contains('\\') || name.contains('\n') || name.contains('\r');
    (
        name.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
        escaped,
    )
}

/// Rewrite `SHA256SUMS` (under its lock): drop lines for `drop` names and
/// lines of files that are gone, so `sha256sum -c` keeps passing; then add
/// this file's line when `add` is set (`$sha` holds the hash).
fn sums_rewrite(name: &str, add: bool) -> String {
    let (sum_name, escaped) = sums_name(name);
    let q_sum_name = quote(&sum_name);
    let h = "?".repeat(64);
    format!(
        "{{ if [ -f ./SHA256SUMS ]; then sums=$(cat ./SHA256SUMS); set -f; ifs=$IFS; IFS=$cutter_nl; for l in $sums; do IFS=$ifs; \
         case \"$l\" in \\\\*) e=${{l#?}}; n=${{e#{h}  }};; *) e=; n=${{l#{h}  }}; [ \"$n\" != \"$l\" ] || n=${{l#{h} \\*}};; esac; \
         [ \"$n\" != {q_sum_name} ] || continue; \
         [ -n \"$e\" ] || [ -e \"./$n\" ] || continue; \
         printf '%s\\n' \"$l\"; done; IFS=$ifs; set +f; fi; \
         {add_line} }} > {tmp} && mv -f -- {tmp} ./SHA256SUMS",
        add_line = if add {
            format!(
                "printf '{}%s  %s\\n' \"$sha\" {q_sum_name};",
                if escaped { "\\\\" } else { "" }
            )
        } else {
            ":;".into()
        },
        tmp = here(&format!(".SHA256SUMS.{name}.cutter-tmp")),
    )
}

/// Produce an artefact atomically in its folder: temporary name, checks,
/// checksum, manifest, rename, then its line in `SHA256SUMS`. A file being
/// replaced (corrupted, stale) is first moved aside to a quarantine name
/// outside `SHA256SUMS`, with its evidence, so the folder stays verifiable.
pub fn artefact(
    plan: &Plan,
    a: &Artefact,
    exec: &Exec,
    now: DateTime<Utc>,
    nonce: &str,
    quarantine: Option<&str>,
) -> Script {
    let path = a.path.render(now);
    let (dir, name) = split_path(&path);
    let tmp = format!(".{name}.cutter-tmp");
    let err_tmp = format!(".{name}.cutter-stderr");
    let (q_tmp, q_err, q_name) = (here(&tmp), here(&err_tmp), here(name));
    let q_verifier = quote(&format!("{VERIFY_PREFIX}{nonce}"));
    let q_verr = here(&format!(".{name}.cutter-verifier-err"));
    let producer_json = serde_json::to_value(&a.producer).unwrap_or_default();
    let manifest = serde_json::json!({
        "cutter": env!("CARGO_PKG_VERSION"),
        "artefact": a.name,
        "plan": std::fs::canonicalize(&plan.file).unwrap_or(plan.file.clone()).display().to_string(),
        "plan_sha256": plan.sha256,
        "path": path,
        "taken_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "producer": producer_json,
        "container": a.place.container_ref(),
        "container_id": match exec { Exec::External { id, .. } => Some(id.clone()), _ => None },
    });
    let manifest = manifest.to_string();
    let static_part = manifest[..manifest.len() - 1]
        .replace('\\', "\\\\")
        .replace('%', "%%");
    let manifest_fmt = format!(
        "{static_part},\"sha256\":\"%s\",\"size\":%s,\"toc_entries\":%s,\"inode\":%s,\"lines\":%s,\"versions\":\"%s\"}}\\n"
    );

    let mut s = Script {
        progress_file: Some(format!("{dir}/{tmp}")),
        ..Script::default()
    };
    // On failure, the command's own stderr (pg_dump's error, docker's
    // refusal) is the cause: show its last lines before the file goes.
    s.setup.push(ENTER_FN.into());
    s.setup.push(format!(
        "locked=; entered=; verifier=; cleanup() {{ rc=$?; if [ -n \"$verifier\" ]; then wait \"$verifier\" 2>/dev/null || :; docker rm -f {q_verifier} > /dev/null 2>&1 || :; fi; if [ -n \"$entered\" ]; then {}rm -f -- {q_tmp} {q_err} {q_verr} {} {} {}; if [ -n \"$locked\" ]; then rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir -- ./.SHA256SUMS.cutter-lock 2>/dev/null || :; fi; fi; }}; trap cleanup EXIT; trap 'exit 130' INT TERM HUP",
        STDERR_ON_FAILURE.replace("{q_err}", &q_err),
        here(&format!(".SHA256SUMS.{name}.cutter-tmp")),
        here(&format!(".{name}.cutter.json.cutter-tmp")),
        here(&format!(".{name}.cutter-verified.tmp")),
    ));
    if let Some(l) = exec.lookup() {
        s.commands.push(l);
    }
    s.commands.push(enter(dir, &plan.hosts[&a.host].protected));
    s.commands.push("entered=1".into());
    let make = producer(a, exec, nonce, &mut s);
    let archive = matches!(&a.producer, Producer::PgDump(d) if d.format.is_archive());
    if archive {
        // The throw-away container that checks the archive with
        // `pg_restore --list` (never production) starts while the dump
        // runs: production's image, no network, read-only, labelled. It is
        // addressed by its name, which holds the step's nonce: `docker run`
        // fails if the name is taken, so after it succeeded the name is this
        // container (nothing read back from the folder names it).
        let image = match exec {
            Exec::External { image_id, .. } => quote(image_id),
            _ => "\"$(docker inspect -f '{{.Image}}' \"$cid\")\"".into(),
        };
        s.commands.push(format!(
            "docker run -d --rm --network none --read-only --name {q_verifier} --label {} --label cutter.role=verify --entrypoint sleep {image} {} > /dev/null 2> {q_verr} & verifier=$!",
            quote(&format!("{MANAGED_LABEL}=true")),
            a.timeout.as_secs().max(1),
        ));
    }
    s.commands.push(format!("{make} > {q_tmp} 2> {q_err}"));
    if let Some(min) = a.min_size {
        s.commands.push(format!(
            "size=$(stat -c %s -- {q_tmp}); [ \"$size\" -ge {min} ] || {{ echo \"output is $size bytes, below min_size {min}\" >&2; exit 3; }}"
        ));
    }
    s.commands.push("toc=null; dumped=".into());
    match (&a.producer, &a.verify) {
        (Producer::Command { .. }, Some(verify)) => {
            let run = match exec {
                Exec::Host => format!("sh -c {}", quote(verify)),
                _ => format!(
                    "docker exec -i {} timeout -k 10 {} sh -c {}",
                    exec.word(),
                    a.timeout.as_secs().max(1),
                    quote(verify)
                ),
            };
            s.commands.push(format!(
                "{run} < {q_tmp} > /dev/null || {{ echo {} >&2; exit 4; }}",
                quote(&format!("format check `{verify}` rejected the output"))
            ));
        }
        (Producer::PgDump(d), _) if d.format.is_archive() => {
            s.commands.push(format!(
                "v=$verifier; verifier=; wait \"$v\" || {{ echo 'cannot start the throw-away container for the format check:' >&2; cat {q_verr} >&2; docker rm -f {q_verifier} > /dev/null 2>&1; exit 4; }}; verifier=$v; rm -f -- {q_verr}"
            ));
            s.commands.push(format!(
                "list=$(docker exec -i {q_verifier} timeout -k 10 {} pg_restore --list < {q_tmp}) || {{ echo 'format check `pg_restore --list` (in a throw-away container) rejected the dump' >&2; exit 4; }}; verifier=; docker rm -f {q_verifier} > /dev/null 2>&1 & remover=$!; toc=$(printf '%s\n' \"$list\" | grep -c -v -e '^;' -e '^$' || :); dumped=$(printf '%s\n' \"$list\" | sed -n -e 's/^;[[:space:]]*Dumped from database version: */server /p' -e 's/^;[[:space:]]*Dumped by pg_dump version: */pg_dump /p' | tr '\n' ' ')",
                a.timeout.as_secs().max(1),
            ));
        }
        _ => {}
    }
    // Hashed once, right after it is written (from the page cache), with
    // openssl where the host has it: it uses the CPU's SHA instructions and
    // is several times faster than coreutils. (Hashing through a FIFO while
    // writing measured slower here: the extra pipe copies cost more than
    // the cached read.)
    s.commands.push(format!(
        "sha=$(if command -v openssl > /dev/null 2>&1; then openssl dgst -sha256 -r < {q_tmp}; else sha256sum < {q_tmp}; fi); sha=${{sha%% *}}; size=$(stat -c %s -- {q_tmp}); [ ${{#sha}} -eq 64 ] || {{ echo 'cannot hash the output' >&2; exit 1; }}"
    ));
    if let Some(old) = quarantine {
        // Moved aside in its own folder, under its own lock: its line leaves
        // SHA256SUMS with it, so `sha256sum -c` passes again.
        let (old_dir, old_name) = split_path(old);
        let q_old = here(old_name);
        let q_old_rec = here(&format!(".{old_name}.cutter-verified"));
        s.commands.push(format!(
            "( {}; {}; q=$(date -u +%Y%m%dT%H%M%SZ); for f in {q_old} {q_old}.*.json {q_old_rec}; do [ ! -e \"$f\" ] || mv -f -- \"$f\" \"./.cutter-quarantine.$q.${{f#./}}\"; done; {}; {}; printf '{}%s/.cutter-quarantine.%s.%s\\n' \"$cutter_dir\" \"$q\" {} )",
            enter(old_dir, &plan.hosts[&a.host].protected),
            sums_lock(),
            sums_rewrite(old_name, false),
            sums_unlock(),
            Key::Quarantined.prefix(),
            quote(old_name),
        ));
    }
    let json_tmp = here(&format!(".{name}.cutter.json.cutter-tmp"));
    s.commands.push(format!(
        "lines=null; [ \"$size\" -gt 67108864 ] || lines=$(wc -l < {q_tmp}); printf {} \"$sha\" \"$size\" \"$toc\" \"$(stat -c %i -- {q_tmp})\" \"$lines\" \"${{dumped% }}\" > {json_tmp} && mv -f -- {json_tmp} {}",
        quote(&manifest_fmt),
        here(&format!("{name}.cutter.json"))
    ));
    s.commands.push(format!("mv -f -- {q_tmp} {q_name}"));
    // Metadata after the rename: later observations trust `$sha` while it
    // is unchanged, instead of reading the file again.
    s.commands.push(crate::observe::record_verified(name));
    if archive {
        // The check container's removal ran meanwhile; the step ends after it.
        s.commands.push("wait \"$remover\" || :".into());
    }
    match &a.stderr {
        Some(f) => s.commands.push(format!("mv -f -- {q_err} {}", here(f))),
        None => s.commands.push(format!("rm -f -- {q_err}")),
    }
    s.bookkeeping.push(sums_lock());
    s.bookkeeping.push(sums_rewrite(name, true));
    s.bookkeeping.push(sums_unlock());
    s.bookkeeping.push(printf(&[
        (Key::Path, &quote(&path)),
        (Key::Sha256, "\"$sha\""),
        (Key::Size, "\"$size\""),
        (Key::TocEntries, "\"$toc\""),
        (Key::Lines, "\"$lines\""),
        (Key::Versions, "\"${dumped% }\""),
    ]));
    s
}

/// Labels cutter puts on what it creates.
fn labels(plan: &Plan, c: &Container) -> String {
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
fn own_ids(var: &str, docker_name: &str) -> String {
    format!(
        "{var}=$(docker ps -aq --no-trunc --filter {} --filter {})",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(&format!("name=^/{}$", regex::escape(docker_name)))
    )
}

/// Remove cutter's own container called like `c` and its volume, found by
/// exact name and the managed label (never anything else).
fn remove_own(c: &Container) -> [String; 2] {
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
fn own_volume_test(name: &str) -> String {
    format!(
        "docker volume ls -q --filter {} | grep -qxF -- {}",
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(name)
    )
}

/// `var=` the full ID of cutter's own network `name` (exact name), or empty.
fn own_network_id(var: &str, name: &str) -> String {
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
            s.setup.push(
                "envfile=$(umask 077 && mktemp); trap 'rm -f -- \"$envfile\" ${rerr:+\"$rerr\"}' EXIT; cat > \"$envfile\""
                    .into(),
            );
            run.push_str(" --env-file \"$envfile\"");
            s.masked = secrets.iter().map(|(k, _)| k.clone()).collect();
            let mut input = String::new();
            for (k, v) in &secrets {
                input.push_str(&format!("{k}={}\n", v.replace('\n', "")));
            }
            s.stdin = Some(input.into_bytes());
        }
        run.push_str(&format!(" {})", quote(&c.image)));
        s.commands.push(run);
        if !secrets.is_empty() {
            s.commands.push("rm -f -- \"$envfile\"".into());
        }
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
        s.setup
            .push("rerr=$(mktemp); trap 'rm -f -- \"$rerr\" ${envfile:+\"$envfile\"}' EXIT".into());
        s.commands
            .push(format!("docker cp -- {} \"$cid:{inside}\"", quote(file),));
        s.commands.push(format!(
            "rc=0; docker exec \"$cid\" timeout -k 10 {} sh -c {} sh {inside} {marker} > /dev/null 2> \"$rerr\" || rc=$?",
            c.timeout.as_secs().max(1),
            quote(&format!("{} \"$1\"", r.command))
        ));
        s.commands
            .push(format!("docker exec \"$cid\" rm -f {inside}"));
        s.commands.push(printf(&[
            (Key::RestoreExit, "\"$rc\""),
            (Key::RestoreStderr, "\"$(base64 -w0 < \"$rerr\")\""),
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

/// Write evidence JSON (given on stdin) beside an artefact.
pub fn write_evidence(plan: &Plan, host: &str, artefact_path: &str, c: &Container) -> Script {
    let (dir, name) = split_path(artefact_path);
    let target = format!("{name}.{}", c.evidence_name());
    let mut s = Script::default();
    s.setup.push(ENTER_FN.into());
    s.commands.push(enter(dir, &plan.hosts[host].protected));
    s.commands.push(format!(
        "cat > {} && mv -f -- {} {}",
        here(&format!(".{target}.cutter-tmp")),
        here(&format!(".{target}.cutter-tmp")),
        here(&target)
    ));
    s
}

pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL counting rows of `schema.table` names, one `schema|table|count`
/// line each; checked like any other SQL before it is used.
pub fn rowcount_sql(tables: &[String]) -> String {
    let text = tables
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
        .join(" UNION ALL ");
    match crate::plan::readonly::read_only(&text) {
        Ok(sql) => sql.as_str().to_string(),
        // Table names cutter quoted itself always parse; if not, run nothing.
        Err(_) => "SELECT NULL WHERE false".into(),
    }
}

/// Run `command` and print its output as the free-text result `key`.
fn b64(key: Key, command: &str) -> String {
    format!(
        "out=$({command}); {}",
        printf(&[(key, "\"$(printf '%s' \"$out\" | base64 -w0)\"")])
    )
}

/// Run a check's queries; the comparison happens locally.
pub fn check(
    k: &Check,
    exec: &Exec,
    other: Option<&Exec>,
    snapshot_file: Option<&str>,
    nonce: &str,
) -> Script {
    let mut s = Script::default();
    if let Some(l) = exec.lookup() {
        s.commands.push(l);
    }
    let run = |s: &mut Script, exec: &Exec, sql: &str, sep: Option<&str>| {
        let read_only = true;
        let argv = psql_argv(&k.user, &k.database, sql, sep, nonce, read_only, k.timeout);
        typed(exec, &argv, k.timeout, s)
    };
    match &k.kind {
        CheckKind::Equals { sql, .. } => {
            let cmd = run(&mut s, exec, sql.as_str(), None);
            s.commands.push(b64(Key::Result, &cmd));
        }
        CheckKind::SameAs { sql, .. } => {
            let cmd = run(&mut s, exec, sql.as_str(), None);
            s.commands.push(b64(Key::Result, &cmd));
            let other = other.unwrap_or(&Exec::Host);
            if let Exec::Own { docker_name } = other {
                s.commands.push(own_lookup("cid", docker_name));
            }
            let cmd = run(&mut s, other, sql.as_str(), None);
            s.commands.push(b64(Key::Other, &cmd));
        }
        CheckKind::Rowcounts { tables, .. } => {
            let file = snapshot_file.unwrap_or("/nonexistent");
            s.commands
                .push(b64(Key::Snapshot, &format!("cat -- {}", quote(file))));
            let cmd = run(&mut s, exec, &rowcount_sql(tables), Some("|"));
            s.commands.push(b64(Key::Result, &cmd));
        }
    }
    s
}

/// Separates the parts of [`protected_state`]'s output.
pub const STATE_SEPARATOR: &str = "--cutter-protected--";

/// Read the state of protected containers, volumes and networks.
pub fn protected_state(p: &Protected) -> Script {
    let mut s = Script::default();
    s.commands.push(format!(
        "ids=$(docker ps -aq --no-trunc); if [ -n \"$ids\" ]; then docker inspect --format {} $ids 2>/dev/null || :; fi",
        quote(crate::observe::CONTAINER_FORMAT)
    ));
    for (what, names) in [("volume", &p.volumes), ("network", &p.networks)] {
        let names: Vec<String> = names.iter().map(|n| quote(n)).collect();
        s.commands.push(format!(
            "echo {STATE_SEPARATOR}; {}",
            if names.is_empty() {
                "echo '[]'".to_string()
            } else {
                format!(
                    "docker {what} inspect -- {} 2>/dev/null || :",
                    names.join(" ")
                )
            }
        ));
    }
    s
}

/// Hash the schema of a database (`pg_dump --schema-only`), read-only.
pub fn schema_hash(
    exec: &Exec,
    user: &str,
    database: &str,
    nonce: &str,
    timeout: Duration,
) -> Script {
    let mut s = Script::default();
    if let Some(l) = exec.lookup() {
        s.commands.push(l);
    }
    let d = PgDump {
        user: user.into(),
        database: database.into(),
        format: DumpFormat::Plain,
        compress: None,
        schema_only: true,
        tables: Vec::new(),
        exclude_tables: Vec::new(),
        schemas: Vec::new(),
        exclude_schemas: Vec::new(),
    };
    let argv = pg_dump_argv(&d, nonce, matches!(exec, Exec::External { .. }));
    let cmd = typed(exec, &argv, timeout, &mut s);
    s.commands.push(format!(
        "schema=$({cmd}); printf '%s\\n' \"$schema\" | grep -v -e '^\\\\restrict ' -e '^\\\\unrestrict ' | sha256sum"
    ));
    s
}

/// A query of a check as typed value, for the report.
pub fn describe_query(q: &PgQuery) -> String {
    format!(
        "psql as `{}` on `{}`: {}",
        q.user,
        q.database,
        q.sql.as_str()
    )
}

/// Retention: delete older files cutter made, each with its manifest,
/// evidence and verification record, in its own folder under the protected
/// paths check and the folder's SHA256SUMS lock, dropping their lines so the
/// folder stays verifiable.
pub fn prune(plan: &Plan, a: &Artefact, files: &[String]) -> Script {
    let mut s = Script::default();
    s.setup.push(ENTER_FN.into());
    for f in files {
        let (dir, name) = split_path(f);
        let q = here(name);
        s.commands.push(format!(
            "( {}; {}; [ -f {q}.cutter.json ] || {{ echo {} >&2; exit 7; }}; rm -f -- {q} {q}.*.json {}; {}; {} )",
            enter(dir, &plan.hosts[&a.host].protected),
            sums_lock(),
            quote(&format!("`{f}` has no cutter manifest any more: not deleting it")),
            here(&format!(".{name}.cutter-verified")),
            sums_rewrite(name, false),
            sums_unlock(),
        ));
    }
    s
}
