//! Observe: read the live state of each host, read-only, in one round trip.
//!
//! A generated POSIX shell probe lists every artefact's newest match (size,
//! mtime, SHA-256 computed on the host, the `SHA256SUMS` beside it, cutter's
//! sidecar evidence) and, where the plan uses Docker, inspects containers,
//! volumes and networks. Its output is NUL-separated records, so no file
//! name can confuse the parser.

pub mod machine;
mod parse;
pub mod probe;

use std::collections::BTreeMap;

use indexmap::IndexMap;
use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use parse::parse;
pub use parse::{Sums, parse_inspect, parse_sums};
pub use probe::probe_script;

use crate::plan::Plan;
use crate::remote::{RemoteError, Transport};

/// The fields of `docker inspect` cutter reads, one JSON object per line:
/// never the environment (`Config.Env`) of containers it did not create.
pub const CONTAINER_FORMAT: &str = "{\"Id\":{{json .Id}},\"Name\":{{json .Name}},\"Image\":{{json .Image}},\"RestartCount\":{{json .RestartCount}},\"State\":{\"Status\":{{json .State.Status}},\"StartedAt\":{{json .State.StartedAt}}},\"Config\":{\"Image\":{{json .Config.Image}},\"Labels\":{{json .Config.Labels}}},\"NetworkSettings\":{\"Networks\":{{json .NetworkSettings.Networks}},\"Ports\":{{json .NetworkSettings.Ports}}},\"Mounts\":{{json .Mounts}}}";

/// Everything known about one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostState {
    pub host: String,
    pub artefacts: IndexMap<String, ArtefactState>,
    /// `None` when the plan does not use Docker on this host.
    pub docker: Option<DockerState>,
    /// Who holds the host's apply lock, if anyone.
    pub lock: Option<String>,
    /// The host's apply generation when observed (none before any apply).
    pub generation: Option<String>,
    /// Failures of earlier applies that still stand, by step id.
    pub failures: BTreeMap<String, serde_json::Value>,
    /// The machine's identity and Docker's root directory.
    pub machine: machine::Machine,
    /// Steps of earlier applies that started and whose end was never
    /// recorded (cutter killed, connection lost), by step id.
    pub in_flight: BTreeMap<String, serde_json::Value>,
    /// Completion records of cutter's containers, by the container ID their
    /// file is named after (see `probe::COMPLETIONS_DIR`).
    pub completions: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArtefactState {
    /// How many well-formed matches exist.
    pub matches: usize,
    /// The newest match, if any.
    pub newest: Option<FileState>,
    /// Every match with whether cutter made it (only for artefacts with
    /// retention), in glob order.
    #[serde(default)]
    pub all: Vec<(String, bool)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileState {
    pub path: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// SHA-256 of the content: computed on the host just now
    /// (`verified_now`), or vouched for by cutter's verification record
    /// because size, mtime, inode and ctime are those recorded when it was
    /// last hashed (`verified_at`).
    pub sha256: String,
    pub inode: u64,
    /// Change time, seconds since the epoch: it moves on any write, also
    /// when size and mtime are put back.
    pub ctime: i64,
    /// When the content was last fully hashed (seconds since the epoch).
    pub verified_at: Option<i64>,
    /// Whether this observation hashed the content.
    pub verified_now: bool,
    /// What the `SHA256SUMS` beside it records for it (its last line).
    pub recorded_sha256: Option<String>,
    /// The different hashes recorded for it when its `SHA256SUMS` lines
    /// disagree (empty when they agree).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sums_conflict: Vec<String>,
    /// cutter's manifest for this file, if cutter made it.
    pub manifest: Option<serde_json::Value>,
    /// Other evidence files beside it (`<file>.<name>.json`), by name.
    pub evidence: BTreeMap<String, serde_json::Value>,
    /// Evidence files beside it that cannot be read (truncated, not JSON),
    /// by name (`cutter.json` for the manifest), with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreadable: BTreeMap<String, String>,
}

impl FileState {
    /// Whether `SHA256SUMS` records exactly this content, in every line
    /// for it (what `sha256sum -c` checks).
    pub fn recorded_matches(&self) -> bool {
        self.sums_conflict.is_empty() && self.recorded_sha256.as_deref() == Some(&self.sha256)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DockerState {
    pub containers: Vec<ContainerInfo>,
    pub volumes: Vec<VolumeInfo>,
    pub networks: Vec<NetworkInfo>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: String,
    pub restart_count: i64,
    pub started_at: String,
    pub labels: IndexMap<String, String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// Where each of its mounts comes from on the host (volumes' data
    /// folders, bind-mounted paths): protected with the container.
    pub mount_sources: Vec<String>,
    pub published_ports: Vec<String>,
}

impl crate::plan::SeenContainer for ContainerInfo {
    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    /// Its data folder on the host.
    pub mountpoint: String,
    /// The host folder a bind-backed local volume stands for, if any.
    pub device: Option<String>,
    pub labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub labels: IndexMap<String, String>,
}

impl DockerState {
    /// The container called exactly `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Resolve a reference as Docker does: a full ID, then an exact name
    /// (with or without a leading `/`), then a unique ID prefix.
    pub fn resolve(&self, reference: &str) -> Result<&ContainerInfo, String> {
        let r = reference.trim_start_matches('/');
        if let Some(c) = self.containers.iter().find(|c| c.id == r) {
            return Ok(c);
        }
        if let Some(c) = self.container(r) {
            return Ok(c);
        }
        let by_prefix: Vec<&ContainerInfo> = if !r.is_empty() && crate::plan::looks_like_id(r) {
            self.containers
                .iter()
                .filter(|c| c.id.starts_with(r))
                .collect()
        } else {
            Vec::new()
        };
        match by_prefix.as_slice() {
            [c] => Ok(c),
            [] => Err(format!("no container `{reference}` on the host")),
            _ => Err(format!(
                "`{reference}` is ambiguous: it is the ID prefix of {} containers",
                by_prefix.len()
            )),
        }
    }

    /// A container Docker could take `name` to mean other than one called
    /// exactly that: one whose ID starts with it.
    pub fn shadow(&self, name: &str) -> Option<&ContainerInfo> {
        if !crate::plan::looks_like_id(name) {
            return None;
        }
        self.containers
            .iter()
            .find(|c| c.id.starts_with(name) && c.name != name)
    }
    pub fn volume(&self, name: &str) -> Option<&VolumeInfo> {
        self.volumes.iter().find(|v| v.name == name)
    }
    pub fn network(&self, name: &str) -> Option<&NetworkInfo> {
        self.networks.iter().find(|n| n.name == name)
    }
}

#[derive(Debug, Error, Diagnostic)]
pub enum ObserveError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error("cannot observe host `{host}`: {what}")]
    #[diagnostic(code(cutter::observe))]
    Failed {
        host: String,
        what: String,
        #[help]
        stderr: String,
    },
}

/// Observe one host with a single command.
pub async fn observe(
    plan: &Plan,
    transport: &dyn Transport,
    verify: Verify,
) -> Result<HostState, ObserveError> {
    let host = transport.host().to_string();
    let script = probe_script(plan, &host);
    let marker = format!("sh -s -- cutter-probe {}", &plan.sha256[..12]);
    let out = transport.run(&marker, Some(script.into_bytes())).await?;
    if !out.success() {
        return Err(ObserveError::Failed {
            host,
            what: format!("the read-only probe exited with {}", code_text(out.code)),
            stderr: out.stderr_tail(),
        });
    }
    let mut state = parse(plan, &host, &out.stdout).map_err(|what| ObserveError::Failed {
        host: host.clone(),
        what,
        stderr: out.stderr_tail(),
    })?;
    hash_unvouched(plan, transport, &mut state, verify).await?;
    Ok(state)
}

/// Which files' content must be hashed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Only what no verification record vouches for, or whose record is
    /// older than its artefact's `verify_every`.
    AsNeeded,
    /// Everything (`--verify`): catches silent corruption.
    All,
}

