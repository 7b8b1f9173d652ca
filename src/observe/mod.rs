//! Observe: read the live state of each host, read-only, in one round trip.
//!
//! A generated POSIX shell probe lists every artefact's newest match (size,
//! mtime, SHA-256 computed on the host, the `SHA256SUMS` beside it, cutter's
//! sidecar evidence) and, where the plan uses Docker, inspects containers,
//! volumes and networks. Its output is NUL-separated records, so no file
//! name can confuse the parser.

pub mod machine;
pub mod probe;

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

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
    /// What the `SHA256SUMS` beside it records for it.
    pub recorded_sha256: Option<String>,
    /// cutter's manifest for this file, if cutter made it.
    pub manifest: Option<serde_json::Value>,
    /// Other evidence files beside it (`<file>.<name>.json`), by name.
    pub evidence: BTreeMap<String, serde_json::Value>,
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
    pub labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
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
    let hashes = parse_sums(&out.stdout_text());
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

fn parse(plan: &Plan, host: &str, stdout: &[u8]) -> Result<HostState, String> {
    let names: Vec<&String> = plan
        .artefacts
        .values()
        .filter(|a| a.host == host)
        .map(|a| &a.name)
        .collect();
    let mut state = HostState {
        host: host.to_string(),
        ..Default::default()
    };
    for name in &names {
        state
            .artefacts
            .insert((*name).clone(), ArtefactState::default());
    }
    let (stdout, contents) = split_contents(stdout);
    let content = |path: &str| contents.get(path).cloned().unwrap_or_default();
    let mut fields = stdout
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut evidence: HashMap<usize, BTreeMap<String, serde_json::Value>> = HashMap::new();
    let mut sums: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut stats: HashMap<String, Meta> = HashMap::new();
    let mut verified: HashMap<usize, Verified> = HashMap::new();
    let mut all: HashMap<usize, Vec<(String, bool)>> = HashMap::new();
    let mut newest: HashMap<usize, (usize, String)> = HashMap::new();
    while let Some(count) = fields.next() {
        if count.is_empty() {
            break;
        }
        let n: usize = count
            .parse()
            .map_err(|_| format!("malformed probe output near `{count}`"))?;
        let rec: Vec<String> = fields.by_ref().take(n).collect();
        if rec.len() != n {
            return Err("truncated probe output (a file changed while it was observed?)".into());
        }
        let index = |s: &str| -> Result<usize, String> {
            s.parse().map_err(|_| "bad artefact index".to_string())
        };
        use probe::Record;
        match Record::from_tag(&rec[0])
            .ok_or_else(|| format!("unexpected probe record `{}`", rec[0]))?
        {
            Record::Artefact if n == 3 => {
                index(&rec[1])?;
            }
            Record::Artefact if n == 4 => {
                newest.insert(
                    index(&rec[1])?,
                    (rec[2].parse().unwrap_or(0), rec[3].clone()),
                );
            }
            Record::Sums if n == 3 => {
                sums.insert(rec[1].clone(), parse_sums(&content(&rec[2])));
            }
            Record::Match if n == 4 => {
                all.entry(index(&rec[1])?)
                    .or_default()
                    .push((rec[2].clone(), rec[3] == "1"));
            }
            Record::Evidence if n == 4 => {
                if let Ok(v) = serde_json::from_str(&content(&rec[3])) {
                    evidence
                        .entry(index(&rec[1])?)
                        .or_default()
                        .insert(rec[2].clone(), v);
                }
            }
            Record::Stat => {
                for entry in &rec[1..] {
                    let mut parts = entry.splitn(5, ' ');
                    if let (Some(size), Some(mtime), Some(inode), Some(ctime), Some(path)) = (
                        parts.next(),
                        parts.next(),
                        parts.next(),
                        parts.next(),
                        parts.next(),
                    ) && let Some(meta) = Meta::parse(size, mtime, inode, ctime)
                    {
                        stats.insert(path.to_string(), meta);
                    }
                }
            }
            Record::Verified if n == 3 => {
                if let Some(v) = Verified::parse(&content(&rec[2])) {
                    verified.insert(index(&rec[1])?, v);
                }
            }
            Record::Docker if n == 4 => {
                let docker = state.docker.get_or_insert_with(DockerState::default);
                let text = &rec[3];
                // `inspect` of several objects exits 1 when one vanished after
                // it was listed (another apply's teardown): its JSON still holds
                // the rest, which is the state now.
                let json = text.trim_start().starts_with(['[', '{']);
                if rec[2] != "0" && !json {
                    return Err(format!("`docker` failed: {}", crate::remote::tail(text, 3)));
                }
                match rec[1].as_str() {
                    "containers" => docker.containers = parse_inspect(text)?,
                    "volumes" => docker.volumes = parse_volumes(text)?,
                    "networks" => docker.networks = parse_networks(text)?,
                    _ => {}
                }
            }
            Record::Missing => {
                return Err(format!(
                    "`{}` is not installed on the host (command not found)",
                    rec.get(1).map_or("docker", |s| s)
                ));
            }
            Record::Machine if n == 3 => state.machine = machine::Machine::parse(&rec[1], &rec[2]),
            Record::Lock if n == 2 => state.lock = Some(rec[1].clone()),
            Record::Generation if n == 2 => state.generation = Some(rec[1].trim().to_string()),
            Record::Failure if n == 3 => {
                // `<plan>.<step>.json`, where the step id is `kind.name`.
                let step = rec[1]
                    .strip_suffix(".json")
                    .and_then(|s| s.split_once('.'))
                    .map(|(_, step)| step.to_string());
                if let (Some(step), Ok(v)) = (step, serde_json::from_str(&content(&rec[2]))) {
                    state.failures.insert(step, v);
                }
            }
            other => return Err(format!("malformed probe record `{other:?}` ({n} fields)")),
        }
    }
    for (i, (matches, path)) in newest {
        let Some(name) = names.get(i) else { continue };
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
        let mut ev = evidence.remove(&i).unwrap_or_default();
        let meta = stats.get(&path).copied().unwrap_or_default();
        // The record vouches for the content only while the metadata it was
        // taken with is unchanged.
        let record = verified
            .remove(&i)
            .filter(|v| v.meta == meta && v.meta != Meta::default());
        let file = FileState {
            recorded_sha256: sums.get(dir).and_then(|s| s.get(base)).cloned(),
            manifest: ev.remove("cutter.json"),
            sha256: record.as_ref().map_or(String::new(), |v| v.sha256.clone()),
            verified_at: record.as_ref().map(|v| v.at),
            verified_now: false,
            path,
            size: meta.size,
            mtime: (meta.mtime / 1_000_000_000) as i64,
            inode: meta.inode,
            ctime: (meta.ctime / 1_000_000_000) as i64,
            evidence: ev,
        };
        state.artefacts.insert(
            (*name).clone(),
            ArtefactState {
                matches,
                newest: Some(file),
                all: all.remove(&i).unwrap_or_default(),
            },
        );
    }
    Ok(state)
}

