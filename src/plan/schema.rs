//! The raw shape of a plan file, exactly as written in TOML.
//!
//! Every field keeps its span so that later phases can point back into the
//! file. Unknown keys are rejected here (`deny_unknown_fields`). The JSON
//! Schema for editors is generated from these types.
//!
//! The closed sets (`lifecycle`, a guard's `kind`, `pg_dump.format`) stay
//! strings here and are checked in `load`: a serde enum would turn an unknown
//! value into a TOML error that ends the parse, so the plan's other errors
//! would go unreported, and it would read as a syntax error.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

pub type Map<T> = IndexMap<Spanned<String>, T>;

/// A cutter plan: the desired end state of one or more hosts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Values usable in templates as `{{ var.NAME }}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub vars: Map<Spanned<String>>,
    /// Targets, by name.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawHost>")]
    pub hosts: Map<RawHost>,
    /// Files produced by a command on a host.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawArtefact>")]
    pub artefacts: Map<RawArtefact>,
    /// Docker containers cutter creates and owns.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawContainer>")]
    pub containers: Map<RawContainer>,
    /// Read-only smoke tests with an expectation.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawCheck>")]
    pub checks: Map<RawCheck>,
    /// Safety properties proven around an apply.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawGuard>")]
    pub guards: Map<RawGuard>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    /// Run on this machine, without SSH.
    #[schemars(with = "Option<bool>")]
    pub local: Option<Spanned<bool>>,
    /// An alias or `user@host` resolved by the operator's OpenSSH config.
    #[schemars(with = "Option<String>")]
    pub ssh: Option<Spanned<String>>,
    /// An OpenSSH config file to use instead of `~/.ssh/config` (`ssh -F`).
    #[schemars(with = "Option<String>")]
    pub ssh_config: Option<Spanned<String>>,
    /// How long to wait for the connection, e.g. `"10s"`.
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Spanned<String>>,
    /// Interval of SSH keepalive probes, e.g. `"15s"`.
    #[schemars(with = "Option<String>")]
    pub keepalive: Option<Spanned<String>>,
    /// Check host keys strictly (default true).
    #[schemars(with = "Option<bool>")]
    pub strict_host_keys: Option<Spanned<bool>>,
    /// Free-form shell from the plan in this host's shell (an artefact's
    /// `command` or `verify` without `container`): `refuse` or `allow`.
    /// Such a command cannot be proven to leave production alone, so the
    /// default is `refuse` when the host declares anything protected, and
    /// `allow` otherwise. With `allow`, plan and report say that "production
    /// untouched" is not provable for this host, and name the steps.
    #[schemars(with = "Option<String>", extend("enum" = ["refuse", "allow"]))]
    pub free_form: Option<Spanned<String>>,
    /// What on this host is production and must never be mutated.
    #[serde(default)]
    pub protected: RawProtected,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProtected {
    /// Container names.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub containers: Vec<Spanned<String>>,
    /// Container labels (`key=value` or `key`): every container carrying one is protected.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub labels: Vec<Spanned<String>>,
    /// Docker volume names.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub volumes: Vec<Spanned<String>>,
    /// Docker network names.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub networks: Vec<Spanned<String>>,
    /// Absolute paths: nothing is written at or under them.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub paths: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawArtefact {
    /// The host the file lives on; may be left out when the plan has exactly one.
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    /// Absolute path; may use `{{ date }}`, `{{ timestamp }}`, `{{ var.X }}`, `{{ env.X }}`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// Shell command whose standard output is the file's content. Runs on the
    /// host, or inside a container this plan declares; never in any other container.
    #[schemars(with = "Option<String>")]
    pub command: Option<Spanned<String>>,
    /// A PostgreSQL dump cutter composes itself (safe in production).
    pub pg_dump: Option<RawPgDump>,
    /// A read-only SQL query cutter runs itself (safe in production); its rows are the file.
    pub query: Option<RawQuery>,
    /// The container `pg_dump` or `query` (or a `command`, for a container this
    /// plan declares) runs in: a container resource, or a container on the host
    /// by name or ID.
    #[schemars(with = "Option<String>")]
    pub container: Option<Spanned<String>>,
    /// Keep the producer's standard error in this file, beside the artefact.
    #[schemars(with = "Option<String>")]
    pub stderr: Option<Spanned<String>>,
    /// Smallest acceptable size, e.g. `"1 KiB"`.
    #[schemars(with = "Option<String>")]
    pub min_size: Option<Spanned<String>>,
    /// For `command` artefacts: a shell command that reads the file on standard
    /// input and fails if it is malformed. Runs where `command` runs. (A
    /// `pg_dump` in custom or tar format is always checked with `pg_restore
    /// --list` in a throw-away container.)
    #[schemars(with = "Option<String>")]
    pub verify: Option<Spanned<String>>,
    /// Older than this, the plan takes a new one, e.g. `"60m"`.
    #[schemars(with = "Option<String>")]
    pub max_age: Option<Spanned<String>>,
    /// The longest the step may run before it is stopped, e.g. `"2h"` (default 2h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// How long a full hash of the file vouches for it while its size, mtime,
    /// inode and ctime are unchanged (default `"7d"`); after that, plan and
    /// drift hash it again. `--verify` hashes everything now.
    #[schemars(with = "Option<String>")]
    pub verify_every: Option<Spanned<String>>,
    /// Retention for a timestamped artefact: older files cutter made are
    /// deleted (shown as destroys in the plan), keeping the newest `last`
    /// and everything taken `within` this long.
    pub keep: Option<RawKeep>,
    /// Resources that must be in place first.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub after: Vec<Spanned<String>>,
}

