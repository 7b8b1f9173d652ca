//! The current time, overridable for reproducible runs.
//!
//! `CUTTER_NOW` (RFC 3339) fixes "now" for `{{ date }}`, `{{ timestamp }}`
//! and freshness, so examples, snapshots and tests can be reproduced. It
//! does not touch the report's own clock: when an apply started and
//! finished, and how long it took, are always real. An empty value counts
//! as unset; any other value that is not RFC 3339 is an error.

use chrono::{DateTime, Utc};
use miette::{Result, miette};

/// The fixed "now" from `CUTTER_NOW`, if set; an error if it does not parse.
pub fn fixed() -> Result<Option<DateTime<Utc>>> {
    let Some(value) = std::env::var_os("CUTTER_NOW") else {
        return Ok(None);
    };
    let value = value.to_string_lossy();
    if value.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            miette!(
                code = "cutter::cutter_now",
                help =
                    "write an RFC 3339 time such as `CUTTER_NOW=2026-05-15T08:00:00Z`, or unset it",
                "`CUTTER_NOW` is not an RFC 3339 time: `{value}` ({e})"
            )
        })
}

/// Refuse an invalid `CUTTER_NOW` before anything runs.
pub fn check() -> Result<()> {
    fixed().map(|_| ())
}

/// "Now" for templates and freshness: `CUTTER_NOW` or the real time.
/// Commands call [`check`] first, so an invalid value never gets here silently.
pub fn now() -> DateTime<Utc> {
    fixed().ok().flatten().unwrap_or_else(Utc::now)
}
