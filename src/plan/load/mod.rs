//! Load a plan file: parse, resolve references and templates, enforce
//! protection, and check the dependency graph, collecting every error.
//!
//! The phases, in order:
//! 1. [`file`]: read the file (a regular UTF-8 file of bounded size) and
//!    parse it into the raw [`schema`](super::schema).
//! 2. [`variables`]: fix the variables; [`expand`] fills templates with them.
//! 3. [`host`]: hosts, their connections and what they protect.
//! 4. [`refs`]: every resource name, so that references can be checked.
//! 5. [`container`], [`artefact`], [`check`], [`guard`]: each resource.
//! 6. [`deps`]: the ordering edges; [`cycles`]: none of them loops.
//!
//! Each phase records its errors and goes on, so that one run reports them all.

mod artefact;
mod check;
mod container;
mod cycles;
mod deps;
mod expand;
mod file;
mod guard;
mod host;
mod names;
mod refs;
mod values;
mod variables;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::schema::RawPlan;
use super::{Diagnostics, Kind, Plan, PlanErrors, VarOverrides};

pub use names::{docker_name, looks_like_id};

/// Read and validate the plan at `path`.
pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
    load_with(path, &VarOverrides::default())
}

/// Read and validate the plan at `path`, with variables set from outside it.
pub fn load_with(path: &Path, overrides: &VarOverrides) -> Result<Plan, PlanErrors> {
    let file = path.display().to_string();
    match file::read_plan_file(path) {
        Ok(text) => load_str_with(path, &text, &|name| std::env::var(name).ok(), overrides),
        Err((message, help)) => {
            let mut diags = Diagnostics::new(&file, Arc::from(""));
            diags.error("unreadable", message).help(help);
            Err(diags.into_errors())
        }
    }
}

/// Validate plan text; `env` looks up the operator's environment.
pub fn load_str(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, PlanErrors> {
    load_str_with(path, text, env, &VarOverrides::default())
}

/// Validate plan text, with variables set from outside it.
pub fn load_str_with(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &VarOverrides,
) -> Result<Plan, PlanErrors> {
    let source: Arc<str> = Arc::from(text);
    let mut diags = Diagnostics::new(&path.display().to_string(), source.clone());
    let Some(raw) = file::parse(text, &mut diags) else {
        return Err(diags.into_errors());
    };
    let mut loader = Loader {
        text: source,
        expanded: 0,
        over_budget_reported: false,
        diags,
        env,
        overrides,
        vars: IndexMap::new(),
        names: HashMap::new(),
        protected_spans: HashMap::new(),
        free_form_spans: HashMap::new(),
        var_spans: HashMap::new(),
        default_host: None,
    };
    let plan = loader.resolve(raw, path);
    let mut diags = loader.diags;
    if diags.is_empty() {
        cycles::check_cycles(&plan, &mut diags);
    }
    diags.into_result(plan)
}

/// What resolving one plan file has learnt so far, and the errors found.
struct Loader<'a> {
    text: Arc<str>,
    /// Bytes expanded by templates so far, against [`expand::MAX_EXPANDED_TOTAL`].
    expanded: usize,
    over_budget_reported: bool,
    diags: Diagnostics,
    env: &'a dyn Fn(&str) -> Option<String>,
    overrides: &'a VarOverrides,
    vars: IndexMap<String, String>,
    /// Every resource name, with its kind and the span of its declaration.
    names: HashMap<String, (Kind, Range<usize>)>,
    /// Span of each protected entry, per host, for labels.
    protected_spans: HashMap<(String, &'static str, String), Range<usize>>,
    /// Where each host's `free_form` is written, when it is.
    free_form_spans: HashMap<String, Range<usize>>,
    default_host: Option<String>,
    /// Where each variable's value is written in the file (for labels that
    /// point at the origin of a wrong value).
    var_spans: HashMap<String, Range<usize>>,
}

impl Loader<'_> {
    fn resolve(&mut self, raw: RawPlan, path: &Path) -> Plan {
        self.resolve_vars(&raw.vars);
        let hosts = self.resolve_hosts(&raw.hosts);
        if raw.hosts.len() == 1 {
            self.default_host = raw.hosts.keys().next().map(|k| k.get_ref().clone());
        }
        self.collect_names(&raw);

        let mut plan = Plan {
            file: path.to_path_buf(),
            text: self.text.clone(),
            sha256: hex::encode(Sha256::digest(self.text.as_bytes())),
            hosts,
            artefacts: IndexMap::new(),
            containers: IndexMap::new(),
            checks: IndexMap::new(),
            guards: IndexMap::new(),
            deps: Vec::new(),
        };
        // Containers first: artefacts and checks refer to their Docker names.
        for (name, c) in &raw.containers {
            if let Some(c) = self.resolve_container(&plan, name, c) {
                plan.containers.insert(name.get_ref().clone(), c);
            }
        }
        for (name, a) in &raw.artefacts {
            if let Some(a) = self.resolve_artefact(&plan, name, a) {
                plan.artefacts.insert(name.get_ref().clone(), a);
            }
        }
        for (name, c) in &raw.checks {
            if let Some(c) = self.resolve_check(&plan, name, c) {
                plan.checks.insert(name.get_ref().clone(), c);
            }
        }
        for (name, g) in &raw.guards {
            if let Some(g) = self.resolve_guard(&plan, name, g) {
                plan.guards.insert(name.get_ref().clone(), g);
            }
        }
        plan.deps = self.dependencies(&raw, &plan);
        plan
    }
}
