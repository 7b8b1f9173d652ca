//! What a step reports back, typed. A step's script prints its results as
//! `cutter:KEY=VALUE` lines on standard output: [`Key`] names every key
//! once, [`printf`] and [`template`] write them into scripts, and
//! [`StepResult::parse`] reads them once, when the step's output arrives,
//! into the value its kind of step reports. A key that is unknown, not one
//! of that kind of step, repeated, malformed or incomplete is an error, not
//! a silently missing value.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;

use crate::graph::StepKind;

/// Every key a step may print, with its spelling on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    // An artefact step: the file it wrote, and a corrupted one moved aside.
    Path,
    Sha256,
    Size,
    TocEntries,
    Lines,
    Versions,
    Quarantined,
    // A container step: the restore, then the container as Docker sees it.
    RestoreExit,
    RestoreStderr,
    Id,
    State,
    Image,
    ImageId,
    // A teardown: what is left (empty when gone).
    ContainerLeft,
    VolumeLeft,
    NetworkLeft,
    // A check: the query's output here, elsewhere, and the snapshot's.
    Result,
    Other,
    Snapshot,
}

impl Key {
    const ALL: [Key; 19] = [
        Key::Path,
        Key::Sha256,
        Key::Size,
        Key::TocEntries,
        Key::Lines,
        Key::Versions,
        Key::Quarantined,
        Key::RestoreExit,
        Key::RestoreStderr,
        Key::Id,
        Key::State,
        Key::Image,
        Key::ImageId,
        Key::ContainerLeft,
        Key::VolumeLeft,
        Key::NetworkLeft,
        Key::Result,
        Key::Other,
        Key::Snapshot,
    ];

    /// The key's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Key::Path => "path",
            Key::Sha256 => "sha256",
            Key::Size => "size",
            Key::TocEntries => "toc_entries",
            Key::Lines => "lines",
            Key::Versions => "versions",
            Key::Quarantined => "quarantined",
            Key::RestoreExit => "restore_exit",
            Key::RestoreStderr => "restore_stderr",
            Key::Id => "id",
            Key::State => "state",
            Key::Image => "image",
            Key::ImageId => "image_id",
            Key::ContainerLeft => "container_left",
            Key::VolumeLeft => "volume_left",
            Key::NetworkLeft => "network_left",
            Key::Result => "result",
            Key::Other => "other",
            Key::Snapshot => "snapshot",
        }
    }

    /// Free text (query output, a command's stderr) travels base64-encoded,
    /// so that it stays on one line.
    fn base64(self) -> bool {
        matches!(
            self,
            Key::RestoreStderr | Key::Result | Key::Other | Key::Snapshot
        )
    }

    /// The key as the script prints it.
    fn wire(self) -> String {
        if self.base64() {
            format!("{}_b64", self.name())
        } else {
            self.name().to_string()
        }
    }

    /// `cutter:KEY=`, the start of the key's line.
    pub fn prefix(self) -> String {
        format!("cutter:{}=", self.wire())
    }

    /// The kind of step that prints this key.
    fn kind(self) -> StepKind {
        match self {
            Key::Path
            | Key::Sha256
            | Key::Size
            | Key::TocEntries
            | Key::Lines
            | Key::Versions
            | Key::Quarantined => StepKind::Artefact,
            Key::RestoreExit
            | Key::RestoreStderr
            | Key::Id
            | Key::State
            | Key::Image
            | Key::ImageId => StepKind::Container,
            Key::ContainerLeft | Key::VolumeLeft | Key::NetworkLeft => StepKind::Teardown,
            Key::Result | Key::Other | Key::Snapshot => StepKind::Check,
        }
    }
}

/// A `printf` command printing each key's line with the value of its shell
/// word (already base64-encoded for a free-text key).
pub fn printf(fields: &[(Key, &str)]) -> String {
    let format: String = fields
        .iter()
        .map(|(k, _)| format!("{}%s\\n", k.prefix()))
        .collect();
    let words: Vec<&str> = fields.iter().map(|(_, w)| *w).collect();
    format!("printf '{format}' {}", words.join(" "))
}

