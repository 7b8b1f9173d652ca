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

/// Where failures of guards, checks and restore tests are recorded on a host
/// until they are dealt with (`<plan>.<step>.json`).
pub const FAILURES_DIR: &str = "$HOME/.cutter/failures";

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
slurp() { c=; while IFS= read -r l || [ -n "$l" ]; do c="$c$l
"; done < "$1"; }
seen=
found() {
  r A "$1" "$2" "$3"
  d=${3%/*}
  case "$seen" in *"//$d//"*) ;; *) seen="$seen//$d//"; if [ -f "$d/SHA256SUMS" ]; then slurp "$d/SHA256SUMS"; r S "$d" "$c"; fi;; esac
  for e in "$3".*.json; do
    [ -f "$e" ] || continue
    b=${e##*/}; b=${b#"${3##*/}".}
    slurp "$e"; r E "$1" "$b" "$c"
  done
  v="$d/.${3##*/}.cutter-verified"
  if [ -f "$v" ]; then slurp "$v"; r V "$1" "$c"; fi
}
dk() {
  out=$("$@" 2>&1); rc=$?
  printf '%s' "$out"; return $rc
}
set --
"#;

const DOCKER: &str = r#"if command -v docker >/dev/null 2>&1; then
  ids=$(dk docker ps -aq --no-trunc); rc=$?
  if [ $rc -ne 0 ]; then r D containers $rc "$ids"; else
    if [ -n "$ids" ]; then out=$(docker inspect --format "$cf" $ids 2>/dev/null); r D containers $? "$out"; else r D containers 0 ''; fi
    v=$(docker volume ls -q 2>/dev/null)
    if [ -n "$v" ]; then out=$(docker volume inspect $v 2>/dev/null); r D volumes $? "$out"; else r D volumes 0 ''; fi
    nw=$(docker network ls -q 2>/dev/null)
    if [ -n "$nw" ]; then out=$(docker network inspect $nw 2>/dev/null); r D networks $? "$out"; else r D networks 0 ''; fi
  fi
else
  r M docker
fi
"#;

/// Size, mtime, inode and ctime of every newest match, with one process.
/// Checksums are not computed here: the caller hashes only what its
/// verification records cannot vouch for (see `observe`).
const FILES: &str = r#"if [ $# -gt 0 ]; then
  printf '%s\0' "$(($# + 1))" T
  stat --printf '%s %.9Y %i %.9Z %n\0' -- "$@"
fi
"#;

/// The probe for one host of the plan.
pub fn probe_script(plan: &Plan, host: &str) -> String {
    let mut s = String::from(PRELUDE);
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
                " if [ -f \"$f.cutter.json\" ]; then r O {i} \"$f\" 1; else r O {i} \"$f\" 0; fi;"
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "n=0; last=; for f in {}; do [ -f \"$f\" ] || continue;{each} n=$((n+1)); last=$f; done; if [ -n \"$last\" ]; then found {i} \"$n\" \"$last\"; set -- \"$@\" \"$last\"; else r A {i} 0; fi",
            a.path.glob()
        );
    }
    if plan.uses_docker(host) {
        let _ = writeln!(
            s,
            "cf={}",
            crate::shell::quote(crate::apply::script::CONTAINER_FORMAT)
        );
        s.push_str(DOCKER);
    }
    let _ = writeln!(
        s,
        "[ -f \"{LOCK_DIR}/holder\" ] && r L \"$(cat \"{LOCK_DIR}/holder\")\""
    );
    // Failures of earlier applies of this plan that still stand.
    let _ = writeln!(
        s,
        "for f in \"{FAILURES_DIR}\"/{}.*.json; do [ -f \"$f\" ] || continue; slurp \"$f\"; r F \"${{f##*/}}\" \"$c\"; done",
        crate::shell::quote(&failure_prefix(plan))
    );
    s.push_str(FILES);
    s.push_str("exit 0\n");
    s
}
