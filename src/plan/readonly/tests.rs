//! The check, case by case, in the parser's terms.

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

#[track_caller]
fn refused_naming(sql: &str, rule_: &str, names: &str) {
    match read_only(sql) {
        Ok(s) => panic!("accepted {sql:?} as {}", s.as_str()),
        Err(r) => {
            assert_eq!(r.rule, rule_, "{sql}: {r}");
            assert!(r.detail.contains(&format!("`{names}`")), "{sql}: {r}");
        }
    }
}

#[test]
fn identifier_limit_at_its_edge() {
    let at = "a".repeat(63);
    let past = "a".repeat(64);
    assert!(pg_identifier(&at).is_ok());
    assert!(pg_identifier(&past).is_err());
    // In SQL, PostgreSQL would truncate the longer name and run another query.
    ok(&format!("SELECT 1 AS {at}"));
    ok(&format!("SELECT 1 AS \"{at}\""));
    let r = read_only(&format!("SELECT 1 AS {past}")).unwrap_err();
    assert_eq!(r.rule, "sql.identifier");
    assert!(
        r.detail
            .starts_with(&format!("`{}...` is longer", "a".repeat(20))),
        "{r}"
    );
    assert_eq!(rule(&format!("SELECT 1 AS \"{past}\"")), "sql.identifier");
    assert_eq!(
        rule(&format!("SELECT count(*) FROM {past}")),
        "sql.identifier"
    );
}

#[test]
fn refuses_relations_that_hold_secrets_in_every_spelling_and_place() {
    for (name, _) in lists::SECRET_RELATIONS {
        refused_naming(&format!("SELECT * FROM {name}"), "sql.secret", name);
    }
    for sql in [
        "SELECT rolpassword FROM pg_authid",
        "SELECT rolpassword FROM pg_catalog.pg_authid",
        "SELECT rolpassword FROM \"pg_authid\"",
        "SELECT rolpassword FROM pg_catalog.\"pg_authid\"",
        "SELECT rolpassword FROM PG_CATALOG.PG_AUTHID",
        "SELECT rolpassword FROM Pg_AuthId",
        "SELECT rolpassword FROM directus.pg_catalog.pg_authid",
        "SELECT (SELECT rolpassword FROM pg_authid LIMIT 1)",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_authid)",
        "WITH a AS (SELECT * FROM pg_authid) SELECT * FROM a",
        "WITH a AS (TABLE pg_catalog.pg_authid) SELECT 1",
        "SELECT * FROM (TABLE pg_authid) x",
        "SELECT * FROM pg_class c JOIN pg_authid a ON a.oid = c.relowner",
        "SELECT * FROM pg_class c, LATERAL (SELECT * FROM pg_authid a WHERE a.oid = c.relowner) s",
        "SELECT * FROM (pg_class c JOIN pg_authid a ON true)",
        "SELECT 1 UNION ALL SELECT count(*) FROM pg_authid",
    ] {
        refused_naming(sql, "sql.secret", "pg_authid");
    }
    refused_naming("SELECT passwd FROM pg_shadow", "sql.secret", "pg_shadow");
    refused_naming(
        "SELECT query FROM pg_stat_activity",
        "sql.secret",
        "pg_stat_activity",
    );
    // Masked or harmless: readable.
    for sql in [
        "SELECT rolname, rolpassword FROM pg_roles",
        "SELECT usename, passwd FROM pg_user",
        "SELECT groname FROM pg_group",
        "SELECT attname, null_frac FROM pg_stats",
        "SELECT sum(numbackends) FROM pg_stat_database",
        "SELECT count(*) FROM pg_class",
    ] {
        ok(sql);
    }
}

#[test]
fn refuses_functions_that_read_server_files_or_settings() {
    for (name, _) in lists::SECRET_FUNCTIONS {
        refused_naming(&format!("SELECT {name}('x')"), "sql.secret", name);
    }
    for sql in [
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT pg_ls_waldir()",
        "SELECT * FROM pg_catalog.pg_ls_logdir()",
    ] {
        assert_eq!(rule(sql), "sql.secret", "{sql}");
    }
    refused_naming(
        "SELECT * FROM pg_stat_file('postgresql.conf')",
        "sql.secret",
        "pg_stat_file",
    );
    refused_naming(
        "SELECT \"current_setting\"('x')",
        "sql.secret",
        "current_setting",
    );
}

