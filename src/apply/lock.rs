//! One apply at a time per host: a lock directory on the host naming its holder.

use std::time::{Duration, Instant};

use miette::Diagnostic;
use thiserror::Error;

use crate::observe::probe::LOCK_DIR;
use crate::remote::{RemoteError, Transport, quote};

#[derive(Debug, Error, Diagnostic)]
pub enum LockError {
    #[error("host `{host}` is locked by another apply: {holder}")]
    #[diagnostic(
        code(cutter::locked),
        help(
            "wait for it to finish, pass `--lock-wait 10m`, or if that apply is dead remove `~/.cutter/apply.lock` on the host"
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

/// Who is applying: user, machine, process, plan and time.
pub fn holder(plan_file: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!(
        "{user}@{machine} pid {} plan {plan_file} since {}",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

pub async fn acquire(t: &dyn Transport, holder: &str, wait: Duration) -> Result<(), LockError> {
    let cmd = format!(
        "d=\"{LOCK_DIR}\"; mkdir -p \"${{d%/*}}\" && if mkdir \"$d\" 2>/dev/null; then printf '%s\\n' {} > \"$d/holder\"; else cat \"$d/holder\" 2>/dev/null || echo unknown; exit 75; fi",
        quote(holder)
    );
    let deadline = Instant::now() + wait;
    loop {
        let out = t.run(&cmd, None).await?;
        match out.code {
            Some(0) => return Ok(()),
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

pub async fn release(t: &dyn Transport, holder: &str) {
    let cmd = format!(
        "d=\"{LOCK_DIR}\"; [ \"$(cat \"$d/holder\" 2>/dev/null)\" = {} ] && rm -f \"$d/holder\" && rmdir \"$d\"",
        quote(holder)
    );
    let _ = t.run(&cmd, None).await;
}
