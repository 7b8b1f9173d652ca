//! The current time, overridable for reproducible runs.
//!
//! `CUTTER_NOW` (RFC 3339) fixes "now" for `{{ date }}`, `{{ timestamp }}`
//! and freshness, so examples, snapshots and tests can be reproduced.

use chrono::{DateTime, Utc};

pub fn now() -> DateTime<Utc> {
    std::env::var("CUTTER_NOW")
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}