/// Split the probe's output at its `Contents` record: the records before,
/// and the small files' contents after (`grep -H -Z`: `path NUL line` per
/// line), by path.
fn split_contents(stdout: &[u8]) -> (&[u8], HashMap<String, String>) {
    let marker = format!("1\0{}\0", probe::Record::Contents.tag());
    let marker = marker.as_bytes();
    let at = (0..stdout.len().saturating_sub(marker.len() - 1))
        .find(|&i| stdout[i..].starts_with(marker) && (i == 0 || stdout[i - 1] == 0));
    let Some(at) = at else {
        return (stdout, HashMap::new());
    };
    let mut contents: HashMap<String, String> = HashMap::new();
    for line in stdout[at + marker.len()..].split(|b| *b == b'\n') {
        let Some(nul) = line.iter().position(|b| *b == 0) else {
            continue;
        };
        let path = String::from_utf8_lossy(&line[..nul]).into_owned();
        let text = contents.entry(path).or_default();
        text.push_str(&String::from_utf8_lossy(&line[nul + 1..]));
        text.push('\n');
    }
    (&stdout[..at], contents)
}

/// What `stat` says of a file; times in nanoseconds since the epoch, so
/// that a write within the same second still moves ctime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Meta {
    size: u64,
    mtime: i128,
    inode: u64,
    ctime: i128,
}

impl Meta {
    fn parse(size: &str, mtime: &str, inode: &str, ctime: &str) -> Option<Meta> {
        Some(Meta {
            size: size.parse().ok()?,
            mtime: nanos(mtime)?,
            inode: inode.parse().ok()?,
            ctime: nanos(ctime)?,
        })
    }
}

/// `1795830561.123456789` (stat's `%.9Y`) as nanoseconds.
fn nanos(t: &str) -> Option<i128> {
    let (s, f) = t.split_once('.').unwrap_or((t, "0"));
    let f = format!("{f:0<9}");
    Some(s.parse::<i128>().ok()? * 1_000_000_000 + f.get(..9)?.parse::<i128>().ok()?)
}

/// cutter's verification record beside a file (`.<name>.cutter-verified`):
/// the metadata and SHA-256 of the file when it was last fully hashed.
struct Verified {
    meta: Meta,
    sha256: String,
    at: i64,
}

