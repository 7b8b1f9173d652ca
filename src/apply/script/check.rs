//! Checks and guard readings: queries run read-only, results compared locally.

use super::*;

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
pub(super) fn b64(key: Key, command: &str) -> String {
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
