//! The plan's `[vars]`: fixed once, before any other value is read.

use std::collections::HashMap;

use toml::Spanned;

use super::Loader;
use crate::plan::Template;
use crate::plan::schema::Map;
use crate::plan::template::TemplateError;
use crate::plan::vars::{self, Origin};

/// How deep variables may refer to variables that refer to variables.
pub const MAX_VAR_DEPTH: usize = 16;

impl Loader<'_> {
    pub(super) fn resolve_vars(&mut self, vars: &Map<Spanned<String>>) {
        // How deep each variable nests others: `b = "{{ var.a }}"` is one deeper than `a`.
        let mut depths: HashMap<String, usize> = HashMap::new();
        for (name, value) in vars {
            self.no_controls("variable name", name);
            self.resolve_var(name, value, &mut depths);
        }
        self.report_unused_overrides(vars);
    }

    fn resolve_var(
        &mut self,
        name: &Spanned<String>,
        value: &Spanned<String>,
        depths: &mut HashMap<String, usize>,
    ) {
        let name = name.get_ref();
        // Set from outside the plan: taken literally.
        if let Some(v) = self.overrides.get(name) {
            self.expanded += v.len();
            depths.insert(name.clone(), 0);
            self.vars.insert(name.clone(), v);
            return;
        }
        self.var_spans.insert(name.clone(), value.span());
        let (parsed, depth) = self.parse_var(value, depths);
        depths.insert(name.clone(), depth);
        match parsed {
            Ok(_) if depth > MAX_VAR_DEPTH => {
                self.diags
                    .error(
                        "template",
                        format!(
                            "variable `{name}` nests variables {depth} deep (at most {MAX_VAR_DEPTH})"
                        ),
                    )
                    .label(value.span(), "refers to a chain of variables too long")
                    .help("refer to fewer variables in turn: write the value out");
                self.vars.insert(name.clone(), format!("<{name}>"));
            }
            Ok(t) if !t.is_dated() => {
                let text = t.render(chrono::Utc::now());
                self.expanded += text.len();
                self.vars.insert(name.clone(), text);
            }
            Ok(_) => {
                self.diags
                    .error(
                        "template",
                        format!("variable `{name}` uses `date` or `timestamp`"),
                    )
                    .label(value.span(), "variables are fixed when the plan loads")
                    .help("put `{{ date }}` or `{{ timestamp }}` in the path itself");
            }
            Err(errors) => {
                self.template_errors(value, errors);
                // Already reported: keep its users from repeating the error.
                self.vars.insert(name.clone(), format!("<{name}>"));
            }
        }
    }

    /// Parse a variable's value with the variables fixed so far, and say
    /// how deep it nests them.
    fn parse_var(
        &self,
        value: &Spanned<String>,
        depths: &HashMap<String, usize>,
    ) -> (Result<Template, Vec<TemplateError>>, usize) {
        let deepest = std::cell::Cell::new(0);
        let (vars, env) = (&self.vars, self.env);
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
        let parsed = Template::parse_within(value.get_ref(), &lookup, self.expansion_limit());
        (parsed, deepest.get())
    }

    /// `--var NAME=...` for a variable the plan does not declare is a typo.
    fn report_unused_overrides(&mut self, vars: &Map<Spanned<String>>) {
        let declared: Vec<String> = vars.keys().map(|k| format!("`{}`", k.get_ref())).collect();
        for (name, origin) in self.overrides.unused() {
            if matches!(origin, Origin::File(_)) {
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
}
