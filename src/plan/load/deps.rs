//! The ordering edges between resources: each `after = [...]`, and each
//! reference that implies an order (runs in, restores, compares with, reads).

use toml::Spanned;

use super::Loader;
use crate::plan::schema::RawPlan;
use crate::plan::{Dependency, Kind, Plan};

impl Loader<'_> {
    pub(super) fn dependencies(&mut self, raw: &RawPlan, plan: &Plan) -> Vec<Dependency> {
        let mut deps = self.after_edges(raw);
        deps.extend(reference_edges(raw, plan));
        deps
    }

    /// Every `after = [...]`, each name checked.
    fn after_edges(&mut self, raw: &RawPlan) -> Vec<Dependency> {
        let mut deps = Vec::new();
        let any = [Kind::Artefact, Kind::Container, Kind::Check];
        let mut afters: Vec<(&Spanned<String>, &Vec<Spanned<String>>)> = Vec::new();
        afters.extend(raw.artefacts.iter().map(|(n, a)| (n, &a.after)));
        afters.extend(raw.containers.iter().map(|(n, c)| (n, &c.after)));
        afters.extend(raw.checks.iter().map(|(n, c)| (n, &c.after)));
        for (name, after) in afters {
            for before in after {
                if before.get_ref() == name.get_ref() {
                    self.diags
                        .error("cycle", format!("`{}` is after itself", name.get_ref()))
                        .label(before.span(), "this `after` names the resource itself");
                    continue;
                }
                if self.resource_ref(before, &any).is_some() {
                    deps.push(edge(before, name, "after"));
                }
            }
        }
        deps
    }
}

/// The edges references imply, to resources that resolved.
fn reference_edges(raw: &RawPlan, plan: &Plan) -> Vec<Dependency> {
    let mut deps = Vec::new();
    for (name, a) in &raw.artefacts {
        if let Some(c) = &a.container
            && plan.containers.contains_key(c.get_ref())
        {
            deps.push(edge(c, name, "runs in"));
        }
    }
    for (name, c) in &raw.containers {
        if let Some(r) = &c.restore
            && plan.artefacts.contains_key(r.artefact.get_ref())
        {
            deps.push(edge(&r.artefact, name, "restores"));
        }
    }
    for (name, c) in &raw.checks {
        if plan.containers.contains_key(c.container.get_ref()) {
            deps.push(edge(&c.container, name, "runs in"));
        }
        if let Some(other) = &c.same_as
            && plan.containers.contains_key(other.get_ref())
        {
            deps.push(edge(other, name, "compares with"));
        }
        if let Some(rc) = &c.rowcounts
            && plan.artefacts.contains_key(rc.artefact.get_ref())
        {
            deps.push(edge(&rc.artefact, name, "reads"));
        }
    }
    deps
}

/// `after` runs after `before`, as the reference at `before` says.
fn edge(before: &Spanned<String>, after: &Spanned<String>, why: &'static str) -> Dependency {
    Dependency {
        before: before.get_ref().clone(),
        after: after.get_ref().clone(),
        span: before.span(),
        why,
    }
}
