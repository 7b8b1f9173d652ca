//! Host primitives: the one way cutter writes files on a host.
//!
//! Every file a step creates or replaces (an artefact, its stderr file,
//! `SHA256SUMS`, a manifest, a verification record, evidence, a report copy)
//! is written by the shell functions of [`LIB`], which every host program
//! defines before its commands. Plan values reach them only as quoted
//! arguments, built by the functions of this module:
//!
//! - [`enter`]: `cd -P` into a folder by its real path, refused when that
//!   real path is at or under the real path of any protected path (declared
//!   in the plan, or observed: Docker's root, protected volumes and mounts),
//!   or when it holds a line break (reachable through a link): the list of
//!   temporaries is split on line breaks, and `rm -rf` of a piece of such a
//!   path would remove the folder named before the break;
//! - [`temp`]: temporaries are created exclusively (`mktemp`, `O_EXCL`) under
//!   a name no existing entry can answer, carrying the creating process's
//!   ID so that the next step in the folder removes what a killed one left;
//!   a file gets the mode the account's umask gives (as `>` would);
//! - [`put`]: a file takes its final name by `rename(2)` (`mv -T`), which
//!   never follows a link and never moves into a directory, and only onto a
//!   regular file or nothing;
//! - every write is checked (`... > "$t" || exit`, never `&&` under `set -e`,
//!   which ignores a failed write), and a write that filled the file system
//!   fails the step instead of leaving a truncated file that looks complete;
//! - the `SHA256SUMS` lock is a folder whose holder is written before it
//!   takes the lock's name, so a lock never exists without a holder.

use crate::shell::quote;

/// The exit status of a refusal by the boundary (a protected real path, a
/// link or a folder where a file goes).
pub const REFUSED: i32 = 5;

