//! Running commands on a host: one trait, a local and an SSH transport.
//!
//! Everything cutter does to a host goes through [`Transport::run`]: a shell
//! command line (every interpolated value quoted with
//! [`shell::quote`](crate::shell::quote)) and optional standard input. The
//! transport never interprets the command.

mod local;
mod ssh;

use std::sync::Arc;

use async_trait::async_trait;
use miette::Diagnostic;
use thiserror::Error;

pub use local::Local;
pub use ssh::{Ssh, set_default_config_file};

use crate::plan::{Connection, Host};

/// What a finished command left behind.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The last few lines of standard error, for messages.
    pub fn stderr_tail(&self) -> String {
        tail(&String::from_utf8_lossy(&self.stderr), 8)
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[derive(Debug, Error, Diagnostic)]
pub enum RemoteError {
    #[error("cannot reach host `{host}` ({destination})")]
    #[diagnostic(code(cutter::unreachable))]
    Unreachable {
        host: String,
        destination: String,
        #[help]
        detail: String,
    },
    #[error("host `{host}` refused authentication ({destination})")]
    #[diagnostic(code(cutter::auth_refused))]
    AuthRefused {
        host: String,
        destination: String,
        #[help]
        detail: String,
    },
    #[error("the host key of `{host}` ({destination}) is not trusted")]
    #[diagnostic(code(cutter::host_key))]
    HostKey {
        host: String,
        destination: String,
        #[help]
        detail: String,
    },
    #[error("lost the connection to host `{host}` while running `{command}`")]
    #[diagnostic(code(cutter::connection_lost))]
    Lost {
        host: String,
        command: String,
        #[help]
        detail: String,
    },
    #[error("cannot start a command on host `{host}`")]
    #[diagnostic(code(cutter::spawn))]
    Spawn {
        host: String,
        #[help]
        detail: String,
    },
}

#[async_trait]
pub trait Transport: Send + Sync {
    /// The plan's name for this host.
    fn host(&self) -> &str;

    /// Run a shell command line on the host, feeding `stdin` if given; with
    /// `hold`, standard input stays open after it until the command exits.
    async fn exec(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        hold: bool,
    ) -> Result<Output, RemoteError>;

    /// Run a shell command line on the host, feeding `stdin` if given.
    async fn run(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<Output, RemoteError> {
        self.exec(command, stdin, false).await
    }

    /// Run a step: feed `input`, then keep standard input open until the
    /// command exits. The open pipe is the step's lifeline: when this future
    /// is dropped or cutter dies, it closes and the host ends the step.
    async fn run_held(&self, command: &str, input: Vec<u8>) -> Result<Output, RemoteError> {
        self.exec(command, Some(input), true).await
    }

    /// What identifies the host for an auditor (for SSH: the fingerprints
    /// of its host keys that `known_hosts` trusted).
    async fn identity(&self) -> Option<String> {
        None
    }

    /// Close connections; called once at exit.
    async fn close(&self) {}
}

/// Open the transport for a host (for SSH: the master connection).
///
/// A server that drops connections it has not yet authenticated because too
/// many arrive at once (sshd's `MaxStartups`, hit when a plan has many hosts
/// behind one server) is retried a few times with a pause; any other failure
/// is reported at once.
pub async fn connect(host: &Host) -> Result<Arc<dyn Transport>, RemoteError> {
    match &host.connection {
        Connection::Local => Ok(Arc::new(Local::new(&host.name))),
        Connection::Ssh(target) => {
            let mut attempt = 0u64;
            loop {
                match Ssh::connect(&host.name, target).await {
                    Ok(s) => return Ok(Arc::new(s)),
                    Err(RemoteError::Unreachable { detail, .. })
                        if attempt < 4 && dropped_before_auth(&detail) =>
                    {
                        attempt += 1;
                        // Spread the retries of hosts that were dropped together.
                        let spread = host
                            .name
                            .bytes()
                            .fold(u64::from(std::process::id()), |h, b| {
                                h.wrapping_mul(31).wrapping_add(u64::from(b))
                            })
                            % 250;
                        tokio::time::sleep(std::time::Duration::from_millis(
                            150 * attempt + spread,
                        ))
                        .await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// Whether ssh says the server closed the connection before authentication.
fn dropped_before_auth(detail: &str) -> bool {
    detail.contains("kex_exchange_identification")
        || detail.contains("Connection reset by peer")
        || detail.contains("Connection closed by remote host")
}