#[test]
fn refuses_dollar_quote_tags_postgres_does_not_accept() {
    assert_eq!(rule("SELECT $1$x$1$"), "sql.dollar_quote");
    assert_eq!(rule("SELECT $9a$x$9a$"), "sql.dollar_quote");
    assert!(read_only("SELECT $1$$ x $$").is_err());
    ok("SELECT $$x$$");
    ok("SELECT $a$x$a$");
    ok("SELECT $_b1$x$_b1$");
    ok("SELECT $tag9$x$tag9$");
    ok("SELECT $é$x$é$");
}

#[test]
fn checks_every_element_type_of_array_casts() {
    for sql in [
        "SELECT '{}'::evil[]",
        "SELECT '{}'::evil[][]",
        "SELECT ARRAY[1]::evil_type[]",
        "SELECT CAST('{}' AS evil[])",
        "SELECT CAST('{}' AS public.evil[])",
        "SELECT 'x'::uint8",
        "SELECT '{}'::uint8[]",
        "SELECT evil_type 'x'",
        "SELECT public.evil_type 'x'",
        "SELECT * FROM generate_series(1, 3) AS g(n evil)",
    ] {
        assert_eq!(rule(sql), "sql.cast", "{sql}");
    }
    for sql in [
        "SELECT '{}'::int4[]",
        "SELECT '{}'::text[][]",
        "SELECT ARRAY[1]::bigint[]",
        "SELECT CAST('{}' AS regclass[])",
        "SELECT '{}'::pg_catalog.int8[]",
        "SELECT date '2020-01-01', timestamptz '2020-01-01', interval '1 day'",
        "SELECT 'x'::varchar(3), 1::numeric(4, 1), 't'::boolean, now()::timestamp with time zone",
        "SELECT * FROM generate_series(1, 3) AS g(n)",
    ] {
        ok(sql);
    }
}

#[test]
fn refuses_field_notation() {
    for sql in [
        "SELECT (x).f FROM t",
        "SELECT (t.x).evil FROM t",
        "SELECT (x).f[1] FROM t",
        "SELECT (pg_stat_file('x')).size",
    ] {
        assert_eq!(rule(sql), "sql.field_notation", "{sql}");
    }
    ok("SELECT x[1], x[1:2] FROM t");
}

#[test]
fn checks_lateral_function_calls() {
    assert_eq!(
        rule("SELECT * FROM t, LATERAL pg_terminate_backend(t.pid)"),
        "sql.function"
    );
    assert_eq!(
        rule("SELECT * FROM t CROSS JOIN LATERAL pg_cancel_backend(t.pid) AS x"),
        "sql.function"
    );
    let s = ok("SELECT * FROM t, LATERAL generate_series(1, t.n)");
    assert!(s.contains("LATERAL pg_catalog.generate_series("), "{s}");
}

#[test]
fn folds_unquoted_names_only() {
    assert_eq!(rule("SELECT \"COUNT\"(1)"), "sql.function");
    assert_eq!(rule("SELECT \"Lower\"('x')"), "sql.function");
    assert_eq!(ok("SELECT \"count\"(1)"), "SELECT pg_catalog.count(1)");
    assert_eq!(ok("SELECT COUNT(1)"), "SELECT pg_catalog.count(1)");
    assert_eq!(
        ok("SELECT PG_CATALOG.Lower('x')"),
        "SELECT pg_catalog.lower('x')"
    );
    assert_eq!(rule("SELECT \"PG_CATALOG\".lower('x')"), "sql.function");
    assert_eq!(rule("SELECT a.pg_catalog.lower('x')"), "sql.function");
}

#[test]
fn refuses_unknown_expressions_and_from_items() {
    for sql in [
        "SELECT 'a' IS NORMALIZED",
        "SELECT ceil(now() TO DAY)",
        "SELECT floor(1.5, 1)",
    ] {
        assert_eq!(rule(sql), "sql.unknown", "{sql}");
    }
    for sql in [
        "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH '.')",
        "SELECT 1 FROM JSON_TABLE('[]', '$' COLUMNS (a int PATH '$'))",
    ] {
        assert_eq!(rule(sql), "sql.unknown", "{sql}");
    }
}

