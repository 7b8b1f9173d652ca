//! Reading a plan file and parsing its TOML into the raw schema.

use std::path::Path;

use crate::plan::Diagnostics;
use crate::plan::schema::RawPlan;

/// The largest plan file read (1 MiB): a plan is a page of declarations.
pub const MAX_PLAN_BYTES: u64 = 1024 * 1024;

/// The text of a plan file: a regular file of at most [`MAX_PLAN_BYTES`], in UTF-8.
/// On error, a message and a hint.
pub(super) fn read_plan_file(path: &Path) -> Result<String, (String, String)> {
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

/// Parse plan text into the raw schema; on error, report it and return `None`.
pub(super) fn parse(text: &str, diags: &mut Diagnostics) -> Option<RawPlan> {
    match toml::from_str(text) {
        Ok(raw) => Some(raw),
        Err(e) => {
            let message = e.message().trim().to_string();
            let (code, headline) = classify_toml_error(&message);
            let d = diags.error(code, headline);
            if let Some(span) = e.span() {
                d.label(span, message.clone());
            }
            None
        }
    }
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
