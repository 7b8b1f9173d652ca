//! Check resources: a read-only query and what its result must be.

use std::time::Duration;

use toml::Spanned;

use super::Loader;
use crate::plan::schema::{RawCheck, RawRowcounts};
use crate::plan::{Check, CheckKind, Kind, Plan};

impl Loader<'_> {
    pub(super) fn resolve_check(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        c: &RawCheck,
    ) -> Option<Check> {
        let host = match plan.containers.get(c.container.get_ref()) {
            Some(res) => Some(res.host.clone()),
            None => self.host_ref(plan, name, c.host.as_ref()),
        }?;
        let place = self.place(plan, &c.container);
        let timeout = self
            .duration(c.timeout.as_ref())
            .unwrap_or(Duration::from_secs(600));
        let user = c
            .user
            .as_ref()
            .map_or("postgres".into(), |u| self.pg_name("user", u));
        let database = c
            .database
            .as_ref()
            .map_or("postgres".into(), |d| self.pg_name("database", d));
        let kind = self.check_kind(plan, name, c)?;
        Some(Check {
            name: name.get_ref().clone(),
            host,
            place,
            user,
            database,
            kind,
            timeout,
            after: c.after.iter().map(|a| a.get_ref().clone()).collect(),
        })
    }

    /// `sql` with `expect` or `same_as`, or `rowcounts`.
    fn check_kind(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        c: &RawCheck,
    ) -> Option<CheckKind> {
        Some(match (&c.sql, &c.expect, &c.same_as, &c.rowcounts) {
            (Some(sql), Some(expect), None, None) => CheckKind::Equals {
                sql: self.sql(sql)?,
                expect: expect.get_ref().clone(),
            },
            (Some(sql), None, Some(other), None) => {
                let other = self.place(plan, other);
                CheckKind::SameAs {
                    sql: self.sql(sql)?,
                    other,
                }
            }
            (None, None, None, Some(rc)) => self.rowcounts(rc),
            _ => {
                self.diags
                    .error(
                        "check",
                        format!(
                            "check `{}` needs `sql` with `expect` or `same_as`, or `rowcounts`",
                            name.get_ref()
                        ),
                    )
                    .label(name.span(), "declared here");
                return None;
            }
        })
    }

    fn rowcounts(&mut self, rc: &RawRowcounts) -> CheckKind {
        self.resource_ref(&rc.artefact, &[Kind::Artefact]);
        for t in &rc.tables {
            if t.get_ref()
                .split_once('.')
                .is_none_or(|(s, n)| s.is_empty() || n.is_empty())
            {
                self.diags
                    .error("check", format!("`{}` is not `schema.table`", t.get_ref()))
                    .label(t.span(), "write it as schema.table");
            }
        }
        CheckKind::Rowcounts {
            artefact: rc.artefact.get_ref().clone(),
            tables: rc.tables.iter().map(|t| t.get_ref().clone()).collect(),
        }
    }
}