/// The shell functions every host program that writes files defines. POSIX
/// `sh` (dash, busybox), GNU or busybox coreutils. A function exits the
/// program on failure; none returns an error for the caller to forget.
pub const LIB: &str = r#"cutter_nl='
'
cutter_temps=
cutter_locked=
cutter_mode=$(printf '%o' $(( 0666 & ~0$(umask) )))
cutter_fail() { echo "$*" >&2; exit 1; }
cutter_refuse() { echo "$*" >&2; exit 5; }
cutter_enter() {
  cutter_dir=$(realpath -m -- "$1") || cutter_refuse "cannot resolve the folder $1"
  case $cutter_dir in *"$cutter_nl"*) cutter_refuse "refusing to write in $1: its real path has a line break";; esac; shift
  cutter_prot=
  for cutter_p in "$@"; do
    cutter_rp=$(realpath -m -- "$cutter_p") || cutter_refuse "cannot resolve the protected path $cutter_p"
    case "$cutter_dir/" in "${cutter_rp%/}/"*) cutter_refuse "refusing to write in $cutter_dir: it resolves under protected path $cutter_p";; esac
    cutter_prot="$cutter_prot${cutter_rp%/}$cutter_nl"
  done
  mkdir -p -- "$cutter_dir" || cutter_refuse "cannot create $cutter_dir"
  cd -P -- "$cutter_dir" || cutter_refuse "cannot enter $cutter_dir"
  [ "$(pwd -P)" = "$cutter_dir" ] || cutter_refuse "cannot enter $cutter_dir: it changed while being entered"
  for cutter_f in ./.cutter-tmp.*; do
    [ -e "$cutter_f" ] || [ -L "$cutter_f" ] || continue
    cutter_p=${cutter_f#./.cutter-tmp.}; cutter_p=${cutter_p%%.*}
    case $cutter_p in ''|*[!0-9]*) continue;; esac
    [ -d "/proc/$cutter_p" ] || cutter_protected "$cutter_f" || rm -rf -- "$cutter_f" 2>/dev/null || :
  done
}
cutter_protected() {
  cutter_pt="$cutter_dir/${1#./}"
  set -f; cutter_ifs=$IFS; IFS=$cutter_nl
  for cutter_rp in $cutter_prot; do
    case "$cutter_pt/" in "$cutter_rp/"*) IFS=$cutter_ifs; set +f; return 0;; esac
    case "$cutter_rp/" in "$cutter_pt/"*) IFS=$cutter_ifs; set +f; return 0;; esac
  done
  IFS=$cutter_ifs; set +f; return 1
}
cutter_mine() {
  for cutter_n in "$@"; do
    if cutter_protected "$cutter_n"; then cutter_refuse "refusing to touch $cutter_dir/${cutter_n#./}: it is protected"; fi
  done
}
cutter_temp() {
  cutter_t=$(mktemp $2 "./.cutter-tmp.$$.$3.XXXXXX") || cutter_fail "cannot create a temporary file in $cutter_dir"
  cutter_temps="$cutter_temps$cutter_dir/${cutter_t#./}$cutter_nl"
  [ -n "$2" ] || chmod "$cutter_mode" "$cutter_t" || cutter_fail "cannot set the mode of $cutter_dir/$cutter_t"
  eval "$1=\$cutter_t"
}
cutter_drop_temps() {
  set -f; cutter_ifs=$IFS; IFS=$cutter_nl
  for cutter_f in $cutter_temps; do rm -rf -- "$cutter_f" 2>/dev/null || :; done
  IFS=$cutter_ifs; set +f; cutter_temps=
}
cutter_room() {
  room=$(df -Pk -- "$1" 2>/dev/null | tail -n 1) || return 0
  set -- $room
  [ "${4:-1}" != 0 ] || cutter_fail "No space left on device: ${6:-the file system} is full; what was written may be incomplete"
}
cutter_write() {
  printf '%s' "$2" > "$1" || cutter_fail "cannot write in $cutter_dir"
  cutter_room "$1"
}
cutter_dest() {
  cutter_mine "$@"
  for cutter_n in "$@"; do
    if [ -L "$cutter_n" ] || { [ -e "$cutter_n" ] && [ ! -f "$cutter_n" ]; }; then
      cutter_refuse "refusing to replace $cutter_dir/${cutter_n#./}: it is a link or not a regular file"
    fi
  done
}
cutter_put() {
  cutter_dest "$2"
  mv -fT -- "$1" "$2" || cutter_fail "cannot put $cutter_dir/$2 in place"
}
cutter_lock() {
  cutter_temp cutter_h -d lock
  printf '%s\n' "$$" > "$cutter_h/pid" || cutter_fail "cannot write the SHA256SUMS lock's holder in $cutter_dir"
  cutter_since=$(date +%s)
  until mv -T -- "$cutter_h" ./.SHA256SUMS.cutter-lock 2>/dev/null; do
    [ ! -L ./.SHA256SUMS.cutter-lock ] || cutter_refuse "refusing the SHA256SUMS lock in $cutter_dir: ./.SHA256SUMS.cutter-lock is a link"
    h=$(cat ./.SHA256SUMS.cutter-lock/pid 2>/dev/null) || h=
    age=$(( $(date +%s) - $(stat -c %Y ./.SHA256SUMS.cutter-lock 2>/dev/null || date +%s) ))
    case $h in
      ''|*[!0-9]*) [ "$age" -lt 60 ] || { rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir ./.SHA256SUMS.cutter-lock 2>/dev/null && echo "removed a SHA256SUMS lock in $cutter_dir whose holder could not be read (${age}s old)" >&2; continue; };;
      *) if [ ! -d "/proc/$h" ] && [ "$age" -ge 10 ]; then rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir ./.SHA256SUMS.cutter-lock 2>/dev/null && echo "removed a stale SHA256SUMS lock of process $h" >&2; continue; fi;;
    esac
    [ $(( $(date +%s) - cutter_since )) -lt 60 ] || { echo "SHA256SUMS in $cutter_dir is locked (./.SHA256SUMS.cutter-lock, process ${h:-unreadable}, ${age}s old) for over 60s" >&2; exit 6; }
    sleep 0.1
  done
  cutter_locked=$cutter_dir
}
cutter_unlock() {
  [ -n "$cutter_locked" ] || return 0
  if [ "$(cat "$cutter_locked/.SHA256SUMS.cutter-lock/pid" 2>/dev/null)" = "$$" ]; then
    rm -f -- "$cutter_locked/.SHA256SUMS.cutter-lock/pid"; rmdir -- "$cutter_locked/.SHA256SUMS.cutter-lock" 2>/dev/null || :
  fi
  cutter_locked=
}
cutter_sums() {
  cutter_temp cutter_s '' sums
  {
    if [ -f ./SHA256SUMS ]; then
      sums=$(cat ./SHA256SUMS) || cutter_fail "cannot read $cutter_dir/SHA256SUMS"
      set -f; ifs=$IFS; IFS=$cutter_nl
      for l in $sums; do
        IFS=$ifs
        case "$l" in
          \\*) e=${l#?}; n=${e#????????????????????????????????????????????????????????????????  };;
          *) e=; n=${l#????????????????????????????????????????????????????????????????  }; [ "$n" != "$l" ] || n=${l#???????????????????????????????????????????????????????????????? \*};;
        esac
        [ "$n" != "$1" ] || continue
        [ -n "$e" ] || [ -e "./$n" ] || continue
        printf '%s\n' "$l" || exit 1
      done
      IFS=$ifs; set +f
    fi
    if [ -n "$2" ]; then printf "$3%s  %s\n" "$2" "$1" || exit 1; fi
  } > "$cutter_s" || cutter_fail "cannot write SHA256SUMS in $cutter_dir"
  cutter_room "$cutter_s"
}
cutter_sums_put() {
  if [ -s "$cutter_s" ]; then cutter_put "$cutter_s" SHA256SUMS
  elif [ -f ./SHA256SUMS ] && [ ! -L ./SHA256SUMS ]; then rm -f ./SHA256SUMS
  fi
}
"#;

