//! All human output goes through here. The plan itself (text, markdown,
//! JSON, dot) goes to standard output, so `cutter plan x > plan.txt` and
//! `| less` work as with Terraform; status, progress and errors go to
//! standard error. `--quiet` drops the human parts (the text plan and the
//! status lines), never machine output; `--verbose` adds each step's exact
//! commands to a plan. Colour follows each stream's terminal and `NO_COLOR`
//! (via anstream).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

pub struct Printer {
    quiet: bool,
    verbose: bool,
    terminal: bool,
    /// Lines of live progress currently drawn (terminal only).
    drawn: Mutex<usize>,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

impl Printer {
    pub fn new(quiet: bool, verbose: bool) -> Printer {
        Printer {
            quiet,
            verbose,
            terminal: std::io::stderr().is_terminal(),
            drawn: Mutex::new(0),
        }
    }

    fn clear_progress(&self, err: &mut impl Write) {
        let mut drawn = self.drawn.lock().unwrap();
        for _ in 0..*drawn {
            let _ = write!(err, "\x1b[1A\x1b[2K");
        }
        *drawn = 0;
    }

    /// Whether plans show each step's exact commands.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A plan for people (text), on standard output; nothing when quiet.
    pub fn plan_text(&self, text: &str) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let mut err = anstream::stderr().lock();
        self.clear_progress(&mut err);
        drop(err);
        let mut out = anstream::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// A right-aligned status verb, like cargo's `Compiling`.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let style = match verb {
            "Failed" | "Refused" => RED,
            "Skipped" | "Drift" | "Waiting" | "Warning" => YELLOW,
            "Observing" | "Checking" | "Guarding" => CYAN,
            _ => GREEN,
        };
        let mut err = anstream::stderr().lock();
        self.clear_progress(&mut err);
        let _ = writeln!(err, "{style}{verb:>12}{style:#} {message}");
    }

    pub fn error(&self, message: &str) {
        let mut err = anstream::stderr().lock();
        self.clear_progress(&mut err);
        let _ = writeln!(err, "{RED}{:>12}{RED:#} {message}", "Failed");
    }

    /// Redraw one line per running step with its elapsed time (terminal only).
    /// Whether live progress is drawn (a terminal, not quiet).
    pub fn is_live(&self) -> bool {
        !self.quiet && self.terminal
    }

    pub fn progress(&self, running: Vec<(&str, Duration, Option<u64>)>) {
        if self.quiet || !self.terminal {
            return;
        }
        let mut err = anstream::stderr().lock();
        self.clear_progress(&mut err);
        let mut running = running;
        running.sort();
        for (step, elapsed, bytes) in &running {
            let written = bytes.map_or(String::new(), |b| {
                format!(", {} written", bytesize::ByteSize(b))
            });
            let _ = writeln!(
                err,
                "{CYAN}{:>12}{CYAN:#} {step} ({}s{written})",
                "Running",
                elapsed.as_secs()
            );
        }
        *self.drawn.lock().unwrap() = running.len();
    }

    pub fn line(&self, text: &str) {
        if !self.quiet {
            let mut err = anstream::stderr().lock();
            self.clear_progress(&mut err);
            let _ = writeln!(err, "{text}");
        }
    }
}
