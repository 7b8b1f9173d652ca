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

/// How far a file's time may run ahead of "now" before it counts as dated
/// in the future: a host's clock and the operator's differ a little, and a
/// file written a moment ago must not look impossible. Beyond it, the file
/// is not fresh (whatever `max_age` says) and retention does not count it
/// among the files it keeps: a clock set wrong once must not keep one file
/// "newest" for weeks while every real backup is deleted.
pub const MAX_SKEW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Whether `t` lies more than [`MAX_SKEW`] after `now`.
pub fn is_future(t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    t.signed_duration_since(now)
        .to_std()
        .is_ok_and(|ahead| ahead > MAX_SKEW)
}

/// A time as cutter shows it: RFC 3339, to the second, in UTC.
pub fn show(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
