//! The local host: commands run through `sh -c` on this machine.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Output, RemoteError, Transport};

pub struct Local {
    host: String,
}

impl Local {
    pub fn new(host: &str) -> Local {
        Local {
            host: host.to_string(),
        }
    }
}

impl Local {
    async fn spawn(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        hold: bool,
    ) -> Result<Output, RemoteError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A held step ends itself when its lifeline closes: killing the
            // shell outright would leave its processes behind.
            .kill_on_drop(!hold)
            .spawn()
            .map_err(|e| RemoteError::Spawn {
                host: self.host.clone(),
                detail: e.to_string(),
            })?;
        // Input is written while the output is read: a command that writes
        // a lot before it has read all its input (the probe) must not stall
        // on a full pipe while cutter is still writing.
        let pipe = child.stdin.take();
        let feed = async move {
            let mut pipe = pipe?;
            // A command that exits without reading its input is not an error here.
            let _ = pipe.write_all(&stdin.unwrap_or_default()).await;
            hold.then_some(pipe)
        };
        let (lifeline, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(|e| RemoteError::Spawn {
            host: self.host.clone(),
            detail: e.to_string(),
        })?;
        drop(lifeline);
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[async_trait]
impl Transport for Local {
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
        let host = std::fs::read_to_string("/etc/hostname").ok()?;
        Some(format!("local machine {}", host.trim()))
    }
}
