//! One integration test binary: the tests drive the built `cutter` binary,
//! except `step_commands`, which builds steps through the library.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test may tell the person running it why it skipped or how long it took"
)]

mod test;

mod bad_input;
mod boundary;
mod boundary_sql;
mod claims;
mod diagnostics;
mod evidence;
mod exit_codes;
mod faults;
mod fuzz;
mod host_attacks;
mod host_boundary;
mod host_faults;
mod host_output;
mod host_primitives;
mod hostloss;
mod init;
mod inputs;
mod interrupted;
mod isolation;
mod lifecycle;
mod local;
mod plan_json_schema;
mod render;
mod schema;
mod stack;
mod stack_containers;
mod stack_hb;
mod stack_render;
mod stack_ssh;
mod step_commands;
mod step_errors;
mod terminal;
mod validate_input;
mod workflow;
