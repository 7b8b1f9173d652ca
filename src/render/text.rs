//! The plan for a terminal.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{ChangeView, PlanView};
use crate::diff::Action;

fn sign(action: Action) -> (&'static str, Style) {
    match action {
        Action::Create => ("+", AnsiColor::Green.on_default().bold()),
        Action::Replace => ("-/+", AnsiColor::Yellow.on_default().bold()),
        Action::Start => ("~", AnsiColor::Yellow.on_default().bold()),
        Action::Run => (">", AnsiColor::Cyan.on_default().bold()),
        Action::Destroy => ("-", AnsiColor::Red.on_default().bold()),
        Action::Conflict => ("!", AnsiColor::Red.on_default().bold()),
        Action::Noop => ("=", Style::new().dimmed()),
        Action::Unknown => ("?", AnsiColor::Magenta.on_default().bold()),
    }
}

/// How much of each change a rendering shows.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// What each step does, in words.
    pub words: bool,
    /// The exact commands (`--verbose`).
    pub commands: bool,
}

/// Render for a terminal: each change with why, and what `shown` asks for.
pub fn render(view: &PlanView, title: &str, shown: Shown) -> String {
    let mut s = String::new();
    let bold = Style::new().bold();
    let _ = writeln!(s, "{bold}{title}{bold:#} {}", view.plan_file);
    for host in &view.hosts {
        let _ = writeln!(
            s,
            "\n{bold}host {}{bold:#} ({})",
            host.name, host.connection
        );
        if !host.protected.is_empty() {
            let _ = writeln!(s, "  protected, read only: {}", host.protected.join(", "));
        }
        if !host.not_provable_steps.is_empty() {
            let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
            let _ = writeln!(
                s,
                "  {warn}production untouched not provable:{warn:#} free-form host command(s) in {}",
                host.not_provable_steps.join(", ")
            );
        }
        if let Some(why) = &host.unobserved {
            // One line for the host, not the same reason under every step.
            let style = sign(Action::Unknown).1;
            let _ = writeln!(s, "  {style}not observed:{style:#} {why}");
            let names: Vec<&str> = host.changes.iter().map(|c| c.step.as_str()).collect();
            let _ = writeln!(
                s,
                "  {style}  ? {} unknown{style:#} (apply runs nothing here): {}",
                names.len(),
                names.join(", ")
            );
        } else {
            for c in &host.changes {
                change(&mut s, c, shown);
            }
        }
        if !host.unchanged.is_empty() {
            let dim = Style::new().dimmed();
            let names: Vec<&str> = host.unchanged.iter().map(|c| c.step.as_str()).collect();
            let _ = writeln!(
                s,
                "  {dim}= {} unchanged: {}{dim:#}",
                host.unchanged.len(),
                names.join(", ")
            );
        }
    }
    if !view.standing.is_empty() {
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let _ = writeln!(s, "\n{red}standing failures of earlier applies{red:#}");
        for f in &view.standing {
            let _ = writeln!(s, "  {red}!{red:#} {} on {}: {}", f.step, f.host, f.what);
            let _ = writeln!(s, "      to clear: {}", f.clear);
        }
    }
    let _ = writeln!(s, "\n{bold}{}{bold:#}", view.summary.line());
    if shown.words && !shown.commands && view.summary.runs_anything() {
        let dim = Style::new().dimmed();
        let _ = writeln!(
            s,
            "{dim}The exact commands: `--verbose`, or `--format json`.{dim:#}"
        );
    }
    s
}

fn change(s: &mut String, c: &ChangeView, shown: Shown) {
    let (sym, style) = sign(c.action);
    let _ = writeln!(
        s,
        "  {style}{sym:>3} {:<8}{style:#} {}",
        c.action.as_str(),
        c.step
    );
    for r in &c.reasons {
        let _ = writeln!(s, "        {r}");
    }
    if shown.words {
        let label = Style::new().bold();
        for d in &c.description {
            let _ = writeln!(s, "        {label}{:<8}{label:#} {}", d.label, d.text);
        }
    }
    if shown.commands {
        for cmd in c.commands.iter().chain(&c.bookkeeping) {
            let mut lines = cmd.lines();
            if let Some(first) = lines.next() {
                let _ = writeln!(s, "        $ {first}");
            }
            for l in lines {
                let _ = writeln!(s, "          {l}");
            }
        }
        if !c.masked_secrets.is_empty() && !shown.words {
            let _ = writeln!(
                s,
                "        secrets on stdin: {}",
                c.masked_secrets
                    .iter()
                    .map(|k| format!("{k}=********"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}
