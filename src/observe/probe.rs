//! The read-only probe: one shell script per host, sent on standard input.
//!
//! It forks a constant number of processes however many artefacts the plan
//! has: globs and `[ -f ]` are shell built-ins, small files (manifests,
//! evidence, `SHA256SUMS`, verification records) are read with the `read`
//! built-in, and the metadata of all newest matches comes from one `stat`.

use std::fmt::Write;

use crate::plan::Plan;

/// Where a host's apply lock lives (relative to the login's home).
pub const LOCK_DIR: &str = "$HOME/.cutter/apply.lock";

/// A token every apply writes anew when it gives its lock back (and
/// `unlock` when it removes one): an observation that saw no lock and the
/// same token as the lock's taker sees next was made with no apply between.
pub const GENERATION_FILE: &str = "$HOME/.cutter/apply.generation";

/// Where failures of guards, checks and restore tests are recorded on a host
/// until they are dealt with (`<plan>.<step>.json`).
pub const FAILURES_DIR: &str = "$HOME/.cutter/failures";

/// The suffix of a step's "in flight" record beside the failure records
/// (`<plan>.<step>.in-flight`): the step started and its end is not known.
pub const IN_FLIGHT_SUFFIX: &str = ".in-flight";

/// Where the completion records of cutter's persistent containers live on a
/// host: `<full container ID>.json`, written last by the step that made it.
pub const COMPLETIONS_DIR: &str = "$HOME/.cutter/containers";

/// The file-name prefix of a plan's failure records: its file stem and a
/// digest of its absolute path, so that two plans with the same file name
/// (in different folders) never see each other's failures.
pub fn failure_prefix(plan: &Plan) -> String {
    use sha2::Digest;
    let path = std::fs::canonicalize(&plan.file).unwrap_or(plan.file.clone());
    let digest = hex::encode(sha2::Sha256::digest(path.display().to_string().as_bytes()));
    let stem: String = plan
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}-{}", &digest[..8])
}

const PRELUDE: &str = r#"export LC_ALL=C
r() { printf '%s\0' "$#" "$@"; }
# Small files (SHA256SUMS, manifests, evidence, records) are not read here:
# dash's `read` takes a system call per byte. Their paths are collected and
# one `grep` prints them all at the end; records carry the path. Each
# artefact keeps its own list (`w_<index>`) and its newest match (`l_<index>`)
# in variables of its own: growing one string or "$@" artefact by artefact
# copies it each time, which made a 1000-artefact probe quadratic.
w=
slurp() { c=$1; w="$w$1
"; }
found() {
  rec_artefact "$1" "$2" "$3"
  w=; i=$1; p=$3; d=${3%/*}; shift 3
  if [ -f "$d/SHA256SUMS" ]; then slurp "$d/SHA256SUMS"; rec_sums "$d" "$c"; fi
  for b in "$@"; do
    [ -f "$p.$b" ] || continue
    slurp "$p.$b"; rec_evidence "$i" "$b" "$c"
  done
  v="$d/.${p##*/}.cutter-verified"
  if [ -f "$v" ]; then slurp "$v"; rec_verified "$i" "$c"; fi
}
dk() {
  out=$("$@" 2>&1); rc=$?
  printf '%s' "$out"; return $rc
}
"#;

/// Containers, volumes and networks are listed and inspected by three
/// chains of `docker` commands that run at once, as the stages of one
/// pipeline: each stage first does its own listing, then passes on the
/// records of the stages before it (`cat`) and adds its own, so they come
/// out in order.
const DOCKER: &str = r#"if command -v docker >/dev/null 2>&1; then
  {
    ids=$(dk docker ps -aq --no-trunc); rc=$?
    if [ $rc -ne 0 ]; then rec_docker containers $rc "$ids"
    elif [ -n "$ids" ]; then out=$(docker inspect --format "$cf" $ids 2>/dev/null); rec_docker containers $? "$out"
    else rec_docker containers 0 ''; fi
  } | {
    v=$(docker volume ls -q 2>/dev/null)
    if [ -n "$v" ]; then out=$(docker volume inspect $v 2>/dev/null); rc=$?; else out=; rc=0; fi
    cat; rec_docker volumes $rc "$out"
  } | {
    nw=$(docker network ls -q 2>/dev/null)
    if [ -n "$nw" ]; then out=$(docker network inspect $nw 2>/dev/null); rc=$?; else out=; rc=0; fi
    cat; rec_docker networks $rc "$out"
  }
else
  rec_missing docker
fi
"#;

/// Size, mtime, inode and ctime of every newest match, with one process.
/// Checksums are not computed here: the caller hashes only what its
/// verification records cannot vouch for (see `observe`).
const FILES: &str = r#"if [ $# -gt 0 ]; then
  printf '%s\0' "$(($# + 1))" "$stat_tag"
  stat --printf '%s %.9Y %i %.9Z %n\0' -- "$@"
fi
"#;

/// The records the probe writes: a field count, the record's tag, then its
/// fields, NUL-separated. The writer's shell functions and the parser both
/// take the tags from here, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// index, count[, newest path]: the matches of an artefact.
    Artefact,
    /// folder, content: a `SHA256SUMS`.
    Sums,
    /// index, name, content: an evidence file beside the newest match.
    Evidence,
    /// index, content: the verification record of the newest match.
    Verified,
    /// index, path, made-by-cutter: every match (artefacts with retention).
    Match,
    /// `size mtime inode ctime path` of every newest match.
    Stat,
    /// what, exit code, output: `docker inspect` of containers, volumes, networks.
    Docker,
    /// program: a program the plan needs is missing on the host.
    Missing,
    /// holder: the host's apply lock.
    Lock,
    /// token: the host's apply generation (see [`GENERATION_FILE`]).
    Generation,
    /// file name, content: a standing failure, or a step in flight.
    Failure,
    /// machine ID, `docker info` (root directory, daemon ID): the host's
    /// identity and Docker's data (see [`super::machine`]).
    Machine,
    /// file name (`<container ID>.json`), content: the completion record
    /// of a container cutter made.
    Completion,
    /// The last record: what follows is `grep -H -Z` output, each line of
    /// each small file as `path NUL line`, the content of the paths the
    /// records above name.
    Contents,
}

