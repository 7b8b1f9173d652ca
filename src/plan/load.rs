//! Load a plan file: parse, resolve references and templates, enforce
//! protection, and check the dependency graph, collecting every error.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::readonly;
use super::schema::*;
use super::units;
use super::*;

/// The largest plan file read (1 MiB): a plan is a page of declarations.
pub const MAX_PLAN_BYTES: u64 = 1024 * 1024;

/// Read and validate the plan at `path`.
pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
    load_with(path, &VarOverrides::default())
}

/// Read and validate the plan at `path`, with variables set from outside it.
pub fn load_with(path: &Path, overrides: &VarOverrides) -> Result<Plan, PlanErrors> {
    let file = path.display().to_string();
    match read_plan_file(path) {
        Ok(text) => load_str_with(path, &text, &|name| std::env::var(name).ok(), overrides),
        Err((message, help)) => {
            let mut diags = Diagnostics::new(&file, Arc::from(""));
            diags.error("unreadable", message).help(help);
            Err(diags.into_errors())
        }
    }
}

/// The text of a plan file: a regular file of at most [`MAX_PLAN_BYTES`], in UTF-8.
/// On error, a message and a hint.
fn read_plan_file(path: &Path) -> Result<String, (String, String)> {
    use std::io::Read;
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| {
        (
            format!("cannot read `{file}`: {e}"),
            "give the path of a plan file (`.toml`)".to_string(),
        )
    };
    // Check before opening: opening a FIFO would block, a device never ends.
    let meta = std::fs::metadata(path).map_err(cannot)?;
    let not_regular = || {
        (
            format!("`{file}` is not a regular file"),
            "a plan is read from a regular file; copy it to one first".to_string(),
        )
    };
    if !meta.is_file() {
        return Err(not_regular());
    }
    let too_big = |size: u64| {
        (
            format!(
                "`{file}` is {size} bytes, larger than the {MAX_PLAN_BYTES} bytes (1 MiB) a plan may be"
            ),
            "split it into several plans".to_string(),
        )
    };
    if meta.len() > MAX_PLAN_BYTES {
        return Err(too_big(meta.len()));
    }
    let opened = std::fs::File::open(path).map_err(cannot)?;
    if !opened.metadata().map_err(cannot)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    // The file may grow after the check: never read more than the limit.
    opened
        .take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        (
            format!(
                "`{file}` is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the plan as UTF-8".to_string(),
        )
    })
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
    let file = path.display().to_string();
    let source: Arc<str> = Arc::from(text);
    let mut diags = Diagnostics::new(&file, source.clone());
    let raw: RawPlan = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let message = e.message().trim().to_string();
            let (code, headline) = classify_toml_error(&message);
            let d = diags.error(code, headline);
            if let Some(span) = e.span() {
                d.label(span, message.clone());
            }
            return Err(diags.into_errors());
        }
    };
    let mut loader = Loader {
        text: source.clone(),
        expanded: 0,
        over_budget_reported: false,
        diags,
        env,
        overrides,
        vars: IndexMap::new(),
        names: HashMap::new(),
        protected_spans: HashMap::new(),
        var_spans: HashMap::new(),
        default_host: None,
    };
    let plan = loader.resolve(raw, path);
    let mut diags = loader.diags;
    if diags.is_empty() {
        crate::graph::check_cycles(&plan, &mut diags);
    }
    diags.into_result(plan)
}

fn classify_toml_error(message: &str) -> (&'static str, String) {
    let first = message.lines().next().unwrap_or(message);
    if first.contains("unknown field") {
        (
            "unknown_key",
            format!("unknown key: {}", first.replace("unknown field", "field")),
        )
    } else if first.contains("invalid type")
        || first.contains("expected") && first.contains("found")
    {
        ("wrong_type", format!("wrong type: {first}"))
    } else if first.contains("duplicate key") {
        ("duplicate_name", format!("duplicate name: {first}"))
    } else if first.contains("missing field") {
        ("missing_key", format!("missing key: {first}"))
    } else {
        ("syntax", format!("TOML syntax error: {first}"))
    }
}

/// How deep variables may refer to variables that refer to variables.
pub const MAX_VAR_DEPTH: usize = 16;
/// How many bytes all of a plan's templates may expand to together.
pub const MAX_EXPANDED_TOTAL: usize = 16 * 1024 * 1024;