/// A Go template (`docker inspect -f`) printing each key's line.
pub fn template(fields: &[(Key, &str)]) -> String {
    fields
        .iter()
        .map(|(k, t)| format!("{}{t}", k.prefix()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a step's results cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("`{0}` is not a result line (`cutter:KEY=VALUE`)")]
    Malformed(String),
    #[error("unknown result `{0}`")]
    Unknown(String),
    #[error("result `{key}` does not belong to a {kind} step")]
    Misplaced { key: &'static str, kind: String },
    #[error("result `{0}` was printed twice")]
    Repeated(&'static str),
    #[error("result `{key}` is not {what}: `{value}`")]
    Invalid {
        key: &'static str,
        what: &'static str,
        value: String,
    },
    #[error("result `{present}` came without `{missing}`")]
    Incomplete {
        present: &'static str,
        missing: &'static str,
    },
}

/// A SHA-256 digest: 64 lowercase hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256(String);

impl Sha256 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Sha256 {
    type Err = ();

    fn from_str(s: &str) -> Result<Sha256, ()> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Sha256(s.to_string()))
        } else {
            Err(())
        }
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a step reported; a step that failed early may have reported part
/// of it, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StepResult {
    /// Guards and prunes report nothing through result lines.
    #[default]
    None,
    Artefact(ArtefactResult),
    Container(ContainerResult),
    Check(CheckResult),
    Teardown(TeardownResult),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtefactResult {
    /// The file as written, once it is in place.
    pub written: Option<Written>,
    /// Where a corrupted earlier file was moved aside.
    pub quarantined: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: String,
    pub sha256: Sha256,
    pub size: u64,
    /// A dump's entries in `pg_restore --list`, for archive formats.
    pub toc_entries: Option<u64>,
    /// Line count, for files up to 64 MiB.
    pub lines: Option<u64>,
    /// The server and pg_dump versions a dump records (may be empty).
    pub versions: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerResult {
    pub restore: Option<Restore>,
    pub container: Option<Inspected>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    pub exit: i32,
    pub stderr: String,
}

/// The container as `docker inspect` showed it after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub id: String,
    pub state: String,
    pub image: String,
    pub image_id: String,
}

/// Query output, decoded; the comparison happens locally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckResult {
    pub result: Option<String>,
    pub other: Option<String>,
    pub snapshot: Option<String>,
}

/// What a teardown found left (empty when gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeardownResult {
    pub container_left: String,
    pub volume_left: String,
    pub network_left: String,
}

/// The result lines of one step's output, checked but not yet typed.
struct Lines(BTreeMap<Key, String>);

impl Lines {
    fn read(kind: StepKind, stdout: &str) -> Result<Lines, ResultError> {
        let mut map = BTreeMap::new();
        for line in stdout.lines() {
            let Some(rest) = line.strip_prefix("cutter:") else {
                continue;
            };
            let (wire, value) = rest
                .split_once('=')
                .ok_or_else(|| ResultError::Malformed(line.to_string()))?;
            let key = Key::ALL
                .into_iter()
                .find(|k| k.wire() == wire)
                .ok_or_else(|| ResultError::Unknown(wire.to_string()))?;
            if key.kind() != kind {
                return Err(ResultError::Misplaced {
                    key: key.name(),
                    kind: kind_name(kind),
                });
            }
            let value = if key.base64() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|_| invalid(key, "base64", value))?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                value.to_string()
            };
            if map.insert(key, value).is_some() {
                return Err(ResultError::Repeated(key.name()));
            }
        }
        Ok(Lines(map))
    }

    fn take(&mut self, key: Key) -> Option<String> {
        self.0.remove(&key)
    }

    /// Keys printed together: all of them, or none.
    fn group<const N: usize>(
        &mut self,
        keys: [Key; N],
    ) -> Result<Option<[String; N]>, ResultError> {
        let Some(present) = keys.iter().find(|k| self.0.contains_key(k)) else {
            return Ok(None);
        };
        if let Some(missing) = keys.iter().find(|k| !self.0.contains_key(k)) {
            return Err(ResultError::Incomplete {
                present: present.name(),
                missing: missing.name(),
            });
        }
        Ok(Some(keys.map(|k| self.0.remove(&k).unwrap_or_default())))
    }
}

fn kind_name(kind: StepKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

fn invalid(key: Key, what: &'static str, value: &str) -> ResultError {
    ResultError::Invalid {
        key: key.name(),
        what,
        value: value.to_string(),
    }
}

fn number<T: std::str::FromStr>(key: Key, value: &str) -> Result<T, ResultError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, "a number", value))
}

/// A count that is `null` where it does not apply.
fn count(key: Key, value: &str) -> Result<Option<u64>, ResultError> {
    match value {
        "null" => Ok(None),
        v => number(key, v).map(Some),
    }
}

