//! `{{ ... }}` templates in paths and names.
//!
//! `{{ var.X }}` and `{{ env.X }}` are substituted when the plan loads;
//! `{{ date }}` and `{{ timestamp }}` stay as placeholders, so a path template
//! can both name a new file (at the time it is made) and find the newest
//! existing one (as a shell glob that matches only well-formed names).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::shell::quote;

pub const DATE_FORMAT: &str = "%Y-%m-%d";
pub const TIMESTAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const DATE_GLOB: &str = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]";
/// The longest text a template may expand to (64 KiB): variables that
/// repeat each other would otherwise grow exponentially.
pub const MAX_EXPANDED: usize = 64 * 1024;
const TIMESTAMP_GLOB: &str =
    "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Segment {
    Lit(String),
    Date,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Why a template did not parse; `at` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub at: std::ops::Range<usize>,
    pub message: String,
    /// The expansion went over its limit.
    pub too_long: bool,
}

impl Template {
    /// Parse `raw`, resolving variables with `lookup(kind, name)` where kind is `var` or `env`.
    pub fn parse(
        raw: &str,
        lookup: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Result<Template, Vec<TemplateError>> {
        Template::parse_within(raw, lookup, MAX_EXPANDED)
    }

    /// [`Template::parse`], refusing to expand to more than `limit` bytes
    /// (placeholders counted at their rendered length).
    pub fn parse_within(
        raw: &str,
        lookup: &dyn Fn(&str, &str) -> Option<String>,
        limit: usize,
    ) -> Result<Template, Vec<TemplateError>> {
        let mut segments = Vec::new();
        // Bytes of the segments already pushed, as rendered.
        let mut expanded = 0;
        let mut errors = Vec::new();
        let mut rest = raw;
        let mut offset = 0;
        let mut lit = String::new();
        while let Some(start) = rest.find("{{") {
            lit.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                errors.push(TemplateError {
                    at: offset + start..offset + rest.len(),
                    message: "unclosed `{{`".into(),
                    too_long: false,
                });
                rest = "";
                break;
            };
            let expr = after[..end].trim();
            let span = offset + start..offset + start + 2 + end + 2;
            match expr {
                "date" | "timestamp" => {
                    if !lit.is_empty() {
                        expanded += lit.len();
                        segments.push(Segment::Lit(std::mem::take(&mut lit)));
                    }
                    expanded += if expr == "date" { 10 } else { 16 };
                    segments.push(if expr == "date" {
                        Segment::Date
                    } else {
                        Segment::Timestamp
                    });
                }
                _ => match expr.split_once('.') {
                    Some((kind @ ("var" | "env"), name)) if !name.is_empty() => {
                        match lookup(kind, name) {
                            Some(value) if expanded + lit.len() + value.len() > limit =>
                            {
                                errors.push(TemplateError {
                                    at: span.clone(),
                                    message: format!(
                                        "`{{{{ {expr} }}}}` expands this value beyond {limit} bytes"
                                    ),
                                    too_long: true,
                                });
                                break;
                            }
                            Some(value) => lit.push_str(&value),
                            None => errors.push(TemplateError {
                                at: span.clone(),
                                message: if kind == "var" {
                                    format!("unknown variable `{name}`")
                                } else {
                                    format!("environment variable `{name}` is not set")
                                },
                                too_long: false,
                            }),
                        }
                    }
                    _ => errors.push(TemplateError {
                        at: span.clone(),
                        message: format!(
                            "unknown template `{expr}` (expected `date`, `timestamp`, `var.NAME` or `env.NAME`)"
                        ),
                        too_long: false,
                    }),
                },
            }
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Lit(lit));
        }
        if errors.is_empty() {
            Ok(Template { segments })
        } else {
            Err(errors)
        }
    }

    /// The text with every placeholder filled from `now`.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Lit(l) => l.clone(),
                Segment::Date => now.format(DATE_FORMAT).to_string(),
                Segment::Timestamp => now.format(TIMESTAMP_FORMAT).to_string(),
            })
            .collect()
    }

    /// The text with placeholders shown as `<date>` and `<timestamp>`.
    pub fn display(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Lit(l) => l.as_str(),
                Segment::Date => "<date>",
                Segment::Timestamp => "<timestamp>",
            })
            .collect()
    }

    pub fn is_dated(&self) -> bool {
        self.segments.iter().any(|s| !matches!(s, Segment::Lit(_)))
    }

    /// A shell word that expands (as a glob) to every existing well-formed match.
    /// Literal parts are quoted; in `LC_ALL=C` the matches sort oldest first.
    pub fn glob(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Lit(l) if l.is_empty() => String::new(),
                Segment::Lit(l) => quote(l),
                Segment::Date => DATE_GLOB.to_string(),
                Segment::Timestamp => TIMESTAMP_GLOB.to_string(),
            })
            .collect()
    }

    /// When a concrete path made from this template was taken, read from its name.
    pub fn time_of(&self, path: &str) -> Option<DateTime<Utc>> {
        let mut rest = path;
        let mut date = None;
        let mut stamp = None;
        for s in &self.segments {
            match s {
                Segment::Lit(l) => rest = rest.strip_prefix(l.as_str())?,
                Segment::Date => {
                    let part = rest.get(..10)?;
                    date = Some(NaiveDate::parse_from_str(part, DATE_FORMAT).ok()?);
                    rest = &rest[10..];
                }
                Segment::Timestamp => {
                    let part = rest.get(..16)?;
                    stamp = Some(NaiveDateTime::parse_from_str(part, TIMESTAMP_FORMAT).ok()?);
                    rest = &rest[16..];
                }
            }
        }
        if !rest.is_empty() {
            return None;
        }
        stamp
            .map(|t| t.and_utc())
            .or_else(|| date.map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn vars(kind: &str, name: &str) -> Option<String> {
        (kind == "var" && name == "root").then(|| "/srv/backups".to_string())
    }

    #[test]
    fn renders_and_globs() {
        let t = Template::parse(
            "{{ var.root }}/hb08_{{date}}/full_{{ timestamp }}.dump",
            &vars,
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 15, 10, 23, 50).unwrap();
        let path = t.render(now);
        assert_eq!(
            path,
            "/srv/backups/hb08_2026-05-15/full_20260515T102350Z.dump"
        );
        assert_eq!(t.time_of(&path), Some(now));
        assert_eq!(
            t.time_of("/srv/backups/hb08_2026-05-15/full_garbage.dump"),
            None
        );
        assert_eq!(
            t.display(),
            "/srv/backups/hb08_<date>/full_<timestamp>.dump"
        );
        assert!(t.glob().starts_with("/srv/backups/hb08_[0-9]"));
        assert!(t.is_dated());
    }

    #[test]
    fn glob_quotes_literals() {
        let t = Template::parse("/tmp/a b/$(x)'q'_{{timestamp}}", &vars).unwrap();
        assert_eq!(
            t.glob(),
            format!("{}{TIMESTAMP_GLOB}", quote("/tmp/a b/$(x)'q'_"))
        );
        // The shell sees the literal text, unexpanded.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote("/tmp/a b/$(x)'q'_")))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"/tmp/a b/$(x)'q'_");
    }

    #[test]
    fn reports_unknown_names_with_offsets() {
        let err = Template::parse(
            "/x/{{ var.nope }}/{{ bogus }}/{{ env.CUTTER_UNSET_FOR_TEST }}",
            &vars,
        )
        .unwrap_err();
        assert_eq!(err.len(), 3);
        assert_eq!(err[0].at, 3..17);
        assert!(err[1].message.contains("unknown template `bogus`"));
    }

    #[test]
    fn unclosed_braces() {
        let err = Template::parse("/x/{{ date", &vars).unwrap_err();
        assert_eq!(err[0].message, "unclosed `{{`");
    }
}
