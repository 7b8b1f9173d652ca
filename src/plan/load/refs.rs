//! Names and references: every resource name is declared once, and every
//! reference (`host`, `after`, `container`, an artefact) names something of
//! the right kind.

use toml::Spanned;

use super::Loader;
use super::names::docker_name;
use crate::plan::schema::RawPlan;
use crate::plan::{Kind, Place, Plan};

impl Loader<'_> {
    /// Record every resource name with its kind; refuse invalid and repeated ones.
    pub(super) fn collect_names(&mut self, raw: &RawPlan) {
        let all = raw
            .artefacts
            .keys()
            .map(|k| (Kind::Artefact, k))
            .chain(raw.containers.keys().map(|k| (Kind::Container, k)))
            .chain(raw.checks.keys().map(|k| (Kind::Check, k)))
            .chain(raw.guards.keys().map(|k| (Kind::Guard, k)));
        for (kind, name) in all {
            let n = name.get_ref();
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.diags
                    .error("name", format!("invalid name `{n}`"))
                    .label(name.span(), "use letters, digits, `_` and `-`");
            }
            if let Some((other, span)) = self.names.get(n) {
                let (other, span) = (*other, span.clone());
                self.diags
                    .error("duplicate_name", format!("duplicate name `{n}`"))
                    .label(
                        span,
                        format!("first declared here as {} `{n}`", other.as_str()),
                    )
                    .label(
                        name.span(),
                        format!("declared again here as {} `{n}`", kind.as_str()),
                    )
                    .help(
                        "names are shared by all resources, so that `after` can name any of them",
                    );
            } else {
                self.names.insert(n.clone(), (kind, name.span()));
            }
        }
    }

    /// Resolve a `host = "..."` reference (or the plan's only host).
    pub(super) fn host_ref(
        &mut self,
        plan: &Plan,
        owner: &Spanned<String>,
        host: Option<&Spanned<String>>,
    ) -> Option<String> {
        match host {
            Some(h) if plan.hosts.contains_key(h.get_ref()) => Some(h.get_ref().clone()),
            Some(h) => {
                let known = known_list(plan.hosts.keys());
                self.diags
                    .error(
                        "unknown_reference",
                        format!("unknown host `{}`", h.get_ref()),
                    )
                    .label(h.span(), "no host of this name")
                    .help(format!("declared hosts: {known}"));
                None
            }
            None => match &self.default_host {
                // The only host failed to resolve: already reported.
                Some(h) if !plan.hosts.contains_key(h) => None,
                Some(h) => Some(h.clone()),
                None => {
                    self.diags
                        .error(
                            "missing_key",
                            format!("`{}` needs `host = \"...\"`", owner.get_ref()),
                        )
                        .label(
                            owner.span(),
                            "the plan has several hosts (or none): say which",
                        );
                    None
                }
            },
        }
    }

    /// A reference to another resource by name, of one of `kinds`.
    pub(super) fn resource_ref(&mut self, value: &Spanned<String>, kinds: &[Kind]) -> Option<Kind> {
        let name = value.get_ref();
        match self.names.get(name) {
            Some((kind, _)) if kinds.contains(kind) => Some(*kind),
            Some((kind, span)) => {
                let span = span.clone();
                let kind = *kind;
                let wanted: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
                self.diags
                    .error(
                        "bad_reference",
                        format!(
                            "`{name}` is {} {}, not {}",
                            article(kind.as_str()),
                            kind.as_str(),
                            described(&wanted)
                        ),
                    )
                    .label(value.span(), "referenced here")
                    .label(span, "declared here");
                None
            }
            None => {
                let mut known: Vec<_> = self
                    .names
                    .iter()
                    .filter(|(_, (k, _))| kinds.contains(k))
                    .map(|(n, _)| n.clone())
                    .collect();
                known.sort();
                let wanted: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
                self.diags
                    .error(
                        "unknown_reference",
                        format!(
                            "unknown {} `{name}`",
                            if wanted.len() == 1 {
                                wanted[0]
                            } else {
                                "resource"
                            }
                        ),
                    )
                    .label(value.span(), "nothing of this name is declared")
                    .help(if known.is_empty() {
                        format!("the plan declares no {}", plural(&wanted))
                    } else {
                        format!("declared: {}", known.join(", "))
                    });
                None
            }
        }
    }

    /// Resolve `container = "..."`: a container resource of this plan, or a
    /// container on the host (by name, `/name`, ID or ID prefix), which is
    /// then treated as production whatever its spelling.
    pub(super) fn place(&mut self, plan: &Plan, value: &Spanned<String>) -> Place {
        if let Some(c) = plan.containers.get(value.get_ref()) {
            return Place::Own(c.name.clone());
        }
        if let Some((kind, span)) = self.names.get(value.get_ref()) {
            let (kind, span) = (*kind, span.clone());
            if kind != Kind::Container {
                self.diags
                    .error(
                        "bad_reference",
                        format!(
                            "`{}` is a {}, not a container",
                            value.get_ref(),
                            kind.as_str()
                        ),
                    )
                    .label(value.span(), "referenced here")
                    .label(span, "declared here");
            }
        }
        let reference = value.get_ref().trim_start_matches('/').to_string();
        if let Err(e) = docker_name(&reference) {
            self.diags
                .error(
                    "name",
                    format!("`{}` is not a container name or ID", value.get_ref()),
                )
                .label(value.span(), format!("this {e}"));
        }
        Place::External(reference)
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `an artefact`, or `an artefact, a container or a check`.
fn described(kinds: &[&str]) -> String {
    let words: Vec<String> = kinds
        .iter()
        .map(|k| format!("{} {k}", article(k)))
        .collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

/// `artefacts`, or `artefacts, containers or checks`.
fn plural(kinds: &[&str]) -> String {
    let words: Vec<String> = kinds.iter().map(|k| format!("{k}s")).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

fn known_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<_> = names.map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
