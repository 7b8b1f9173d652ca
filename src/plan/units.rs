//! Durations and sizes as written in plan files and on the command line.
//!
//! The grammar is deliberately small so that a value cannot be misread:
//!
//! - a duration is one or more `<whole number><unit>` parts, optionally
//!   separated by spaces (`90s`, `60m`, `1h30m`, `1h 30m`, `2 hours`), with the
//!   lowercase units `ms`, `s`/`sec`/`second`, `m`/`min`/`minute`,
//!   `h`/`hr`/`hour`, `d`/`day`, `w`/`week` (and their plurals), at most
//!   3650 days; months and years (no fixed length; `M` reads as minutes to
//!   some and as months to others), uppercase units and bare numbers are
//!   refused with a hint;
//! - a size is a number (decimals allowed) with an optional unit, `B`,
//!   `KB`/`MB`/`GB`/`TB`/`PB`/`EB` (powers of 1000) or
//!   `KiB`/`MiB`/`GiB`/`TiB`/`PiB`/`EiB` (powers of 1024), in any case, and
//!   must fit in 64 bits (below 16 EiB).

use std::time::Duration;

/// Why a value was refused: a message for the label and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for UnitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.help)
    }
}

impl std::error::Error for UnitError {}

/// The longest duration accepted: 3650 days.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

const DURATION_HELP: &str = "write whole numbers with a lowercase unit: \"500ms\", \"90s\", \"60m\" or \"60min\", \"2h\", \"7d\", \"1h30m\"";

fn unit_error(message: impl Into<String>, help: impl Into<String>) -> UnitError {
    UnitError {
        message: message.into(),
        help: help.into(),
    }
}

/// Parse a duration in the grammar described in the module documentation.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(unit_error("empty duration", DURATION_HELP));
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            let hint = if rest.starts_with(['-', '+']) {
                "a duration cannot be negative or signed".to_string()
            } else {
                DURATION_HELP.to_string()
            };
            return Err(unit_error(format!("expected a number at `{rest}`"), hint));
        }
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let unit_len = after.len() - after.trim_start_matches(|c: char| c.is_alphabetic()).len();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            let next = after.chars().next();
            return Err(match next {
                Some('.') | Some(',') => unit_error(
                    format!("`{s}` has a fraction"),
                    "use whole numbers of a smaller unit, e.g. \"90m\" for an hour and a half",
                ),
                Some(c) if !c.is_whitespace() => {
                    unit_error(format!("unexpected `{c}` in `{s}`"), DURATION_HELP)
                }
                _ => unit_error(
                    format!("`{number}` has no unit"),
                    format!(
                        "say which: \"{number}s\", \"{number}m\", \"{number}h\" or \"{number}d\""
                    ),
                ),
            });
        }
        let ms_per_unit: u128 = match unit {
            "ms" | "msec" | "msecs" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 7 * 86_400_000,
            "M" => {
                return Err(unit_error(
                    format!("`{number}M` is ambiguous: minutes or months?"),
                    format!(
                        "for minutes write \"{number}m\" or \"{number}min\"; months have no fixed length, write days (e.g. \"180d\")"
                    ),
                ));
            }
            u if [
                "mo", "mon", "month", "months", "y", "yr", "yrs", "year", "years",
            ]
            .contains(&u.to_lowercase().as_str()) =>
            {
                return Err(unit_error(
                    format!("`{number}{unit}`: months and years have no fixed length"),
                    "write days or weeks instead, e.g. \"180d\" or \"52w\"",
                ));
            }
            u if u.chars().any(|c| c.is_uppercase()) => {
                return Err(unit_error(
                    format!("unit `{u}` is not lowercase"),
                    format!("units are lowercase: \"{number}{}\"", u.to_lowercase()),
                ));
            }
            u => {
                return Err(unit_error(format!("unknown unit `{u}`"), DURATION_HELP));
            }
        };
        let n: u128 = number.parse().map_err(|_| too_long())?;
        total_ms = n
            .checked_mul(ms_per_unit)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or_else(too_long)?;
        if total_ms > MAX_DURATION.as_millis() {
            return Err(too_long());
        }
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total_ms as u64))
}

fn too_long() -> UnitError {
    unit_error(
        "duration too long",
        "the longest accepted duration is 3650 days (\"3650d\")",
    )
}

const SIZE_HELP: &str = "write e.g. \"512\", \"1 KiB\", \"10 MB\", \"1.5 GiB\"";

/// Parse a size in bytes in the grammar described in the module documentation.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    let number_len = s.len()
        - s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .len();
    let (number, unit) = s.split_at(number_len);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(unit_error(
            if s.starts_with('-') {
                format!("`{s}` is negative")
            } else {
                format!("`{s}` does not start with a number")
            },
            SIZE_HELP,
        ));
    }
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "ti" | "tib" => 1 << 40,
        "p" | "pb" => 1_000_000_000_000_000,
        "pi" | "pib" => 1 << 50,
        "e" | "eb" => 1_000_000_000_000_000_000,
        "ei" | "eib" => 1 << 60,
        _ => {
            return Err(unit_error(format!("unknown size unit `{unit}`"), SIZE_HELP));
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.contains('.') || number.ends_with('.') {
        return Err(unit_error(format!("`{number}` is not a number"), SIZE_HELP));
    }
    let too_big = || {
        unit_error(
            format!("`{s}` is too large"),
            "sizes must be below 16 EiB (2^64 bytes)",
        )
    };
    // Exact arithmetic: whole * multiplier + fraction * multiplier / 10^digits.
    let whole: u128 = whole
        .trim_start_matches('0')
        .parse()
        .or_else(|e: std::num::ParseIntError| {
            if whole.trim_start_matches('0').is_empty() {
                Ok(0)
            } else {
                Err(e)
            }
        })
        .map_err(|_| too_big())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
    // More than 19 fractional digits cannot change a whole byte of a 64-bit size.
    let fraction = &fraction[..fraction.len().min(19)];
    if !fraction.is_empty() {
        let digits = fraction.len() as u32;
        let f: u128 = fraction.parse().map_err(|_| too_big())?;
        bytes = bytes
            .checked_add(f * multiplier / 10u128.pow(digits))
            .ok_or_else(too_big)?;
    }
    u64::try_from(bytes).map_err(|_| too_big())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("60m"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("60min"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("3650d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn misreadable_durations_are_refused() {
        let e = parse_duration("60M").unwrap_err();
        assert!(e.help.contains("\"60m\" or \"60min\""), "{e}");
        for bad in [
            "",
            "60",
            "6 months",
            "1y",
            "1H",
            "1.5h",
            "-5m",
            "3651d",
            "1h x",
            "5 parsecs",
            "99999999999999999999999999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("1 KiB"), Ok(1024));
        assert_eq!(parse_size("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1kib"), Ok(1024));
        assert_eq!(parse_size("15 EiB"), Ok(15 << 60));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        for bad in [
            "16 EiB",
            "18446744073709551616",
            "20 EB",
            "1e9",
            "-1",
            "",
            "1.2.3",
            "1 parsec",
            "99999999999999999999999999999999999999999999 EiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