/// A plain file name inside an entered folder: no `/`, not `.` or `..`, no
/// control characters, not empty. Only such names reach [`put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf(String);

impl Leaf {
    pub fn new(name: &str) -> Result<Leaf, String> {
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!("`{name}` is not a file name"));
        }
        if name.contains('/') || name.chars().any(char::is_control) {
            return Err(format!(
                "`{}` is not a plain file name (a `/` or a control character)",
                name.escape_debug()
            ));
        }
        Ok(Leaf(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted, relative to the entered folder (`./NAME`), so that
    /// it can never be read as an option.
    pub fn word(&self) -> String {
        crate::shell::here(&self.0)
    }
}

/// `cutter_enter DIR PROTECTED...`: enter `dir` by its real path, refused
/// under any of `protected` (real paths resolved on the host).
pub fn enter<'a>(dir: &str, protected: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = format!("cutter_enter {}", quote(dir));
    for p in protected {
        s.push(' ');
        s.push_str(&quote(p));
    }
    s
}

/// `cutter_temp VAR '' ROLE`: a new temporary file in the entered folder,
/// its name in `$VAR`, removed by [`drop_temps`] unless [`put`] in place.
/// `role` is a word of cutter's own (`out`, `err`, ...), shown in the name.
pub fn temp(var: &str, role: &str) -> String {
    debug_assert!(
        role.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "a temporary's role is cutter's own word"
    );
    format!("cutter_temp {var} '' {role}")
}

/// The file-name prefix of the temporaries of role `role` (for a glob on
/// the host: `.cutter-tmp.<pid>.<role>.XXXXXX`).
pub fn temp_glob(role: &str) -> String {
    format!(".cutter-tmp.*.{role}.*")
}

/// `cutter_put "$VAR" ./LEAF`: publish a temporary under its final name.
pub fn put(var: &str, leaf: &Leaf) -> String {
    format!("cutter_put \"${var}\" {}", leaf.word())
}

/// `cutter_dest ./LEAF...`: refuse now, before anything takes its name,
/// if any of these names is a link or not a regular file.
pub fn dest(leaves: &[&Leaf]) -> String {
    let mut s = String::from("cutter_dest");
    for l in leaves {
        s.push(' ');
        s.push_str(&l.word());
    }
    s
}

/// Write a text (a shell word of cutter's: a quoted value or an expansion of
/// its own variables) into a new temporary and publish it as `leaf`.
pub fn write_file(leaf: &Leaf, text: &str) -> String {
    format!(
        "{}; cutter_write \"$cutter_w\" {text}; {}",
        temp("cutter_w", "file"),
        put("cutter_w", leaf)
    )
}

/// Copy standard input into a new temporary and publish it as `leaf`.
pub fn write_stdin(leaf: &Leaf) -> String {
    format!(
        "{}; cat > \"$cutter_w\" || cutter_fail \"cannot write in $cutter_dir\"; cutter_room \"$cutter_w\"; {}",
        temp("cutter_w", "file"),
        put("cutter_w", leaf)
    )
}

/// Remove every temporary this program made and did not publish.
pub const DROP_TEMPS: &str = "cutter_drop_temps";

/// Take the entered folder's `SHA256SUMS` lock, waiting at most a minute.
/// The holder (this process) is written into a new folder that then takes
/// the lock's name by `rename(2)`, so a lock never exists without a holder.
/// A lock is stale when its holder process is gone and it is at least 10 s
/// old (a holder read just before it released, whose lock another step then
/// took, must not make a waiter remove the new holder's lock), or when its
/// holder cannot be read and it is at least a minute old.
pub const LOCK: &str = "cutter_lock";

/// Give the `SHA256SUMS` lock back, if this process holds it.
pub const UNLOCK: &str = "cutter_unlock";

/// Put the `SHA256SUMS` written by [`sums`] in place; when it has no line
/// left, the folder has none (an empty one fails `sha256sum -c`).
pub const SUMS_PUT: &str = "cutter_sums_put";

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

/// Write the entered folder's next `SHA256SUMS` (under its lock) into a
/// temporary (`$cutter_s`): drop the lines for `name` and for files that are
/// gone, so `sha256sum -c` keeps passing; then, with `sha` (a shell word),
/// add `name`'s line. [`SUMS_PUT`] puts it in place.
pub fn sums(name: &str, sha: Option<&str>) -> String {
    let (sum_name, escaped) = sums_name(name);
    format!(
        "cutter_sums {} {} {}",
        quote(&sum_name),
        sha.unwrap_or("''"),
        if escaped { "'\\\\'" } else { "''" }
    )
}
