//! The plan for a pull-request comment: summary above the fold, details per
//! host in collapsible sections, the DAG as mermaid, bounded in size.

use std::fmt::Write;

use super::PlanView;
use super::text::Shown;
use crate::diff::Action;

/// At most this many steps are detailed; the rest are counted.
const MAX_DETAILED: usize = 40;
/// GitHub comments stop at 65536 characters; stay well below.
const MAX_CHARS: usize = 60_000;

fn icon(a: Action) -> &'static str {
    match a {
        Action::Create => "🟢 create",
        Action::Replace => "🟡 replace",
        Action::Start => "🟡 start",
        Action::Run => "🔵 run",
        Action::Destroy => "🔴 destroy",
        Action::Conflict => "⛔ conflict",
        Action::Noop => "unchanged",
        Action::Unknown => "❔ unknown",
    }
}

fn fence(text: &str) -> &'static str {
    if text.contains("````") {
        "~~~~~"
    } else if text.contains("```") {
        "````"
    } else {
        "```"
    }
}

/// Render for a pull request: each step in words, with its exact commands
/// when `shown.commands` (`--verbose`).
pub fn render(view: &PlanView, title: &str, shown: Shown) -> String {
    let commands = shown.commands;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### {title}: `{}`\n",
        view.plan_file.rsplit('/').next().unwrap_or(&view.plan_file)
    );
    let _ = writeln!(s, "**{}**\n", view.summary.line());
    if view.summary.conflict > 0 {
        let _ = writeln!(
            s,
            "> [!CAUTION]\n> {} step(s) conflict with what is on the host; apply will refuse.\n",
            view.summary.conflict
        );
    }
    for host in &view.hosts {
        if let Some(why) = &host.unobserved {
            let _ = writeln!(
                s,
                "> [!CAUTION]\n> host `{}` was not observed: {}. Its {} step(s) are unknown; apply runs nothing there.\n",
                host.name,
                why.replace('\n', " "),
                host.changes.len()
            );
        }
    }
    if !view.standing.is_empty() {
        let _ = writeln!(
            s,
            "> [!WARNING]\n> {} failure(s) of earlier applies still stand:",
            view.standing.len()
        );
        for f in &view.standing {
            let _ = writeln!(
                s,
                "> - `{}` on `{}`: {} (to clear: {})",
                f.step,
                f.host,
                f.what.replace('\n', " "),
                f.clear
            );
        }
        let _ = writeln!(s);
    }
    let mut detailed = 0;
    let mut omitted = 0;
    for host in &view.hosts {
        let _ = writeln!(
            s,
            "<details><summary>host <code>{}</code> ({}): {} change(s), {} unchanged</summary>\n",
            host.name,
            host.connection,
            host.changes.len(),
            host.unchanged.len()
        );
        if !host.protected.is_empty() {
            let _ = writeln!(
                s,
                "Protected (read only): {}\n",
                host.protected
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !host.not_provable_steps.is_empty() {
            let _ = writeln!(
                s,
                "Production untouched is **not provable** here: free-form host command(s) in {}.\n",
                host.not_provable_steps
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !host.changes.is_empty() {
            s.push_str("| action | step | why |\n|---|---|---|\n");
            for c in &host.changes {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} |",
                    icon(c.action),
                    c.step,
                    c.reasons.join("; ").replace('|', "\\|").replace('\n', " ")
                );
            }
            s.push('\n');
        }
        for c in host.changes.iter().filter(|c| c.action != Action::Unknown) {
            if detailed >= MAX_DETAILED || s.len() > MAX_CHARS {
                omitted += 1;
                continue;
            }
            detailed += 1;
            let _ = writeln!(s, "#### `{}` ({})\n", c.step, c.action.as_str());
            for d in c.description.iter().filter(|_| shown.words) {
                let _ = writeln!(s, "- **{}** {}", d.label, d.text.replace('\n', " "));
            }
            if shown.words && !c.description.is_empty() {
                s.push('\n');
            }
            if commands && !c.commands.is_empty() {
                let mut body = c.commands.join("\n");
                if !c.bookkeeping.is_empty() {
                    body.push_str("\n# bookkeeping\n");
                    body.push_str(&c.bookkeeping.join("\n"));
                }
                let f = fence(&body);
                let _ = writeln!(s, "{f}sh\n{body}\n{f}\n");
            }
            if commands && !c.masked_secrets.is_empty() {
                let _ = writeln!(
                    s,
                    "Secrets on standard input: {}\n",
                    c.masked_secrets
                        .iter()
                        .map(|k| format!("`{k}=********`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        if !host.unchanged.is_empty() {
            let _ = writeln!(
                s,
                "{} unchanged: {}\n",
                host.unchanged.len(),
                host.unchanged
                    .iter()
                    .map(|c| format!("`{}`", c.step))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        s.push_str("</details>\n\n");
    }
    if omitted > 0 {
        let _ = writeln!(
            s,
            "_{omitted} more step(s) not detailed here; run `cutter plan --format json` for all of them._\n"
        );
    }
    if shown.words && !commands && view.summary.runs_anything() {
        s.push_str("_The exact commands: `cutter plan --verbose`, or `--format json`._\n\n");
    }
    if view.mermaid.len() < 20_000 {
        let _ = writeln!(
            s,
            "<details><summary>step graph</summary>\n\n```mermaid\n{}```\n</details>",
            view.mermaid
        );
    } else {
        s.push_str("_The step graph is too large to show; run `cutter graph --format mermaid`._\n");
    }
    // Paths on a host may hold control characters; the comment shows them escaped.
    crate::printer::escape_controls(&s, true)
}