impl Record {
    const ALL: [Record; 14] = [
        Record::Artefact,
        Record::Sums,
        Record::Evidence,
        Record::Verified,
        Record::Match,
        Record::Stat,
        Record::Docker,
        Record::Missing,
        Record::Lock,
        Record::Generation,
        Record::Failure,
        Record::Machine,
        Record::Completion,
        Record::Contents,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Record::Artefact => "A",
            Record::Sums => "S",
            Record::Evidence => "E",
            Record::Verified => "V",
            Record::Match => "O",
            Record::Stat => "T",
            Record::Docker => "D",
            Record::Missing => "M",
            Record::Lock => "L",
            Record::Generation => "N",
            Record::Failure => "F",
            Record::Machine => "H",
            Record::Completion => "C",
            Record::Contents => "G",
        }
    }

    /// The shell function of the probe that writes this record.
    fn function(self) -> &'static str {
        match self {
            Record::Artefact => "rec_artefact",
            Record::Sums => "rec_sums",
            Record::Evidence => "rec_evidence",
            Record::Verified => "rec_verified",
            Record::Match => "rec_match",
            Record::Stat => "rec_stat",
            Record::Docker => "rec_docker",
            Record::Missing => "rec_missing",
            Record::Lock => "rec_lock",
            Record::Generation => "rec_generation",
            Record::Failure => "rec_failure",
            Record::Machine => "rec_machine",
            Record::Completion => "rec_completion",
            Record::Contents => "rec_contents",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Record> {
        Record::ALL.into_iter().find(|r| r.tag() == tag)
    }

    /// Shell definitions of the writer functions.
    fn definitions() -> String {
        let mut s = format!("stat_tag={}\n", Record::Stat.tag());
        for r in Record::ALL {
            let _ = writeln!(s, "{}() {{ r {} \"$@\"; }}", r.function(), r.tag());
        }
        s
    }
}