#[test]
fn runs_every_function_from_pg_catalog() {
    assert_eq!(
        ok("select lower(name) from t where length(name) > 1"),
        "SELECT pg_catalog.lower(name) FROM t WHERE pg_catalog.length(name) > 1"
    );
    assert_eq!(
        ok("SELECT ceil(1.5), floor(2.5), substr('abc', 2, 1), substring('abc', 2)"),
        "SELECT pg_catalog.ceil(1.5), pg_catalog.floor(2.5), pg_catalog.substr('abc', 2, 1), SUBSTRING('abc', 2)"
    );
    assert_eq!(
        ok("SELECT * FROM unnest(ARRAY[1, 2]) WITH ORDINALITY AS u(x, n)"),
        "SELECT * FROM pg_catalog.unnest(ARRAY[1, 2]) WITH ORDINALITY AS u (x, n)"
    );
    assert_eq!(
        ok("SELECT * FROM generate_series(1, 2) g"),
        "SELECT * FROM pg_catalog.generate_series(1, 2) g"
    );
    // The grammar's own constructs stay bare, quoted or not.
    assert_eq!(
        ok(
            "SELECT \"coalesce\"(a, 1), NULLIF(a, 1), pg_catalog.greatest(1, 2), least(1, 2) FROM t"
        ),
        "SELECT coalesce(a, 1), nullif(a, 1), greatest(1, 2), least(1, 2) FROM t"
    );
    assert_eq!(
        ok("SELECT current_date, current_user"),
        "SELECT current_date, current_user"
    );
    // Every allowed name, called as a function, renders qualified and
    // survives the round trip.
    for f in lists::READ_ONLY_FUNCTIONS {
        let s = ok(&format!("SELECT \"{f}\"(1)"));
        let expected = if lists::GRAMMAR_FUNCTIONS.contains(f) {
            format!("SELECT {f}(1)")
        } else if ["current_user", "session_user"].contains(f) {
            format!("SELECT pg_catalog.\"{f}\"(1)")
        } else {
            format!("SELECT pg_catalog.{f}(1)")
        };
        assert_eq!(s, expected);
    }
}

#[test]
fn round_trip_refuses_a_rendering_that_parses_differently() {
    let statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1").unwrap();
    assert!(round_trip(&statement[0], "SELECT 1").is_ok());
    assert_eq!(
        round_trip(&statement[0], "SELECT 2").unwrap_err().rule,
        "sql.round_trip"
    );
    assert!(round_trip(&statement[0], "SELECT 1; SELECT 1").is_err());
    assert!(round_trip(&statement[0], "SELECT (").is_err());
}

#[test]
fn refusals_say_what_they_refuse() {
    let r = read_only("DROP TABLE dot_tools").unwrap_err();
    assert_eq!(
        r.detail,
        "`DROP TABLE` is not a query: only SELECT (with WITH, UNION, VALUES) is allowed"
    );
    assert_eq!(
        r.to_string(),
        "`DROP TABLE` is not a query: only SELECT (with WITH, UNION, VALUES) is allowed (rule `sql.select_only`)"
    );
    let r = read_only("SELECT 'a' IS NORMALIZED").unwrap_err();
    assert!(r.detail.starts_with("`'a' IS` is an expression"), "{r}");
    let r = read_only("SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int PATH '.')")
        .unwrap_err();
    assert!(
        r.detail
            .starts_with("`XMLTABLE('/a' PASSING` is a FROM item"),
        "{r}"
    );
}

/// A tree whose rendering reads as another query (an unquoted name with a
/// space in it) is refused, not sent.
#[test]
fn a_rendering_that_reads_as_another_query_is_not_sent() {
    let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT x")
        .unwrap()
        .remove(0);
    assert_eq!(render(statement.clone()).unwrap().as_str(), "SELECT x");
    let _ = VisitMut::visit(&mut statement, &mut Rename);
    assert_eq!(statement.to_string(), "SELECT x FROM pg_authid");
    assert_eq!(render(statement).unwrap_err().rule, "sql.round_trip");
}

struct Rename;

impl sqlparser::ast::VisitorMut for Rename {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut sqlparser::ast::Expr) -> ControlFlow<()> {
        if let sqlparser::ast::Expr::Identifier(i) = e {
            i.value = "x FROM pg_authid".into();
        }
        ControlFlow::Continue(())
    }
}
