//! Is a command or query safe to run inside a protected (production) container?
//!
//! cutter runs only what it can show to be read-only there: a short list of
//! programs without shell operators, SQL without mutating keywords, and at run
//! time every psql/pg_dump session in a protected container is additionally
//! forced into read-only transactions (`default_transaction_read_only`).

/// Programs that read and never write when given the options allowed below.
const READ_ONLY_PROGRAMS: &[&str] = &[
    "pg_dump",
    "pg_dumpall",
    "psql",
    "pg_restore",
    "pg_isready",
    "cat",
    "ls",
    "sha256sum",
    "stat",
    "head",
    "tail",
    "wc",
    "echo",
    "date",
    "du",
    "df",
    "true",
];

/// Words that start or contain a mutating SQL statement.
const MUTATING_SQL: &[&str] = &[
    "insert",
    "update",
    "delete",
    "merge",
    "drop",
    "alter",
    "create",
    "truncate",
    "grant",
    "revoke",
    "copy",
    "vacuum",
    "analyze",
    "reindex",
    "cluster",
    "comment",
    "lock",
    "set",
    "reset",
    "do",
    "call",
    "refresh",
    "import",
    "security",
    "execute",
    "prepare",
    "notify",
    "listen",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "discard",
    "checkpoint",
    "load",
    "nextval",
    "setval",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "lo_unlink",
    "lo_import",
    "lo_export",
    "pg_read_server_files",
    "pg_write_server_files",
    "dblink_exec",
];

/// Why `command` is not provably read-only, or `None` when it is.
pub fn command_problem(command: &str) -> Option<String> {
    if let Some(op) = shell_operator(command) {
        return Some(format!(
            "uses the shell operator `{}`",
            op.replace('\n', "\\n")
        ));
    }
    let Some(words) = shlex::split(command) else {
        return Some("is not a well-formed shell command".into());
    };
    let Some(program) = words.first() else {
        return Some("is empty".into());
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    if !READ_ONLY_PROGRAMS.contains(&base) {
        return Some(format!(
            "runs `{base}`, which cutter cannot prove read-only (allowed: {})",
            READ_ONLY_PROGRAMS.join(", ")
        ));
    }
    let has = |flags: &[&str]| {
        words.iter().skip(1).find(|w| {
            flags.iter().any(|f| {
                w.as_str() == *f || (f.starts_with("--") && w.starts_with(&format!("{f}=")))
            })
        })
    };
    match base {
        "pg_dump" | "pg_dumpall" => {
            if let Some(f) = has(&["-f", "--file"]) {
                return Some(format!("writes a file inside the container (`{f}`)"));
            }
        }
        "pg_restore" if has(&["-l", "--list"]).is_none() => {
            return Some("`pg_restore` writes unless it only lists (`--list`)".into());
        }
        "psql" => {
            if let Some(f) = has(&["-f", "--file", "-o", "--output", "-L", "--log-file"]) {
                return Some(format!("`psql {f}` reads or writes files"));
            }
            let mut iter = words.iter().skip(1);
            while let Some(w) = iter.next() {
                let sql = if w == "-c" || w == "--command" {
                    iter.next().map(String::as_str)
                } else {
                    w.strip_prefix("--command=")
                };
                if let Some(sql) = sql
                    && let Some(p) = sql_problem(sql)
                {
                    return Some(p);
                }
            }
        }
        _ => {}
    }
    None
}

/// The first shell operator outside quotes (or an expansion inside double quotes).
fn shell_operator(command: &str) -> Option<String> {
    let mut chars = command.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => {}
            (Some('"'), '"') => quote = None,
            (_, '\\') => {
                chars.next();
            }
            (_, '`') => return Some("`".into()),
            (_, '$') if chars.peek() == Some(&'(') => return Some("$(".into()),
            (Some('"'), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '|' | '&' | '>' | '<' | '\n') => return Some(c.to_string()),
            _ => {}
        }
    }
    None
}

/// Why `sql` may write, or `None` when it only reads.
pub fn sql_problem(sql: &str) -> Option<String> {
    if sql.contains('\\') {
        return Some("uses a psql backslash command".into());
    }
    let stripped = strip_literals(sql);
    for word in stripped
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
    {
        let lower = word.to_ascii_lowercase();
        if MUTATING_SQL.contains(&lower.as_str()) {
            return Some(format!("SQL contains `{word}`, which may write"));
        }
    }
    None
}

/// Remove quoted strings, quoted identifiers and comments, so that only SQL
/// keywords remain to be inspected.
fn strip_literals(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_dumps_and_selects() {
        assert_eq!(
            command_problem("pg_dump -U directus -d directus -F c -Z 6"),
            None
        );
        assert_eq!(
            command_problem("pg_dump -U directus -d directus --schema-only"),
            None
        );
        assert_eq!(
            command_problem(
                "psql -U directus -d directus -tAF '|' -c 'SELECT schemaname, relname, n_live_tup FROM pg_stat_user_tables ORDER BY 1, 2'"
            ),
            None
        );
        assert_eq!(
            sql_problem("select count(*) from t where note = 'drop table x'"),
            None
        );
    }

    #[test]
    fn refuses_writes() {
        assert!(
            command_problem("psql -c 'DROP TABLE dot_tools'")
                .unwrap()
                .contains("DROP")
        );
        assert!(command_problem("pg_dump -f /tmp/x").unwrap().contains("-f"));
        assert!(command_problem("pg_restore -d directus /tmp/x").is_some());
        assert!(
            command_problem("rm -rf /var/lib/postgresql")
                .unwrap()
                .contains("`rm`")
        );
        assert!(
            command_problem("pg_dump x; rm -rf /")
                .unwrap()
                .contains(";")
        );
        assert!(command_problem("cat $(rm x)").unwrap().contains("$("));
        assert!(command_problem("cat \"$(rm x)\"").unwrap().contains("$("));
        assert!(command_problem("pg_dump > /tmp/x").unwrap().contains(">"));
        assert_eq!(command_problem("psql -tAF '|' -c 'select 1'"), None);
        assert!(sql_problem("select 1; update t set a = 1").is_some());
        assert!(sql_problem("select nextval('s')").is_some());
        assert!(sql_problem("\\! rm -rf /").is_some());
    }
}
