//! The read-only probe: one shell script per host, sent on standard input.

use std::fmt::Write;

use crate::plan::Plan;

/// Where a host's apply lock lives (relative to the login's home).
pub const LOCK_DIR: &str = "$HOME/.cutter/apply.lock";

const PRELUDE: &str = r#"export LC_ALL=C
r() { printf '%s\0' "$#" "$@"; }
a() {
  i=$1; shift; n=0; last=
  for f in "$@"; do [ -f "$f" ] || continue; n=$((n+1)); last=$f; done
  if [ -z "$last" ]; then r A "$i" 0; return; fi
  st=$(stat -c '%s %Y' -- "$last" 2>/dev/null) || st='0 0'
  h=$(sha256sum < "$last") || h=unreadable; h=${h%% *}
  d=${last%/*}; sums=; man=
  [ -f "$d/SHA256SUMS" ] && sums=$(cat -- "$d/SHA256SUMS")
  [ -f "$last.cutter.json" ] && man=$(cat -- "$last.cutter.json")
  r A "$i" "$n" "$last" "$st" "$h" "$sums" "$man"
  for e in "$last".*.json; do
    [ -f "$e" ] || continue
    b=${e##*/}; b=${b#"${last##*/}".}
    [ "$b" = cutter.json ] || r E "$i" "$b" "$(cat -- "$e")"
  done
}
dk() {
  out=$("$@" 2>&1); rc=$?
  printf '%s' "$out"; return $rc
}
"#;

const DOCKER: &str = r#"if command -v docker >/dev/null 2>&1; then
  ids=$(dk docker ps -aq --no-trunc); rc=$?
  if [ $rc -ne 0 ]; then r D containers $rc "$ids"; else
    if [ -n "$ids" ]; then out=$(dk docker inspect $ids); r D containers $? "$out"; else r D containers 0 ''; fi
    v=$(docker volume ls -q 2>/dev/null)
    if [ -n "$v" ]; then out=$(dk docker volume inspect $v); r D volumes $? "$out"; else r D volumes 0 ''; fi
    nw=$(docker network ls -q 2>/dev/null)
    if [ -n "$nw" ]; then out=$(dk docker network inspect $nw); r D networks $? "$out"; else r D networks 0 ''; fi
  fi
else
  r M docker
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
        let _ = writeln!(s, "a {i} {}", a.path.glob());
    }
    if plan.uses_docker(host) {
        s.push_str(DOCKER);
    }
    let _ = writeln!(
        s,
        "[ -f \"{LOCK_DIR}/holder\" ] && r L \"$(cat \"{LOCK_DIR}/holder\")\""
    );
    s.push_str("exit 0\n");
    s
}
