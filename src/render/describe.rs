//! What a step does, in the words an operator reviews: what is made, from
//! where, to which path, in which format. The exact commands are in
//! [`super::ChangeView::commands`] (shown with `--verbose` and in JSON);
//! these lines are built from the same plan, not parsed back from them.

use serde::{Deserialize, Serialize};

use crate::plan::{Artefact, Check, CheckKind, Container, GuardKind, Lifecycle, Protected};

/// One line of a step's description: a short verb and what it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub label: String,
    pub text: String,
}

fn detail(label: &str, text: impl Into<String>) -> Detail {
    Detail {
        label: label.into(),
        text: text.into(),
    }
}

fn code(text: &str) -> String {
    format!("`{text}`")
}

/// Where a command runs, as a phrase: `in container `x` (...)` or `on the host`.
fn place(container: Option<&str>, protected: bool) -> String {
    match (container, protected) {
        (Some(c), true) => format!("in container {} (protected: read-only session)", code(c)),
        (Some(c), false) => format!("in container {}", code(c)),
        (None, _) => "on the host".into(),
    }
}

pub fn artefact(a: &Artefact, path: &str) -> Vec<Detail> {
    let mut out = vec![detail("writes", code(path))];
    let (producer, format) = match describe_command(&a.command) {
        Some((what, format)) => (what, Some(format)),
        None => (code(&a.command), None),
    };
    out.push(detail(
        "from",
        format!(
            "{producer} {}",
            place(a.container.as_deref(), a.in_protected)
        ),
    ));
    if let Some(f) = format.filter(|f| !f.is_empty()) {
        out.push(detail("format", f));
    }
    let mut checks = Vec::new();
    if let Some(min) = a.min_size {
        checks.push(format!("at least {}", bytesize::ByteSize(min)));
    }
    if let Some(v) = &a.verify {
        checks.push(format!("{} accepts it", code(v)));
    }
    if !checks.is_empty() {
        out.push(detail(
            "checks",
            format!("{} (else no file is kept)", checks.join("; ")),
        ));
    }
    if let Some(e) = &a.stderr {
        out.push(detail("keeps", format!("its error output as {}", code(e))));
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    out.push(detail(
        "records",
        format!(
            "SHA-256 in `SHA256SUMS` and the manifest {} beside it",
            code(&format!("{name}.cutter.json"))
        ),
    ));
    out
}

/// `pg_dump` and `psql` described by their options, as what is read and in
/// which format; `None` for anything else (shown as the command itself).
fn describe_command(command: &str) -> Option<(String, String)> {
    let words = shlex::split(command)?;
    let (program, args) = words.split_first()?;
    match program.as_str() {
        "pg_dump" => {
            let opts = Options::parse(args, PG_DUMP_VALUES);
            let mut parts = vec![format!(
                "pg_dump of database {}",
                code(
                    &opts
                        .take(&["-d", "--dbname"])
                        .or(opts.positional.first().cloned())?
                )
            )];
            if let Some(u) = opts.take(&["-U", "--username"]) {
                parts.push(format!("as {}", code(&u)));
            }
            let format = match opts.take(&["-F", "--format"]).as_deref() {
                Some("c" | "custom") => "custom (for pg_restore)",
                Some("d" | "directory") => "directory",
                Some("t" | "tar") => "tar",
                _ => "plain SQL",
            };
            let mut what = vec![format.to_string()];
            if let Some(z) = opts.take(&["-Z", "--compress"]) {
                what.push(format!("compression {z}"));
            }
            if opts.flag(&["-s", "--schema-only"]) {
                what.push("schema only".into());
            }
            if opts.flag(&["-a", "--data-only"]) {
                what.push("data only".into());
            }
            let tables = opts.all(&["-t", "--table"]);
            if !tables.is_empty() {
                what.push(format!("tables {}", list(&tables)));
            }
            let schemas = opts.all(&["-n", "--schema"]);
            if !schemas.is_empty() {
                what.push(format!("schemas {}", list(&schemas)));
            }
            Some((parts.join(" "), what.join(", ")))
        }
        "psql" => {
            let opts = Options::parse(args, PSQL_VALUES);
            let sql = opts.take(&["-c", "--command"])?;
            let db = opts
                .take(&["-d", "--dbname"])
                .or(opts.positional.first().cloned())?;
            let mut s = format!("psql query {} on database {}", code(&sql), code(&db));
            if let Some(u) = opts.take(&["-U", "--username"]) {
                s.push_str(&format!(" as {}", code(&u)));
            }
            let mut format = Vec::new();
            if opts.flag(&["-t", "--tuples-only"]) {
                format.push("rows only (no header or footer)".to_string());
            }
            if opts.flag(&["-A", "--no-align"]) {
                format.push("unaligned".to_string());
            }
            if let Some(sep) = opts.take(&["-F", "--field-separator"]) {
                format.push(format!("fields separated by {}", code(&sep)));
            }
            if opts.flag(&["--csv"]) {
                format.push("CSV".to_string());
            }
            if format.is_empty() {
                format.push("psql's aligned table".to_string());
            }
            Some((s, format.join(", ")))
        }
        _ => None,
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| code(i)).collect::<Vec<_>>().join(", ")
}

/// Command-line options as `(name, value)` pairs; enough to describe the
/// usual spellings (`-F c`, `-Fc`, `--format=c`, `--format c`).
struct Options {
    pairs: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

/// Options of pg_dump that take a value.
const PG_DUMP_VALUES: &[&str] = &[
    "-d",
    "--dbname",
    "-U",
    "--username",
    "-F",
    "--format",
    "-Z",
    "--compress",
    "-t",
    "--table",
    "-n",
    "--schema",
    "-h",
    "--host",
    "-p",
    "--port",
    "-f",
    "--file",
    "-T",
    "--exclude-table",
    "-N",
    "--exclude-schema",
    "-E",
    "--encoding",
    "-j",
    "--jobs",
];

/// Options of psql that take a value.
const PSQL_VALUES: &[&str] = &[
    "-d",
    "--dbname",
    "-U",
    "--username",
    "-c",
    "--command",
    "-F",
    "--field-separator",
    "-h",
    "--host",
    "-p",
    "--port",
    "-f",
    "--file",
    "-v",
    "--variable",
    "--set",
    "-o",
    "--output",
    "-R",
    "--record-separator",
    "-P",
    "--pset",
    "-L",
    "--log-file",
];

impl Options {
    /// Parse `args`; `with_value` lists the options that take a value.
    fn parse(args: &[String], with_value: &[&str]) -> Options {
        let mut pairs = Vec::new();
        let mut positional = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if let Some(long) = a.strip_prefix("--") {
                match long.split_once('=') {
                    Some((k, v)) => pairs.push((format!("--{k}"), Some(v.to_string()))),
                    None if with_value.contains(&a.as_str()) => {
                        pairs.push((a.clone(), args.get(i).cloned()));
                        i += 1;
                    }
                    None => pairs.push((a.clone(), None)),
                }
            } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
                // Bundled short options: `-tA`, `-Fc`, `-tAF '|'`.
                for (at, c) in short.char_indices() {
                    let flag = format!("-{c}");
                    if with_value.contains(&flag.as_str()) {
                        let rest = &short[at + c.len_utf8()..];
                        let value = if rest.is_empty() {
                            i += 1;
                            args.get(i - 1).cloned()
                        } else {
                            Some(rest.to_string())
                        };
                        pairs.push((flag, value));
                        break;
                    }
                    pairs.push((flag, None));
                }
            } else {
                positional.push(a.clone());
            }
        }
        Options { pairs, positional }
    }

    /// The last value of any of `names`.
    fn take(&self, names: &[&str]) -> Option<String> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .and_then(|(_, v)| v.clone())
    }

    fn all(&self, names: &[&str]) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    fn flag(&self, names: &[&str]) -> bool {
        self.pairs.iter().any(|(k, _)| names.contains(&k.as_str()))
    }
}

