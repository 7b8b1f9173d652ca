//! Reading what the probe and `sha256sum` print: every function here takes
//! bytes a host sent back and returns an error or a value that says what
//! could not be read. None of them may panic, whatever the bytes (see the
//! property tests in `fuzz.rs`): a host is not trusted to be well-formed.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use serde::Deserialize;

use super::probe::Record;
use super::{
    ArtefactState, ContainerInfo, DockerState, FileState, HostState, NetworkInfo, VolumeInfo,
};
use crate::plan::Plan;

pub(super) fn parse(plan: &Plan, host: &str, stdout: &[u8]) -> Result<HostState, String> {
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
    let mut unreadable: HashMap<usize, BTreeMap<String, String>> = HashMap::new();
    let mut sums: HashMap<String, Sums> = HashMap::new();
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
        let Some(tag) = rec.first() else {
            return Err("malformed probe output: a record with no fields".into());
        };
        match Record::from_tag(tag)
            .ok_or_else(|| format!("unexpected probe record `{}`", tag.escape_debug()))?
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
                let i = index(&rec[1])?;
                match read_record(&content(&rec[3])) {
                    Ok(v) => {
                        evidence.entry(i).or_default().insert(rec[2].clone(), v);
                    }
                    Err(why) => {
                        unreadable.entry(i).or_default().insert(rec[2].clone(), why);
                    }
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
            Record::Machine if n == 3 => {
                state.machine = super::machine::Machine::parse(&rec[1], &rec[2])
            }
            Record::Lock if n == 2 => state.lock = Some(rec[1].clone()),
            Record::Generation if n == 2 => state.generation = Some(rec[1].trim().to_string()),
            Record::Failure if n == 3 => {
                // `<plan>.<step>.json`, or `.in-flight` for a step whose end
                // was never recorded; the step id is `kind.name`.
                let (name, into) = match rec[1].strip_suffix(super::probe::IN_FLIGHT_SUFFIX) {
                    Some(name) => (Some(name), &mut state.in_flight),
                    None => (rec[1].strip_suffix(".json"), &mut state.failures),
                };
                let step = name
                    .and_then(|s| s.split_once('.'))
                    .map(|(_, step)| step.to_string());
                // An unreadable record still stands: dropping it would hide
                // the failure (or interruption) it records.
                if let Some(step) = step {
                    let v = read_record(&content(&rec[2])).unwrap_or_else(|why| {
                        serde_json::json!({ "error": format!("its failure record is unreadable ({why})") })
                    });
                    into.insert(step, v);
                }
            }
            Record::Completion if n == 3 => {
                // An unreadable record proves nothing: the container then
                // counts as incomplete.
                if let (Some(id), Ok(v)) =
                    (rec[1].strip_suffix(".json"), read_record(&content(&rec[2])))
                {
                    state.completions.insert(id.to_string(), v);
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
            recorded_sha256: sums.get(dir).and_then(|s| s.hashes.get(base)).cloned(),
            sums_conflict: sums
                .get(dir)
                .and_then(|s| s.conflicts.get(base))
                .cloned()
                .unwrap_or_default(),
            unreadable: unreadable.remove(&i).unwrap_or_default(),
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
    let marker = format!("1\0{}\0", Record::Contents.tag());
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

/// `1795830561.123456789` (stat's `%.9Y`) as nanoseconds; `None` for
/// anything else, out-of-range numbers included.
fn nanos(t: &str) -> Option<i128> {
    let (s, f) = t.split_once('.').unwrap_or((t, "0"));
    if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: i128 = format!("{f:0<9}").parse().ok()?;
    s.parse::<i128>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(f)
}

/// A JSON record cutter keeps on the host (manifest, evidence, failure):
/// an object, or why it cannot be read.
fn read_record(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) if text.trim().is_empty() => Err(format!("empty ({e})")),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
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

/// A `SHA256SUMS` as read: one hash per name, and the names whose lines
/// disagree (with every hash recorded for each, in file order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    /// name → hash, from its last line.
    pub hashes: HashMap<String, String>,
    /// name → the different hashes its lines record, when they differ:
    /// `sha256sum -c` checks every line, so one of them fails.
    pub conflicts: HashMap<String, Vec<String>>,
}

/// Parse a coreutils `sha256sum` file. Lines that are not checksum lines
/// (not 64 hexadecimal digits, two spaces or ` *`, a name) are skipped.
pub fn parse_sums(text: &str) -> Sums {
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut out = Sums::default();
    for line in text.lines() {
        let Some((name, hash)) = sums_line(line) else {
            continue;
        };
        let hashes = seen.entry(name.clone()).or_default();
        if !hashes.contains(&hash) {
            hashes.push(hash.clone());
        }
        out.hashes.insert(name, hash);
    }
    out.conflicts = seen.into_iter().filter(|(_, h)| h.len() > 1).collect();
    out
}

/// One checksum line as name and lowercase hash.
fn sums_line(line: &str) -> Option<(String, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    // `get`, not slicing: a multi-byte character may straddle byte 64.
    let hash = line.get(..64)?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = &line[64..];
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))?;
    if name.is_empty() {
        return None;
    }
    let name = if escaped {
        unescape_sum_name(name)
    } else {
        name.to_string()
    };
    Some((name, hash.to_ascii_lowercase()))
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
    #[serde(default)]
    options: Option<IndexMap<String, String>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectNetwork {
    #[serde(default)]
    id: String,
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
        .map(|v| {
            let options = v.options.unwrap_or_default();
            // A local volume over a host folder (`--opt type=none --opt
            // o=bind --opt device=DIR`): its data lives in DIR.
            let bound = options
                .get("o")
                .is_some_and(|o| o.split(',').any(|x| x == "bind" || x == "rbind"));
            VolumeInfo {
                name: v.name,
                mountpoint: v.mountpoint,
                device: options
                    .get("device")
                    .filter(|d| bound && d.starts_with('/'))
                    .cloned(),
                labels: v.labels.unwrap_or_default(),
            }
        })
        .collect())
}

fn parse_networks(text: &str) -> Result<Vec<NetworkInfo>, String> {
    let raw: Vec<InspectNetwork> = parse_json("networks", text)?;
    Ok(raw
        .into_iter()
        .map(|n| NetworkInfo {
            id: n.id,
            name: n.name,
            driver: n.driver,
            internal: n.internal,
            labels: n.labels.unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod fuzz;
