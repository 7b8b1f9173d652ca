//! Container resources: a Docker container cutter creates and owns, its
//! network and volume, never one that production owns.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Loader;
use super::names::{docker_name, expand_home, image_reference, looks_like_id, port_spec};
use crate::plan::schema::{RawContainer, RawRestore};
use crate::plan::{Container, Kind, Lifecycle, Plan, Restore, SecretSource};

/// The Docker names a container resource creates.
struct DockerNames {
    container: String,
    network: String,
    volume: String,
}

impl Loader<'_> {
    pub(super) fn resolve_container(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        c: &RawContainer,
    ) -> Option<Container> {
        let host = self.host_ref(plan, name, c.host.as_ref());
        let docker_name = match &c.name {
            Some(n) => self.text_template(n)?,
            None => name.get_ref().clone(),
        };
        let lifecycle = self.lifecycle(&c.lifecycle)?;
        let network = match &c.network {
            Some(n) => self.text_template(n)?,
            None => format!("{docker_name}-net"),
        };
        let volume = match &c.volume {
            Some(v) => self.text_template(v)?,
            None => format!("{docker_name}-data"),
        };
        let valid = self.check_restore(c);
        let secrets = self.secrets(c);
        if lifecycle == Lifecycle::Ephemeral && c.restore.is_none() {
            self.restores_nothing(name, c);
        }
        let restore = c.restore.as_ref().map(|r| {
            self.resource_ref(&r.artefact, &[Kind::Artefact]);
            restore_of(r)
        });
        if lifecycle == Lifecycle::Persistent {
            self.check_fixed_names(name, c);
        }
        let host = host?;
        let timeout = self
            .duration(c.timeout.as_ref())
            .unwrap_or(Duration::from_secs(3600));
        let names = DockerNames {
            container: docker_name,
            network,
            volume,
        };
        self.check_docker_names(name, c, &names);
        let image = self.image(&c.image)?;
        let mount = self.mount(name, c);
        self.check_env_names(c);
        if !valid {
            return None;
        }
        self.refuse_protected(plan, &host, name, c, &names);
        let env = self.env(c)?;
        let ports = self.ports(&c.ports);
        let ready = match &c.ready {
            Some(r) => Some(self.text_template(r)?),
            None => None,
        };
        Some(Container {
            name: name.get_ref().clone(),
            docker_name: names.container,
            host,
            image,
            lifecycle,
            network: names.network,
            volume: names.volume,
            mount,
            timeout,
            env,
            secrets,
            ports,
            ready,
            restore,
            after: c.after.iter().map(|a| a.get_ref().clone()).collect(),
        })
    }

    fn lifecycle(&mut self, value: &Spanned<String>) -> Option<Lifecycle> {
        match value.get_ref().as_str() {
            "persistent" => Some(Lifecycle::Persistent),
            "ephemeral" => Some(Lifecycle::Ephemeral),
            other => {
                self.diags
                    .error("wrong_type", format!("unknown lifecycle `{other}`"))
                    .label(value.span(), "expected `persistent` or `ephemeral`");
                None
            }
        }
    }

    fn restores_nothing(&mut self, name: &Spanned<String>, c: &RawContainer) {
        self.diags
            .error(
                "ephemeral",
                format!("ephemeral container `{}` restores nothing", name.get_ref()),
            )
            .label(
                c.lifecycle.span(),
                "ephemeral containers exist to test a restore",
            )
            .help(
                "add `restore = { artefact = \"...\", command = \"...\" }`, or make it persistent",
            );
    }

    /// Whether the restore, if any, has a command and exit codes that can be.
    fn check_restore(&mut self, c: &RawContainer) -> bool {
        let Some(r) = &c.restore else {
            return true;
        };
        let mut valid = self.non_empty("restore command", &r.command);
        for code in &r.ok_exit_codes {
            if !(0..=255).contains(code.get_ref()) {
                self.diags
                    .error(
                        "exit_code",
                        format!("exit code {} is out of range", code.get_ref()),
                    )
                    .label(code.span(), "exit codes are 0 to 255")
                    .help("list the codes the restore command may exit with, e.g. `ok_exit_codes = [0, 1]`");
                valid = false;
            }
        }
        valid
    }

    fn secrets(&mut self, c: &RawContainer) -> Vec<(String, SecretSource)> {
        let mut secrets = Vec::new();
        for (key, s) in &c.secrets {
            let source = match (&s.env, &s.file) {
                (Some(e), None) => SecretSource::Env(e.get_ref().clone()),
                (None, Some(f)) => SecretSource::File(expand_home(f.get_ref())),
                _ => {
                    self.diags
                        .error(
                            "secret",
                            format!(
                                "secret `{}` needs exactly one of `env` or `file`",
                                key.get_ref()
                            ),
                        )
                        .label(key.span(), "declared here");
                    continue;
                }
            };
            secrets.push((key.get_ref().clone(), source));
        }
        secrets
    }

    /// A persistent container keeps its names from one day to the next.
    fn check_fixed_names(&mut self, name: &Spanned<String>, c: &RawContainer) {
        for v in [&c.name, &c.volume, &c.network].into_iter().flatten() {
            if self.template(v).is_some_and(|t| t.is_dated()) {
                self.diags
                    .error(
                        "dated_name",
                        format!(
                            "persistent container `{}` has a name that changes with the date",
                            name.get_ref()
                        ),
                    )
                    .label(v.span(), "`{{ date }}` or `{{ timestamp }}` here")
                    .help("a persistent container must keep its name: with a date in it, every day would create another copy and forget yesterday's, which would keep running unmentioned; name it without the date (its labels and the report record when it was made)");
            }
        }
    }

    /// Docker must accept each name, and never read one as an ID prefix.
    fn check_docker_names(
        &mut self,
        name: &Spanned<String>,
        c: &RawContainer,
        names: &DockerNames,
    ) {
        for (what, value, written) in [
            ("container name", &names.container, &c.name),
            ("network", &names.network, &c.network),
            ("volume", &names.volume, &c.volume),
        ] {
            let at = written_at(name, written);
            if let Err(e) = docker_name(value) {
                self.diags
                    .error("name", format!("`{value}` is not a valid Docker {what}"))
                    .label(at, format!("this {e}"));
            } else if looks_like_id(value) {
                self.diags
                    .error("name", format!("Docker {what} `{value}` looks like an ID"))
                    .label(at, "only hexadecimal digits")
                    .help("Docker resolves such a name as an ID prefix of another object: add a letter outside a-f, e.g. a prefix like `cutter-`");
            }
        }
    }

    fn image(&mut self, value: &Spanned<String>) -> Option<String> {
        let image = self.text_template(value)?;
        if let Err(e) = image_reference(&image) {
            self.diags
                .error("image", format!("`{image}` is not an image reference"))
                .label(value.span(), e);
        }
        Some(image)
    }

    fn mount(&mut self, name: &Spanned<String>, c: &RawContainer) -> String {
        let mount = c
            .mount
            .as_ref()
            .map_or("/var/lib/postgresql/data".into(), |m| m.get_ref().clone());
        if !mount.starts_with('/')
            || mount.contains([',', ':', '='])
            || mount.chars().any(|c| c.is_control())
        {
            self.diags
                .error("path", format!("`{mount}` is not a mount point"))
                .label(
                    written_at(name, &c.mount),
                    "an absolute path without `,`, `:` or `=`",
                );
        }
        mount
    }

    /// The names of plain and secret environment variables.
    fn check_env_names(&mut self, c: &RawContainer) {
        for k in c.env.keys().chain(c.secrets.keys()) {
            if k.get_ref().is_empty()
                || k.get_ref().starts_with(|ch: char| ch.is_ascii_digit())
                || !k
                    .get_ref()
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                self.diags
                    .error(
                        "name",
                        format!("`{}` is not an environment variable name", k.get_ref()),
                    )
                    .label(k.span(), "letters, digits and `_`");
            }
        }
    }

    /// Refuse a container that would take a protected name, network or volume.
    fn refuse_protected(
        &mut self,
        plan: &Plan,
        host: &str,
        name: &Spanned<String>,
        c: &RawContainer,
        names: &DockerNames,
    ) {
        let protected = &plan.hosts[host].protected;
        let resource = name.get_ref();
        let DockerNames {
            container,
            network,
            volume,
        } = names;
        let refusals = [
            (
                protected
                    .containers
                    .iter()
                    .any(|p| p.trim_start_matches('/') == container.as_str()),
                "container",
                container,
                &c.name,
                format!("container `{resource}` would replace protected container `{container}`"),
                "this name belongs to production",
            ),
            (
                protected.networks.contains(network),
                "network",
                network,
                &c.network,
                format!("container `{resource}` would attach to protected network `{network}`"),
                "production's network",
            ),
            (
                protected.volumes.contains(volume),
                "volume",
                volume,
                &c.volume,
                format!("container `{resource}` would mount protected volume `{volume}`"),
                "production's volume",
            ),
        ];
        for (taken, kind, item, written, message, label) in refusals {
            if taken {
                self.refuse(host, kind, item, written_at(name, written), message, label);
            }
        }
    }

    fn env(&mut self, c: &RawContainer) -> Option<Vec<(String, String)>> {
        let mut env = Vec::new();
        for (k, v) in &c.env {
            env.push((k.get_ref().clone(), self.text_template(v)?));
        }
        Some(env)
    }

    fn ports(&mut self, ports: &[Spanned<String>]) -> Vec<String> {
        for p in ports.iter().filter(|p| !port_spec(p.get_ref())) {
            self.diags
                .error(
                    "ports",
                    format!("`{}` is not a port to publish", p.get_ref()),
                )
                .label(
                    p.span(),
                    "e.g. \"127.0.0.1:5433:5432\" or \"5433:5432/tcp\"",
                );
        }
        ports.iter().map(|p| p.get_ref().clone()).collect()
    }
}

/// Where an optional value is written, or else the resource's name.
fn written_at(name: &Spanned<String>, value: &Option<Spanned<String>>) -> Range<usize> {
    value.as_ref().map_or(name.span(), |v| v.span())
}

fn restore_of(r: &RawRestore) -> Restore {
    Restore {
        artefact: r.artefact.get_ref().clone(),
        command: r.command.get_ref().clone(),
        tolerated_errors: r
            .tolerated_errors
            .iter()
            .map(|t| t.get_ref().clone())
            .collect(),
        ok_exit_codes: if r.ok_exit_codes.is_empty() {
            vec![0]
        } else {
            r.ok_exit_codes
                .iter()
                .filter_map(|c| i32::try_from(*c.get_ref()).ok())
                .collect()
        },
    }
}
