//! One integration test binary: every test drives the built `cutter` binary.

mod test;

mod boundary;
mod diagnostics;
mod evidence;
mod faults;
mod init;
mod inputs;
mod local;
mod render;
mod schema;
mod stack;
mod stack_hb;
mod stack_render;
mod stack_ssh;
mod terminal;
mod workflow;
