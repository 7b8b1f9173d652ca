//! One apply at a time per host: a lock directory on the host naming its holder.

use std::time::{Duration, Instant};

use miette::Diagnostic;
use thiserror::Error;

use crate::observe::probe::{GENERATION_FILE, LOCK_DIR};
use crate::printer::Printer;
use crate::remote::{RemoteError, Transport};
use crate::shell::quote;

#[derive(Debug, Error, Diagnostic)]
pub enum LockError {
    #[error("host `{host}` is locked by another apply: {holder}")]
    #[diagnostic(
        code(cutter::locked),
        help(
            "wait for it to finish, pass `--lock-wait 10m`, or if that apply is dead run `cutter unlock PLAN HOST`"
        )
    )]
    Held { host: String, holder: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error("cannot take the apply lock on host `{host}`: {detail}")]
    #[diagnostic(code(cutter::lock))]
    Failed { host: String, detail: String },
}

/// How a lock whose holder cannot be read (left by an older cutter on a
/// full disk) is named, followed by its age.
pub const UNREADABLE: &str = "an unreadable holder";

/// Prints the holder of the lock in `$d`, or, when it cannot be read, that
/// and the lock's age.
const READ_HOLDER: &str = "h=$(cat \"$d/holder\" 2>/dev/null) || h=; if [ -n \"$h\" ]; then printf '%s\\n' \"$h\"; else echo \"an unreadable holder (the lock is $(( $(date +%s) - $(stat -c %Y \"$d\" 2>/dev/null || date +%s) ))s old)\"; fi";

/// Who is applying: user, machine, process, plan and time.
pub fn holder(plan_file: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let machine = machine();
    format!(
        "{user}@{machine} pid {} plan {plan_file} since {}",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// What taking a host's lock found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken, and the host's apply generation at that moment.
    Taken { generation: Option<String> },
    /// This apply already holds it (two plan hosts reaching the same
    /// account share one lock).
    AlreadyHeld,
}

/// Take the lock, waiting up to `wait` for another apply to give it back.
pub async fn acquire(
    t: &dyn Transport,
    holder: &str,
    wait: Duration,
    printer: &Printer,
) -> Result<Acquired, LockError> {
    // The holder is written into a new folder that then takes the lock's
    // name by rename: a lock never exists without its holder, even when
    // the disk is full (then taking it fails instead).
    let cmd = format!(
        "d=\"{LOCK_DIR}\"; mkdir -p \"${{d%/*}}\" || exit 1; t=$(mktemp -d \"${{d%/*}}/.apply.lock.$$.XXXXXX\") || exit 1; printf '%s\\n' {} > \"$t/holder\" || {{ rm -rf -- \"$t\"; echo \"cannot write the lock's holder in ${{d%/*}}\" >&2; exit 1; }}; if mv -T -- \"$t\" \"$d\" 2>/dev/null; then cat \"{GENERATION_FILE}\" 2>/dev/null || :; else rm -rf -- \"$t\"; {READ_HOLDER}; exit 75; fi",
        quote(holder)
    );
    let deadline = Instant::now() + wait;
    loop {
        let out = t.run(&cmd, None).await?;
        match out.code {
            Some(0) => {
                let generation = out.stdout_text().trim().to_string();
                return Ok(Acquired::Taken {
                    generation: (!generation.is_empty()).then_some(generation),
                });
            }
            Some(75) if out.stdout_text().trim() == holder => return Ok(Acquired::AlreadyHeld),
            Some(75) if is_dead(out.stdout_text().trim()) => {
                // An apply on this machine that no longer runs: its lock is
                // stale once none of its steps runs on the host any more.
                let stale = out.stdout_text().trim().to_string();
                let removed = t.run(&remove_cmd(&stale, true), None).await?;
                if removed.success() {
                    printer.warn(&format!(
                        "removed the stale apply lock of host `{}` ({stale}): that process is gone",
                        t.host()
                    ));
                } else if Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                } else {
                    return Err(LockError::Held {
                        host: t.host().into(),
                        holder: format!(
                            "{stale} (gone, but a step it started still runs on the host)"
                        ),
                    });
                }
            }
            Some(75) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Some(75) => {
                return Err(LockError::Held {
                    host: t.host().into(),
                    holder: out.stdout_text().trim().to_string(),
                });
            }
            _ => {
                return Err(LockError::Failed {
                    host: t.host().into(),
                    detail: out.stderr_tail(),
                });
            }
        }
    }
}

