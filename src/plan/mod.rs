//! The plan: what the hosts should have, loaded, resolved and validated.
//!
//! `load` reads TOML into the raw `schema`, resolves references and
//! templates, enforces protection and returns a [`Plan`] whose every
//! reference is known to exist. Nothing here contacts a host.

mod diagnostic;
pub mod json_schema;
mod load;
pub mod readonly;
pub mod schema;
pub mod template;
pub mod units;
pub mod vars;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

pub use diagnostic::{Diagnostics, PlanDiagnostic, PlanErrors};
pub use load::{docker_name, load, load_str, load_with, looks_like_id};
pub use template::Template;
pub use vars::VarOverrides;

/// Label put on every container, volume and network cutter creates.
pub const MANAGED_LABEL: &str = "cutter.managed";
/// The label naming the plan (its absolute path) that made a container,
/// volume or network.
pub const PLAN_LABEL: &str = "cutter.plan";

/// The longest file name, in bytes, a host's file system takes (Linux's
/// `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The most bytes cutter adds to an artefact's file name for the files it
/// keeps beside it under names derived from it: records, manifests,
/// quarantined copies. Today the longest is a quarantined verification
/// record, `.cutter-quarantine.<16-byte stamp>..NAME.cutter-verified`, 53
/// bytes more than `NAME`; a quarantined manifest adds 48, and temporaries
/// (`.cutter-tmp.<pid>.<role>.XXXXXX`) do not carry `NAME` at all. The
/// margin is generous on purpose, so that names cutter derives later fit
/// too: every one must stay within it, so that validate refuses a name the
/// host would refuse halfway through an apply. An evidence file
/// (`NAME.restore-test.C.json`) gets the same margin on top of its own
/// length.
pub const MAX_DERIVED_SUFFIX: usize = 72;

#[derive(Debug)]
pub struct Plan {
    pub file: PathBuf,
    pub text: Arc<str>,
    /// SHA-256 of the plan file, recorded in saved plans and reports.
    pub sha256: String,
    pub hosts: IndexMap<String, Host>,
    pub artefacts: IndexMap<String, Artefact>,
    pub containers: IndexMap<String, Container>,
    pub checks: IndexMap<String, Check>,
    pub guards: IndexMap<String, Guard>,
    /// Every ordering edge, with the span of the declaration that made it.
    pub deps: Vec<Dependency>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Artefact,
    Container,
    Check,
    Guard,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Artefact => "artefact",
            Kind::Container => "container",
            Kind::Check => "check",
            Kind::Guard => "guard",
        }
    }
}

/// `before` must be in place before `after` runs.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub before: String,
    pub after: String,
    pub span: Range<usize>,
    pub why: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub connection: Connection,
    pub protected: Protected,
    /// Whether the plan's free-form shell may run in this host's shell.
    pub free_form: FreeForm,
}

/// `[hosts.x] free_form`: whether free-form shell from the plan runs in the
/// host's own shell. Only an artefact's `command` and `verify` without
/// `container` count: they run as the operator on the host, beside
/// production, and nothing can prove what they write. Commands inside a
/// container this plan declares (`command`/`verify` with `container`,
/// `ready`, `restore.command`) do not count: cutter creates that container
/// with only its own volume and network, and reaches it by `docker exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreeForm {
    Refuse,
    Allow,
    /// Not set: refused where the host has protected resources, its own or
    /// those of another host entry reaching the same machine.
    Unset,
}

impl Host {
    /// Whether the host has production: declared on it, or on another host
    /// entry that observation found to be the same machine.
    pub fn has_protected(&self) -> bool {
        !self.protected.is_empty() || !self.protected.shared_with.is_empty()
    }

