//! Single values of a plan checked on their own: durations, sizes, names,
//! PostgreSQL identifiers and read-only SQL.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Loader;
use super::names::docker_name;
use crate::plan::{readonly, units};

impl Loader<'_> {
    pub(super) fn duration(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
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
    pub(super) fn seconds(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
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

    pub(super) fn size(&mut self, value: Option<&Spanned<String>>) -> Option<u64> {
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
    /// Refuse a name or value with a control character (`"\u001b"` is a
    /// valid TOML string): it would reach the terminal, the report and the
    /// host's shell as it is.
    pub(super) fn no_controls(&mut self, what: &str, value: &Spanned<String>) -> bool {
        self.no_controls_in(what, value.get_ref(), value.span())
    }

    /// [`Loader::no_controls`] for a value as expanded from what `span` holds.
    pub(super) fn no_controls_in(&mut self, what: &str, text: &str, span: Range<usize>) -> bool {
        let Some(c) = text.chars().find(|c| c.is_control()) else {
            return true;
        };
        self.diags
            .error(
                "control_character",
                format!("{what} `{text}` contains a control character"),
            )
            .label(span, format!("`{}` here", c.escape_default()))
            .help("names and paths are shown in terminals and reports and passed to the host's shell: write them without control characters");
        false
    }

    pub(super) fn non_empty(&mut self, what: &str, value: &Spanned<String>) -> bool {
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
    pub(super) fn check_docker_name(&mut self, what: &str, name: &str, span: Range<usize>) -> bool {
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

    pub(super) fn pg_name(&mut self, what: &str, value: &Spanned<String>) -> String {
        if let Err(e) = readonly::pg_identifier(value.get_ref()) {
            self.diags
                .error("pg_identifier", format!("`{what}` {e}"))
                .label(value.span(), "a plain PostgreSQL name")
                .help("cutter builds the connection itself; options and connection strings are refused");
        }
        value.get_ref().clone()
    }

    pub(super) fn sql(&mut self, value: &Spanned<String>) -> Option<readonly::ReadOnlySql> {
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
}