/// The probe for one host of the plan.
pub fn probe_script(plan: &Plan, host: &str) -> String {
    let mut s = String::from(PRELUDE);
    s.push_str(&Record::definitions());
    // The apply generation is read before anything is observed: an apply
    // that runs while the probe runs then writes a newer token, and the
    // observation is not taken for current (see `GENERATION_FILE`).
    let _ = writeln!(
        s,
        "[ -f \"{GENERATION_FILE}\" ] && rec_generation \"$(cat \"{GENERATION_FILE}\")\""
    );
    for (i, a) in plan
        .artefacts
        .values()
        .filter(|a| a.host == host)
        .enumerate()
    {
        // With retention, every match is listed, and whether cutter made it
        // (a manifest beside it).
        let each = if a.keep.is_some() {
            format!(
                " if [ -f \"$f.cutter.json\" ]; then rec_match {i} \"$f\" 1; else rec_match {i} \"$f\" 0; fi;"
            )
        } else {
            String::new()
        };
        // The evidence files that may sit beside it, by name: a test of a
        // file name per artefact instead of listing its folder each time.
        let mut evidence = String::from(" cutter.json");
        for c in plan
            .containers
            .values()
            .filter(|c| c.restore.as_ref().is_some_and(|r| r.artefact == a.name))
        {
            evidence.push(' ');
            evidence.push_str(&crate::shell::quote(&c.evidence_name()));
        }
        let _ = writeln!(
            s,
            "n=0; last=; for f in {}; do [ -f \"$f\" ] || continue;{each} n=$((n+1)); last=$f; done; if [ -n \"$last\" ]; then found {i} \"$n\" \"$last\"{evidence}; l_{i}=$last; w_{i}=$w; else rec_artefact {i} 0; fi",
            a.path.glob()
        );
    }
    // Every run: what protects the machine's data whatever the plan says.
    s.push_str(super::machine::PROBE);
    s.push_str("w_k=\n");
    if plan.uses_docker(host) {
        let _ = writeln!(s, "cf={}", crate::shell::quote(super::CONTAINER_FORMAT));
        s.push_str(DOCKER);
        // The completion records of cutter's containers: a glob, no process.
        let _ = writeln!(
            s,
            "w=; for f in \"{}\"/*.json; do [ -f \"$f\" ] || continue; slurp \"$f\"; rec_completion \"${{f##*/}}\" \"$c\"; done; w_k=$w",
            COMPLETIONS_DIR
        );
    }
    let _ = writeln!(
        s,
        "[ -f \"{LOCK_DIR}/holder\" ] && rec_lock \"$(cat \"{LOCK_DIR}/holder\")\""
    );
    // Failures of earlier applies of this plan that still stand, and steps
    // whose end was never recorded.
    let prefix = crate::shell::quote(&failure_prefix(plan));
    let _ = writeln!(
        s,
        "w=; for f in \"{FAILURES_DIR}\"/{prefix}.*.json \"{FAILURES_DIR}\"/{prefix}.*{IN_FLIGHT_SUFFIX}; do [ -f \"$f\" ] || continue; slurp \"$f\"; rec_failure \"${{f##*/}}\" \"$c\"; done; w_f=$w",
    );
    // The newest matches, for one `stat`, and the small files, for one
    // `grep`: each list assembled by a single command.
    let count = plan.artefacts.values().filter(|a| a.host == host).count();
    s.push_str("set --");
    for i in 0..count {
        let _ = write!(s, " ${{l_{i}+\"$l_{i}\"}}");
    }
    s.push('\n');
    s.push_str(FILES);
    s.push_str("want=$(printf '%s' \"$w_f\" \"$w_k\"");
    for i in 0..count {
        let _ = write!(s, " \"$w_{i}\"");
    }
    s.push_str(")\n");
    let _ = writeln!(
        s,
        "if [ -n \"$want\" ]; then printf '%s\\0' 1 {}; printf '%s\\n' \"$want\" | sort -u | xargs -d '\\n' grep -s -H -Z -a '' --; fi",
        Record::Contents.tag()
    );
    s.push_str("exit 0\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An observation may stand in for one under the lock only if the
    /// generation it reports was read before anything else was observed.
    #[test]
    fn the_generation_is_read_before_anything_is_observed() {
        let plan = crate::plan::load_str(
            std::path::Path::new("plan.toml"),
            "[hosts.h]\nssh = \"h\"\n[hosts.h.protected]\ncontainers = [\"db\"]\n[artefacts.a]\npath = \"/srv/a.txt\"\ncontainer = \"db\"\nquery = { database = \"d\", user = \"u\", sql = \"SELECT 1\" }\n",
            &|_| None,
        )
        .expect("plan");
        let script = probe_script(&plan, "h");
        let generation = script
            .find("rec_generation \"$(cat")
            .expect("generation read");
        for observed in [
            "for f in",
            "docker ps",
            "apply.lock/holder\" ] &&",
            ".cutter/failures",
            "stat --printf",
        ] {
            if let Some(at) = script.find(observed) {
                assert!(generation < at, "`{observed}` comes before the generation");
            }
        }
        assert!(generation < script.find("for f in").unwrap());
    }
}