    /// Whether free-form shell from the plan is refused in its own shell.
    pub fn refuses_free_form(&self) -> bool {
        match self.free_form {
            FreeForm::Refuse => true,
            FreeForm::Allow => false,
            FreeForm::Unset => self.has_protected(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Connection {
    Local,
    Ssh(SshTarget),
}

#[derive(Debug, Clone, Serialize)]
pub struct SshTarget {
    pub destination: String,
    pub config_file: Option<PathBuf>,
    #[serde(with = "humantime_serde_secs")]
    pub connect_timeout: Duration,
    pub keepalive: Option<u64>,
    pub strict_host_keys: bool,
}

mod humantime_serde_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// What cutter keeps a file name for, when `name` is one of the names it
/// gives its own files beside an artefact: a plan may not name a file so.
pub fn reserved_name(name: &str) -> Option<&'static str> {
    if name == "SHA256SUMS" {
        Some("the folder's checksums")
    } else if name.ends_with(".cutter.json") {
        Some("an artefact's manifest")
    } else if name.starts_with(".cutter-") {
        Some("its temporaries and quarantined files")
    } else if name.ends_with(".cutter-verified") {
        Some("a verification record")
    } else if name.contains(".restore-test.") && name.ends_with(".json") {
        Some("restore-test evidence")
    } else if name.starts_with("cutter-report-") {
        Some("report copies")
    } else {
        None
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Protected {
    pub containers: Vec<String>,
    pub labels: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    pub paths: Vec<String>,
    /// Real paths on the host protected because of what observation found
    /// there (Docker's root directory, protected volumes' mountpoints,
    /// protected containers' mount sources, a twin host entry's paths),
    /// each with the reason. Empty until the host was observed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<ObservedPath>,
    /// Other host entries of the plan that reach the same machine and
    /// protect something there (their protection is this one's too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
}

/// A protected real path found by observation, and why it is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedPath {
    pub path: String,
    pub why: String,
}

impl Protected {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.labels.is_empty()
            && self.volumes.is_empty()
            && self.networks.is_empty()
            && self.paths.is_empty()
    }

    /// Every protected path, declared or observed: the host primitives
    /// refuse to write at or under their real paths.
    pub fn real_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .map(String::as_str)
            .chain(self.observed.iter().map(|o| o.path.as_str()))
    }

    /// The protected path (declared or observed) that `path` is at or
    /// under, if any, as the plan spells it.
    pub fn path_covering(&self, path: &str) -> Option<&str> {
        self.real_paths().find(|p| {
            let p = p.trim_end_matches('/');
            p.is_empty() || path == p || path.starts_with(&format!("{p}/"))
        })
    }

    /// Whether an observed container is production: named in the list (by
    /// name, `/name`, ID or ID prefix, as Docker resolves them) or carrying
    /// a protected label.
    pub fn covers(&self, c: &impl SeenContainer) -> bool {
        self.containers.iter().any(|p| Self::names(p, c))
            || self.labels.iter().any(|l| match l.split_once('=') {
                Some((k, v)) => c.label(k) == Some(v),
                None => c.label(l).is_some(),
            })
    }

    /// Whether the protected entry `p` designates container `c`.
    pub fn names(p: &str, c: &impl SeenContainer) -> bool {
        let p = p.trim_start_matches('/');
        p == c.name() || (!p.is_empty() && looks_like_id(p) && c.id().starts_with(p))
    }
}

/// A container seen on a host, as far as protection needs to know it: what
/// observation provides, without the plan depending on observation.
pub trait SeenContainer {
    /// Its name, without Docker's leading `/`.
    fn name(&self) -> &str;
    /// Its full ID.
    fn id(&self) -> &str;
    /// The value of one of its labels.
    fn label(&self, key: &str) -> Option<&str>;
}

#[derive(Debug, Clone, Serialize)]
pub struct Artefact {
    pub name: String,
    pub host: String,
    pub path: Template,
    /// What makes the file's content.
    pub producer: Producer,
    /// Where the producer runs.
    pub place: Place,
    pub stderr: Option<String>,
    pub min_size: Option<u64>,
    /// A shell format check, for `command` producers only.
    pub verify: Option<String>,
    #[serde(skip)]
    pub max_age: Option<Duration>,
    #[serde(skip)]
    pub timeout: Duration,
    #[serde(skip)]
    pub verify_every: Duration,
    /// Retention of older files (timestamped artefacts only).
    #[serde(skip)]
    pub keep: Option<Keep>,
    pub after: Vec<String>,
}

/// Keep the newest `last` files and everything taken `within`.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub last: usize,
    pub within: Option<Duration>,
}

/// Where a step's operation runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "lowercase")]
pub enum Place {
    /// On the host itself.
    Host,
    /// In a container resource of this plan (cutter creates and owns it).
    Own(String),
    /// In a container on the host that cutter did not create, by the
    /// reference written in the plan (a name, `/name`, an ID or an ID
    /// prefix), resolved to a full ID from observation. Only typed,
    /// read-only operations ever run there.
    External(String),
}

impl Place {
    pub fn container_ref(&self) -> Option<&str> {
        match self {
            Place::Host => None,
            Place::Own(n) | Place::External(n) => Some(n),
        }
    }
}

/// What makes an artefact's content.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Producer {
    /// A free-form shell command: on the host or in a container cutter owns.
    Command { command: String },
    /// A `pg_dump` cutter composes from typed fields.
    PgDump(PgDump),
    /// A read-only query cutter composes from typed fields.
    Query(PgQuery),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    Custom,
    Plain,
    Tar,
}

