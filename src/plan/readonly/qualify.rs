//! The accepted tree, rewritten so that every function it calls is named
//! `pg_catalog.name`: with `public` on the search path, an unqualified name
//! could resolve to an overload there that fits the arguments better.
//! Names PostgreSQL's grammar resolves itself stay bare.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CeilFloorKind, DateTimeField, Expr, FunctionArguments, Ident, ObjectName, TableFactor,
    VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::lists::GRAMMAR_FUNCTIONS;
use super::walk::normalised;
use super::{Refusal, refuse};

pub(super) struct Qualify;

impl VisitorMut for Qualify {
    type Break = Refusal;

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<Refusal> {
        to_flow(expr(e))
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<Refusal> {
        to_flow(table_factor(t))
    }
}

fn to_flow(r: Result<(), Refusal>) -> ControlFlow<Refusal> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

fn expr(e: &mut Expr) -> Result<(), Refusal> {
    match e {
        // Without parentheses (`CURRENT_DATE`) a name is a keyword of the
        // grammar, not a call.
        Expr::Function(f) if matches!(f.args, FunctionArguments::List(_)) => {
            f.name = qualified(&f.name)?;
            Ok(())
        }
        // The parser's own nodes for calls PostgreSQL resolves by name:
        // rendered `CEIL(x)` and `SUBSTR(x, 1)` they would be looked up
        // on the search path.
        Expr::Ceil {
            expr: inner,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => {
            *e = parse_expr(&format!("pg_catalog.ceil({inner})"))?;
            Ok(())
        }
        Expr::Floor {
            expr: inner,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => {
            *e = parse_expr(&format!("pg_catalog.floor({inner})"))?;
            Ok(())
        }
        Expr::Substring {
            expr: inner,
            substring_from,
            substring_for,
            special: true,
            shorthand: true,
        } => {
            let args = std::iter::once(inner.to_string())
                .chain(substring_from.iter().map(|x| x.to_string()))
                .chain(substring_for.iter().map(|x| x.to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            *e = parse_expr(&format!("pg_catalog.substr({args})"))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn table_factor(t: &mut TableFactor) -> Result<(), Refusal> {
    match t {
        TableFactor::Table {
            name,
            args: Some(_),
            ..
        }
        | TableFactor::Function { name, .. } => {
            *name = qualified(name)?;
            Ok(())
        }
        // `UNNEST(a)` is a call PostgreSQL resolves by name too.
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality,
        } => {
            let args = array_exprs
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let ordinality = if *with_ordinality {
                " WITH ORDINALITY"
            } else {
                ""
            };
            let alias = alias.as_ref().map(|a| format!(" {a}")).unwrap_or_default();
            let text = format!("pg_catalog.unnest({args}){ordinality}{alias}");
            *t = whole(&text, Parser::parse_table_factor)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `pg_catalog.name`, or the bare name for the grammar's own constructs.
fn qualified(name: &ObjectName) -> Result<ObjectName, Refusal> {
    let n = normalised(name)?;
    if GRAMMAR_FUNCTIONS.contains(&n.as_str()) {
        return Ok(ObjectName::from(vec![Ident::new(n)]));
    }
    let bare = ObjectName::from(vec![Ident::new("pg_catalog"), Ident::new(n.as_str())]);
    // The parser reads a few names as keywords even after `pg_catalog.`
    // (`current_user`): those are quoted, which PostgreSQL reads the same.
    // A name that parses but as something else fails the round trip.
    Ok(if parse_expr(&format!("{bare}()")).is_ok() {
        bare
    } else {
        ObjectName::from(vec![Ident::new("pg_catalog"), Ident::with_quote('"', n)])
    })
}

fn parse_expr(text: &str) -> Result<Expr, Refusal> {
    whole(text, Parser::parse_expr)
}

/// `text` parsed by `part`, which must take all of it.
fn whole<T>(
    text: &str,
    part: impl FnOnce(&mut Parser<'static>) -> Result<T, ParserError>,
) -> Result<T, Refusal> {
    let mut parser = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .or_else(|_| unparsable(text))?;
    match part(&mut parser) {
        Ok(node) if parser.peek_token_ref().token == Token::EOF => Ok(node),
        _ => unparsable(text),
    }
}

fn unparsable<T>(text: &str) -> Result<T, Refusal> {
    refuse(
        "sql.round_trip",
        format!("`{text}`, the query's rewritten form, does not parse"),
    )
}
