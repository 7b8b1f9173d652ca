//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "cutter",
    version,
    about = "Declarative plan-and-apply for servers over SSH: backups, snapshots, restore tests, rehearsal containers, with evidence",
    after_long_help = "EXIT STATUS:\n  0  valid, in sync, applied, or nothing to do\n  1  an error: invalid plan or usage, unreachable host, failed step\n  2  changes pending (plan --detailed-exitcode) or drift (drift)\n\nENVIRONMENT:\n  CUTTER_SSH_CONFIG  as --ssh-config\n  CUTTER_LOCK_WAIT   as apply --lock-wait\n  CUTTER_NOW         fixes \"now\" (RFC 3339)\n  NO_COLOR           no colour"
)]
pub struct Cli {
    /// Print only errors and machine output (JSON, markdown, dot): no plan text, no status lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show the exact commands of each step in plans (text and markdown).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// OpenSSH config file for hosts that do not name one (`ssh -F`).
    #[arg(long, global = true, env = "CUTTER_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a plan (references, protection, cycles); contacts no host and reads no secret.
    Validate {
        plan: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Print the step graph.
    Graph {
        plan: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
    },
    /// Observe the hosts and show exactly what apply would change.
    Plan {
        plan: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Save the plan (JSON) for `cutter apply FILE`.
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
        /// Only this resource and what it depends on.
        #[arg(long)]
        target: Option<String>,
        /// Make this artefact or container again although it is in place
        /// (a fresh backup, the restore test run again, a persistent copy
        /// made again, or a file cutter did not make overwritten).
        #[arg(long, value_name = "NAME")]
        replace: Vec<String>,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Hash every artefact now, instead of trusting verification
        /// records while a file's metadata is unchanged.
        #[arg(long)]
        verify: bool,
    },
    /// Apply a plan file, or a saved plan exactly as reviewed.
    Apply {
        /// A plan (`.toml`) or a saved plan (`.json` from `cutter plan -o`).
        plan: PathBuf,
        /// Not with a saved plan: it applies with the variables it was planned with.
        #[command(flatten)]
        inputs: Inputs,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// How many independent steps may run at once.
        #[arg(long, default_value_t = 4)]
        parallelism: usize,
        /// Only this resource and what it depends on.
        #[arg(long)]
        target: Option<String>,
        /// Make this artefact or container again although it is in place
        /// (a fresh backup, the restore test run again, a persistent copy
        /// made again, or a file cutter did not make overwritten).
        #[arg(long, value_name = "NAME")]
        replace: Vec<String>,
        /// Wait this long for another apply's lock, e.g. `10m`.
        #[arg(long, value_parser = crate::plan::units::parse_duration, env = "CUTTER_LOCK_WAIT")]
        lock_wait: Option<std::time::Duration>,
        /// Where the evidence report is written.
        #[arg(long, default_value = "cutter-reports")]
        report_dir: PathBuf,
        /// Sign the evidence report with this SSH private key (`ssh-keygen -Y
        /// sign`); the signature travels with the report's copy on the host.
        #[arg(long, value_name = "KEY", env = "CUTTER_SIGN_KEY")]
        sign_key: Option<PathBuf>,
        /// Clear a standing failure of an earlier apply (a step id such as
        /// `guard-after.production_untouched`), after dealing with it.
        #[arg(long, value_name = "STEP")]
        acknowledge: Vec<String>,
    },
    /// Exit 0 when the hosts match the plan, 2 when they drifted, 1 on error.
    Drift {
        plan: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Hash every artefact now (catches silent corruption), instead of
        /// trusting verification records while metadata is unchanged.
        #[arg(long)]
        verify: bool,
    },
    /// Remove a host's apply lock left by an apply that cannot release it
    /// (another machine, a lost connection); names the holder and asks first.
    Unlock {
        plan: PathBuf,
        /// The plan's name for the host.
        host: String,
        #[command(flatten)]
        inputs: Inputs,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// What the plan's hosts hold now: artefacts (newest file, age, size,
    /// last full verification), containers, the apply lock and standing
    /// failures; observes only, plans nothing.
    Status {
        plan: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// Remove a persistent container of the plan with its volume (and its
    /// network when nothing else uses it); only one carrying cutter's label.
    Destroy {
        plan: PathBuf,
        /// The container resource to remove.
        name: String,
        #[command(flatten)]
        inputs: Inputs,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Wait this long for another apply's lock, e.g. `10m`.
        #[arg(long, value_parser = crate::plan::units::parse_duration, env = "CUTTER_LOCK_WAIT")]
        lock_wait: Option<std::time::Duration>,
    },
    /// Render a JSON evidence report.
    Report {
        report: PathBuf,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Verify the report's signature (`REPORT.sig`) against an
        /// allowed-signers file (`ssh-keygen -Y verify` format).
        #[arg(long, value_name = "ALLOWED_SIGNERS")]
        verify: Option<PathBuf>,
    },
    /// Print the JSON Schema of plan files.
    Schema,
    /// Write a commented starter plan that validates; never overwrites a file.
    Init {
        /// Where to write it.
        #[arg(default_value = "plan.toml")]
        path: PathBuf,
    },
    /// Print the man page cutter(1) (roff), or write one page per command into DIR.
    Man {
        /// Write cutter.1 and cutter-COMMAND.1 here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// The plan's resource names, one a line (used by shell completion).
    #[command(hide = true)]
    Names { plan: PathBuf },
}

/// Plan variables set from the command line.
#[derive(Debug, Clone, Default, Args)]
pub struct Inputs {
    /// Set a variable the plan declares in `[vars]`, overriding its value (taken literally); repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::plan::vars::parse_assignment)]
    pub vars: Vec<(String, String)>,
    /// Read variables from a TOML file of `NAME = "value"` lines; repeatable, later files and `--var` win.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl Inputs {
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.var_files.is_empty()
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}
