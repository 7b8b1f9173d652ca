//! Guard resources: a property of production proven unchanged around an apply.

use toml::Spanned;

use super::Loader;
use crate::plan::schema::RawGuard;
use crate::plan::{Guard, GuardKind, Plan};

impl Loader<'_> {
    pub(super) fn resolve_guard(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        g: &RawGuard,
    ) -> Option<Guard> {
        let host = self.host_ref(plan, name, g.host.as_ref())?;
        let kind = match g.kind.get_ref().as_str() {
            "protected-unchanged" => self.protected_unchanged(plan, name, g, &host),
            "schema-unchanged" => self.schema_unchanged(plan, name, g)?,
            other => {
                self.diags
                    .error("wrong_type", format!("unknown guard kind `{other}`"))
                    .label(
                        g.kind.span(),
                        "expected `protected-unchanged` or `schema-unchanged`",
                    );
                return None;
            }
        };
        Some(Guard {
            name: name.get_ref().clone(),
            host,
            kind,
        })
    }

    fn protected_unchanged(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        g: &RawGuard,
        host: &str,
    ) -> GuardKind {
        if plan.hosts[host].protected.is_empty() {
            self.diags
                .error(
                    "guard",
                    format!(
                        "guard `{}` watches host `{host}`, which protects nothing",
                        name.get_ref()
                    ),
                )
                .label(g.kind.span(), "nothing to compare")
                .help("declare `[hosts.NAME.protected]` containers, volumes or networks");
        }
        GuardKind::ProtectedUnchanged
    }

    fn schema_unchanged(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        g: &RawGuard,
    ) -> Option<GuardKind> {
        let Some(container) = &g.container else {
            self.diags
                .error(
                    "guard",
                    format!("guard `{}` needs `container`", name.get_ref()),
                )
                .label(g.kind.span(), "which database container?");
            return None;
        };
        Some(GuardKind::SchemaUnchanged {
            container: self.place(plan, container),
            user: g
                .user
                .as_ref()
                .map_or("postgres".into(), |u| self.pg_name("user", u)),
            database: g
                .database
                .as_ref()
                .map_or("postgres".into(), |d| self.pg_name("database", d)),
        })
    }
}
