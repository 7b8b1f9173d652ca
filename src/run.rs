//! Arguments → command → exit code.
//!
//! The CLI is parsed before any runtime exists; the runtime is built here
//! and shut down explicitly so a stray task cannot hang the exit.

use std::time::Duration;

use clap::Parser as _;
use miette::Result;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::exit_status::ExitStatus;
use crate::printer::Printer;

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are not errors; a usage error exits 1,
            // not clap's 2, which means "changes pending" here.
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Failure.code()
            } else {
                ExitStatus::Success.code()
            };
        }
    };
    if let Some(f) = &cli.ssh_config {
        crate::remote::set_default_config_file(f.clone());
    }
    let printer = Printer::new(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            crate::printer::stderr_text(&format!("error: cannot start the runtime: {e}\n"));
            return 1;
        }
    };
    let result = runtime.block_on(execute(cli.command, &printer));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(status) => status.code(),
        Err(report) => {
            // Rendered first: miette writes a character at a time, and
            // standard error is unbuffered. Standard error may be gone too
            // (a closed terminal): never panic over it.
            crate::printer::stderr_text(&format!("{report:?}\n"));
            ExitStatus::Failure.code()
        }
    }
}

async fn execute(command: Command, printer: &Printer) -> Result<ExitStatus> {
    match command {
        Command::Validate { plan, inputs } => commands::validate::exec(plan, inputs, printer),
        Command::Graph {
            plan,
            inputs,
            format,
        } => commands::graph::exec(plan, inputs, format, printer),
        Command::Plan {
            plan,
            inputs,
            format,
            out,
            target,
            detailed_exitcode,
            verify,
            replace,
        } => {
            let opts = commands::plan::Options {
                format,
                out,
                target,
                replace,
                detailed_exitcode,
                verify,
            };
            commands::plan::exec(plan, inputs, opts, printer).await
        }
        Command::Drift {
            plan,
            inputs,
            format,
            verify,
        } => commands::drift::exec(plan, inputs, format, verify, printer).await,
        Command::Apply {
            plan,
            inputs,
            yes,
            parallelism,
            target,
            lock_wait,
            report_dir,
            sign_key,
            acknowledge,
            replace,
        } => {
            let opts = commands::apply::Options {
                inputs,
                replace,
                yes,
                parallelism,
                target,
                lock_wait,
                report_dir,
                sign_key,
                acknowledge,
            };
            commands::apply::exec(&plan, &opts, printer).await
        }
        Command::Report {
            report,
            format,
            verify,
        } => commands::report::exec(report, format, verify, printer),
        Command::Schema => commands::schema::exec(),
        Command::Init { path } => commands::init::exec(path, printer),
        Command::Man { dir } => commands::man::exec(dir, printer),
        Command::Unlock {
            plan,
            host,
            inputs,
            yes,
        } => commands::unlock::exec(plan, host, inputs, yes, printer).await,
        Command::Status {
            plan,
            inputs,
            format,
        } => commands::status::exec(plan, inputs, format, printer).await,
        Command::Destroy {
            plan,
            name,
            inputs,
            yes,
            lock_wait,
        } => commands::destroy::exec(plan, name, inputs, yes, lock_wait, printer).await,
        Command::Completions { shell } => commands::completions::exec(shell),
        Command::Names { plan } => commands::completions::names(&plan),
    }
}
