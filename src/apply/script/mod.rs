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

mod artefact;
mod check;
mod container;

pub use artefact::{artefact, prune, write_evidence};
pub use check::{STATE_SEPARATOR, check, protected_state, rowcount_sql, schema_hash};
pub use container::{container, remove_leftovers, teardown};

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::step_result::{Key, printf, template};
use crate::plan::{
    Artefact, Check, CheckKind, Container, DumpFormat, Lifecycle, MANAGED_LABEL, PLAN_LABEL,
    PgDump, PgQuery, Plan, Producer, Protected,
};
use crate::shell::{join, quote};

/// Session settings forced on every connection cutter makes to a database it
/// does not own. They travel in the connection string, which takes
/// precedence over the environment and service files, and the accepted SQL
/// cannot change them (no `SET`, no `set_config`). The last two end the
/// session when cutter goes away: the server checks every second whether
/// the client is still there, even mid-query (PostgreSQL 14 or newer; an
/// older server refuses the connection rather than run unsupervised), and
/// drops a session idle in a transaction. (`pg_dump` sets its own
/// `statement_timeout` and `idle_in_transaction_session_timeout` to 0, but
/// not the client check.)
pub const READ_ONLY_OPTIONS: &str = "-c default_transaction_read_only=on -c standard_conforming_strings=on -c search_path=pg_catalog,public -c client_connection_check_interval=1s -c idle_in_transaction_session_timeout=60s";

/// The environment variable that marks what a step starts inside cutter's
/// own containers (its value is `cutter-` and the step's nonce, like the marker in arguments).
pub const STEP_ENV: &str = "CUTTER_STEP";

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
    /// Where the step's output grows, for its progress: a folder and a glob
    /// of the temporary's name in it (see `crate::host::temp_glob`).
    pub progress: Option<(String, String)>,
    /// Containers (full IDs, or `$cid` words) where typed operations of this
    /// step run: their processes are ended with the step.
    pub targets: Vec<String>,
    /// cutter's own containers (Docker names) where this step runs
    /// commands: their processes are ended from inside, by marker.
    pub own_targets: Vec<String>,
    /// Operations sent into containers cutter does not own, for the report.
    pub production_ops: Vec<String>,
    /// Run by the supervisor before the step starts anything (recording on
    /// the host that it is in flight); a failure there ends the step.
    pub on_start: String,
    /// Run by the supervisor once the step ended, not when it is
    /// interrupted (so that the in-flight record then stays).
    pub on_end: String,
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
        s.push_str(crate::host::LIB);
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
{own_reap}  docker rm -f {VERIFY_PREFIX}{nonce} > /dev/null 2>&1 || :
  rm -f -- "${{cutter_reg:-/nonexistent}}"
}}
trap 'cutter_reap; exit 129' HUP
trap 'cutter_reap; exit 130' INT
trap 'cutter_reap; exit 143' TERM
{on_start}
{read_input}
cutter_script={body}
# `timeout` ends the step's whole process group at the step's timeout.
if command -v setsid > /dev/null 2>&1; then setsid timeout -k 10 {secs} sh -c "$cutter_script" cutter-step <&4 & else timeout -k 10 {secs} sh -c "$cutter_script" cutter-step <&4 & fi
exec 4<&-
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
rm -f -- "$cutter_reg"
{on_end}
# 127 would read as "no such command" to the SSH layer and lose the output.
[ "$cutter_rc" -ne 127 ] || {{ echo "cutter: a command of the step was not found (exit 127)" >&2; cutter_rc=125; }}
exit $cutter_rc
"#,
            targets = if targets.is_empty() {
                "''".to_string()
            } else {
                targets.join(" ")
            },
            own_reap = own_reap(&self.own_targets, nonce),
            secs = timeout.as_secs().max(1),
            // The step's input (secrets, evidence), read off the connection
            // before the lifeline starts, into a file that is unlinked as
            // soon as it is open: nothing of it rests on the host, whatever
            // happens next. A copy left by a supervisor killed in between
            // (its process ID in the name) is removed by the next step. A
            // step without input reads nothing (no process spent).
            read_input = if input_len == 0 {
                "exec 4< /dev/null".to_string()
            } else {
                format!(
                    "for f in \"${{TMPDIR:-/tmp}}\"/cutter-in.*; do p=${{f##*/cutter-in.}}; p=${{p%%.*}}; case $p in ''|*[!0-9]*) continue;; esac; [ -d \"/proc/$p\" ] || rm -f -- \"$f\" 2>/dev/null || :; done
cutter_in=$(umask 077 && mktemp \"${{TMPDIR:-/tmp}}/cutter-in.$$.XXXXXX\") || exit 1
head -c {input_len} > \"$cutter_in\" && [ \"$(stat -c %s -- \"$cutter_in\")\" = {input_len} ] || {{ rm -f -- \"$cutter_in\"; echo 'cutter: the step input was cut short' >&2; exit 1; }}
exec 4< \"$cutter_in\"; rm -f -- \"$cutter_in\""
                )
            },
            body = quote(&self.body()),
            on_start = self.on_start,
            on_end = self.on_end,
            lock = crate::observe::probe::LOCK_DIR,
        )
    }
}

/// The part of the reaper that ends the step's processes inside cutter's own
/// containers: from inside, as root there (what runs in them may run as
/// root, which a non-root operator cannot signal from the host), by the
/// step's marker in a process's arguments or environment. The scan's own
/// processes carry neither: the nonce reaches it in a variable of another
/// name, and the patterns are built from it at run time.
fn own_reap(names: &[String], nonce: &str) -> String {
    if names.is_empty() {
        return String::new();
    }
    let inside = format!(
        "k() {{ for d in /proc/[0-9]*; do p=${{d#/proc/}}; [ \"$p\" != \"$$\" ] || continue; \
         if tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qxF \"{STEP_ENV}=cutter-$cutter_m\" || tr '\\0' ' ' < \"$d/cmdline\" 2>/dev/null | grep -qF \"application_name=cutter-$cutter_m\"; \
         then kill -\"$1\" \"$p\" 2>/dev/null; fi; done; }}; k TERM; sleep 1; k KILL"
    );
    let filters: Vec<String> = names
        .iter()
        .map(|n| quote(&format!("name=^/{}$", regex::escape(n))))
        .collect();
    format!(
        "  for f in {}; do\n    for cid in $(docker ps -q --no-trunc --filter {} --filter \"$f\" 2>/dev/null); do\n      docker exec -u 0 -e cutter_m={nonce} \"$cid\" sh -c {} > /dev/null 2>&1 || :\n    done\n  done\n",
        filters.join(" "),
        quote(&format!("label={MANAGED_LABEL}=true")),
        quote(&inside)
    )
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

fn typed(exec: &Exec, argv: &[String], timeout: Duration, s: &mut Script) -> String {
    if let Exec::Own { docker_name } = exec
        && !s.own_targets.contains(docker_name)
    {
        s.own_targets.push(docker_name.clone());
    }
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

fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('/')
        .map(|(d, n)| (if d.is_empty() { "/" } else { d }, n))
        .unwrap_or(("/", path))
}

pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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