fn machine() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether a holder names a process of this machine that has exited.
fn is_dead(holder: &str) -> bool {
    let Some((who, rest)) = holder.split_once(" pid ") else {
        return false;
    };
    let Some(pid) = rest
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    let same_machine = who.rsplit_once('@').is_some_and(|(_, m)| m == machine());
    same_machine
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub async fn release(t: &dyn Transport, holder: &str) {
    let _ = t.run(&remove_cmd(holder, false), None).await;
}

/// Remove the lock if `holder` still holds it; with `unless_steps_run`, only
/// when no step it started is still running on the host (each supervised
/// step registers `steps.<pid>` in the lock while it runs).
fn remove_cmd(holder: &str, unless_steps_run: bool) -> String {
    // A new generation is written before the lock goes, so whoever takes
    // it next sees that an apply ran; when it cannot be written (a full
    // disk), there is none, which never counts as unchanged.
    format!(
        "d=\"{LOCK_DIR}\"; [ \"$(cat \"$d/holder\" 2>/dev/null)\" = {} ] || exit 1; {}g=\"{GENERATION_FILE}\"; {{ gt=$(mktemp \"$g.XXXXXX\") && printf '%s\\n' {} > \"$gt\" && mv -fT -- \"$gt\" \"$g\"; }} 2>/dev/null || rm -f -- \"$g\" \"${{gt:-$g}}\"; rm -f \"$d\"/steps.* \"$d/holder\" && rmdir \"$d\"",
        quote(if holder.starts_with(UNREADABLE) {
            ""
        } else {
            holder
        }),
        if unless_steps_run {
            "for f in \"$d\"/steps.*; do [ -e \"$f\" ] || continue; [ ! -d \"/proc/${f##*.}\" ] || exit 2; done; "
        } else {
            ""
        },
        quote(&new_generation(holder)),
    )
}

/// A token no other lock removal writes: a digest of the holder (user,
/// machine, process, plan) and the time in nanoseconds.
fn new_generation(holder: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(holder.as_bytes());
    h.update(
        chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_le_bytes(),
    );
    hex::encode(h.finalize())[..24].to_string()
}

/// Who holds the apply lock of a host, if anyone (a lock whose holder
/// cannot be read is named [`UNREADABLE`], with its age).
pub async fn holder_of(t: &dyn Transport) -> Result<Option<String>, RemoteError> {
    let out = t
        .run(
            &format!("d=\"{LOCK_DIR}\"; [ ! -d \"$d\" ] || {{ {READ_HOLDER}; }}"),
            None,
        )
        .await?;
    let h = out.stdout_text().trim().to_string();
    Ok((!h.is_empty()).then_some(h))
}

/// Remove the lock held by `holder` (after the operator confirmed it).
pub async fn unlock(t: &dyn Transport, holder: &str) -> Result<bool, RemoteError> {
    Ok(t.run(&remove_cmd(holder, false), None).await?.success())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{config, lossy, mutated};

    const HOLDER: &[u8] = b"ops@box pid 12345 plan /srv/plan.toml since 2026-05-15T08:00:00Z";

    #[test]
    fn a_holder_of_another_machine_or_no_pid_is_not_dead() {
        assert!(!is_dead("ops@elsewhere.invalid pid 1 plan p since x"));
        assert!(!is_dead("unknown"));
        assert!(!is_dead(""));
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn holders_of_any_text(text in any::<String>()) {
            let _ = is_dead(&text);
        }

        #[test]
        fn holders_mutated(bytes in mutated(HOLDER)) {
            let _ = is_dead(&lossy(&bytes));
        }
    }
}