/// How many older files of a timestamped artefact to keep.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKeep {
    /// Keep at least the newest this many (at least 1).
    #[schemars(with = "Option<u32>")]
    pub last: Option<Spanned<i64>>,
    /// Keep everything taken within this long, e.g. `"14d"`.
    #[schemars(with = "Option<String>")]
    pub within: Option<Spanned<String>>,
}

/// `pg_dump`, composed by cutter from these fields only.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPgDump {
    /// Database name (a plain name, never a connection string).
    #[schemars(with = "String")]
    pub database: Spanned<String>,
    /// User name (default `postgres`).
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// `custom` (default), `plain` or `tar`.
    #[schemars(with = "Option<String>", extend("enum" = ["custom", "plain", "tar"]))]
    pub format: Option<Spanned<String>>,
    /// Compression level 0-9 (custom format).
    #[schemars(with = "Option<u8>")]
    pub compress: Option<Spanned<i64>>,
    /// Only the schema, no data.
    #[schemars(with = "Option<bool>")]
    pub schema_only: Option<Spanned<bool>>,
    /// Only these tables (pg_dump patterns).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tables: Vec<Spanned<String>>,
    /// Not these tables.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude_tables: Vec<Spanned<String>>,
    /// Only these schemas.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub schemas: Vec<Spanned<String>>,
    /// Not these schemas.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude_schemas: Vec<Spanned<String>>,
}

