//! One integration test binary: every test drives the built `cutter` binary.

mod test;

mod bad_input;
mod diagnostics;
mod exit_codes;
mod fuzz;
mod isolation;
mod local;
mod render;
mod schema;
mod stack;
mod stack_hb;
mod stack_render;
mod stack_ssh;
mod step_errors;
mod terminal;
