//! Signed evidence: a report signed with an SSH key (`ssh-keygen -Y sign`,
//! namespace `cutter-report`) can be verified later by anyone holding an
//! allowed-signers file, without trusting the machine it sits on.

use std::path::{Path, PathBuf};
use std::process::Command;

use miette::{Result, miette};

/// The signature namespace: a signature made for anything else never verifies.
pub const NAMESPACE: &str = "cutter-report";

/// Sign `file` with the private key `key`; returns the `.sig` path.
pub fn sign(file: &Path, key: &Path) -> Result<PathBuf> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(key)
        .arg(file)
        .output()
        .map_err(|e| miette!("cannot run ssh-keygen to sign the report: {e}"))?;
    if !out.status.success() {
        return Err(miette!(
            code = "cutter::sign",
            "cannot sign `{}` with `{}`: {}",
            file.display(),
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(sig_path(file))
}

pub fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Verify `file` against its `.sig` and an allowed-signers file; returns
/// the principal that signed it.
pub fn verify(file: &Path, allowed_signers: &Path) -> Result<String> {
    let sig = sig_path(file);
    if !sig.exists() {
        return Err(miette!(
            code = "cutter::verify",
            "no signature `{}` beside the report",
            sig.display()
        ));
    }
    let found = Command::new("ssh-keygen")
        .args(["-Y", "find-principals", "-f"])
        .arg(allowed_signers)
        .arg("-s")
        .arg(&sig)
        .output()
        .map_err(|e| miette!("cannot run ssh-keygen: {e}"))?;
    let principal = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if !found.status.success() || principal.is_empty() {
        return Err(miette!(
            code = "cutter::verify",
            help = "the key that signed it is not in the allowed-signers file",
            "the signature of `{}` is not from an allowed signer",
            file.display()
        ));
    }
    let input =
        std::fs::File::open(file).map_err(|e| miette!("cannot read `{}`: {e}", file.display()))?;
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", NAMESPACE, "-f"])
        .arg(allowed_signers)
        .args(["-I", &principal, "-s"])
        .arg(&sig)
        .stdin(input)
        .output()
        .map_err(|e| miette!("cannot run ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(miette!(
            code = "cutter::verify",
            help = "the report or its signature was changed after signing",
            "the signature of `{}` does not verify: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(principal)
}
