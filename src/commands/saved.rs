//! A saved plan (`cutter plan -o plan.json`) is applied only as reviewed.

use std::collections::BTreeSet;
use std::path::Path;

use miette::{Result, miette};

use crate::render::{self, PlanView};

/// A saved plan is a contract: the same target, the same steps, and for
/// each step exactly the commands that were reviewed. Anything else (a
/// different `--target`, a step added or removed, a command edited by hand
/// or changed by a newer cutter) is refused.
pub(super) fn check_contract(
    saved: &PlanView,
    now: &PlanView,
    target: Option<&str>,
    path: &Path,
) -> Result<()> {
    let refuse = |what: String| {
        Err(miette!(
            code = "cutter::saved_plan_contract",
            help = "run `cutter plan -o` again and review the new plan",
            "the saved plan `{}` cannot be applied as reviewed: {what}",
            path.display()
        ))
    };
    if saved.target.as_deref() != target {
        return refuse(format!(
            "it was made for {}, this apply asks for {}",
            saved
                .target
                .as_deref()
                .map_or("the whole plan".to_string(), |t| format!("target `{t}`")),
            target.map_or("the whole plan".to_string(), |t| format!("target `{t}`"))
        ));
    }
    let steps = |v: &PlanView| -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
        v.hosts
            .iter()
            .flat_map(|h| h.changes.iter())
            .map(|c| (c.step.clone(), (c.commands.clone(), c.bookkeeping.clone())))
            .collect()
    };
    let (reviewed, current) = (steps(saved), steps(now));
    for (step, commands) in &reviewed {
        match current.get(step) {
            None => return refuse(format!("step `{step}` would no longer run")),
            Some(c) if c != commands => {
                return refuse(format!(
                    "the commands of step `{step}` differ from the reviewed ones"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(step) = current.keys().find(|s| !reviewed.contains_key(*s)) {
        return refuse(format!("step `{step}` was not reviewed"));
    }
    // What the reviewer read: the words too (absent from older saved plans).
    let words =
        |v: &PlanView| -> std::collections::BTreeMap<String, Vec<render::describe::Detail>> {
            v.hosts
                .iter()
                .flat_map(|h| h.changes.iter())
                .map(|c| (c.step.clone(), c.description.clone()))
                .collect()
        };
    let current_words = words(now);
    for (step, said) in words(saved) {
        if !said.is_empty() && current_words.get(&step) != Some(&said) {
            return refuse(format!(
                "the description of step `{step}` differs from the reviewed one"
            ));
        }
    }
    Ok(())
}

/// The steps a plan view would run.
pub(super) fn pending_steps(view: &PlanView) -> BTreeSet<String> {
    view.hosts
        .iter()
        .flat_map(|h| h.changes.iter().map(|c| c.step.clone()))
        .collect()
}