impl DumpFormat {
    pub fn flag(self) -> &'static str {
        match self {
            DumpFormat::Custom => "custom",
            DumpFormat::Plain => "plain",
            DumpFormat::Tar => "tar",
        }
    }
    /// Whether `pg_restore --list` can read it.
    pub fn is_archive(self) -> bool {
        self != DumpFormat::Plain
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PgDump {
    pub user: String,
    pub database: String,
    pub format: DumpFormat,
    pub compress: Option<u8>,
    pub schema_only: bool,
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgQuery {
    pub user: String,
    pub database: String,
    pub sql: readonly::ReadOnlySql,
    pub separator: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Persistent,
    Ephemeral,
}

impl Lifecycle {
    /// As written in plans, labels and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Persistent => "persistent",
            Lifecycle::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub name: String,
    pub docker_name: String,
    pub host: String,
    pub image: String,
    pub lifecycle: Lifecycle,
    pub network: String,
    pub volume: String,
    pub mount: String,
    pub env: Vec<(String, String)>,
    pub secrets: Vec<(String, SecretSource)>,
    pub ports: Vec<String>,
    pub ready: Option<String>,
    pub restore: Option<Restore>,
    #[serde(skip)]
    pub timeout: Duration,
    pub after: Vec<String>,
}

impl Container {
    /// Name of the evidence file a restore test leaves beside the artefact
    /// it tested.
    pub fn evidence_name(&self) -> String {
        format!("restore-test.{}.json", self.name)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct Restore {
    pub artefact: String,
    pub command: String,
    pub tolerated_errors: Vec<String>,
    pub ok_exit_codes: Vec<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub host: String,
    /// Where the query runs (a container resource, or one on the host).
    pub place: Place,
    pub user: String,
    pub database: String,
    pub kind: CheckKind,
    #[serde(skip)]
    pub timeout: Duration,
    pub after: Vec<String>,
}

impl Check {
    /// The container resource the check runs in, when it is cutter's own.
    pub fn own_container(&self) -> Option<&str> {
        match &self.place {
            Place::Own(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckKind {
    Equals {
        sql: readonly::ReadOnlySql,
        expect: String,
    },
    SameAs {
        sql: readonly::ReadOnlySql,
        other: Place,
    },
    Rowcounts {
        artefact: String,
        tables: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Guard {
    pub name: String,
    pub host: String,
    pub kind: GuardKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum GuardKind {
    ProtectedUnchanged,
    SchemaUnchanged {
        container: Place,
        user: String,
        database: String,
    },
}

impl Artefact {
    /// Whether making it runs free-form shell from the plan in the host's
    /// own shell (see [`FreeForm`]).
    pub fn runs_host_shell(&self) -> bool {
        matches!(self.producer, Producer::Command { .. }) && self.place == Place::Host
    }
}

impl Plan {
    /// Whether step `id` runs free-form shell in the host's own shell on a
    /// host with protected resources: no one can prove it leaves production
    /// alone.
    pub fn unprovable_step(&self, id: &str) -> bool {
        id.strip_prefix("artefact.")
            .and_then(|name| self.artefacts.get(name))
            .is_some_and(|a| {
                a.runs_host_shell() && self.hosts.get(&a.host).is_some_and(Host::has_protected)
            })
    }

    /// The kind of the resource called `name`.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        if self.artefacts.contains_key(name) {
            Some(Kind::Artefact)
        } else if self.containers.contains_key(name) {
            Some(Kind::Container)
        } else if self.checks.contains_key(name) {
            Some(Kind::Check)
        } else if self.guards.contains_key(name) {
            Some(Kind::Guard)
        } else {
            None
        }
    }

    /// The host a resource lives on.
    pub fn host_of(&self, name: &str) -> Option<&str> {
        self.artefacts
            .get(name)
            .map(|a| a.host.as_str())
            .or_else(|| self.containers.get(name).map(|c| c.host.as_str()))
            .or_else(|| self.checks.get(name).map(|c| c.host.as_str()))
            .or_else(|| self.guards.get(name).map(|g| g.host.as_str()))
    }

    /// Whether any resource on `host` needs Docker.
    pub fn uses_docker(&self, host: &str) -> bool {
        // Protected containers, labels or volumes are observed whatever the
        // plan does there: their mounts and data folders are protected.
        let p = self.hosts.get(host).map(|h| &h.protected);
        p.is_some_and(|p| {
            !p.containers.is_empty()
                || !p.labels.is_empty()
                || !p.volumes.is_empty()
                || !p.networks.is_empty()
        }) || self
            .artefacts
            .values()
            .any(|a| a.host == host && a.place != Place::Host)
            || self.containers.values().any(|c| c.host == host)
            || self.checks.values().any(|c| c.host == host)
            || self.guards.values().any(|g| g.host == host)
    }

    /// The plan file's absolute path: what saved plans record and what the
    /// `cutter.plan` label of cutter's containers holds.
    pub fn canonical_file(&self) -> String {
        std::fs::canonicalize(&self.file)
            .unwrap_or(self.file.clone())
            .display()
            .to_string()
    }

    /// Hosts that have at least one resource or declare protection (whose
    /// machine then has to be observed to share it), in declaration order.
    pub fn used_hosts(&self) -> Vec<&Host> {
        self.hosts
            .values()
            .filter(|h| self.host_has_resources(&h.name) || !h.protected.is_empty())
            .collect()
    }

    fn host_has_resources(&self, host: &str) -> bool {
        self.artefacts.values().any(|a| a.host == host)
            || self.containers.values().any(|c| c.host == host)
            || self.checks.values().any(|c| c.host == host)
            || self.guards.values().any(|g| g.host == host)
    }
}
