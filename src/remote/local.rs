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

#[async_trait]
impl Transport for Local {
    fn host(&self) -> &str {
        &self.host
    }

    async fn run(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<Output, RemoteError> {
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
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RemoteError::Spawn {
                host: self.host.clone(),
                detail: e.to_string(),
            })?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            // A command that exits without reading its input is not an error here.
            let _ = pipe.write_all(&input).await;
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| RemoteError::Spawn {
                host: self.host.clone(),
                detail: e.to_string(),
            })?;
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}
