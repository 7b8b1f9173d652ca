//! The shape of names and references Docker and the operator's shell will
//! read: Docker object names, image references, published ports, `~/` paths.
//! Checked here, at validation, rather than halfway through an apply.

use std::path::PathBuf;

/// Docker's rule for container, volume and network names.
pub fn docker_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err("must start with a letter or digit".into());
        }
        _ => {}
    }
    if name.len() > 128 {
        return Err("is longer than 128 characters".into());
    }
    match chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        Some(c) => Err(format!(
            "contains `{}`: Docker allows letters, digits, `_`, `.` and `-`",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

/// Whether Docker could read the name as an ID (prefix).
pub fn looks_like_id(name: &str) -> bool {
    name.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// An image reference: `name[:tag][@digest]`, never an option.
pub(super) fn image_reference(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("is empty".into());
    }
    if image.starts_with('-') {
        return Err("starts with `-` and would be read as an option".into());
    }
    match image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '@')))
    {
        Some(c) => Err(format!("contains `{}`", c.escape_default())),
        None => Ok(()),
    }
}

/// `[ip:]host_port:container_port[/tcp|udp]`, never an option.
pub(super) fn port_spec(p: &str) -> bool {
    let (addr, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let parts: Vec<&str> = addr.split(':').collect();
    let num = |x: &str| !x.is_empty() && x.len() <= 5 && x.chars().all(|c| c.is_ascii_digit());
    matches!(proto, "tcp" | "udp" | "sctp")
        && match parts.as_slice() {
            [h, c] => num(h) && num(c),
            [ip, h, c] => {
                ip.chars().all(|ch| ch.is_ascii_digit() || ch == '.')
                    && !ip.is_empty()
                    && num(h)
                    && num(c)
            }
            _ => false,
        }
}

/// `~/x` in the operator's home directory; any other path as written.
pub(super) fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names() {
        assert!(docker_name("cutter-restore_1.x").is_ok());
        assert_eq!(docker_name(""), Err("is empty".into()));
        assert_eq!(
            docker_name("-x"),
            Err("must start with a letter or digit".into())
        );
        assert!(docker_name("a b").unwrap_err().contains("contains ` `"));
        assert!(docker_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn ids() {
        assert!(looks_like_id("deadbeef01"));
        assert!(!looks_like_id("cutter-db"));
    }

    #[test]
    fn image_references() {
        assert!(image_reference("registry.example/pg:16@sha256:ab").is_ok());
        assert!(image_reference("--privileged").is_err());
        assert!(image_reference("pg 16").is_err());
    }

    #[test]
    fn port_specs() {
        for ok in ["5433:5432", "127.0.0.1:5433:5432", "5433:5432/udp"] {
            assert!(port_spec(ok), "{ok}");
        }
        for bad in ["5432", "-p:1", "5433:5432/icmp", ":5433:5432", "123456:1"] {
            assert!(!port_spec(bad), "{bad}");
        }
    }
}
