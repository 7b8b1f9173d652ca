//! Templates in plan values: filling them in, within the plan's budget,
//! and pointing errors at the exact place in the file.

use std::ops::Range;

use toml::Spanned;

use super::Loader;
use crate::plan::Template;
use crate::plan::template::{self, TemplateError};

/// How many bytes all of a plan's templates may expand to together.
pub const MAX_EXPANDED_TOTAL: usize = 16 * 1024 * 1024;

impl Loader<'_> {
    /// How long the next template may expand: one value at most
    /// [`template::MAX_EXPANDED`], the whole plan at most [`MAX_EXPANDED_TOTAL`].
    pub(super) fn expansion_limit(&self) -> usize {
        template::MAX_EXPANDED.min(MAX_EXPANDED_TOTAL.saturating_sub(self.expanded))
    }

    /// Report template errors at their place in the value.
    pub(super) fn template_errors(&mut self, value: &Spanned<String>, errors: Vec<TemplateError>) {
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

    pub(super) fn template(&mut self, value: &Spanned<String>) -> Option<Template> {
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
    pub(super) fn text_template(&mut self, value: &Spanned<String>) -> Option<String> {
        let t = self.template(value)?;
        Some(t.render(crate::clock::now()))
    }

    /// Where the variables a value uses got their values: a span in the
    /// file, or `None` when set from the command line.
    pub(super) fn var_origins(&self, raw: &str) -> Vec<(Option<Range<usize>>, String)> {
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
}
