//! Plan variables set from outside the plan: `--var NAME=VALUE` and
//! `--var-file FILE`, so nobody edits a shipped plan to run it elsewhere.
//!
//! An override replaces the value of a variable the plan declares in
//! `[vars]`, taken literally (no templates, no environment). Files are read
//! in order, then `--var` flags, later ones winning. A `--var` the plan does
//! not declare is an error (a typo would otherwise be silently ignored); a
//! variable in a file the plan does not declare is only reported, since one
//! file may serve several plans.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;
use toml::Spanned;

/// Where an override came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    File(PathBuf),
    /// Recorded in a saved plan.
    Saved,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag => write!(f, "`--var`"),
            Origin::File(p) => write!(f, "`--var-file {}`", p.display()),
            Origin::Saved => write!(f, "the saved plan"),
        }
    }
}

#[derive(Debug, Default)]
pub struct VarOverrides {
    values: IndexMap<String, (String, Origin)>,
    /// Names a plan declared, filled while it loads.
    used: RefCell<BTreeSet<String>>,
}

/// A variable file that is not a TOML table of strings.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(cutter::var_file))]
pub struct VarFileError {
    message: String,
    #[source_code]
    src: NamedSource<Arc<str>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

/// Parse `NAME=VALUE` (for clap).
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if valid_name(name) => Ok((name.to_string(), value.to_string())),
        Some((name, _)) => Err(format!(
            "`{name}` is not a variable name (letters, digits, `_` and `-`)"
        )),
        None => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

/// The candidate closest to `name`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            // One edit away is close for short names, where Jaro-Winkler is harsh.
            let one_edit = strsim::levenshtein(name, c) <= 1;
            (
                strsim::jaro_winkler(name, c).max(if one_edit { 0.9 } else { 0.0 }),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl VarOverrides {
    /// Files first, in order, then flags: the last setting of a name wins.
    pub fn from_args(
        vars: &[(String, String)],
        files: &[PathBuf],
    ) -> Result<VarOverrides, miette::Report> {
        let mut out = VarOverrides::default();
        for f in files {
            for (name, value) in read_file(f)? {
                out.values.insert(name, (value, Origin::File(f.clone())));
            }
        }
        for (name, value) in vars {
            out.values
                .insert(name.clone(), (value.clone(), Origin::Flag));
        }
        Ok(out)
    }

    /// The variables a saved plan was made with.
    pub fn saved(values: &IndexMap<String, String>) -> VarOverrides {
        VarOverrides {
            values: values
                .iter()
                .map(|(k, v)| (k.clone(), (v.clone(), Origin::Saved)))
                .collect(),
            used: RefCell::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value for a variable the plan declares, noting that it was used.
    pub fn get(&self, name: &str) -> Option<String> {
        let (value, _) = self.values.get(name)?;
        self.used.borrow_mut().insert(name.to_string());
        Some(value.clone())
    }

    /// Overrides of variables the plan does not declare, with their origin.
    pub fn unused(&self) -> Vec<(String, Origin)> {
        let used = self.used.borrow();
        self.values
            .iter()
            .filter(|(k, _)| !used.contains(*k))
            .map(|(k, (_, o))| (k.clone(), o.clone()))
            .collect()
    }

    /// Every override, name → value, as recorded in a saved plan.
    pub fn values(&self) -> IndexMap<String, String> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

fn read_file(path: &Path) -> Result<Vec<(String, String)>, miette::Report> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        miette::miette!(
            code = "cutter::var_file",
            "cannot read `{}`: {e}",
            path.display()
        )
    })?;
    let src: Arc<str> = Arc::from(text.as_str());
    let error =
        |message: String, span: Option<std::ops::Range<usize>>, label: &str, help: Option<&str>| {
            miette::Report::new(VarFileError {
                message,
                src: NamedSource::new(path.display().to_string(), src.clone()),
                span: span.map(Into::into),
                label: label.to_string(),
                help: help.map(str::to_string),
            })
        };
    let table: IndexMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| {
            error(
                format!(
                    "`{}` is not a TOML file of variables: {}",
                    path.display(),
                    e.message().trim()
                ),
                e.span(),
                "here",
                Some("write one `name = \"value\"` per line"),
            )
        })?;
    let mut out = Vec::new();
    for (name, value) in table {
        match value.get_ref() {
            toml::Value::String(s) if valid_name(name.get_ref()) => {
                out.push((name.get_ref().clone(), s.clone()))
            }
            toml::Value::String(_) => {
                return Err(error(
                    format!("`{}` is not a variable name", name.get_ref()),
                    Some(name.span()),
                    "letters, digits, `_` and `-` only",
                    None,
                ));
            }
            other => {
                return Err(error(
                    format!(
                        "variable `{}` in `{}` must be a string, not {}",
                        name.get_ref(),
                        path.display(),
                        other.type_str()
                    ),
                    Some(value.span()),
                    "not a string",
                    Some("quote it: plan variables are text"),
                ));
            }
        }
    }
    Ok(out)
}