/// A container step; `restore_file` is the artefact file it restores.
pub fn container(c: &Container, restore_file: Option<&str>, start_only: bool) -> Vec<Detail> {
    let mut out = Vec::new();
    if start_only {
        out.push(detail(
            "starts",
            format!("the stopped container {}", code(&c.docker_name)),
        ));
    } else {
        let life = match c.lifecycle {
            Lifecycle::Ephemeral => "ephemeral: removed with its volume after its checks",
            Lifecycle::Persistent => "persistent: kept running",
        };
        out.push(detail(
            "runs",
            format!(
                "image {} as container {} ({life})",
                code(&c.image),
                code(&c.docker_name)
            ),
        ));
        if c.lifecycle == Lifecycle::Ephemeral {
            out.push(detail(
                "clears",
                "a leftover of an interrupted test of the same name (cutter's own)",
            ));
        }
        let ports = if c.ports.is_empty() {
            "no published ports".to_string()
        } else {
            format!("publishes {}", list(&c.ports))
        };
        out.push(detail(
            "on",
            format!(
                "network {} (a bridge of cutter's own), volume {} at {}, {ports}",
                code(&c.network),
                code(&c.volume),
                code(&c.mount)
            ),
        ));
        if !c.env.is_empty() {
            let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(detail("env", list(&env)));
        }
        if !c.secrets.is_empty() {
            let names: Vec<String> = c
                .secrets
                .iter()
                .map(|(k, _)| format!("{k}=********"))
                .collect();
            out.push(detail(
                "secrets",
                format!("{} on standard input, read when applied", list(&names)),
            ));
        }
    }
    if let Some(ready) = &c.ready {
        out.push(detail(
            "waits",
            format!("until {} succeeds in it (at most 120 s)", code(ready)),
        ));
    }
    if let (Some(r), false) = (&c.restore, start_only) {
        let file = restore_file.map_or_else(|| format!("artefact `{}`", r.artefact), code);
        let mut text = format!("{file} with {}", code(&r.command));
        if !r.tolerated_errors.is_empty() {
            text.push_str(&format!(", tolerating {}", list(&r.tolerated_errors)));
        }
        out.push(detail("restores", text));
    }
    out
}

