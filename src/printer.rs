//! All human output goes through here, to standard error; machine output
//! (JSON, markdown, dot) goes to standard output. Colour follows the
//! terminal and `NO_COLOR` (via anstream).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

pub struct Printer {
    quiet: bool,
    terminal: bool,
    /// Lines of live progress currently drawn (terminal only).
    drawn: Mutex<usize>,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

impl Printer {
    pub fn new(quiet: bool) -> Printer {
        Printer {
            quiet,
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

    /// A right-aligned status verb, like cargo's `Compiling`.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let style = match verb {
            "Failed" | "Refused" => RED,
            "Skipped" | "Drift" | "Waiting" => YELLOW,
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
