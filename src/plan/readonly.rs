//! Proving SQL read-only before it may reach a database cutter does not own.
//!
//! The text is parsed with a PostgreSQL grammar (`sqlparser`'s PostgreSQL
//! dialect) and accepted only when the whole tree is made of parts known to
//! read: one query (a `WITH` of queries included), no `INTO`, no locking
//! clause, no data-modifying `WITH`, every function call on an allow-list of
//! side-effect-free functions (names compared after the parser has resolved
//! quoting), every cast to a built-in type. Anything the walk does not know
//! is refused. What is sent to the server is the parser's own rendering of
//! the accepted tree, not the text of the plan, so comments, quoting and
//! dollar-quoting tricks cannot smuggle anything past the check.
//!
//! The rest of the boundary holds at run time: the session is forced into
//! read-only transactions with standard strings and `pg_catalog` first in
//! the search path, by options the query cannot reach.

use std::ops::ControlFlow;

use sqlparser::ast::{
    DataType, Expr, Function, FunctionArguments, ObjectName, ObjectNamePart, Query, SetExpr,
    Statement, TableFactor, Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Functions that only compute: no writes, no signals, no files, no
/// configuration, no sequences, no locks, no large objects, no network.
const READ_ONLY_FUNCTIONS: &[&str] = &[
    // aggregates
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "variance",
    // window functions
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    // conditionals and comparison
    "coalesce",
    "nullif",
    "greatest",
    "least",
    // strings
    "length",
    "char_length",
    "octet_length",
    "lower",
    "upper",
    "concat",
    "concat_ws",
    "substr",
    "substring",
    "replace",
    "split_part",
    "left",
    "right",
    "lpad",
    "rpad",
    "btrim",
    "ltrim",
    "rtrim",
    "trim",
    "position",
    "strpos",
    "starts_with",
    "format",
    "md5",
    "sha256",
    "encode",
    "quote_ident",
    "quote_literal",
    "regexp_replace",
    "regexp_match",
    "string_to_array",
    "array_to_string",
    "to_char",
    "to_number",
    // numbers
    "abs",
    "round",
    "ceil",
    "ceiling",
    "floor",
    "trunc",
    "mod",
    "div",
    "sign",
    // arrays and json
    "array_length",
    "cardinality",
    "unnest",
    "generate_series",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "to_json",
    "to_jsonb",
    "jsonb_typeof",
    "json_typeof",
    // time (reads the clock only)
    "now",
    "current_date",
    "current_timestamp",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "to_timestamp",
    "make_interval",
    // catalog and sizes (read the catalog, never change it)
    "current_database",
    "current_schema",
    "current_user",
    "session_user",
    "version",
    "pg_database_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_total_relation_size",
    "pg_size_pretty",
    "pg_postmaster_start_time",
    "format_type",
    "obj_description",
    "col_description",
    "has_table_privilege",
];

/// Casts to these named types are to built-in types only.
const BUILT_IN_TYPE_NAMES: &[&str] = &[
    "regclass",
    "regtype",
    "regproc",
    "regnamespace",
    "oid",
    "name",
    "xid",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "jsonb",
    "json",
    "uuid",
    "inet",
    "cidr",
    "bytea",
    "timestamptz",
];

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
    let statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => return refuse("sql.parse", format!("not valid PostgreSQL: {e}")),
    };
    let [statement] = statements.as_slice() else {
        return refuse(
            "sql.one_statement",
            format!("{} statements: only one query is allowed", statements.len()),
        );
    };
    if !matches!(statement, Statement::Query(_)) {
        return refuse(
            "sql.select_only",
            format!(
                "`{}` is not a query: only SELECT (with WITH, UNION, VALUES) is allowed",
                first_words(&statement.to_string())
            ),
        );
    }
    if let ControlFlow::Break(r) = statement.visit(&mut Walk) {
        return Err(r);
    }
    let canonical = statement.to_string();
    // The rendering must itself be what was checked: parse it again.
    match Parser::parse_sql(&PostgreSqlDialect {}, &canonical) {
        Ok(again) if again.len() == 1 && again[0] == *statement => Ok(ReadOnlySql(canonical)),
        _ => refuse(
            "sql.round_trip",
            "the query does not survive a round trip through the parser",
        ),
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

struct Walk;

impl Visitor for Walk {
    type Break = Refusal;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Refusal> {
        let r = (|| {
            if !q.locks.is_empty() {
                return refuse(
                    "sql.locking",
                    "a locking clause (FOR UPDATE/SHARE) takes row locks",
                );
            }
            if q.for_clause.is_some()
                || q.settings.is_some()
                || q.format_clause.is_some()
                || !q.pipe_operators.is_empty()
            {
                return refuse("sql.unknown", "a clause PostgreSQL queries do not have");
            }
            body(&q.body)
        })();
        to_flow(r)
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Refusal> {
        let r = match t {
            TableFactor::Table { name, args, .. } => match args {
                Some(_) => function_name(name),
                None => Ok(()),
            },
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => Ok(()),
            TableFactor::UNNEST { .. } => Ok(()),
            TableFactor::Function { name, .. } => function_name(name),
            TableFactor::TableFunction { expr, .. } => match expr {
                Expr::Function(f) => function_name(&f.name),
                _ => refuse("sql.unknown", "a table function cutter does not know"),
            },
            other => refuse(
                "sql.unknown",
                format!(
                    "`{}` is a FROM item cutter does not know",
                    first_words(&other.to_string())
                ),
            ),
        };
        to_flow(r)
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Refusal> {
        to_flow(expr(e))
    }
}

fn to_flow(r: Result<(), Refusal>) -> ControlFlow<Refusal> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

fn body(b: &SetExpr) -> Result<(), Refusal> {
    match b {
        SetExpr::Select(s) => {
            if s.into.is_some() {
                return refuse("sql.into", "SELECT INTO creates a table");
            }
            Ok(())
        }
        SetExpr::Query(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        SetExpr::SetOperation { left, right, .. } => {
            body(left)?;
            body(right)
        }
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => refuse(
            "sql.data_modifying",
            "a data-modifying statement inside a query (WITH ... INSERT/UPDATE/DELETE/MERGE)",
        ),
    }
}

fn expr(e: &Expr) -> Result<(), Refusal> {
    match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::CompoundFieldAccess { .. }
        | Expr::JsonAccess { .. }
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::AnyOp { .. }
        | Expr::AllOp { .. }
        | Expr::UnaryOp { .. }
        | Expr::AtTimeZone { .. }
        | Expr::Extract { .. }
        | Expr::Ceil { .. }
        | Expr::Floor { .. }
        | Expr::Position { .. }
        | Expr::Substring { .. }
        | Expr::Trim { .. }
        | Expr::Overlay { .. }
        | Expr::Nested(_)
        | Expr::Case { .. }
        | Expr::Exists { .. }
        | Expr::Subquery(_)
        | Expr::GroupingSets(_)
        | Expr::Cube(_)
        | Expr::Rollup(_)
        | Expr::Tuple(_)
        | Expr::Array(_)
        | Expr::Interval(_)
        | Expr::Wildcard(_)
        | Expr::QualifiedWildcard(..) => Ok(()),
        Expr::BinaryOp { op, .. } => match op {
            sqlparser::ast::BinaryOperator::PGCustomBinaryOperator(parts) => refuse(
                "sql.operator",
                format!(
                    "the custom operator `OPERATOR({})` may call anything",
                    parts.join(".")
                ),
            ),
            _ => Ok(()),
        },
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => refuse(
                "sql.placeholder",
                format!("`{p}` is a parameter placeholder: write the value"),
            ),
            _ => Ok(()),
        },
        Expr::Cast { data_type, .. } => data_type_ok(data_type),
        Expr::TypedString(t) => data_type_ok(&t.data_type),
        Expr::Collate { .. } => Ok(()),
        Expr::Function(f) => function(f),
        other => refuse(
            "sql.unknown",
            format!(
                "`{}` is an expression cutter cannot prove read-only",
                first_words(&other.to_string())
            ),
        ),
    }
}

fn data_type_ok(t: &DataType) -> Result<(), Refusal> {
    match t {
        DataType::Custom(name, _) => {
            let n = normalised(name)?;
            if BUILT_IN_TYPE_NAMES.contains(&n.as_str()) {
                Ok(())
            } else {
                refuse(
                    "sql.cast",
                    format!("a cast to `{name}`, which may be a type with functions of its own"),
                )
            }
        }
        _ => Ok(()),
    }
}

fn function(f: &Function) -> Result<(), Refusal> {
    function_name(&f.name)?;
    if let FunctionArguments::Subquery(_) = &f.parameters {
        return refuse("sql.unknown", "function parameters cutter does not know");
    }
    Ok(())
}

/// The name as PostgreSQL resolves it: unquoted parts folded to lower case,
/// at most `pg_catalog.` before it.
fn normalised(name: &ObjectName) -> Result<String, Refusal> {
    let mut parts = Vec::new();
    for p in &name.0 {
        match p {
            ObjectNamePart::Identifier(i) => parts.push(match i.quote_style {
                None => i.value.to_lowercase(),
                Some(_) => i.value.clone(),
            }),
            ObjectNamePart::Function(_) => {
                return refuse("sql.unknown", format!("`{name}` is not a plain name"));
            }
        }
    }
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        [schema, n] if schema == "pg_catalog" => Ok(n.clone()),
        _ => refuse(
            "sql.function",
            format!("`{name}`: only built-in (`pg_catalog`) functions and types are allowed"),
        ),
    }
}

fn function_name(name: &ObjectName) -> Result<(), Refusal> {
    let n = normalised(name)?;
    if READ_ONLY_FUNCTIONS.contains(&n.as_str()) {
        Ok(())
    } else {
        refuse(
            "sql.function",
            format!("`{n}` is not on cutter's list of side-effect-free functions"),
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> String {
        match read_only(sql) {
            Ok(s) => s.as_str().to_string(),
            Err(r) => panic!("refused {sql:?}: {r}"),
        }
    }

    fn rule(sql: &str) -> &'static str {
        match read_only(sql) {
            Ok(s) => panic!("accepted {sql:?} as {}", s.as_str()),
            Err(r) => r.rule,
        }
    }

    #[test]
    fn accepts_the_seed_queries() {
        ok(
            "SELECT schemaname, relname, n_live_tup FROM pg_stat_user_tables ORDER BY schemaname, relname",
        );
        ok(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
        );
        ok(
            "SELECT string_agg(id || ':' || status || ':' || tier || ':' || paired_with, ',' ORDER BY id) FROM dot_tools WHERE id IN (991, 992)",
        );
        ok("WITH t AS (SELECT 1 AS a) SELECT a FROM t UNION ALL SELECT 2");
        ok("select 'drop table x' as note");
        ok("SELECT 'x'::regclass, now() - interval '1 day'");
        ok("SELECT * FROM generate_series(1, 3)");
    }

    #[test]
    fn refuses_what_writes_or_acts() {
        assert_eq!(rule("DROP TABLE dot_tools"), "sql.select_only");
        assert_eq!(rule("select 1; update t set a = 1"), "sql.one_statement");
        assert_eq!(
            rule("SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity"),
            "sql.function"
        );
        assert_eq!(rule("SELECT PG_TERMINATE_BACKEND(1)"), "sql.function");
        assert_eq!(
            rule("SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)"),
            "sql.function"
        );
        assert_eq!(rule("SELECT nextval('s')"), "sql.function");
        assert_eq!(rule("SELECT pg_switch_wal()"), "sql.function");
        assert_eq!(rule("SELECT pg_reload_conf()"), "sql.function");
        assert_eq!(rule("SELECT pg_stat_reset()"), "sql.function");
        assert_eq!(rule("SELECT lo_unlink(1)"), "sql.function");
        assert_eq!(
            rule("SELECT * FROM pg_create_logical_replication_slot('s', 'x')"),
            "sql.function"
        );
        assert_eq!(rule("SELECT public.count(1)"), "sql.function");
        assert_eq!(rule("START TRANSACTION READ WRITE"), "sql.select_only");
        assert_eq!(rule("SELECT * INTO t2 FROM t"), "sql.into");
        assert_eq!(rule("SELECT * FROM t FOR UPDATE"), "sql.locking");
        assert_eq!(
            rule("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
            "sql.data_modifying"
        );
        assert_eq!(rule("SELECT $1"), "sql.placeholder");
        assert_eq!(rule("SELECT 1 /* ; */; DELETE FROM t"), "sql.one_statement");
        assert_eq!(rule("SELECT $$x$$; DROP TABLE t"), "sql.one_statement");
        assert_eq!(rule("\\! rm -rf /"), "sql.parse");
        assert_eq!(
            rule("SET default_transaction_read_only = off"),
            "sql.select_only"
        );
        assert_eq!(rule("SELECT 1 OPERATOR(public.+) 2"), "sql.operator");
        assert_eq!(rule("SELECT 'x'::evil_type"), "sql.cast");
        assert_eq!(rule(""), "sql.empty");
    }

    #[test]
    fn sends_the_parsed_form_not_the_text() {
        let s = ok("select /* hidden */ 1 -- trailing\n");
        assert!(!s.contains("hidden") && !s.contains("trailing"), "{s}");
    }

    #[test]
    fn identifiers() {
        assert!(pg_identifier("directus").is_ok());
        assert!(pg_identifier("dbname=x options=-cdefault_transaction_read_only=off").is_err());
        assert!(pg_identifier("postgres://u@h/db").is_err());
        assert!(pg_identifier("-d").is_err());
        assert!(pg_identifier("").is_err());
    }
}