/// A read-only query, composed by cutter (`psql -X`, read-only session).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// Database name (a plain name, never a connection string).
    #[schemars(with = "String")]
    pub database: Spanned<String>,
    /// User name (default `postgres`).
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// One SELECT, provably read-only (checked by a PostgreSQL parser).
    #[schemars(with = "String")]
    pub sql: Spanned<String>,
    /// Field separator of the unaligned rows (default `|`).
    #[schemars(with = "Option<String>")]
    pub separator: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawContainer {
    /// The host; may be left out when the plan has exactly one.
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    /// Docker name; defaults to the resource name.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The image to run, e.g. `"postgres:16"`; it must already be on the host (cutter never pulls).
    #[schemars(with = "String")]
    pub image: Spanned<String>,
    /// `persistent` (must exist and run) or `ephemeral` (created for its checks, then removed).
    #[schemars(with = "String", extend("enum" = ["persistent", "ephemeral"]))]
    pub lifecycle: Spanned<String>,
    /// Bridge network to attach to; created (isolated) if missing. Defaults to `<name>-net`.
    #[schemars(with = "Option<String>")]
    pub network: Option<Spanned<String>>,
    /// Named volume for the data directory. Defaults to `<name>-data`.
    #[schemars(with = "Option<String>")]
    pub volume: Option<Spanned<String>>,
    /// Where the volume is mounted in the container.
    #[schemars(with = "Option<String>")]
    pub mount: Option<Spanned<String>>,
    /// Plain environment variables.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub env: Map<Spanned<String>>,
    /// Secret environment variables, read from the operator's environment or a file; never printed.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawSecret>")]
    pub secrets: Map<RawSecret>,
    /// Published ports (`"127.0.0.1:5433:5432"`); none unless declared.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ports: Vec<Spanned<String>>,
    /// A command run inside the container until it succeeds, before anything else uses it.
    #[schemars(with = "Option<String>")]
    pub ready: Option<Spanned<String>>,
    /// Seed the container by restoring an artefact into it.
    pub restore: Option<RawRestore>,
    /// The longest creating, readying and restoring may take, e.g. `"30m"` (default 1h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Resources that must be in place first.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub after: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// Name of an environment variable of the operator's.
    #[schemars(with = "Option<String>")]
    pub env: Option<Spanned<String>>,
    /// Path of a local file holding the value.
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestore {
    /// The artefact to restore (its newest match).
    #[schemars(with = "String")]
    pub artefact: Spanned<String>,
    /// The command run inside the container; the file is passed as its last argument.
    #[schemars(with = "String")]
    pub command: Spanned<String>,
    /// Errors that do not fail the restore when they are its only errors
    /// (substrings of pg_restore's `error:` lines), e.g. a role the dump does not carry.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tolerated_errors: Vec<Spanned<String>>,
    /// Exit codes that count as success (default `[0]`), each 0 to 255.
    #[serde(default)]
    #[schemars(with = "Vec<u8>")]
    pub ok_exit_codes: Vec<Spanned<i64>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// The container the check runs in: a container resource, or a container on the host.
    #[schemars(with = "String")]
    pub container: Spanned<String>,
    /// Host, when `container` is not a container resource.
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    /// The PostgreSQL role the query runs as (`psql -U`).
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// The database the query runs in (`psql -d`).
    #[schemars(with = "Option<String>")]
    pub database: Option<Spanned<String>>,
    /// A read-only SQL query; its result (`psql -tA`) is compared.
    #[schemars(with = "Option<String>")]
    pub sql: Option<Spanned<String>>,
    /// The exact result expected.
    #[schemars(with = "Option<String>")]
    pub expect: Option<Spanned<String>>,
    /// The same query on this other container must give the same result.
    #[schemars(with = "Option<String>")]
    pub same_as: Option<Spanned<String>>,
    /// Compare these tables' row counts with a row-count snapshot artefact.
    pub rowcounts: Option<RawRowcounts>,
    /// The longest the check may run, e.g. `"5m"` (default 10m).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Resources that must be in place first.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub after: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRowcounts {
    /// A `schema|table|rows` artefact.
    #[schemars(with = "String")]
    pub artefact: Spanned<String>,
    /// `schema.table` names.
    #[schemars(with = "Vec<String>")]
    pub tables: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    /// The host; may be left out when the plan has exactly one.
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    /// `protected-unchanged`: the protected containers (id, image, state, restarts) are identical before and after.
    /// `schema-unchanged`: the schema of a protected database is identical before and after (no DDL).
    #[schemars(
        with = "String",
        extend("enum" = ["protected-unchanged", "schema-unchanged"])
    )]
    pub kind: Spanned<String>,
    /// For `schema-unchanged`: the protected container holding the database.
    #[schemars(with = "Option<String>")]
    pub container: Option<Spanned<String>>,
    /// For `schema-unchanged`: the role `pg_dump --schema-only` runs as.
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// For `schema-unchanged`: the database whose schema must not change.
    #[schemars(with = "Option<String>")]
    pub database: Option<Spanned<String>>,
}