/// Hash, in one more command, the files whose content no record vouches for.
async fn hash_unvouched(
    plan: &Plan,
    transport: &dyn Transport,
    state: &mut HostState,
    verify: Verify,
) -> Result<(), ObserveError> {
    let now = chrono::Utc::now().timestamp();
    let mut paths: Vec<String> = Vec::new();
    for (name, a) in &state.artefacts {
        let Some(f) = &a.newest else { continue };
        let every = plan.artefacts[name].verify_every.as_secs() as i64;
        let vouched =
            verify == Verify::AsNeeded && f.verified_at.is_some_and(|at| now - at <= every);
        if !vouched {
            paths.push(f.path.clone());
        }
    }
    if paths.is_empty() {
        return Ok(());
    }
    let mut script = String::from("export LC_ALL=C\nsha256sum --");
    for p in &paths {
        script.push(' ');
        script.push_str(&crate::shell::quote(p));
    }
    script.push_str(" 2>/dev/null\nexit 0\n");
    let out = transport
        .run("sh -s -- cutter-hash", Some(script.into_bytes()))
        .await?;
    let hashes = parse_sums(&out.stdout_text()).hashes;
    let at = now;
    for a in state.artefacts.values_mut() {
        let Some(f) = &mut a.newest else { continue };
        if !paths.contains(&f.path) {
            continue;
        }
        match hashes.get(&f.path) {
            Some(h) => {
                f.sha256 = h.clone();
                f.verified_at = Some(at);
                f.verified_now = true;
            }
            None => {
                f.sha256 = "unreadable".into();
                f.verified_at = None;
            }
        }
    }
    Ok(())
}

pub fn code_text(code: Option<i32>) -> String {
    code.map_or("a signal".into(), |c| format!("exit code {c}"))
}

/// The shell line that writes the verification record of `./name`, whose
/// content hashed to `$sha` (run right after cutter put it in place), on
/// the host primitives.
pub fn record_verified(leaf: &crate::host::Leaf) -> String {
    let rec = crate::host::Leaf::new(&format!(".{}.cutter-verified", leaf.as_str()))
        .expect("a dot, a plain name and a suffix are a plain name");
    crate::host::write_file(
        &rec,
        &format!(
            "\"$(stat -c '%s %.9Y %i %.9Z' -- {}) $sha $(date +%s)$cutter_nl\"",
            leaf.word()
        ),
    )
}
