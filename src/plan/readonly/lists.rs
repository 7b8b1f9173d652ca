//! What the check knows by name: the functions that only compute, the
//! built-in types, and the relations and functions that hold secrets.

/// Functions that only compute: no writes, no signals, no files, no
/// configuration, no sequences, no locks, no large objects, no network.
pub(super) const READ_ONLY_FUNCTIONS: &[&str] = &[
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
pub(super) const BUILT_IN_TYPE_NAMES: &[&str] = &[
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
    "timetz",
    "text",
    "varchar",
    "bpchar",
    "numeric",
    "date",
    "regrole",
    "macaddr",
];

/// Allowed names that PostgreSQL's grammar turns into expressions of its
/// own (`COALESCE(...)` is not a function call): rendered bare and unquoted,
/// never looked up in a schema. Quoted (`"coalesce"(1)`), the same name
/// would be an ordinary call that an overload in `public` could answer.
pub(super) const GRAMMAR_FUNCTIONS: &[&str] = &["coalesce", "nullif", "greatest", "least"];

/// Relations a query may not read, with why: credentials, server files,
/// other sessions' SQL, or values of tables the query does not name. Matched
/// on the last part of the name in any case and quoting, in any schema, so
/// `pg_catalog."PG_AUTHID"` is refused too (a table of that name of one's
/// own is not worth the doubt).
///
/// Allowed on purpose: `pg_roles` and `pg_user` (PostgreSQL masks their
/// password columns), `pg_group` (names and member OIDs only), `pg_stats`
/// (only the columns the role may read anyway).
pub(super) const SECRET_RELATIONS: &[(&str, &str)] = &[
    ("pg_authid", "holds the roles' password hashes"),
    ("pg_shadow", "holds the roles' password hashes"),
    (
        "pg_user_mapping",
        "holds the passwords of foreign-server user mappings",
    ),
    (
        "pg_user_mappings",
        "holds the passwords of foreign-server user mappings",
    ),
    (
        "pg_subscription",
        "holds replication connection strings, passwords included",
    ),
    (
        "pg_db_role_setting",
        "holds per-role settings, which may carry secrets",
    ),
    (
        "pg_settings",
        "shows the server's settings, as `current_setting` does",
    ),
    ("pg_file_settings", "shows the server's configuration files"),
    (
        "pg_hba_file_rules",
        "shows the server's client authentication file",
    ),
    (
        "pg_ident_file_mappings",
        "shows the server's user name map file",
    ),
    (
        "pg_largeobject",
        "holds the contents of every large object, whatever their owner",
    ),
    (
        "pg_statistic",
        "holds sample values of every table's columns",
    ),
    (
        "pg_statistic_ext_data",
        "holds sample values of every table's columns",
    ),
    (
        "pg_stat_activity",
        "shows other sessions' SQL text, which may carry secrets (count sessions with `pg_stat_database.numbackends`)",
    ),
    (
        "pg_stat_statements",
        "shows past statements' SQL text, which may carry secrets",
    ),
];

/// Functions that read server files, settings or other sessions' SQL. None
/// is on the allow-list; they are named so the refusal says why.
pub(super) const SECRET_FUNCTIONS: &[(&str, &str)] = &[
    ("pg_stat_file", "reads the server's files"),
    ("pg_read_file", "reads the server's files"),
    ("pg_read_binary_file", "reads the server's files"),
    ("pg_current_logfile", "reads the server's files"),
    ("lo_import", "reads the server's files"),
    ("lo_get", "reads large objects, whatever their owner"),
    ("current_setting", "reads the server's settings"),
    ("pg_show_all_settings", "reads the server's settings"),
    (
        "pg_show_all_file_settings",
        "reads the server's configuration files",
    ),
    (
        "pg_hba_file_rules",
        "reads the server's client authentication file",
    ),
    (
        "pg_ident_file_mappings",
        "reads the server's user name map file",
    ),
    ("pg_stat_get_activity", "reads other sessions' SQL text"),
    ("pg_stat_statements", "reads past statements' SQL text"),
];

/// Why `name` (folded) is a secret relation, if it is one.
pub(super) fn secret_relation(name: &str) -> Option<&'static str> {
    lookup(SECRET_RELATIONS, name)
}

/// Why `name` (folded) is a function that reads secrets, if it is one:
/// listed, or one of the `pg_ls_*dir` family that lists server folders.
pub(super) fn secret_function(name: &str) -> Option<&'static str> {
    if name.starts_with("pg_ls_") {
        return Some("lists the server's folders");
    }
    lookup(SECRET_FUNCTIONS, name)
}

fn lookup(list: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    list.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}
