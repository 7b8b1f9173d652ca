//! SSH hosts: one multiplexed master connection per host for the whole run.
//!
//! The system `ssh` starts the master with the operator's own configuration
//! (aliases, keys, agent, `known_hosts`); every command then opens a channel
//! on it through the native mux protocol, so a command costs one round trip.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use openssh::{KnownHosts, Session, SessionBuilder};
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

use super::{Output, RemoteError, Transport};
use crate::plan::SshTarget;

/// `--ssh-config` (or `CUTTER_SSH_CONFIG`): the configuration of hosts
/// without their own `ssh_config`. Set once, before any host is contacted.
static DEFAULT_CONFIG_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Use `file` as the SSH configuration of hosts without their own
/// `ssh_config`; only the first call counts.
pub fn set_default_config_file(file: PathBuf) {
    let _ = DEFAULT_CONFIG_FILE.set(file);
}

pub struct Ssh {
    host: String,
    destination: String,
    config_file: Option<PathBuf>,
    /// Shared by running commands; taken out only to close the master.
    session: Mutex<Option<Arc<Session>>>,
}

impl Ssh {
    pub async fn connect(host: &str, target: &SshTarget) -> Result<Ssh, RemoteError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if target.strict_host_keys {
            KnownHosts::Strict
        } else {
            KnownHosts::Add
        })
        .connect_timeout(target.connect_timeout)
        .control_directory(std::env::temp_dir())
        // If cutter is killed before it closes the master, the master
        // still goes away once idle instead of lingering forever.
        .control_persist(openssh::ControlPersist::IdleFor(
            std::num::NonZeroUsize::new(60).unwrap(),
        ));
        if let Some(k) = target.keepalive {
            b.server_alive_interval(Duration::from_secs(k));
        }
        let config_file = target
            .config_file
            .clone()
            .or_else(|| DEFAULT_CONFIG_FILE.get().cloned());
        if let Some(f) = &config_file {
            b.config_file(f);
        }
        let session = b
            .connect_mux(&target.destination)
            .await
            .map_err(|e| classify(host, &target.destination, &e))?;
        Ok(Ssh {
            host: host.to_string(),
            destination: target.destination.clone(),
            config_file,
            session: Mutex::new(Some(Arc::new(session))),
        })
    }
}

/// Turn ssh's own words into an error the operator can act on.
fn classify(host: &str, destination: &str, e: &openssh::Error) -> RemoteError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    let (host, destination) = (host.to_string(), destination.to_string());
    if detail.contains("Permission denied") || detail.contains("Too many authentication failures") {
        RemoteError::AuthRefused {
            host,
            destination,
            detail,
        }
    } else if detail.contains("Host key verification failed")
        || detail.contains("HOST IDENTIFICATION HAS CHANGED")
        || detail.contains("host key is known")
    {
        RemoteError::HostKey {
            host,
            destination,
            detail: format!(
                "{detail}\nverify the host's key and add it to known_hosts (cutter checks host keys strictly)"
            ),
        }
    } else {
        RemoteError::Unreachable {
            host,
            destination,
            detail,
        }
    }
}

impl Ssh {
    async fn spawn(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        hold: bool,
    ) -> Result<Output, RemoteError> {
        let lost = |e: openssh::Error| RemoteError::Lost {
            host: self.host.clone(),
            command: crate::remote::tail(command, 1).chars().take(120).collect(),
            detail: format!("{e} (via {})", self.destination),
        };
        let session = self.session.lock().unwrap().clone();
        let Some(session) = session else {
            return Err(RemoteError::Spawn {
                host: self.host.clone(),
                detail: "the connection is closed".into(),
            });
        };
        let mut cmd = Session::to_raw_command(session, command);
        cmd.stdin(if stdin.is_some() {
            openssh::Stdio::piped()
        } else {
            openssh::Stdio::null()
        })
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped());
        let mut child = cmd.spawn().await.map_err(lost)?;
        // Input is written while the output is read (see the local transport).
        let pipe = child.stdin().take();
        let feed = async move {
            let mut pipe = pipe?;
            let _ = pipe.write_all(&stdin.unwrap_or_default()).await;
            if hold {
                Some(pipe)
            } else {
                let _ = pipe.shutdown().await;
                None
            }
        };
        let (lifeline, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(lost)?;
        drop(lifeline);
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[async_trait]
impl Transport for Ssh {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        hold: bool,
    ) -> Result<Output, RemoteError> {
        self.spawn(command, stdin, hold).await
    }

    async fn identity(&self) -> Option<String> {
        // What `ssh` resolves the destination to, and the keys known_hosts
        // holds for it (the ones the connection was checked against).
        let mut g = tokio::process::Command::new("ssh");
        if let Some(f) = &self.config_file {
            g.arg("-F").arg(f);
        }
        let out = g.arg("-G").arg(&self.destination).output().await.ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_string)
        };
        let (hostname, port) = (get("hostname")?, get("port").unwrap_or_else(|| "22".into()));
        let name = if port == "22" {
            hostname.clone()
        } else {
            format!("[{hostname}]:{port}")
        };
        let mut fingerprints = Vec::new();
        for file in get("userknownhostsfile")?.split_whitespace() {
            let file = match (file.strip_prefix("~/"), std::env::var_os("HOME")) {
                (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
                _ => PathBuf::from(file),
            };
            let found = tokio::process::Command::new("ssh-keygen")
                .arg("-F")
                .arg(&name)
                .arg("-f")
                .arg(&file)
                .output()
                .await
                .ok()?;
            for line in String::from_utf8_lossy(&found.stdout).lines() {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                let tmp = tempfile_line(line)?;
                let fp = tokio::process::Command::new("ssh-keygen")
                    .arg("-l")
                    .arg("-f")
                    .arg(&tmp)
                    .output()
                    .await
                    .ok()?;
                let _ = std::fs::remove_file(&tmp);
                fingerprints.push(String::from_utf8_lossy(&fp.stdout).trim().to_string());
            }
        }
        Some(format!(
            "{} ({name}): {}",
            self.destination,
            if fingerprints.is_empty() {
                "no known_hosts entry found".into()
            } else {
                fingerprints.join("; ")
            }
        ))
    }

    async fn close(&self) {
        let session = self.session.lock().unwrap().take();
        if let Some(session) = session.and_then(|s| Arc::try_unwrap(s).ok()) {
            let _ = session.close().await;
        }
    }
}

/// A private temporary file holding one known_hosts line.
fn tempfile_line(line: &str) -> Option<PathBuf> {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!(
        "cutter-known-host-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    writeln!(f, "{line}").ok()?;
    Some(path)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
