//! What tells one machine from another, and where its Docker keeps data:
//! read by the probe in the same round trip as everything else.

use serde::Serialize;

/// Docker's default root directory, protected even where `docker info`
/// cannot be read (a daemon the operator may not talk to).
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";

/// The probe's lines that read the machine's identity and Docker's root
/// (`rec_machine MACHINE-ID DOCKER-INFO`); the machine ID with the `read`
/// built-in, Docker's only where a `docker` command exists.
pub const PROBE: &str = r#"cutter_mid=; [ ! -r /etc/machine-id ] || read -r cutter_mid < /etc/machine-id || :
cutter_di=; if command -v docker >/dev/null 2>&1; then cutter_di=$(docker info --format '{{json .DockerRootDir}} {{json .ID}}' 2>/dev/null) || cutter_di=; fi
rec_machine "$cutter_mid" "$cutter_di"
"#;

/// A host's identity as observed: two host entries whose machine IDs, or
/// whose Docker daemons, are the same reach the same machine (or the same
/// containers), so they share their protection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// `/etc/machine-id`.
    pub machine_id: Option<String>,
    /// Docker's root directory (`docker info`'s `DockerRootDir`).
    pub docker_root: Option<String>,
    /// The Docker daemon's ID.
    pub docker_id: Option<String>,
}

impl Machine {
    /// From the probe's record: the machine ID, and `docker info`'s two
    /// JSON strings (or nothing). Anything unreadable is unknown.
    pub fn parse(machine_id: &str, docker_info: &str) -> Machine {
        let machine_id = machine_id.trim();
        let mut docker =
            serde_json::Deserializer::from_str(docker_info.trim()).into_iter::<String>();
        let mut next = || {
            docker
                .next()
                .and_then(Result::ok)
                .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
        };
        let docker_root = next().filter(|r| r.starts_with('/'));
        let docker_id = next();
        Machine {
            machine_id: (machine_id.len() >= 16
                && machine_id.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| machine_id.to_ascii_lowercase()),
            docker_root,
            docker_id,
        }
    }

    /// Whether anything identifies this machine.
    pub fn is_known(&self) -> bool {
        self.machine_id.is_some() || self.docker_id.is_some()
    }

    /// Whether two observations are of the same machine, or of the same
    /// Docker daemon: then protection on one holds on the other.
    pub fn same_as(&self, other: &Machine) -> Option<String> {
        if let (Some(a), Some(b)) = (&self.machine_id, &other.machine_id)
            && a == b
        {
            return Some(format!("machine-id {}", &a[..a.len().min(12)]));
        }
        if let (Some(a), Some(b)) = (&self.docker_id, &other.docker_id)
            && a == b
        {
            return Some(format!("Docker daemon {a}"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_probe_prints() {
        let m = Machine::parse(
            "3d1219c7c4c5404aaa1f6d2a48adfda4\n",
            "\"/var/lib/docker\" \"4TCV:Z6EV:KFBE\"\n",
        );
        assert_eq!(
            m.machine_id.as_deref(),
            Some("3d1219c7c4c5404aaa1f6d2a48adfda4")
        );
        assert_eq!(m.docker_root.as_deref(), Some("/var/lib/docker"));
        assert_eq!(m.docker_id.as_deref(), Some("4TCV:Z6EV:KFBE"));
        assert!(m.is_known());
    }

    #[test]
    fn anything_unreadable_is_unknown() {
        for (mid, info) in [
            ("", ""),
            ("xyz", "garbage"),
            ("", "\"relative\" \"\""),
            ("\u{0}", "\"/a\u{7}\""),
        ] {
            let m = Machine::parse(mid, info);
            assert_eq!(m.machine_id, None, "{mid:?}");
            assert_eq!(m.docker_id, None, "{info:?}");
        }
        assert!(!Machine::default().is_known());
    }

    #[test]
    fn same_machine_by_either_identity() {
        let a = Machine::parse("3d1219c7c4c5404aaa1f6d2a48adfda4", "");
        let b = Machine::parse("3D1219C7C4C5404AAA1F6D2A48ADFDA4", "\"/x\" \"D1\"");
        let c = Machine::parse("", "\"/y\" \"D1\"");
        let d = Machine::parse("ffffffffffffffffffffffffffffffff", "\"/y\" \"D2\"");
        assert!(a.same_as(&b).is_some());
        assert!(b.same_as(&c).is_some());
        assert!(a.same_as(&c).is_none());
        assert!(c.same_as(&d).is_none());
    }
}
