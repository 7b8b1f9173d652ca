//! Host primitives: entering a folder by its real path, the `SHA256SUMS` lock
//! and rewrite. Every file a step writes on a host goes through these.

use super::*;

/// Also defines `cutter_nl`, a newline, for splitting text by lines
/// (`SHA256SUMS` is read once and split, not read a byte per system call).
/// Defines `cutter_enter DIR PROTECTED...`, which enters a folder for
/// writing: its real path on the host (symlinks resolved) must not be at or
/// under the real path of a protected path; it is created, entered with
/// `cd -P`, and every later write uses a name relative to it.
pub(super) const ENTER_FN: &str = "cutter_nl='\n'\ncutter_enter() { cutter_dir=$(realpath -m -- \"$1\") || exit 1; shift; for p in \"$@\"; do rp=$(realpath -m -- \"$p\"); case \"$cutter_dir/\" in \"${rp%/}/\"*) echo \"refusing to write in $cutter_dir: it resolves under protected path $p\" >&2; exit 5;; esac; done; mkdir -p -- \"$cutter_dir\" && cd -P -- \"$cutter_dir\" && [ \"$(pwd -P)\" = \"$cutter_dir\" ] || { echo \"cannot enter $cutter_dir\" >&2; exit 5; }; }";

/// The definition of `cutter_enter`, for scripts built elsewhere.
pub fn enter_fn() -> &'static str {
    ENTER_FN
}

/// `cutter_enter DIR PROTECTED...`, for scripts built elsewhere.
pub fn enter_cmd(dir: &str, protected: &Protected) -> String {
    enter(dir, protected)
}

/// `cutter_enter DIR PROTECTED...` (see [`ENTER_FN`]).
pub(super) fn enter(dir: &str, protected: &Protected) -> String {
    let mut s = format!("cutter_enter {}", quote(dir));
    for p in &protected.paths {
        s.push(' ');
        s.push_str(&quote(p));
    }
    s
}

/// Take the folder's `SHA256SUMS` lock, waiting at most a minute. A lock is
/// stale when its holder process is gone and it is at least 10 s old: a
/// holder read just before it released, whose lock another step then took,
/// must not make a waiter remove the new holder's lock.
pub(super) fn sums_lock() -> String {
    "i=0; until mkdir -- ./.SHA256SUMS.cutter-lock 2>/dev/null; do \
     h=$(cat ./.SHA256SUMS.cutter-lock/pid 2>/dev/null || :); \
     if [ -n \"$h\" ] && [ ! -d \"/proc/$h\" ] && [ $(( $(date +%s) - $(stat -c %Y ./.SHA256SUMS.cutter-lock 2>/dev/null || date +%s) )) -ge 10 ]; then rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir ./.SHA256SUMS.cutter-lock 2>/dev/null || :; echo \"removed a stale SHA256SUMS lock of process $h\" >&2; continue; fi; \
     i=$((i+1)); [ $i -lt 600 ] || { echo \"SHA256SUMS in $cutter_dir is locked (./.SHA256SUMS.cutter-lock, process ${h:-unknown}) for over 60s\" >&2; exit 6; }; sleep 0.1; done; \
     echo $$ > ./.SHA256SUMS.cutter-lock/pid; locked=1"
        .into()
}

pub(super) fn sums_unlock() -> String {
    "rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir -- ./.SHA256SUMS.cutter-lock; locked=".into()
}

/// Escape a name for a `SHA256SUMS` line as coreutils does; the flag says
/// whether the line needs a leading backslash.
pub fn sums_name(name: &str) -> (String, bool) {
    let escaped = name.contains('\\') || name.contains('\n') || name.contains('\r');
    (
        name.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
        escaped,
    )
}

/// Rewrite `SHA256SUMS` (under its lock): drop lines for `drop` names and
/// lines of files that are gone, so `sha256sum -c` keeps passing; then add
/// this file's line when `add` is set (`$sha` holds the hash).
pub(super) fn sums_rewrite(name: &str, add: bool) -> String {
    let (sum_name, escaped) = sums_name(name);
    let q_sum_name = quote(&sum_name);
    let h = "?".repeat(64);
    format!(
        "{{ if [ -f ./SHA256SUMS ]; then sums=$(cat ./SHA256SUMS); set -f; ifs=$IFS; IFS=$cutter_nl; for l in $sums; do IFS=$ifs; \
         case \"$l\" in \\\\*) e=${{l#?}}; n=${{e#{h}  }};; *) e=; n=${{l#{h}  }}; [ \"$n\" != \"$l\" ] || n=${{l#{h} \\*}};; esac; \
         [ \"$n\" != {q_sum_name} ] || continue; \
         [ -n \"$e\" ] || [ -e \"./$n\" ] || continue; \
         printf '%s\\n' \"$l\"; done; IFS=$ifs; set +f; fi; \
         {add_line} }} > {tmp} && mv -f -- {tmp} ./SHA256SUMS",
        add_line = if add {
            format!(
                "printf '{}%s  %s\\n' \"$sha\" {q_sum_name};",
                if escaped { "\\\\" } else { "" }
            )
        } else {
            ":;".into()
        },
        tmp = here(&format!(".SHA256SUMS.{name}.cutter-tmp")),
    )
}
