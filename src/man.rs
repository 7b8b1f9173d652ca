//! Manual pages, generated from the command line itself (clap_mangen):
//! cutter(1) with the exit statuses and environment as sections of their
//! own, and one page per command (`cutter-plan(1)`, …).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// Sections of cutter(1) that clap does not model.
const SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
valid, in sync, applied, or nothing to do
.TP
\fB1\fR
an error: an invalid plan or command line, an unreachable host, a failed step
.TP
\fB2\fR
changes pending (\fBplan \-\-detailed\-exitcode\fR) or drift (\fBdrift\fR)
.SH ENVIRONMENT
.TP
\fBCUTTER_SSH_CONFIG\fR
OpenSSH config file for hosts that do not name one, as \fB\-\-ssh\-config\fR
.TP
\fBCUTTER_LOCK_WAIT\fR
how long \fBapply\fR waits for another apply's lock, as \fB\-\-lock\-wait\fR
.TP
\fBCUTTER_NOW\fR
fixes "now" (RFC 3339) for reproducible runs
.TP
\fBNO_COLOR\fR
no colour
.SH "SEE ALSO"
\fBcutter\-plan\fR(1), \fBcutter\-apply\fR(1), \fBcutter\-drift\fR(1), \fBssh_config\fR(5)
"#;

/// cutter(1).
pub fn page() -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.write_all(SECTIONS.as_bytes())?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// cutter.1 and cutter-COMMAND.1 for every command, into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    std::fs::write(dir.join("cutter.1"), page()?)
}
