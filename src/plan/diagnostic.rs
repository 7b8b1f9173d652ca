//! Errors that point into the plan file.

use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource};
use thiserror::Error;

use crate::printer::escape_controls;

/// One problem in a plan file, with labels on the exact spans involved.
#[derive(Debug, Error, Diagnostic, Clone)]
#[error("{message}")]
pub struct PlanDiagnostic {
    pub message: String,
    #[diagnostic(code)]
    pub code: Option<String>,
    #[source_code]
    pub src: NamedSource<Arc<str>>,
    #[label(collection)]
    pub labels: Vec<LabeledSpan>,
    #[help]
    pub help: Option<String>,
}

/// Every problem found in a plan file, reported together.
#[derive(Debug, Error, Diagnostic)]
#[error("{file}: {}", summary(*.total))]
#[diagnostic(code(cutter::invalid_plan))]
pub struct PlanErrors {
    pub file: String,
    /// The first [`MAX_SHOWN`] problems, then a line saying how many more.
    #[related]
    pub errors: Vec<PlanDiagnostic>,
    /// How many problems were found.
    pub total: usize,
}

/// How many problems are shown: rendering each one scans the file, so
/// thousands of them (one broken template repeated) would take minutes.
pub const MAX_SHOWN: usize = 50;

fn summary(n: usize) -> String {
    if n == 1 {
        "the plan is invalid".into()
    } else {
        format!("the plan is invalid ({n} errors)")
    }
}

/// Collects diagnostics for one source file.
pub struct Diagnostics {
    src: NamedSource<Arc<str>>,
    file: String,
    pub errors: Vec<PlanDiagnostic>,
}

impl Diagnostics {
    pub fn new(file: &str, text: Arc<str>) -> Self {
        Diagnostics {
            src: NamedSource::new(file, text),
            file: file.to_string(),
            errors: Vec::new(),
        }
    }

    /// Start a diagnostic with a code (`cutter::<code>`) and message.
    pub fn error(&mut self, code: &str, message: impl Into<String>) -> &mut PlanDiagnostic {
        self.errors.push(PlanDiagnostic {
            // Names in a message are the plan's, which may hold control
            // characters (`"\u001b"` in a quoted key): never shown raw.
            message: escape_controls(&message.into(), false),
            code: Some(format!("cutter::{code}")),
            src: self.src.clone(),
            labels: Vec::new(),
            help: None,
        });
        self.errors.last_mut().unwrap()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_result<T>(self, value: T) -> Result<T, PlanErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.into_errors())
        }
    }

    pub fn into_errors(mut self) -> PlanErrors {
        let total = self.errors.len();
        if total > MAX_SHOWN {
            self.errors.truncate(MAX_SHOWN);
            self.errors.push(PlanDiagnostic {
                message: format!("and {} more not shown", total - MAX_SHOWN),
                code: Some("cutter::more_errors".into()),
                src: self.src.clone(),
                labels: Vec::new(),
                help: Some("fix these first: the others often follow from them".into()),
            });
        }
        PlanErrors {
            file: self.file,
            errors: self.errors,
            total,
        }
    }
}

impl PlanDiagnostic {
    pub fn label(&mut self, span: Range<usize>, text: impl Into<String>) -> &mut Self {
        self.labels.push(LabeledSpan::new_with_span(
            Some(escape_controls(&text.into(), false)),
            span,
        ));
        self
    }

    pub fn help(&mut self, text: impl Into<String>) -> &mut Self {
        self.help = Some(escape_controls(&text.into(), true));
        self
    }
}
