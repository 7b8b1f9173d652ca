//! Hosts: how each is reached, and what on it is production.

use std::ops::Range;
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::Loader;
use super::names::expand_home;
use crate::plan::schema::{Map, RawHost, RawProtected};
use crate::plan::{Connection, FreeForm, Host, Place, Plan, Protected, SshTarget};

impl Loader<'_> {
    pub(super) fn resolve_hosts(&mut self, hosts: &Map<RawHost>) -> IndexMap<String, Host> {
        let mut out = IndexMap::new();
        for (name, h) in hosts {
            if let Some(host) = self.resolve_host(name, h) {
                out.insert(host.name.clone(), host);
            }
        }
        out
    }

    fn resolve_host(&mut self, name: &Spanned<String>, h: &RawHost) -> Option<Host> {
        let host = name.get_ref().clone();
        if host.trim().is_empty() {
            self.diags
                .error("name", "empty host name")
                .label(name.span(), "name the host, e.g. `[hosts.vps]`");
            return None;
        }
        if !self.no_controls("host name", name) {
            return None;
        }
        let connection = self.connection(name, h)?;
        let protected = self.protected(&host, &h.protected);
        let free_form = self.free_form(&host, h.free_form.as_ref());
        Some(Host {
            name: host,
            connection,
            protected,
            free_form,
        })
    }

    /// `free_form`: refused by default where something is protected.
    fn free_form(&mut self, host: &str, value: Option<&Spanned<String>>) -> FreeForm {
        if let Some(v) = value {
            self.free_form_spans.insert(host.to_string(), v.span());
        }
        match value.map(|v| (v, v.get_ref().as_str())) {
            Some((_, "refuse")) => FreeForm::Refuse,
            Some((_, "allow")) => FreeForm::Allow,
            Some((v, other)) => {
                self.diags
                    .error(
                        "wrong_type",
                        format!("host `{host}` has an unknown `free_form` value `{other}`"),
                    )
                    .label(v.span(), "expected `refuse` or `allow`");
                FreeForm::Refuse
            }
            None => FreeForm::Unset,
        }
    }

    /// `local = true`, or `ssh = "alias"`: exactly one of them.
    fn connection(&mut self, name: &Spanned<String>, h: &RawHost) -> Option<Connection> {
        let host = name.get_ref();
        match (&h.local, &h.ssh) {
            (Some(local), None) if *local.get_ref() => Some(Connection::Local),
            (Some(local), None) => {
                self.diags
                    .error(
                        "host",
                        format!("host `{host}` has `local = false` and no `ssh`"),
                    )
                    .label(local.span(), "say `local = true` or give `ssh = \"alias\"`");
                None
            }
            (None, Some(ssh)) => self.ssh_target(host, ssh, h).map(Connection::Ssh),
            (Some(local), Some(ssh)) => {
                self.diags
                    .error("host", format!("host `{host}` is both local and ssh"))
                    .label(local.span(), "local here")
                    .label(ssh.span(), "ssh here");
                None
            }
            (None, None) => {
                self.diags
                    .error(
                        "host",
                        format!("host `{host}` says neither `local = true` nor `ssh = \"alias\"`"),
                    )
                    .label(name.span(), "declared here");
                None
            }
        }
    }

    fn ssh_target(&mut self, host: &str, ssh: &Spanned<String>, h: &RawHost) -> Option<SshTarget> {
        let destination = self.text_template(ssh)?;
        if !self.no_controls_in(
            &format!("the SSH destination of host `{host}`"),
            &destination,
            ssh.span(),
        ) {
            return None;
        }
        if destination.trim().is_empty() || destination.starts_with('-') {
            self.diags
                .error("host", format!("host `{host}` has no SSH destination"))
                .label(
                    ssh.span(),
                    "an alias or `user@host`, not empty and not an option",
                )
                .help("write e.g. `ssh = \"prod-vps\"`, an alias of your ~/.ssh/config");
            return None;
        }
        let config_file = match &h.ssh_config {
            Some(p) => Some(expand_home(&self.text_template(p)?)),
            None => None,
        };
        let connect_timeout = self
            .seconds(h.connect_timeout.as_ref())
            .unwrap_or(Duration::from_secs(10));
        let keepalive = self.seconds(h.keepalive.as_ref()).map(|d| d.as_secs());
        Some(SshTarget {
            destination,
            config_file,
            connect_timeout,
            keepalive,
            strict_host_keys: h.strict_host_keys.as_ref().is_none_or(|s| *s.get_ref()),
        })
    }

    /// The host's `[protected]` lists, each entry checked and its span kept
    /// for the labels of later refusals.
    fn protected(&mut self, host: &str, p: &RawProtected) -> Protected {
        let mut protected = Protected::default();
        for (kind, list, into) in [
            ("container", &p.containers, &mut protected.containers),
            ("label", &p.labels, &mut protected.labels),
            ("volume", &p.volumes, &mut protected.volumes),
            ("network", &p.networks, &mut protected.networks),
            ("path", &p.paths, &mut protected.paths),
        ] {
            for item in list {
                if kind == "path" && !item.get_ref().starts_with('/') {
                    self.diags
                        .error("path", "protected paths must be absolute")
                        .label(item.span(), "not absolute");
                }
                if matches!(kind, "container" | "volume" | "network") {
                    self.check_docker_name(kind, item.get_ref(), item.span());
                } else if self.non_empty(&format!("protected {kind}"), item) {
                    self.no_controls(&format!("protected {kind}"), item);
                }
                self.protected_spans.insert(
                    (host.to_string(), kind, item.get_ref().clone()),
                    item.span(),
                );
                into.push(item.get_ref().clone());
            }
        }
        protected
    }

    /// Refuse free-form shell in the host's own shell where `free_form`
    /// says so, pointing at the command and at what makes the host
    /// production.
    pub(super) fn refuse_free_form(
        &mut self,
        plan: &Plan,
        host: &str,
        artefact: &str,
        commands: &[(&str, Range<usize>)],
    ) {
        let Some(h) = plan.hosts.get(host) else {
            return;
        };
        if !h.refuses_free_form() {
            return;
        }
        let mut protected: Vec<(Range<usize>, &'static str, String)> = self
            .protected_spans
            .iter()
            .filter(|((on, _, _), _)| on == host)
            .map(|((_, kind, item), span)| (span.clone(), *kind, item.clone()))
            .collect();
        protected.sort_by_key(|(span, _, _)| span.start);
        let setting = self.free_form_spans.get(host).cloned();
        let d = self.diags.error(
            "free_form",
            format!(
                "artefact `{artefact}` runs a free-form command in the shell of host `{host}`, which cutter cannot prove leaves production alone"
            ),
        );
        for (key, span) in commands {
            d.label(
                span.clone(),
                format!("`{key}`: arbitrary shell on host `{host}`"),
            );
        }
        if let Some((span, kind, item)) = protected.first() {
            d.label(
                span.clone(),
                if protected.len() > 1 {
                    format!(
                        "protected {kind} `{item}` (and {} more) on host `{host}`",
                        protected.len() - 1
                    )
                } else {
                    format!("protected {kind} `{item}` on host `{host}`")
                },
            );
        }
        if let Some(span) = setting {
            d.label(span, "free-form host commands refused here");
            d.help(format!(
                "make the file with `pg_dump` or `query`, or run the command in a container this plan declares (`container = \"...\"`); or set `free_form = \"allow\"` on `[hosts.{host}]`, and plan and report then say \"production untouched\" is not provable for it"
            ));
        } else {
            d.help(format!(
                "free-form host commands are refused by default on a host with protected resources: make the file with `pg_dump` or `query`, or run the command in a container this plan declares (`container = \"...\"`); or set `free_form = \"allow\"` on `[hosts.{host}]` to run it anyway, and plan and report then say \"production untouched\" is not provable for it"
            ));
        }
    }

    fn protected_label(
        &mut self,
        host: &str,
        kind: &'static str,
        item: &str,
    ) -> Option<Range<usize>> {
        self.protected_spans
            .get(&(host.to_string(), kind, item.to_string()))
            .cloned()
    }

    /// Refuse what would touch production, labelling the protected entry too.
    pub(super) fn refuse(
        &mut self,
        host: &str,
        kind: &'static str,
        item: &str,
        at: Range<usize>,
        message: String,
        label: &str,
    ) {
        let protected_span = self.protected_label(host, kind, item);
        let d = self.diags.error("protected", message);
        d.label(at, label.to_string());
        if let Some(span) = protected_span {
            d.label(span, format!("protected here on host `{host}`"));
        }
        d.help("cutter never mutates production: create a new resource beside it instead");
    }

    /// Whether an external reference names a protected container as written
    /// (the full check, by ID and label, happens against the observed host).
    pub(super) fn names_protected(plan: &Plan, host: &str, place: &Place) -> bool {
        match place {
            Place::External(r) => plan.hosts.get(host).is_some_and(|h| {
                h.protected
                    .containers
                    .iter()
                    .any(|c| c.trim_start_matches('/') == r)
            }),
            _ => false,
        }
    }
}