pub fn check(k: &Check, snapshot_file: Option<&str>) -> Vec<Detail> {
    let session = format!(
        "in container {} as {} on database {}{}",
        code(&k.container),
        code(&k.user),
        code(&k.database),
        if k.in_protected {
            " (protected: read-only session)"
        } else {
            ""
        }
    );
    match &k.kind {
        CheckKind::Equals { sql, expect } => vec![
            detail("queries", format!("{} {session}", code(sql))),
            detail("expects", code(expect)),
        ],
        CheckKind::SameAs {
            sql,
            other,
            other_protected,
        } => vec![
            detail("queries", format!("{} {session}", code(sql))),
            detail(
                "expects",
                format!(
                    "the same result as in container {}{}",
                    code(other),
                    if *other_protected {
                        " (protected: read-only session)"
                    } else {
                        ""
                    }
                ),
            ),
        ],
        CheckKind::Rowcounts { artefact, tables } => vec![
            detail("counts", format!("rows of {} {session}", list(tables))),
            detail(
                "expects",
                format!(
                    "the counts in {}",
                    snapshot_file.map_or_else(|| format!("artefact `{artefact}`"), code)
                ),
            ),
        ],
    }
}

pub fn teardown(c: &Container, tested_file: Option<&str>) -> Vec<Detail> {
    let mut out = vec![
        detail(
            "removes",
            format!(
                "container {} and its volume {}; network {} when nothing else uses it",
                code(&c.docker_name),
                code(&c.volume),
                code(&c.network)
            ),
        ),
        detail("proves", "neither is left, also when a check failed"),
    ];
    if let Some(f) = tested_file {
        out.push(detail(
            "records",
            format!(
                "the restore test's result beside {f} as {}",
                code(&crate::diff::evidence_name(c))
            ),
        ));
    }
    out
}

pub fn guard(kind: &GuardKind, protected: &Protected, before: bool) -> Vec<Detail> {
    let when = if before { "before" } else { "after" };
    match kind {
        GuardKind::ProtectedUnchanged => {
            let mut what = vec!["containers (id, image, state, restarts)".to_string()];
            if !protected.volumes.is_empty() {
                what.push(format!("volumes {}", list(&protected.volumes)));
            }
            if !protected.networks.is_empty() {
                what.push(format!("networks {}", list(&protected.networks)));
            }
            let mut out = vec![detail(
                "reads",
                format!("the protected {} {when} the apply", what.join(", ")),
            )];
            if !before {
                out.push(detail("expects", "exactly what was read before"));
            }
            out
        }
        GuardKind::SchemaUnchanged {
            container,
            user,
            database,
        } => {
            let mut out = vec![detail(
                "hashes",
                format!(
                    "the schema of database {} in container {} as {} (`pg_dump --schema-only`, read-only) {when} the apply",
                    code(database),
                    code(container),
                    code(user)
                ),
            )];
            if !before {
                out.push(detail("expects", "the same hash as before"));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe_command;

    fn words(command: &str) -> Option<(&'static str, &'static str)> {
        describe_command(command).map(|(a, b)| (&*a.leak(), &*b.leak()))
    }

    #[test]
    fn pg_dump_in_words() {
        assert_eq!(
            words("pg_dump -U directus -d directus -F c -Z 6"),
            Some((
                "pg_dump of database `directus` as `directus`",
                "custom (for pg_restore), compression 6"
            ))
        );
        assert_eq!(
            words("pg_dump -Fc --dbname=app -t a -t b --schema-only"),
            Some((
                "pg_dump of database `app`",
                "custom (for pg_restore), schema only, tables `a`, `b`"
            ))
        );
        assert_eq!(
            words("pg_dump -U app app"),
            Some(("pg_dump of database `app` as `app`", "plain SQL"))
        );
    }

    #[test]
    fn psql_in_words() {
        assert_eq!(
            words("psql -U directus -d directus -tAF '|' -c 'SELECT 1'"),
            Some((
                "psql query `SELECT 1` on database `directus` as `directus`",
                "rows only (no header or footer), unaligned, fields separated by `|`"
            ))
        );
    }

    #[test]
    fn anything_else_is_shown_as_is() {
        assert_eq!(words("echo hi"), None);
        assert_eq!(words("pg_dump"), None, "no database named");
        assert_eq!(words("psql -d app"), None, "no query");
    }
}
