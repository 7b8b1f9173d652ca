//! Proving SQL read-only before it may reach a database cutter does not own.
//!
//! The text is parsed with a PostgreSQL grammar (`sqlparser`'s PostgreSQL
//! dialect) and accepted only when the whole tree is made of parts known to
//! read: one query (a `WITH` of queries included), no `INTO`, no locking
//! clause, no data-modifying `WITH`, every function call on an allow-list of
//! side-effect-free functions (names compared after the parser has resolved
//! quoting), every cast to a built-in type (array element types included),
//! no relation or function that holds credentials, server files or other
//! sessions' SQL ([`lists`]). Anything the walk does not know is refused.
//!
//! Where the parser and PostgreSQL could read the text differently, the text
//! is refused ([`tokens`]): dollar-quote tags PostgreSQL does not accept, and
//! identifiers PostgreSQL would silently truncate.
//!
//! What is sent to the server is the parser's own rendering of the accepted
//! tree, not the text of the plan, so comments, quoting and dollar-quoting
//! tricks cannot smuggle anything past the check; and in that rendering
//! every function is named `pg_catalog.name` ([`qualify`]), so no overload
//! in another schema can answer. The rendering is parsed again and must give
//! the same tree.
//!
//! The rest of the boundary holds at run time: the session is forced into
//! read-only transactions with standard strings and `pg_catalog` first in
//! the search path, by options the query cannot reach.
//!
//! Not proven by the parser: `t.c` where `c` is not a column of `t` is read
//! by PostgreSQL as the call `c(t)`, and only the catalog knows the columns.
//! Such a call can only reach a function taking `t`'s row type; the
//! explicit field notation `(x).f` is refused.

mod lists;
mod qualify;
mod tokens;
mod walk;

#[cfg(test)]
mod tests;

use std::ops::ControlFlow;

use sqlparser::ast::{Statement, Visit, VisitMut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// SQL accepted as read-only, in the form that is sent to the server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ReadOnlySql(String);

impl ReadOnlySql {
    /// The parser's rendering of the accepted statement.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why SQL is not provably read-only: the rule it breaks and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (rule `{}`)", self.detail, self.rule)
    }
}

fn refuse<T>(rule: &'static str, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        rule,
        detail: detail.into(),
    })
}

/// Accept `sql` only when it is provably read-only.
pub fn read_only(sql: &str) -> Result<ReadOnlySql, Refusal> {
    if sql.trim().is_empty() {
        return refuse("sql.empty", "the SQL is empty");
    }
    if sql.contains('\0') {
        return refuse("sql.parse", "the SQL contains a NUL byte");
    }
    tokens::agree_with_postgres(sql)?;
    let mut statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => return refuse("sql.parse", format!("not valid PostgreSQL: {e}")),
    };
    if statements.len() != 1 {
        return refuse(
            "sql.one_statement",
            format!("{} statements: only one query is allowed", statements.len()),
        );
    }
    let statement = statements.remove(0);
    if !matches!(statement, Statement::Query(_)) {
        return refuse(
            "sql.select_only",
            format!(
                "`{}` is not a query: only SELECT (with WITH, UNION, VALUES) is allowed",
                first_words(&statement.to_string())
            ),
        );
    }
    if let ControlFlow::Break(r) = Visit::visit(&statement, &mut walk::Walk) {
        return Err(r);
    }
    render(statement)
}

/// The checked tree as it is sent: functions qualified, rendered, and the
/// rendering parsed back to the same tree.
fn render(mut statement: Statement) -> Result<ReadOnlySql, Refusal> {
    if let ControlFlow::Break(r) = VisitMut::visit(&mut statement, &mut qualify::Qualify) {
        return Err(r);
    }
    let canonical = statement.to_string();
    round_trip(&statement, &canonical)?;
    Ok(ReadOnlySql(canonical))
}

/// The rendering must itself be what was checked: parsed again, it gives
/// the same tree.
fn round_trip(statement: &Statement, canonical: &str) -> Result<(), Refusal> {
    match Parser::parse_sql(&PostgreSqlDialect {}, canonical) {
        Ok(again) if again.len() == 1 && again[0] == *statement => Ok(()),
        _ => refuse(
            "sql.round_trip",
            "the query does not survive a round trip through the parser",
        ),
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A database or user name cutter passes to PostgreSQL tools: letters,
/// digits, `_`, `-`, `.` and `$`, not starting with `-`; never a connection
/// string, a URI or an option.
pub fn pg_identifier(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.len() > 63 {
        return Err("is longer than PostgreSQL's 63-byte limit".into());
    }
    if value.starts_with('-') {
        return Err("starts with `-` and would be read as an option".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$')))
    {
        return Err(format!(
            "contains `{}`: only letters, digits, `_`, `-`, `.` and `$` are allowed (no connection strings)",
            c.escape_default()
        ));
    }
    Ok(())
}
