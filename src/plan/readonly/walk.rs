//! The walk over the parsed tree: every node must be one known to read.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CeilFloorKind, DataType, DateTimeField, Expr,
    Function, FunctionArguments, ObjectName, ObjectNamePart, Query, SetExpr, TableAlias,
    TableFactor, Value, Visitor,
};

use super::lists::{BUILT_IN_TYPE_NAMES, READ_ONLY_FUNCTIONS, secret_function, secret_relation};
use super::{Refusal, first_words, refuse};

pub(super) struct Walk;

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

    /// Every relation named in a FROM item, wherever the item is: joins,
    /// subqueries, CTEs, LATERAL.
    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<Refusal> {
        to_flow(relation(name))
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Refusal> {
        let r = match t {
            TableFactor::Table {
                name, args, alias, ..
            } => match args {
                Some(_) => function_name(name).and_then(|()| alias_types(alias)),
                None => Ok(()),
            },
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => Ok(()),
            TableFactor::UNNEST { alias, .. } => alias_types(alias),
            TableFactor::Function { name, alias, .. } => {
                function_name(name).and_then(|()| alias_types(alias))
            }
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
        // `TABLE name` reads a relation the visitor does not see as one.
        SetExpr::Table(t) => match &t.table_name {
            Some(name) => secret(&name.value),
            None => Ok(()),
        },
        SetExpr::Query(_) | SetExpr::Values(_) => Ok(()),
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
        // `ceil(x)`, not `CEIL(x TO DAY)` nor a scale: the form PostgreSQL has.
        Expr::Ceil { field, .. } | Expr::Floor { field, .. } => match field {
            CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) => Ok(()),
            _ => refuse(
                "sql.unknown",
                format!(
                    "`{}` is an expression cutter cannot prove read-only",
                    first_words(&e.to_string())
                ),
            ),
        },
        // Subscripts read an array; `(x).f` may call the function `f(x)`.
        Expr::CompoundFieldAccess { access_chain, .. } => {
            match access_chain
                .iter()
                .find(|a| matches!(a, AccessExpr::Dot(_)))
            {
                Some(_) => refuse(
                    "sql.field_notation",
                    format!(
                        "`{e}` uses field notation, which may call a function the allow-list does not see"
                    ),
                ),
                None => Ok(()),
            }
        }
        Expr::BinaryOp { op, .. } => match op {
            BinaryOperator::PGCustomBinaryOperator(parts) => refuse(
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

/// Column types declared for a function in FROM (`AS t(a evil_type)`) are
/// casts too.
fn alias_types(alias: &Option<TableAlias>) -> Result<(), Refusal> {
    alias
        .iter()
        .flat_map(|a| &a.columns)
        .filter_map(|c| c.data_type.as_ref())
        .try_for_each(data_type_ok)
}

/// A type PostgreSQL itself defines, at every level of an array: a user
/// type brings input and output functions of its own.
fn data_type_ok(t: &DataType) -> Result<(), Refusal> {
    match t {
        DataType::Custom(name, _) => match normalised(name) {
            Ok(n) if BUILT_IN_TYPE_NAMES.contains(&n.as_str()) => Ok(()),
            _ => refuse(
                "sql.cast",
                format!("a cast to `{name}`, which may be a type with functions of its own"),
            ),
        },
        DataType::Array(element) => match element {
            ArrayElemTypeDef::None => Ok(()),
            ArrayElemTypeDef::SquareBracket(t, _)
            | ArrayElemTypeDef::AngleBracket(t)
            | ArrayElemTypeDef::Parenthesis(t)
            | ArrayElemTypeDef::ParenthesisNotNull(t)
            | ArrayElemTypeDef::Qualified(t, _) => data_type_ok(t),
        },
        // The types PostgreSQL's grammar knows, or whose rendered name is
        // a built-in type that `pg_catalog`, first in the path, answers.
        DataType::Character(_)
        | DataType::Char(_)
        | DataType::CharacterVarying(_)
        | DataType::CharVarying(_)
        | DataType::Varchar(_)
        | DataType::Text
        | DataType::Bytea
        | DataType::Uuid
        | DataType::Numeric(_)
        | DataType::Decimal(_)
        | DataType::Dec(_)
        | DataType::Float(_)
        | DataType::Real
        | DataType::DoublePrecision
        | DataType::Float4
        | DataType::Float8
        | DataType::SmallInt(_)
        | DataType::Int(_)
        | DataType::Integer(_)
        | DataType::BigInt(_)
        | DataType::Int2(_)
        | DataType::Int4(_)
        | DataType::Int8(_)
        | DataType::Bool
        | DataType::Boolean
        | DataType::Date
        | DataType::Time(..)
        | DataType::Timestamp(..)
        | DataType::Interval { .. }
        | DataType::JSON
        | DataType::JSONB
        | DataType::Regclass
        | DataType::Bit(_)
        | DataType::BitVarying(_)
        | DataType::VarBit(_)
        | DataType::TsVector
        | DataType::TsQuery
        | DataType::GeometricType(_) => Ok(()),
        // Other dialects' types: their rendered names (`UINT8`, `STRING`)
        // are not PostgreSQL's, so a type of that name in `public` would
        // answer.
        other => refuse(
            "sql.cast",
            format!("a cast to `{other}`, which is not a PostgreSQL built-in type"),
        ),
    }
}

fn function(f: &Function) -> Result<(), Refusal> {
    function_name(&f.name)?;
    if let FunctionArguments::Subquery(_) = &f.parameters {
        return refuse("sql.unknown", "function parameters cutter does not know");
    }
    Ok(())
}

/// The parts of a name as PostgreSQL resolves them: unquoted parts folded
/// to lower case, quoted parts kept.
fn parts(name: &ObjectName) -> Result<Vec<String>, Refusal> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(match i.quote_style {
                None => i.value.to_lowercase(),
                Some(_) => i.value.clone(),
            }),
            ObjectNamePart::Function(_) => {
                refuse("sql.unknown", format!("`{name}` is not a plain name"))
            }
        })
        .collect()
}

/// The name of a built-in function or type: at most `pg_catalog.` before it.
pub(super) fn normalised(name: &ObjectName) -> Result<String, Refusal> {
    match parts(name)?.as_slice() {
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
    if let Some(why) = secret_function(&n) {
        return refuse("sql.secret", format!("`{n}` {why}"));
    }
    if READ_ONLY_FUNCTIONS.contains(&n.as_str()) {
        Ok(())
    } else {
        refuse(
            "sql.function",
            format!("`{n}` is not on cutter's list of side-effect-free functions"),
        )
    }
}

/// A relation in FROM: refused when its last name part, in any case, is a
/// relation that holds secrets, in whatever schema.
fn relation(name: &ObjectName) -> Result<(), Refusal> {
    match parts(name)?.last() {
        Some(last) => secret(last),
        None => Ok(()),
    }
}

fn secret(name: &str) -> Result<(), Refusal> {
    let folded = name.to_lowercase();
    match secret_relation(&folded) {
        Some(why) => refuse(
            "sql.secret",
            format!("the query reads `{folded}`, which {why}"),
        ),
        None => Ok(()),
    }
}