impl StepResult {
    /// Read the result lines of a step of `kind` from its standard output;
    /// other lines are the step's own output and stay out of it.
    pub fn parse(kind: StepKind, stdout: &str) -> Result<StepResult, ResultError> {
        let mut l = Lines::read(kind, stdout)?;
        Ok(match kind {
            StepKind::Artefact => {
                let written = match l.group([
                    Key::Path,
                    Key::Sha256,
                    Key::Size,
                    Key::TocEntries,
                    Key::Lines,
                    Key::Versions,
                ])? {
                    Some([path, sha256, size, toc, lines, versions]) => Some(Written {
                        sha256: sha256
                            .parse()
                            .map_err(|_| invalid(Key::Sha256, "a SHA-256 digest", &sha256))?,
                        size: number(Key::Size, &size)?,
                        toc_entries: count(Key::TocEntries, &toc)?,
                        lines: count(Key::Lines, &lines)?,
                        path,
                        versions,
                    }),
                    None => None,
                };
                StepResult::Artefact(ArtefactResult {
                    written,
                    quarantined: l.take(Key::Quarantined),
                })
            }
            StepKind::Container => {
                let restore = match l.group([Key::RestoreExit, Key::RestoreStderr])? {
                    Some([exit, stderr]) => Some(Restore {
                        exit: number(Key::RestoreExit, &exit)?,
                        stderr,
                    }),
                    None => None,
                };
                let container = l
                    .group([Key::Id, Key::State, Key::Image, Key::ImageId])?
                    .map(|[id, state, image, image_id]| Inspected {
                        id,
                        state,
                        image,
                        image_id,
                    });
                StepResult::Container(ContainerResult { restore, container })
            }
            StepKind::Check => StepResult::Check(CheckResult {
                result: l.take(Key::Result),
                other: l.take(Key::Other),
                snapshot: l.take(Key::Snapshot),
            }),
            StepKind::Teardown => {
                match l.group([Key::ContainerLeft, Key::VolumeLeft, Key::NetworkLeft])? {
                    Some([container_left, volume_left, network_left]) => {
                        StepResult::Teardown(TeardownResult {
                            container_left,
                            volume_left,
                            network_left,
                        })
                    }
                    None => StepResult::None,
                }
            }
            StepKind::Prune
            | StepKind::GuardBefore
            | StepKind::GuardAfter
            | StepKind::Leftovers => StepResult::None,
        })
    }

    /// Every key with its value as the step printed it (decoded).
    fn fields(&self) -> Vec<(Key, String)> {
        let mut out = Vec::new();
        match self {
            StepResult::None => {}
            StepResult::Artefact(a) => {
                if let Some(w) = &a.written {
                    let count = |c: Option<u64>| c.map_or("null".into(), |c| c.to_string());
                    out.extend([
                        (Key::Path, w.path.clone()),
                        (Key::Sha256, w.sha256.to_string()),
                        (Key::Size, w.size.to_string()),
                        (Key::TocEntries, count(w.toc_entries)),
                        (Key::Lines, count(w.lines)),
                        (Key::Versions, w.versions.clone()),
                    ]);
                }
                if let Some(q) = &a.quarantined {
                    out.push((Key::Quarantined, q.clone()));
                }
            }
            StepResult::Container(c) => {
                if let Some(r) = &c.restore {
                    out.push((Key::RestoreExit, r.exit.to_string()));
                    out.push((Key::RestoreStderr, r.stderr.clone()));
                }
                if let Some(i) = &c.container {
                    out.extend([
                        (Key::Id, i.id.clone()),
                        (Key::State, i.state.clone()),
                        (Key::Image, i.image.clone()),
                        (Key::ImageId, i.image_id.clone()),
                    ]);
                }
            }
            StepResult::Check(k) => {
                for (key, v) in [
                    (Key::Result, &k.result),
                    (Key::Other, &k.other),
                    (Key::Snapshot, &k.snapshot),
                ] {
                    if let Some(v) = v {
                        out.push((key, v.clone()));
                    }
                }
            }
            StepResult::Teardown(t) => out.extend([
                (Key::ContainerLeft, t.container_left.clone()),
                (Key::VolumeLeft, t.volume_left.clone()),
                (Key::NetworkLeft, t.network_left.clone()),
            ]),
        }
        out
    }

    /// The report's `results` map: every key but the free-text ones, which
    /// the report carries as evidence instead.
    pub fn report_map(&self) -> BTreeMap<String, String> {
        self.fields()
            .into_iter()
            .filter(|(k, _)| !k.base64())
            .map(|(k, v)| (k.name().to_string(), v))
            .collect()
    }

    /// The file an artefact step wrote.
    pub fn written(&self) -> Option<&Written> {
        match self {
            StepResult::Artefact(a) => a.written.as_ref(),
            _ => None,
        }
    }

    /// A container step's restore.
    pub fn restore(&self) -> Option<&Restore> {
        match self {
            StepResult::Container(c) => c.restore.as_ref(),
            _ => None,
        }
    }

