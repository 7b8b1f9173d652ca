//! cutter: a declarative plan-and-apply engine for operating servers over SSH.
//!
//! The pipeline, in the order a command runs it:
//! `plan` (load and validate TOML) → `graph` (steps as a DAG) →
//! `observe` (live host state, one probe per host) → `diff` (what is missing
//! or wrong) → `render` (plan for people and scripts) → `apply` (run the
//! missing steps) → `report` (evidence). `remote` runs commands on hosts;
//! `host` is the one set of primitives every file written on a host goes
//! through.
//! `run` parses the arguments and hands each subcommand to `commands`.

pub mod apply;
pub mod cli;
pub mod clock;
mod commands;
pub mod diff;
pub mod exit_status;
#[cfg(test)]
mod fuzzing;
pub mod graph;
pub mod host;
pub mod man;
pub mod observe;
pub mod plan;
pub mod printer;
pub mod protect;
pub mod remote;
pub mod render;
pub mod report;
pub mod run;
pub mod shell;
pub mod signature;