struct Loader<'a> {
    text: Arc<str>,
    /// Bytes expanded by templates so far, against [`MAX_EXPANDED_TOTAL`].
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

    fn resolve_vars(&mut self, vars: &Map<Spanned<String>>) {
        // How deep each variable nests others: `b = "{{ var.a }}"` is one deeper than `a`.
        let mut depths: HashMap<String, usize> = HashMap::new();
        for (name, value) in vars {
            if self.overrides.get(name.get_ref()).is_none() {
                self.var_spans.insert(name.get_ref().clone(), value.span());
            }
            // Set from outside the plan: taken literally.
            if let Some(v) = self.overrides.get(name.get_ref()) {
                self.expanded += v.len();
                depths.insert(name.get_ref().clone(), 0);
                self.vars.insert(name.get_ref().clone(), v);
                continue;
            }
            let deepest = std::cell::Cell::new(0);
            let limit = self.expansion_limit();
            let parsed = {
                let (vars, env, depths) = (&self.vars, self.env, &depths);
                let lookup = |kind: &str, n: &str| -> Option<String> {
                    match kind {
                        "env" => env(n),
                        _ => {
                            let d = depths.get(n).copied().unwrap_or(0);
                            deepest.set(deepest.get().max(d + 1));
                            vars.get(n).cloned()
                        }
                    }
                };
                Template::parse_within(value.get_ref(), &lookup, limit)
            };
            let depth = deepest.get();
            depths.insert(name.get_ref().clone(), depth);
            match parsed {
                Ok(_) if depth > MAX_VAR_DEPTH => {
                    self.diags
                        .error(
                            "template",
                            format!(
                                "variable `{}` nests variables {depth} deep (at most {MAX_VAR_DEPTH})",
                                name.get_ref()
                            ),
                        )
                        .label(value.span(), "refers to a chain of variables too long")
                        .help("refer to fewer variables in turn: write the value out");
                    self.vars
                        .insert(name.get_ref().clone(), format!("<{}>", name.get_ref()));
                }
                Ok(t) if !t.is_dated() => {
                    let text = t.render(chrono::Utc::now());
                    self.expanded += text.len();
                    self.vars.insert(name.get_ref().clone(), text);
                }
                Ok(_) => {
                    self.diags
                        .error(
                            "template",
                            format!("variable `{}` uses `date` or `timestamp`", name.get_ref()),
                        )
                        .label(value.span(), "variables are fixed when the plan loads")
                        .help("put `{{ date }}` or `{{ timestamp }}` in the path itself");
                }
                Err(errors) => {
                    self.template_errors(value, errors);
                    // Already reported: keep its users from repeating the error.
                    self.vars
                        .insert(name.get_ref().clone(), format!("<{}>", name.get_ref()));
                }
            }
        }
        let declared: Vec<String> = vars.keys().map(|k| format!("`{}`", k.get_ref())).collect();
        for (name, origin) in self.overrides.unused() {
            if matches!(origin, vars::Origin::File(_)) {
                continue;
            }
            self.diags
                .error(
                    "unknown_var",
                    format!("unknown variable `{name}` set with {origin}"),
                )
                .help(
                    match vars::did_you_mean(&name, vars.keys().map(|k| k.get_ref().as_str())) {
                        Some(close) => format!(
                            "did you mean `{close}`? The plan's `[vars]` declares {}",
                            declared.join(", ")
                        ),
                        None if declared.is_empty() => {
                            "the plan declares no variables: add it to `[vars]` first".to_string()
                        }
                        None => format!("the plan's `[vars]` declares {}", declared.join(", ")),
                    },
                );
        }
    }

    /// How long the next template may expand: one value at most
    /// [`template::MAX_EXPANDED`], the whole plan at most [`MAX_EXPANDED_TOTAL`].
    fn expansion_limit(&self) -> usize {
        template::MAX_EXPANDED.min(MAX_EXPANDED_TOTAL.saturating_sub(self.expanded))
    }

    fn template_errors(&mut self, value: &Spanned<String>, errors: Vec<template::TemplateError>) {
        // Past the plan's budget every further template fails: say so once.
        let over_budget = self.expansion_limit() < template::MAX_EXPANDED;
        let base = self.value_base(value);
        for e in errors {
            let span = self.inner_span(value, base, e.at.clone());
            let too_long = e.too_long;
            if too_long && over_budget {
                if self.over_budget_reported {
                    continue;
                }
                self.over_budget_reported = true;
            }
            let (message, label) = if too_long && over_budget {
                (
                    format!(
                        "the plan's templates expand beyond {} MiB in all",
                        MAX_EXPANDED_TOTAL / (1024 * 1024)
                    ),
                    "the limit is reached here".to_string(),
                )
            } else {
                (e.message.clone(), e.message)
            };
            let d = self.diags.error("template", message).label(span, label);
            if too_long {
                d.help(format!(
                    "a value may expand to {} KiB and a whole plan to {} MiB: variables that repeat each other grow exponentially",
                    template::MAX_EXPANDED / 1024,
                    MAX_EXPANDED_TOTAL / (1024 * 1024)
                ));
            }
        }
    }

    /// Map a range inside a string value to a range in the file.
    /// `base` is from [`Loader::value_base`]; without one, the whole value.
    fn inner_span(
        &self,
        value: &Spanned<String>,
        base: Option<usize>,
        inner: Range<usize>,
    ) -> Range<usize> {
        let outer = value.span();
        let Some(base) = base else {
            return outer;
        };
        let start = (base + inner.start).min(outer.end);
        let end = (base + inner.end).min(outer.end).max(start);
        start..end
    }

    /// Where a string value's text starts in the file, when offsets in the
    /// value are offsets in the file. Escapes (`\t`, `\u00e9`) or a
    /// multi-line string shift them: then labels point at the whole value
    /// rather than at a wrong place.
    fn value_base(&self, value: &Spanned<String>) -> Option<usize> {
        let outer = value.span();
        let quoted = self.text[outer.clone()]
            .chars()
            .next()
            .is_some_and(|c| c == '"' || c == '\'');
        let base = outer.start + usize::from(quoted);
        let written = self.text.get(base..base + value.get_ref().len());
        (written == Some(value.get_ref().as_str())).then_some(base)
    }

    fn template(&mut self, value: &Spanned<String>) -> Option<Template> {
        let limit = self.expansion_limit();
        let parsed = {
            let (vars, env) = (&self.vars, self.env);
            let lookup = |kind: &str, n: &str| -> Option<String> {
                match kind {
                    "env" => env(n),
                    _ => vars.get(n).cloned(),
                }
            };
            Template::parse_within(value.get_ref(), &lookup, limit)
        };
        match parsed {
            Ok(t) => {
                self.expanded += t.display().len();
                Some(t)
            }
            Err(errors) => {
                self.template_errors(value, errors);
                None
            }
        }
    }

    /// A name or other text with variables, where only `{{ date }}` is filled (with today).
    fn text_template(&mut self, value: &Spanned<String>) -> Option<String> {
        let t = self.template(value)?;
        Some(t.render(crate::clock::now()))
    }

    fn resolve_hosts(&mut self, hosts: &Map<RawHost>) -> IndexMap<String, Host> {
        let mut out = IndexMap::new();
        for (name, h) in hosts {
            let host = name.get_ref().clone();
            if host.trim().is_empty() {
                self.diags
                    .error("name", "empty host name")
                    .label(name.span(), "name the host, e.g. `[hosts.vps]`");
                continue;
            }
            let connection = match (&h.local, &h.ssh) {
                (Some(local), None) if *local.get_ref() => Connection::Local,
                (Some(local), None) => {
                    self.diags
                        .error(
                            "host",
                            format!("host `{host}` has `local = false` and no `ssh`"),
                        )
                        .label(local.span(), "say `local = true` or give `ssh = \"alias\"`");
                    continue;
                }
                (None, Some(ssh)) => {
                    let Some(destination) = self.text_template(ssh) else {
                        continue;
                    };
                    if destination.trim().is_empty() || destination.starts_with('-') {
                        self.diags
                            .error("host", format!("host `{host}` has no SSH destination"))
                            .label(
                                ssh.span(),
                                "an alias or `user@host`, not empty and not an option",
                            )
                            .help(
                                "write e.g. `ssh = \"prod-vps\"`, an alias of your ~/.ssh/config",
                            );
                        continue;
                    }
                    let config_file = match &h.ssh_config {
                        Some(p) => match self.text_template(p) {
                            Some(p) => Some(expand_home(&p)),
                            None => continue,
                        },
                        None => None,
                    };
                    let connect_timeout = self
                        .seconds(h.connect_timeout.as_ref())
                        .unwrap_or(Duration::from_secs(10));
                    let keepalive = self.seconds(h.keepalive.as_ref()).map(|d| d.as_secs());
                    Connection::Ssh(SshTarget {
                        destination,
                        config_file,
                        connect_timeout,
                        keepalive,
                        strict_host_keys: h.strict_host_keys.as_ref().is_none_or(|s| *s.get_ref()),
                    })
                }
                (Some(local), Some(ssh)) => {
                    self.diags
                        .error("host", format!("host `{host}` is both local and ssh"))
                        .label(local.span(), "local here")
                        .label(ssh.span(), "ssh here");
                    continue;
                }
                (None, None) => {
                    self.diags
                        .error(
                            "host",
                            format!(
                                "host `{host}` says neither `local = true` nor `ssh = \"alias\"`"
                            ),
                        )
                        .label(name.span(), "declared here");
                    continue;
                }
            };
            let mut protected = Protected::default();
            let p = &h.protected;
            for (kind, list, into) in [
                ("container", &p.containers, &mut protected.containers),
                ("label", &p.labels, &mut protected.labels),
                ("volume", &p.volumes, &mut protected.volumes),
                ("network", &p.networks, &mut protected.networks),
                ("path", &p.paths, &mut protected.paths),
            ] {
                for item in list {
                    if kind == "path" && !item.get_ref().starts_with('/') {
                        self.diags
                            .error("path", "protected paths must be absolute")
                            .label(item.span(), "not absolute");
                    }
                    if matches!(kind, "container" | "volume" | "network") {
                        self.check_docker_name(kind, item.get_ref(), item.span());
                    } else {
                        self.non_empty(&format!("protected {kind}"), item);
                    }
                    self.protected_spans
                        .insert((host.clone(), kind, item.get_ref().clone()), item.span());
                    into.push(item.get_ref().clone());
                }
            }
            out.insert(
                host.clone(),
                Host {
                    name: host,
                    connection,
                    protected,
                },
            );
        }
        out
    }

    fn duration(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let value = value?;
        match units::parse_duration(value.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.diags
                    .error(
                        "wrong_type",
                        format!("`{}` is not a duration", value.get_ref()),
                    )
                    .label(value.span(), e.message)
                    .help(e.help);
                None
            }
        }
    }

    /// A duration that OpenSSH counts in whole seconds, at least one:
    /// `"500ms"` would silently become 0, which means "never" to ssh.
    fn seconds(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let d = self.duration(value)?;
        if d.subsec_nanos() != 0 || d.is_zero() {
            let value = value?;
            self.diags
                .error(
                    "wrong_type",
                    format!("`{}` is not a whole number of seconds", value.get_ref()),
                )
                .label(value.span(), "SSH counts whole seconds, at least 1")
                .help("write e.g. \"5s\", \"30s\", \"2m\"");
            return None;
        }
        Some(d)
    }

    fn size(&mut self, value: Option<&Spanned<String>>) -> Option<u64> {
        let value = value?;
        match units::parse_size(value.get_ref()) {
            Ok(b) => Some(b),
            Err(e) => {
                self.diags
                    .error("wrong_type", format!("`{}` is not a size", value.get_ref()))
                    .label(value.span(), e.message)
                    .help(e.help);
                None
            }
        }
    }

    /// Refuse an empty or blank value; `what` names it in the message.
    fn non_empty(&mut self, what: &str, value: &Spanned<String>) -> bool {
        if !value.get_ref().trim().is_empty() {
            return true;
        }
        self.diags
            .error("empty", format!("empty {what}"))
            .label(value.span(), format!("give the {what} here"));
        false
    }

    /// Refuse a name Docker would refuse ([`docker_name`]) at validate time
    /// rather than halfway through an apply.
    fn check_docker_name(&mut self, what: &str, name: &str, span: Range<usize>) -> bool {
        match docker_name(name) {
            Ok(()) => true,
            Err(e) => {
                self.diags
                    .error("name", format!("`{name}` is not a valid Docker {what}"))
                    .label(span, format!("this {e}"));
                false
            }
        }
    }

    fn collect_names(&mut self, raw: &RawPlan) {
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
    fn host_ref(
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
    fn resource_ref(&mut self, value: &Spanned<String>, kinds: &[Kind]) -> Option<Kind> {
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

    fn protected_label(
        &mut self,
        host: &str,
        kind: &'static str,
        item: &str,
    ) -> Option<Range<usize>> {
        self.protected_spans
            .get(&(host.to_string(), kind, item.to_string()))
            .cloned()
    }

    fn refuse(
        &mut self,
        host: &str,
        kind: &'static str,
        item: &str,
        at: Range<usize>,
        message: String,
        label: &str,
    ) {
        let protected_span = self.protected_label(host, kind, item);
        let d = self.diags.error("protected", message);
        d.label(at, label.to_string());
        if let Some(span) = protected_span {
            d.label(span, format!("protected here on host `{host}`"));
        }
        d.help("cutter never mutates production: create a new resource beside it instead");
    }

    fn resolve_container(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        c: &RawContainer,
    ) -> Option<Container> {
        let host = self.host_ref(plan, name, c.host.as_ref());
        let docker_name = match &c.name {
            Some(n) => self.text_template(n)?,
            None => name.get_ref().clone(),
        };
        let mut valid = true;
        let lifecycle = match c.lifecycle.get_ref().as_str() {
            "persistent" => Lifecycle::Persistent,
            "ephemeral" => Lifecycle::Ephemeral,
            other => {
                self.diags
                    .error("wrong_type", format!("unknown lifecycle `{other}`"))
                    .label(c.lifecycle.span(), "expected `persistent` or `ephemeral`");
                return None;
            }
        };
        let network = match &c.network {
            Some(n) => self.text_template(n)?,
            None => format!("{docker_name}-net"),
        };
        let volume = match &c.volume {
            Some(v) => self.text_template(v)?,
            None => format!("{docker_name}-data"),
        };
        if let Some(r) = &c.restore {
            valid &= self.non_empty("restore command", &r.command);
            for code in &r.ok_exit_codes {
                if !(0..=255).contains(code.get_ref()) {
                    self.diags
                        .error(
                            "exit_code",
                            format!("exit code {} is out of range", code.get_ref()),
                        )
                        .label(code.span(), "exit codes are 0 to 255")
                        .help("list the codes the restore command may exit with, e.g. `ok_exit_codes = [0, 1]`");
                    valid = false;
                }
            }
        }
        let mut secrets = Vec::new();
        for (key, s) in &c.secrets {
            match (&s.env, &s.file) {
                (Some(e), None) => secrets.push((
                    key.get_ref().clone(),
                    SecretSource::Env(e.get_ref().clone()),
                )),
                (None, Some(f)) => secrets.push((
                    key.get_ref().clone(),
                    SecretSource::File(expand_home(f.get_ref())),
                )),
                _ => {
                    self.diags
                        .error(
                            "secret",
                            format!(
                                "secret `{}` needs exactly one of `env` or `file`",
                                key.get_ref()
                            ),
                        )
                        .label(key.span(), "declared here");
                }
            }
        }
        if lifecycle == Lifecycle::Ephemeral && c.restore.is_none() {
            self.diags
                .error("ephemeral", format!("ephemeral container `{}` restores nothing", name.get_ref()))
                .label(c.lifecycle.span(), "ephemeral containers exist to test a restore")
                .help("add `restore = { artefact = \"...\", command = \"...\" }`, or make it persistent");
        }
        let restore = c.restore.as_ref().map(|r| Restore {
            artefact: r.artefact.get_ref().clone(),
            command: r.command.get_ref().clone(),
            tolerated_errors: r
                .tolerated_errors
                .iter()
                .map(|t| t.get_ref().clone())
                .collect(),
            ok_exit_codes: if r.ok_exit_codes.is_empty() {
                vec![0]
            } else {
                r.ok_exit_codes
                    .iter()
                    .filter_map(|c| i32::try_from(*c.get_ref()).ok())
                    .collect()
            },
        });
        if let Some(r) = &c.restore {
            self.resource_ref(&r.artefact, &[Kind::Artefact]);
        }
        if lifecycle == Lifecycle::Persistent {
            for v in [&c.name, &c.volume, &c.network].into_iter().flatten() {
                if self.template(v).is_some_and(|t| t.is_dated()) {
                    self.diags
                        .error(
                            "dated_name",
                            format!(
                                "persistent container `{}` has a name that changes with the date",
                                name.get_ref()
                            ),
                        )
                        .label(v.span(), "`{{ date }}` or `{{ timestamp }}` here")
                        .help("a persistent container must keep its name: with a date in it, every day would create another copy and forget yesterday's, which would keep running unmentioned; name it without the date (its labels and the report record when it was made)");
                }
            }
        }
        let host = host?;
        let timeout = self
            .duration(c.timeout.as_ref())
            .unwrap_or(Duration::from_secs(3600));
        for (what, value, at) in [
            (
                "container name",
                &docker_name,
                c.name.as_ref().map_or(name.span(), |n| n.span()),
            ),
            (
                "network",
                &network,
                c.network.as_ref().map_or(name.span(), |n| n.span()),
            ),
            (
                "volume",
                &volume,
                c.volume.as_ref().map_or(name.span(), |n| n.span()),
            ),
        ] {
            if let Err(e) = self::docker_name(value) {
                self.diags
                    .error("name", format!("`{value}` is not a valid Docker {what}"))
                    .label(at, format!("this {e}"));
            } else if looks_like_id(value) {
                self.diags
                    .error("name", format!("Docker {what} `{value}` looks like an ID"))
                    .label(at, "only hexadecimal digits")
                    .help("Docker resolves such a name as an ID prefix of another object: add a letter outside a-f, e.g. a prefix like `cutter-`");
            }
        }
        let image = self.text_template(&c.image)?;
        if let Err(e) = image_reference(&image) {
            self.diags
                .error("image", format!("`{image}` is not an image reference"))
                .label(c.image.span(), e);
        }
        let mount = c
            .mount
            .as_ref()
            .map_or("/var/lib/postgresql/data".into(), |m| m.get_ref().clone());
        if !mount.starts_with('/')
            || mount.contains([',', ':', '='])
            || mount.chars().any(|c| c.is_control())
        {
            self.diags
                .error("path", format!("`{mount}` is not a mount point"))
                .label(
                    c.mount.as_ref().map_or(name.span(), |m| m.span()),
                    "an absolute path without `,`, `:` or `=`",
                );
        }
        for (k, _) in c
            .env
            .iter()
            .chain(c.secrets.iter().map(|(k, _)| (k, &c.image)))
        {
            if k.get_ref().is_empty()
                || k.get_ref().starts_with(|ch: char| ch.is_ascii_digit())
                || !k
                    .get_ref()
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                self.diags
                    .error(
                        "name",
                        format!("`{}` is not an environment variable name", k.get_ref()),
                    )
                    .label(k.span(), "letters, digits and `_`");
            }
        }
        if !valid {
            return None;
        }
        let protected = plan.hosts[&host].protected.clone();
        if protected
            .containers
            .iter()
            .any(|p| p.trim_start_matches('/') == docker_name)
        {
            let at = c.name.as_ref().map_or(name.span(), |n| n.span());
            self.refuse(
                &host,
                "container",
                &docker_name,
                at,
                format!(
                    "container `{}` would replace protected container `{docker_name}`",
                    name.get_ref()
                ),
                "this name belongs to production",
            );
        }
        if protected.networks.contains(&network) {
            let at = c.network.as_ref().map_or(name.span(), |n| n.span());
            self.refuse(
                &host,
                "network",
                &network,
                at,
                format!(
                    "container `{}` would attach to protected network `{network}`",
                    name.get_ref()
                ),
                "production's network",
            );
        }
        if protected.volumes.contains(&volume) {
            let at = c.volume.as_ref().map_or(name.span(), |n| n.span());
            self.refuse(
                &host,
                "volume",
                &volume,
                at,
                format!(
                    "container `{}` would mount protected volume `{volume}`",
                    name.get_ref()
                ),
                "production's volume",
            );
        }
        Some(Container {
            name: name.get_ref().clone(),
            docker_name,
            host,
            image,
            lifecycle,
            network,
            volume,
            mount,
            timeout,
            env: {
                let mut env = Vec::new();
                for (k, v) in &c.env {
                    env.push((k.get_ref().clone(), self.text_template(v)?));
                }
                env
            },
            secrets,
            ports: c
                .ports
                .iter()
                .map(|p| {
                    if !port_spec(p.get_ref()) {
                        self.diags
                            .error(
                                "ports",
                                format!("`{}` is not a port to publish", p.get_ref()),
                            )
                            .label(
                                p.span(),
                                "e.g. \"127.0.0.1:5433:5432\" or \"5433:5432/tcp\"",
                            );
                    }
                    p.get_ref().clone()
                })
                .collect(),
            ready: match &c.ready {
                Some(r) => Some(self.text_template(r)?),
                None => None,
            },
            restore,
            after: c.after.iter().map(|a| a.get_ref().clone()).collect(),
        })
    }

    /// Resolve `container = "..."`: a container resource of this plan, or a
    /// container on the host (by name, `/name`, ID or ID prefix), which is
    /// then treated as production whatever its spelling.
    fn place(&mut self, plan: &Plan, value: &Spanned<String>) -> Place {
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

    /// Whether an external reference names a protected container as written
    /// (the full check, by ID and label, happens against the observed host).
    fn names_protected(plan: &Plan, host: &str, place: &Place) -> bool {
        match place {
            Place::External(r) => plan.hosts.get(host).is_some_and(|h| {
                h.protected
                    .containers
                    .iter()
                    .any(|c| c.trim_start_matches('/') == r)
            }),
            _ => false,
        }
    }

    fn pg_name(&mut self, what: &str, value: &Spanned<String>) -> String {
        if let Err(e) = readonly::pg_identifier(value.get_ref()) {
            self.diags
                .error("pg_identifier", format!("`{what}` {e}"))
                .label(value.span(), "a plain PostgreSQL name")
                .help("cutter builds the connection itself; options and connection strings are refused");
        }
        value.get_ref().clone()
    }

    fn sql(&mut self, value: &Spanned<String>) -> Option<readonly::ReadOnlySql> {
        match readonly::read_only(value.get_ref()) {
            Ok(sql) => Some(sql),
            Err(r) => {
                self.diags
                    .error("read_only", format!("SQL is not provably read-only: {}", r.detail))
                    .label(value.span(), format!("refused by rule `{}`", r.rule))
                    .help("cutter runs only one SELECT, with side-effect-free functions, where it does not own the database");
                None
            }
        }
    }

    fn pattern_list(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        for p in list {
            if p.get_ref().is_empty() || p.get_ref().chars().any(|c| c.is_control()) {
                self.diags
                    .error("pg_dump", "empty pattern or control character")
                    .label(p.span(), "a pg_dump pattern, e.g. \"public.orders\"");
            }
        }
        list.iter().map(|p| p.get_ref().clone()).collect()
    }

    fn pg_dump(&mut self, d: &RawPgDump) -> PgDump {
        let format = match d.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("custom") => DumpFormat::Custom,
            Some("plain") => DumpFormat::Plain,
            Some("tar") => DumpFormat::Tar,
            Some(other) => {
                self.diags
                    .error("wrong_type", format!("unknown dump format `{other}`"))
                    .label(
                        d.format.as_ref().unwrap().span(),
                        "expected `custom`, `plain` or `tar`",
                    );
                DumpFormat::Custom
            }
        };
        let compress = match &d.compress {
            Some(c) if (0..=9).contains(c.get_ref()) => Some(*c.get_ref() as u8),
            Some(c) => {
                self.diags
                    .error(
                        "range",
                        format!("compression level {} is out of range", c.get_ref()),
                    )
                    .label(c.span(), "0 to 9");
                None
            }
            None => None,
        };
        PgDump {
            user: d
                .user
                .as_ref()
                .map_or("postgres".into(), |u| self.pg_name("user", u)),
            database: self.pg_name("database", &d.database),
            format,
            compress,
            schema_only: d.schema_only.as_ref().is_some_and(|s| *s.get_ref()),
            tables: self.pattern_list(&d.tables),
            exclude_tables: self.pattern_list(&d.exclude_tables),
            schemas: self.pattern_list(&d.schemas),
            exclude_schemas: self.pattern_list(&d.exclude_schemas),
        }
    }

    fn query(&mut self, q: &RawQuery) -> Option<PgQuery> {
        let user = q
            .user
            .as_ref()
            .map_or("postgres".into(), |u| self.pg_name("user", u));
        let database = self.pg_name("database", &q.database);
        let separator = match &q.separator {
            Some(s)
                if s.get_ref().is_empty()
                    || s.get_ref().chars().count() > 4
                    || s.get_ref().chars().any(|c| c.is_control()) =>
            {
                self.diags
                    .error("query", "the separator must be 1 to 4 printable characters")
                    .label(s.span(), "e.g. \"|\"");
                "|".into()
            }
            Some(s) => s.get_ref().clone(),
            None => "|".into(),
        };
        Some(PgQuery {
            user,
            database,
            sql: self.sql(&q.sql)?,
            separator,
        })
    }

    fn resolve_artefact(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        a: &RawArtefact,
    ) -> Option<Artefact> {
        let host = self.host_ref(plan, name, a.host.as_ref());
        let path = self.template(&a.path);
        let min_size = self.size(a.min_size.as_ref());
        let max_age = self.duration(a.max_age.as_ref());
        let timeout = self
            .duration(a.timeout.as_ref())
            .unwrap_or(Duration::from_secs(2 * 3600));
        let verify_every = self
            .duration(a.verify_every.as_ref())
            .unwrap_or(Duration::from_secs(7 * 24 * 3600));
        let keep = match &a.keep {
            None => None,
            Some(k) => {
                let last = match &k.last {
                    Some(l) if (1..=100_000).contains(l.get_ref()) => *l.get_ref() as usize,
                    Some(l) => {
                        self.diags
                            .error(
                                "range",
                                format!("`keep.last` = {} is out of range", l.get_ref()),
                            )
                            .label(l.span(), "1 or more: the newest file is always kept");
                        1
                    }
                    None => 1,
                };
                let within = self.duration(k.within.as_ref());
                Some(Keep { last, within })
            }
        };
        let host = host?;
        let path = path?;
        let display = path.display();
        if let (Some(_), false) = (&a.keep, path.is_dated()) {
            self.diags
                .error("keep", format!("artefact `{}` keeps older files, but has only one", name.get_ref()))
                .label(a.path.span(), "no `{{ timestamp }}` or `{{ date }}` here")
                .help("retention is for timestamped artefacts: every apply of a fixed path replaces the one file");
        }
        self.check_path(&a.path, &display, name.get_ref());
        if let Some(stderr) = &a.stderr
            && (stderr.get_ref().contains('/')
                || stderr.get_ref().is_empty()
                || matches!(stderr.get_ref().as_str(), "." | ".." | "SHA256SUMS")
                || stderr.get_ref().chars().any(|c| c.is_control()))
        {
            self.diags
                .error("path", "`stderr` is a file name beside the artefact")
                .label(stderr.span(), "a plain file name, e.g. \"pg_dump.stderr\"");
        }
        let protected = plan.hosts[&host].protected.clone();
        if let Some(p) = protected.path_covering(&display) {
            let p = p.to_string();
            self.refuse(
                &host,
                "path",
                &p,
                a.path.span(),
                format!(
                    "artefact `{}` would write under protected path `{p}`",
                    name.get_ref()
                ),
                "this path is protected",
            );
        }
        let place = match &a.container {
            Some(c) => self.place(plan, c),
            None => Place::Host,
        };
        let producer = match (&a.command, &a.pg_dump, &a.query) {
            (Some(cmd), None, None) => {
                if let (Place::External(r), Some(c)) = (&place, &a.container) {
                    let protected = Self::names_protected(plan, &host, &place);
                    let d = self.diags.error(
                        "protected",
                        format!(
                            "artefact `{}` runs a free-form command in container `{r}`, which this plan does not own",
                            name.get_ref()
                        ),
                    );
                    d.label(cmd.span(), "a shell command");
                    d.label(
                        c.span(),
                        if protected {
                            "a protected container"
                        } else {
                            "not a container resource of this plan: treated as production"
                        },
                    );
                    d.help("inside containers cutter did not create, it runs only operations it composes itself: use `pg_dump = { database = \"...\" }` or `query = { database = \"...\", sql = \"SELECT ...\" }`");
                }
                let command = self.text_template(cmd)?;
                if command.trim().is_empty() {
                    self.diags
                        .error(
                            "empty",
                            format!("artefact `{}` has an empty command", name.get_ref()),
                        )
                        .label(cmd.span(), "empty");
                }
                Producer::Command { command }
            }
            (None, Some(d), None) => Producer::PgDump(self.pg_dump(d)),
            (None, None, Some(q)) => Producer::Query(self.query(q)?),
            _ => {
                self.diags
                    .error(
                        "producer",
                        format!(
                            "artefact `{}` needs exactly one of `command`, `pg_dump` or `query`",
                            name.get_ref()
                        ),
                    )
                    .label(name.span(), "declared here");
                return None;
            }
        };
        if !matches!(producer, Producer::Command { .. }) && place == Place::Host {
            self.diags
                .error(
                    "producer",
                    format!(
                        "artefact `{}` runs PostgreSQL tools without `container`",
                        name.get_ref()
                    ),
                )
                .label(name.span(), "declared here")
                .help("say which container holds the database: `container = \"postgres\"`");
        }
        let verify = match &a.verify {
            Some(v) if !matches!(producer, Producer::Command { .. }) => {
                self.diags
                    .error("verify", "`verify` is for `command` artefacts")
                    .label(v.span(), "not allowed here")
                    .help("a `pg_dump` in custom or tar format is always checked with `pg_restore --list` in a throw-away container; nothing is ever fed into production");
                None
            }
            Some(v) => Some(self.text_template(v)?),
            None => None,
        };
        Some(Artefact {
            name: name.get_ref().clone(),
            host,
            path,
            producer,
            place,
            stderr: a.stderr.as_ref().map(|s| s.get_ref().clone()),
            min_size,
            verify,
            max_age,
            timeout,
            verify_every,
            keep,
            after: a.after.iter().map(|x| x.get_ref().clone()).collect(),
        })
    }

    /// Paths are absolute, in normal form, and name a file.
    /// Where the variables a value uses got their values: a span in the
    /// file, or `None` when set from the command line.
    fn var_origins(&self, raw: &str) -> Vec<(Option<Range<usize>>, String)> {
        let mut out = Vec::new();
        let mut rest = raw;
        while let Some(i) = rest.find("{{") {
            let after = &rest[i + 2..];
            let Some(end) = after.find("}}") else { break };
            if let Some(name) = after[..end].trim().strip_prefix("var.") {
                match self.var_spans.get(name) {
                    Some(span) => out.push((
                        Some(span.clone()),
                        format!("`var.{name}` gets its value here"),
                    )),
                    None if self.overrides.get(name).is_some() => {
                        out.push((None, format!("`var.{name}` was set by --var or --var-file")))
                    }
                    None => {}
                }
            }
            rest = &after[end + 2..];
        }
        out
    }

    fn check_path(&mut self, raw: &Spanned<String>, display: &str, owner: &str) {
        let origins = self.var_origins(raw.get_ref());
        if !display.starts_with('/') {
            let d = self
                .diags
                .error("path", format!("artefact `{owner}` needs an absolute path"));
            d.label(raw.span(), format!("not absolute: `{display}`"));
            for (span, text) in origins {
                match span {
                    Some(span) => {
                        d.label(span, text);
                    }
                    None => {
                        d.help(text);
                    }
                }
            }
            return;
        }
        if display.ends_with('/')
            || display
                .rsplit('/')
                .next()
                .is_some_and(|f| f.is_empty() || f == "." || f == "..")
        {
            self.diags
                .error(
                    "path",
                    format!("artefact `{owner}` path does not name a file"),
                )
                .label(raw.span(), "ends in a folder");
            return;
        }
        if display[1..]
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || display.chars().any(|c| c.is_control())
        {
            self.diags
                .error("path", format!("artefact `{owner}` path is not in normal form"))
                .label(raw.span(), "no `//`, `/./`, `/../` or control characters")
                .help("write the path as it is, e.g. \"/opt/backups/x.dump\": cutter checks protection on the path it writes");
        }
    }

    fn resolve_check(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        c: &RawCheck,
    ) -> Option<Check> {
        let host = match plan.containers.get(c.container.get_ref()) {
            Some(res) => Some(res.host.clone()),
            None => self.host_ref(plan, name, c.host.as_ref()),
        }?;
        let place = self.place(plan, &c.container);
        let timeout = self
            .duration(c.timeout.as_ref())
            .unwrap_or(Duration::from_secs(600));
        let user = c
            .user
            .as_ref()
            .map_or("postgres".into(), |u| self.pg_name("user", u));
        let database = c
            .database
            .as_ref()
            .map_or("postgres".into(), |d| self.pg_name("database", d));
        let kind = match (&c.sql, &c.expect, &c.same_as, &c.rowcounts) {
            (Some(sql), Some(expect), None, None) => CheckKind::Equals {
                sql: self.sql(sql)?,
                expect: expect.get_ref().clone(),
            },
            (Some(sql), None, Some(other), None) => {
                let other = self.place(plan, other);
                CheckKind::SameAs {
                    sql: self.sql(sql)?,
                    other,
                }
            }
            (None, None, None, Some(rc)) => {
                self.resource_ref(&rc.artefact, &[Kind::Artefact]);
                for t in &rc.tables {
                    if t.get_ref()
                        .split_once('.')
                        .is_none_or(|(s, n)| s.is_empty() || n.is_empty())
                    {
                        self.diags
                            .error("check", format!("`{}` is not `schema.table`", t.get_ref()))
                            .label(t.span(), "write it as schema.table");
                    }
                }
                CheckKind::Rowcounts {
                    artefact: rc.artefact.get_ref().clone(),
                    tables: rc.tables.iter().map(|t| t.get_ref().clone()).collect(),
                }
            }
            _ => {
                self.diags
                    .error(
                        "check",
                        format!(
                            "check `{}` needs `sql` with `expect` or `same_as`, or `rowcounts`",
                            name.get_ref()
                        ),
                    )
                    .label(name.span(), "declared here");
                return None;
            }
        };
        Some(Check {
            name: name.get_ref().clone(),
            host,
            place,
            user,
            database,
            kind,
            timeout,
            after: c.after.iter().map(|a| a.get_ref().clone()).collect(),
        })
    }

    fn resolve_guard(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        g: &RawGuard,
    ) -> Option<Guard> {
        let host = self.host_ref(plan, name, g.host.as_ref())?;
        let kind = match g.kind.get_ref().as_str() {
            "protected-unchanged" => {
                if plan.hosts[&host].protected.is_empty() {
                    self.diags
                        .error(
                            "guard",
                            format!(
                                "guard `{}` watches host `{host}`, which protects nothing",
                                name.get_ref()
                            ),
                        )
                        .label(g.kind.span(), "nothing to compare")
                        .help("declare `[hosts.NAME.protected]` containers, volumes or networks");
                }
                GuardKind::ProtectedUnchanged
            }
            "schema-unchanged" => {
                let Some(container) = &g.container else {
                    self.diags
                        .error(
                            "guard",
                            format!("guard `{}` needs `container`", name.get_ref()),
                        )
                        .label(g.kind.span(), "which database container?");
                    return None;
                };
                GuardKind::SchemaUnchanged {
                    container: self.place(plan, container),
                    user: g
                        .user
                        .as_ref()
                        .map_or("postgres".into(), |u| self.pg_name("user", u)),
                    database: g
                        .database
                        .as_ref()
                        .map_or("postgres".into(), |d| self.pg_name("database", d)),
                }
            }
            other => {
                self.diags
                    .error("wrong_type", format!("unknown guard kind `{other}`"))
                    .label(
                        g.kind.span(),
                        "expected `protected-unchanged` or `schema-unchanged`",
                    );
                return None;
            }
        };
        Some(Guard {
            name: name.get_ref().clone(),
            host,
            kind,
        })
    }

    fn dependencies(&mut self, raw: &RawPlan, plan: &Plan) -> Vec<Dependency> {
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
                    deps.push(Dependency {
                        before: before.get_ref().clone(),
                        after: name.get_ref().clone(),
                        span: before.span(),
                        why: "after",
                    });
                }
            }
        }
        for (name, a) in &raw.artefacts {
            if let Some(c) = &a.container
                && plan.containers.contains_key(c.get_ref())
            {
                deps.push(Dependency {
                    before: c.get_ref().clone(),
                    after: name.get_ref().clone(),
                    span: c.span(),
                    why: "runs in",
                });
            }
        }
        for (name, c) in &raw.containers {
            if let Some(r) = &c.restore
                && plan.artefacts.contains_key(r.artefact.get_ref())
            {
                deps.push(Dependency {
                    before: r.artefact.get_ref().clone(),
                    after: name.get_ref().clone(),
                    span: r.artefact.span(),
                    why: "restores",
                });
            }
        }
        for (name, c) in &raw.checks {
            if plan.containers.contains_key(c.container.get_ref()) {
                deps.push(Dependency {
                    before: c.container.get_ref().clone(),
                    after: name.get_ref().clone(),
                    span: c.container.span(),
                    why: "runs in",
                });
            }
            if let Some(other) = &c.same_as
                && plan.containers.contains_key(other.get_ref())
            {
                deps.push(Dependency {
                    before: other.get_ref().clone(),
                    after: name.get_ref().clone(),
                    span: other.span(),
                    why: "compares with",
                });
            }
            if let Some(rc) = &c.rowcounts
                && plan.artefacts.contains_key(rc.artefact.get_ref())
            {
                deps.push(Dependency {
                    before: rc.artefact.get_ref().clone(),
                    after: name.get_ref().clone(),
                    span: rc.artefact.span(),
                    why: "reads",
                });
            }
        }
        deps
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

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Docker's rule for container, volume and network names.
pub fn docker_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err("must start with a letter or digit".into());
        }
        _ => {}
    }
    if name.len() > 128 {
        return Err("is longer than 128 characters".into());
    }
    match chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        Some(c) => Err(format!(
            "contains `{}`: Docker allows letters, digits, `_`, `.` and `-`",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

/// Whether Docker could read the name as an ID (prefix).
pub fn looks_like_id(name: &str) -> bool {
    name.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// An image reference: `name[:tag][@digest]`, never an option.
fn image_reference(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("is empty".into());
    }
    if image.starts_with('-') {
        return Err("starts with `-` and would be read as an option".into());
    }
    match image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '@')))
    {
        Some(c) => Err(format!("contains `{}`", c.escape_default())),
        None => Ok(()),
    }
}

/// `[ip:]host_port:container_port[/tcp|udp]`, never an option.
fn port_spec(p: &str) -> bool {
    let (addr, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let parts: Vec<&str> = addr.split(':').collect();
    let num = |x: &str| !x.is_empty() && x.len() <= 5 && x.chars().all(|c| c.is_ascii_digit());
    matches!(proto, "tcp" | "udp" | "sctp")
        && match parts.as_slice() {
            [h, c] => num(h) && num(c),
            [ip, h, c] => {
                ip.chars().all(|ch| ch.is_ascii_digit() || ch == '.')
                    && !ip.is_empty()
                    && num(h)
                    && num(c)
            }
            _ => false,
        }
}
