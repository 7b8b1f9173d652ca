//! All human output goes through here. The plan itself (text, markdown,
//! JSON, dot) goes to standard output, so `cutter plan x > plan.txt` and
//! `| less` work as with Terraform; status, progress and errors go to
//! standard error. `--quiet` drops the human parts (the text plan and the
//! status lines), never machine output; `--verbose` adds each step's exact
//! commands to a plan. Colour follows each stream's terminal and `NO_COLOR`
//! (via anstream). Live progress on a terminal is drawn by indicatif (one
//! spinner per running step); elsewhere apply prints heartbeat lines.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "the one module that writes to the terminal; everything else goes through `Printer`"
)]

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Printer {
    quiet: bool,
    verbose: bool,
    terminal: bool,
    /// Live progress: one spinner per running step (terminal only).
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

impl Printer {
    pub fn new(quiet: bool, verbose: bool) -> Printer {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal && !quiet {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Printer {
            quiet,
            verbose,
            terminal,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    /// Print above the live progress (or plainly, when there is none).
    fn above(&self, f: impl FnOnce()) {
        if self.is_live() {
            self.multi.suspend(f);
        } else {
            f();
        }
    }

    /// Remove the live progress (no step runs any more).
    pub fn clear(&self) {
        let mut err = std::io::sink();
        self.clear_progress(&mut err);
    }

    /// Remove the live progress, so that what follows is not drawn over.
    fn clear_progress(&self, _err: &mut impl Write) {
        let mut bars = self.bars.lock().unwrap();
        for (_, bar) in std::mem::take(&mut *bars) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let _ = self.multi.clear();
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

    /// A right-aligned status verb, like cargo's `Compiling`, coloured by
    /// what it reports.
    pub fn status(&self, verb: Verb, message: &str) {
        if self.quiet {
            return;
        }
        let style = match verb.tone() {
            Tone::Bad => RED,
            Tone::Notice => YELLOW,
            Tone::Working => CYAN,
            Tone::Good => GREEN,
        };
        let verb = verb.text();
        self.above(|| {
            let _ = writeln!(
                anstream::stderr().lock(),
                "{style}{verb:>12}{style:#} {message}"
            );
        });
    }

    /// A `warning: ...` line on standard error, above any live progress;
    /// shown even when quiet.
    pub fn warn(&self, message: &str) {
        self.above(|| {
            let _ = writeln!(anstream::stderr().lock(), "warning: {message}");
        });
    }

    /// A question on standard error, answered on the same line.
    pub fn ask(&self, question: &str) {
        self.above(|| {
            let mut err = anstream::stderr().lock();
            let _ = write!(err, "{question}");
            let _ = err.flush();
        });
    }

    pub fn error(&self, message: &str) {
        self.above(|| {
            let _ = writeln!(
                anstream::stderr().lock(),
                "{RED}{:>12}{RED:#} {message}",
                "Failed"
            );
        });
    }

    /// Whether live progress is drawn (a terminal, not quiet).
    pub fn is_live(&self) -> bool {
        !self.quiet && self.terminal
    }

    /// Show each running step with its elapsed time and, for a producer, the
    /// bytes written so far (terminal only).
    pub fn progress(&self, running: Vec<(&str, Duration, Option<u64>)>) {
        if !self.is_live() {
            return;
        }
        let mut bars = self.bars.lock().unwrap();
        let now: std::collections::BTreeSet<&str> = running.iter().map(|r| r.0).collect();
        bars.retain(|step, bar| {
            let keep = now.contains(step.as_str());
            if !keep {
                bar.finish_and_clear();
                self.multi.remove(bar);
            }
            keep
        });
        for (step, elapsed, bytes) in running {
            let bar = bars.entry(step.to_string()).or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
            let written = bytes.map_or(String::new(), |b| {
                format!(", {} written", bytesize::ByteSize(b))
            });
            bar.set_message(format!("{step} ({}s{written})", elapsed.as_secs()));
        }
    }

    pub fn line(&self, text: &str) {
        if !self.quiet {
            self.above(|| {
                let _ = writeln!(anstream::stderr().lock(), "{text}");
            });
        }
    }
}

/// What a status line reports: its word and, from that, its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Acknowledged,
    Applied,
    Cancelled,
    Checking,
    Created,
    Creating,
    Destroy,
    Destroyed,
    Drift,
    Failed,
    Finished,
    Guarding,
    InSync,
    Kept,
    Locked,
    Observed,
    Pruning,
    ReObserved,
    Removing,
    Replacing,
    Report,
    Running,
    Saved,
    Signed,
    Skipped,
    Starting,
    Unchanged,
    Unlocked,
    Valid,
    Verified,
    Warning,
    Wrote,
}

/// How a status line reads at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Good,
    Working,
    Notice,
    Bad,
}

impl Verb {
    pub fn text(self) -> &'static str {
        match self {
            Verb::Acknowledged => "Acknowledged",
            Verb::Applied => "Applied",
            Verb::Cancelled => "Cancelled",
            Verb::Checking => "Checking",
            Verb::Created => "Created",
            Verb::Creating => "Creating",
            Verb::Destroy => "Destroy",
            Verb::Destroyed => "Destroyed",
            Verb::Drift => "Drift",
            Verb::Failed => "Failed",
            Verb::Finished => "Finished",
            Verb::Guarding => "Guarding",
            Verb::InSync => "In sync",
            Verb::Kept => "Kept",
            Verb::Locked => "Locked",
            Verb::Observed => "Observed",
            Verb::Pruning => "Pruning",
            Verb::ReObserved => "Re-observed",
            Verb::Removing => "Removing",
            Verb::Replacing => "Replacing",
            Verb::Report => "Report",
            Verb::Running => "Running",
            Verb::Saved => "Saved",
            Verb::Signed => "Signed",
            Verb::Skipped => "Skipped",
            Verb::Starting => "Starting",
            Verb::Unchanged => "Unchanged",
            Verb::Unlocked => "Unlocked",
            Verb::Valid => "Valid",
            Verb::Verified => "Verified",
            Verb::Warning => "Warning",
            Verb::Wrote => "Wrote",
        }
    }

    fn tone(self) -> Tone {
        match self {
            Verb::Failed => Tone::Bad,
            Verb::Skipped | Verb::Drift | Verb::Warning => Tone::Notice,
            Verb::Checking | Verb::Guarding => Tone::Working,
            _ => Tone::Good,
        }
    }
}

/// A line on standard error from where no [`Printer`] is at hand (a signal
/// handler, the runtime failing to start, the final error report). Written
/// in one call; a closed standard error is ignored, never a panic.
pub fn stderr_text(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Machine output on standard output (plans as JSON, markdown, graphs):
/// written whole and flushed, and an error is returned, not panicked on, when
/// standard output is closed or full.
pub fn stdout_text(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `text` with its control characters written as escapes (`\u{1b}`, `\r`,
/// `\t`), newlines too unless `keep_newlines`: names and paths from a plan
/// or a host must not move the cursor, recolour a terminal or break a
/// Markdown table when they are shown.
pub fn escape_controls(text: &str, keep_newlines: bool) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && !(keep_newlines && c == '\n'))
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && !(keep_newlines && c == '\n') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
