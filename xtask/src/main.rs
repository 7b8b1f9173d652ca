//! cutter's task runner, `cargo xtask TASK` (the alias is in
//! `.cargo/config.toml`). It owns the definition of the quick checks and of
//! the full suite; `scripts/check` and `scripts/test` only call it. Standard
//! library only, so a fresh checkout needs nothing but cargo.

#![allow(
    clippy::print_stderr,
    reason = "a terminal tool: its progress and errors go to standard error"
)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask TASK [ARGS...]

tasks:
  check          the quick checks, without root, Docker or the test stack:
                 cargo fmt, clippy (warnings are errors), shellcheck of every
                 script, and every test that does not need the stack
  test [ARGS]    the full suite (root and Docker): bring up the test stack
                 (scripts/test-stack up), cargo test --all-targets ARGS, then
                 the example CI workflow and the shipped plans against their
                 JSON Schemas (scripts/lint-workflow, scripts/lint-plans)
  bench [ARGS]   scripts/bench ARGS: cutter next to pyinfra, ansible-core and
                 the floor (scripts/bench --help)
  mutants [ARGS] cargo mutants over the read-only SQL boundary
                 (src/plan/readonly/) and the host primitives (src/host.rs),
                 against the tests that need no stack;
                 ARGS go to cargo mutants (--shard 1/4, --re REGEX, --list,
                 --in-place). Needs `cargo install --locked cargo-mutants`;
                 not part of CI. Equivalent mutants: .cargo/mutants.toml";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let task = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match task.as_ref().and_then(|t| t.to_str()) {
        Some("check") if rest.is_empty() => check(),
        Some("test") => test(&rest),
        Some("bench") => bench(&rest),
        Some("mutants") => mutants(&rest),
        Some("help" | "-h" | "--help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("xtask: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// A step that failed: what to say, and the exit code to pass on.
struct Failure {
    message: String,
    code: u8,
}

type Result = std::result::Result<(), Failure>;

fn check() -> Result {
    let root = root();
    run(cargo(&root).args(["fmt", "--all", "--check"]))?;
    run(cargo(&root).args([
        "clippy",
        "--quiet",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    shellcheck(&root)?;
    run(cargo(&root).args(["test", "--quiet", "--lib"]))?;
    run(cargo(&root).args(["test", "--quiet", "--test", "lib", "--", "--skip", "stack"]))
}

fn test(args: &[OsString]) -> Result {
    let root = root();
    run(script(&root, "scripts/test-stack").arg("up"))?;
    run(cargo(&root).args(["test", "--all-targets"]).args(args))?;
    // The example CI workflow against GitHub's workflow schema (check-jsonschema from PyPI).
    run(&mut script(&root, "scripts/lint-workflow"))?;
    // The shipped plans against the committed plan schema, with an independent validator.
    run(&mut script(&root, "scripts/lint-plans"))
}

fn bench(args: &[OsString]) -> Result {
    let root = root();
    run(script(&root, "scripts/bench").args(args))
}

/// The boundary's own files, mutated one change at a time; every viable
/// mutant must make a test fail. The tests are those of `check` (no stack),
/// so a run needs no root, Docker or network.
const MUTATED: &[&str] = &["src/plan/readonly/*.rs", "src/host.rs"];

fn mutants(args: &[OsString]) -> Result {
    let root = root();
    let mut command = cargo(&root);
    command.arg("mutants");
    for file in MUTATED {
        command.args(["--file", file]);
    }
    command
        .args(args)
        .args(["--", "--lib", "--test", "lib", "--", "--skip", "stack"]);
    run(&mut command)
}

/// Every shell script of the project: the files in `scripts/`, the parts in
/// `scripts/stack/*.sh` and `.ci/run`, found rather than listed so that a new
/// script is checked without anyone remembering to add it.
fn shellcheck(root: &Path) -> Result {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("== shellcheck not installed: skipped (apt-get install shellcheck)");
        return Ok(());
    }
    let mut files = files_in(root, "scripts", |_| true)?;
    files.extend(files_in(root, "scripts/stack", |name| {
        name.ends_with(".sh")
    })?);
    files.push(PathBuf::from(".ci/run"));
    let mut command = Command::new("shellcheck");
    command.current_dir(root).arg("-x").args(&files);
    run(&mut command)
}

/// The regular files directly in `root/dir` whose names `keep` accepts,
/// relative to `root` and sorted.
fn files_in(
    root: &Path,
    dir: &str,
    keep: impl Fn(&str) -> bool,
) -> std::result::Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(root.join(dir)).map_err(|e| Failure {
        message: format!("cannot list `{dir}`: {e}"),
        code: 1,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Failure {
            message: format!("cannot list `{dir}`: {e}"),
            code: 1,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && keep(&name) {
            files.push(Path::new(dir).join(name));
        }
    }
    files.sort();
    Ok(files)
}

/// The repository's root: the parent of this crate's folder.
fn root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The cargo that runs us (`CARGO`), so a pinned toolchain is used throughout.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
    command
}

fn script(root: &Path, path: &str) -> Command {
    let mut command = Command::new(root.join(path));
    command.current_dir(root);
    command
}

/// Run `command` after naming it on standard error; a failure carries its
/// exit code on.
fn run(command: &mut Command) -> Result {
    let program = Path::new(command.get_program());
    // `cargo`, not the toolchain's full path; scripts relative to the root
    let program = match command.get_current_dir() {
        Some(dir) if program.starts_with(dir) => program.strip_prefix(dir).unwrap_or(program),
        _ => program.file_name().map_or(program, Path::new),
    };
    let shown = std::iter::once(program.as_os_str())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("== {shown}");
    let status = command.status().map_err(|e| Failure {
        message: format!("cannot run `{shown}`: {e}"),
        code: 1,
    })?;
    if status.success() {
        return Ok(());
    }
    Err(Failure {
        message: format!("`{shown}` failed ({status})"),
        code: status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .filter(|&c| c != 0)
            .unwrap_or(1),
    })
}