    /// A container step's container, as inspected after it.
    pub fn inspected(&self) -> Option<&Inspected> {
        match self {
            StepResult::Container(c) => c.container.as_ref(),
            _ => None,
        }
    }

    /// A check's query output.
    pub fn check(&self) -> CheckResult {
        match self {
            StepResult::Check(k) => k.clone(),
            _ => CheckResult::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn an_artefact_step_reads_into_its_file() {
        let out = format!(
            "noise\ncutter:quarantined=/b/.cutter-quarantine.x.a\ncutter:path=/b/a\ncutter:sha256={SHA}\ncutter:size=12\ncutter:toc_entries=null\ncutter:lines=3\ncutter:versions=\n"
        );
        let r = StepResult::parse(StepKind::Artefact, &out).unwrap();
        let w = r.written().unwrap();
        assert_eq!(
            (w.path.as_str(), w.size, w.toc_entries, w.lines),
            ("/b/a", 12, None, Some(3))
        );
        let map = r.report_map();
        assert_eq!(map["toc_entries"], "null");
        assert_eq!(map["lines"], "3");
        assert_eq!(map["quarantined"], "/b/.cutter-quarantine.x.a");
        assert_eq!(map.len(), 7);
    }

    #[test]
    fn free_text_is_decoded_and_left_out_of_the_report_map() {
        let out = "cutter:restore_exit=1\ncutter:restore_stderr_b64=ZXJyb3I6IHgK\ncutter:id=abc\ncutter:state=running\ncutter:image=postgres:16\ncutter:image_id=sha256:1\n";
        let r = StepResult::parse(StepKind::Container, out).unwrap();
        assert_eq!(r.restore().unwrap().stderr, "error: x\n");
        assert_eq!(r.restore().unwrap().exit, 1);
        assert_eq!(
            r.report_map().keys().collect::<Vec<_>>(),
            ["id", "image", "image_id", "restore_exit", "state"]
        );
    }

    #[test]
    fn what_the_writer_prints_the_parser_reads() {
        let line = printf(&[
            (Key::ContainerLeft, "''"),
            (Key::VolumeLeft, "''"),
            (Key::NetworkLeft, "x"),
        ]);
        assert_eq!(
            line,
            "printf 'cutter:container_left=%s\\ncutter:volume_left=%s\\ncutter:network_left=%s\\n' '' '' x"
        );
        let out = "cutter:container_left=\ncutter:volume_left=\ncutter:network_left=x\n";
        let r = StepResult::parse(StepKind::Teardown, out).unwrap();
        assert_eq!(r.report_map()["network_left"], "x");
        assert_eq!(
            template(&[(Key::Id, "{{.Id}}"), (Key::State, "{{.State.Status}}")]),
            "cutter:id={{.Id}}\ncutter:state={{.State.Status}}"
        );
    }

    #[test]
    fn bad_result_lines_are_errors() {
        let bad = [
            (
                StepKind::Check,
                "cutter:resul_b64=eA==",
                "unknown result `resul_b64`",
            ),
            (StepKind::Check, "cutter:nothing", "is not a result line"),
            (
                StepKind::Check,
                "cutter:path=/x",
                "does not belong to a check step",
            ),
            (StepKind::Check, "cutter:result_b64=%%", "is not base64"),
            (
                StepKind::Check,
                "cutter:result_b64=\ncutter:result_b64=",
                "printed twice",
            ),
            (
                StepKind::Container,
                "cutter:restore_exit=x\ncutter:restore_stderr_b64=",
                "is not a number",
            ),
            (StepKind::Container, "cutter:id=abc", "came without `state`"),
            (
                StepKind::Artefact,
                "cutter:path=/a\ncutter:sha256=xyz\ncutter:size=1\ncutter:toc_entries=null\ncutter:lines=null\ncutter:versions=",
                "is not a SHA-256 digest",
            ),
            (
                StepKind::GuardBefore,
                "cutter:id=abc",
                "does not belong to a guard",
            ),
        ];
        for (kind, out, want) in bad {
            let e = StepResult::parse(kind, out).unwrap_err().to_string();
            assert!(e.contains(want), "{out:?}: {e}");
        }
    }

    #[test]
    fn a_step_that_printed_nothing_reports_nothing() {
        assert_eq!(
            StepResult::parse(StepKind::Artefact, "").unwrap(),
            StepResult::Artefact(ArtefactResult::default())
        );
        assert!(
            StepResult::parse(StepKind::Teardown, "")
                .unwrap()
                .report_map()
                .is_empty()
        );
    }
}

#[cfg(test)]
mod fuzz;