impl Verified {
    fn parse(text: &str) -> Option<Verified> {
        let mut w = text.split_whitespace();
        let meta = Meta::parse(w.next()?, w.next()?, w.next()?, w.next()?)?;
        let sha256 = w.next()?.to_string();
        let at = w.next()?.parse().ok()?;
        (sha256.len() == 64 && sha256.chars().all(|c| c.is_ascii_hexdigit())).then_some(Verified {
            meta,
            sha256,
            at,
        })
    }
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

/// Parse a coreutils `sha256sum` file into name → hash.
pub fn parse_sums(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.len() < 66 {
            continue;
        }
        let (hash, rest) = line.split_at(64);
        let Some(name) = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) else {
            continue;
        };
        let name = if escaped {
            unescape_sum_name(name)
        } else {
            name.to_string()
        };
        out.insert(name, hash.to_ascii_lowercase());
    }
    out
}

fn unescape_sum_name(name: &str) -> String {
    let mut out = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o)
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectContainer {
    id: String,
    name: String,
    image: String,
    restart_count: i64,
    state: InspectState,
    config: InspectConfig,
    network_settings: InspectNetworkSettings,
    #[serde(default)]
    mounts: Vec<InspectMount>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    status: String,
    started_at: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    image: String,
    labels: Option<IndexMap<String, String>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectNetworkSettings {
    networks: Option<IndexMap<String, serde_json::Value>>,
    ports: Option<IndexMap<String, Option<Vec<InspectPort>>>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectPort {
    host_ip: String,
    host_port: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectMount {
    #[serde(rename = "Type")]
    kind: String,
    name: Option<String>,
    source: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectVolume {
    name: String,
    #[serde(default)]
    mountpoint: String,
    labels: Option<IndexMap<String, String>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectNetwork {
    name: String,
    driver: String,
    internal: bool,
    labels: Option<IndexMap<String, String>>,
}

/// A JSON array, or one JSON object per line (`docker inspect --format`).
fn parse_json<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<Vec<T>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    let err = |e: serde_json::Error| format!("cannot read `docker inspect` of {what}: {e}");
    if t.starts_with('[') {
        return serde_json::from_str(t).map_err(err);
    }
    t.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(err))
        .collect()
}

pub fn parse_inspect(text: &str) -> Result<Vec<ContainerInfo>, String> {
    let raw: Vec<InspectContainer> = parse_json("containers", text)?;
    let mut out: Vec<ContainerInfo> = raw
        .into_iter()
        .map(|c| ContainerInfo {
            id: c.id,
            name: c.name.trim_start_matches('/').to_string(),
            image: c.config.image,
            image_id: c.image,
            state: c.state.status,
            restart_count: c.restart_count,
            started_at: c.state.started_at,
            labels: c.config.labels.unwrap_or_default(),
            networks: c
                .network_settings
                .networks
                .map(|n| n.keys().cloned().collect())
                .unwrap_or_default(),
            mount_sources: c
                .mounts
                .iter()
                .filter_map(|m| m.source.clone())
                .filter(|s| s.starts_with('/'))
                .collect(),
            volumes: c
                .mounts
                .into_iter()
                .filter(|m| m.kind == "volume")
                .filter_map(|m| m.name)
                .collect(),
            published_ports: c
                .network_settings
                .ports
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(port, binds)| {
                    binds
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |b| format!("{}:{}->{port}", b.host_ip, b.host_port))
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn parse_volumes(text: &str) -> Result<Vec<VolumeInfo>, String> {
    let raw: Vec<InspectVolume> = parse_json("volumes", text)?;
    Ok(raw
        .into_iter()
        .map(|v| VolumeInfo {
            name: v.name,
            mountpoint: v.mountpoint,
            labels: v.labels.unwrap_or_default(),
        })
        .collect())
}

fn parse_networks(text: &str) -> Result<Vec<NetworkInfo>, String> {
    let raw: Vec<InspectNetwork> = parse_json("networks", text)?;
    Ok(raw
        .into_iter()
        .map(|n| NetworkInfo {
            name: n.name,
            driver: n.driver,
            internal: n.internal,
            labels: n.labels.unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_round_trip_odd_names() {
        let h = "a".repeat(64);
        for name in ["plain.dump", "with space", "new\nline", "back\\slash"] {
            let (escaped_name, escaped) = crate::host::sums_name(name);
            let line = format!("{}{h}  {escaped_name}\n", if escaped { "\\" } else { "" });
            assert_eq!(parse_sums(&line).get(name), Some(&h), "{name:?}");
        }
    }

    #[test]
    fn sums_accept_binary_marker() {
        let h = "b".repeat(64);
        assert_eq!(
            parse_sums(&format!("{h} *x.dump\n")).get("x.dump"),
            Some(&h)
        );
    }
}
