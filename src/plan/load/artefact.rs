//! Artefact resources: a file a producer makes on a host, where it may be
//! written, and what may produce it (a command only where cutter owns the
//! place; `pg_dump` and read-only queries it composes itself elsewhere).

use std::time::Duration;

use toml::Spanned;

use super::Loader;
use crate::plan::schema::{RawArtefact, RawKeep, RawPgDump, RawQuery};
use crate::plan::{
    Artefact, DumpFormat, Keep, MAX_DERIVED_SUFFIX, NAME_MAX, PgDump, PgQuery, Place, Plan,
    Producer,
};

impl Loader<'_> {
    pub(super) fn resolve_artefact(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        a: &RawArtefact,
    ) -> Option<Artefact> {
        let host = self.host_ref(plan, name, a.host.as_ref());
        let path = self.template(&a.path);
        let min_size = self.size(a.min_size.as_ref());
        let max_age = self.duration(a.max_age.as_ref());
        let timeout = self
            .duration(a.timeout.as_ref())
            .unwrap_or(Duration::from_secs(2 * 3600));
        let verify_every = self
            .duration(a.verify_every.as_ref())
            .unwrap_or(Duration::from_secs(7 * 24 * 3600));
        let keep = a.keep.as_ref().map(|k| self.keep(k));
        let host = host?;
        let path = path?;
        let display = path.display();
        if let (Some(_), false) = (&a.keep, path.is_dated()) {
            self.diags
                .error("keep", format!("artefact `{}` keeps older files, but has only one", name.get_ref()))
                .label(a.path.span(), "no `{{ timestamp }}` or `{{ date }}` here")
                .help("retention is for timestamped artefacts: every apply of a fixed path replaces the one file");
        }
        self.check_path(&a.path, &display, name.get_ref());
        self.check_name_length(plan, &a.path, &path, name.get_ref());
        self.check_stderr(a.stderr.as_ref());
        self.check_reserved(&a.path, &display, a.stderr.as_ref());
        self.refuse_protected_path(plan, &host, name, &a.path, &display);
        let place = match &a.container {
            Some(c) => self.place(plan, c),
            None => Place::Host,
        };
        let producer = self.producer(plan, name, a, &host, &place)?;
        let verify = match &a.verify {
            Some(v) if !matches!(producer, Producer::Command { .. }) => {
                self.diags
                    .error("verify", "`verify` is for `command` artefacts")
                    .label(v.span(), "not allowed here")
                    .help("a `pg_dump` in custom or tar format is always checked with `pg_restore --list` in a throw-away container; nothing is ever fed into production");
                None
            }
            Some(v) => Some(self.text_template(v)?),
            None => None,
        };
        if let (Some(cmd), Place::Host) = (&a.command, &place) {
            let mut commands = vec![("command", cmd.span())];
            commands.extend(a.verify.as_ref().map(|v| ("verify", v.span())));
            self.refuse_free_form(plan, &host, name.get_ref(), &commands);
        }
        Some(Artefact {
            name: name.get_ref().clone(),
            host,
            path,
            producer,
            place,
            stderr: a.stderr.as_ref().map(|s| s.get_ref().clone()),
            min_size,
            verify,
            max_age,
            timeout,
            verify_every,
            keep,
            after: a.after.iter().map(|x| x.get_ref().clone()).collect(),
        })
    }

    fn keep(&mut self, k: &RawKeep) -> Keep {
        let last = match &k.last {
            Some(l) if (1..=100_000).contains(l.get_ref()) => *l.get_ref() as usize,
            Some(l) => {
                self.diags
                    .error(
                        "range",
                        format!("`keep.last` = {} is out of range", l.get_ref()),
                    )
                    .label(l.span(), "1 or more: the newest file is always kept");
                1
            }
            None => 1,
        };
        let within = self.duration(k.within.as_ref());
        Keep { last, within }
    }

    fn refuse_protected_path(
        &mut self,
        plan: &Plan,
        host: &str,
        name: &Spanned<String>,
        path: &Spanned<String>,
        display: &str,
    ) {
        if let Some(p) = plan.hosts[host].protected.path_covering(display) {
            self.refuse(
                host,
                "path",
                p,
                path.span(),
                format!(
                    "artefact `{}` would write under protected path `{p}`",
                    name.get_ref()
                ),
                "this path is protected",
            );
        }
    }

    /// Neither the artefact's file name nor its `stderr` name may be one of
    /// the names cutter gives its own files beside an artefact (one artefact
    /// could forge another's manifest, evidence or record, and retention
    /// trusts a manifest), and `stderr` is not the artefact itself.
    fn check_reserved(
        &mut self,
        path: &Spanned<String>,
        display: &str,
        stderr: Option<&Spanned<String>>,
    ) {
        let leaf = display.rsplit('/').next().unwrap_or(display);
        if let Some(what) = crate::plan::reserved_name(leaf) {
            self.diags
                .error("path", format!("`{leaf}` is a name cutter keeps for {what}"))
                .label(path.span(), "a name of cutter's own")
                .help("name the file otherwise: cutter writes and trusts files of this name beside its artefacts");
        }
        if let Some(stderr) = stderr {
            let name = stderr.get_ref().as_str();
            if let Some(what) = crate::plan::reserved_name(name) {
                self.diags
                    .error(
                        "path",
                        format!("`stderr` `{name}` is a name cutter keeps for {what}"),
                    )
                    .label(stderr.span(), "a name of cutter's own");
            } else if name == leaf {
                self.diags
                    .error("path", "`stderr` names the artefact itself")
                    .label(stderr.span(), "the same name as the artefact's file")
                    .help("give the command's standard error a name of its own, e.g. \"pg_dump.stderr\"");
            }
        }
    }

    /// `stderr` is a plain file name beside the artefact.
    fn check_stderr(&mut self, stderr: Option<&Spanned<String>>) {
        if let Some(stderr) = stderr
            && (stderr.get_ref().contains('/')
                || stderr.get_ref().is_empty()
                || matches!(stderr.get_ref().as_str(), "." | ".." | "SHA256SUMS")
                || stderr.get_ref().chars().any(|c| c.is_control()))
        {
            self.diags
                .error("path", "`stderr` is a file name beside the artefact")
                .label(stderr.span(), "a plain file name, e.g. \"pg_dump.stderr\"");
        }
    }

    /// Exactly one of `command`, `pg_dump` or `query`; the PostgreSQL ones
    /// in a container.
    fn producer(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        a: &RawArtefact,
        host: &str,
        place: &Place,
    ) -> Option<Producer> {
        let producer = match (&a.command, &a.pg_dump, &a.query) {
            (Some(cmd), None, None) => self.command(plan, name, a, cmd, host, place)?,
            (None, Some(d), None) => Producer::PgDump(self.pg_dump(d)),
            (None, None, Some(q)) => Producer::Query(self.query(q)?),
            _ => {
                self.diags
                    .error(
                        "producer",
                        format!(
                            "artefact `{}` needs exactly one of `command`, `pg_dump` or `query`",
                            name.get_ref()
                        ),
                    )
                    .label(name.span(), "declared here");
                return None;
            }
        };
        if !matches!(producer, Producer::Command { .. }) && *place == Place::Host {
            self.diags
                .error(
                    "producer",
                    format!(
                        "artefact `{}` runs PostgreSQL tools without `container`",
                        name.get_ref()
                    ),
                )
                .label(name.span(), "declared here")
                .help("say which container holds the database: `container = \"postgres\"`");
        }
        Some(producer)
    }

    /// A free-form command: never in a container this plan does not own.
    fn command(
        &mut self,
        plan: &Plan,
        name: &Spanned<String>,
        a: &RawArtefact,
        cmd: &Spanned<String>,
        host: &str,
        place: &Place,
    ) -> Option<Producer> {
        if let (Place::External(r), Some(c)) = (place, &a.container) {
            let protected = Self::names_protected(plan, host, place);
            let d = self.diags.error(
                "protected",
                format!(
                    "artefact `{}` runs a free-form command in container `{r}`, which this plan does not own",
                    name.get_ref()
                ),
            );
            d.label(cmd.span(), "a shell command");
            d.label(
                c.span(),
                if protected {
                    "a protected container"
                } else {
                    "not a container resource of this plan: treated as production"
                },
            );
            d.help("inside containers cutter did not create, it runs only operations it composes itself: use `pg_dump = { database = \"...\" }` or `query = { database = \"...\", sql = \"SELECT ...\" }`");
        }
        let command = self.text_template(cmd)?;
        if command.trim().is_empty() {
            self.diags
                .error(
                    "empty",
                    format!("artefact `{}` has an empty command", name.get_ref()),
                )
                .label(cmd.span(), "empty");
        }
        Some(Producer::Command { command })
    }

    fn pg_dump(&mut self, d: &RawPgDump) -> PgDump {
        let format = match d.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("custom") => DumpFormat::Custom,
            Some("plain") => DumpFormat::Plain,
            Some("tar") => DumpFormat::Tar,
            Some(other) => {
                self.diags
                    .error("wrong_type", format!("unknown dump format `{other}`"))
                    .label(
                        d.format.as_ref().unwrap().span(),
                        "expected `custom`, `plain` or `tar`",
                    );
                DumpFormat::Custom
            }
        };
        let compress = match &d.compress {
            Some(c) if (0..=9).contains(c.get_ref()) => Some(*c.get_ref() as u8),
            Some(c) => {
                self.diags
                    .error(
                        "range",
                        format!("compression level {} is out of range", c.get_ref()),
                    )
                    .label(c.span(), "0 to 9");
                None
            }
            None => None,
        };
        PgDump {
            user: d
                .user
                .as_ref()
                .map_or("postgres".into(), |u| self.pg_name("user", u)),
            database: self.pg_name("database", &d.database),
            format,
            compress,
            schema_only: d.schema_only.as_ref().is_some_and(|s| *s.get_ref()),
            tables: self.pattern_list(&d.tables),
            exclude_tables: self.pattern_list(&d.exclude_tables),
            schemas: self.pattern_list(&d.schemas),
            exclude_schemas: self.pattern_list(&d.exclude_schemas),
        }
    }

    fn query(&mut self, q: &RawQuery) -> Option<PgQuery> {
        let user = q
            .user
            .as_ref()
            .map_or("postgres".into(), |u| self.pg_name("user", u));
        let database = self.pg_name("database", &q.database);
        let separator = match &q.separator {
            Some(s)
                if s.get_ref().is_empty()
                    || s.get_ref().chars().count() > 4
                    || s.get_ref().chars().any(|c| c.is_control()) =>
            {
                self.diags
                    .error("query", "the separator must be 1 to 4 printable characters")
                    .label(s.span(), "e.g. \"|\"");
                "|".into()
            }
            Some(s) => s.get_ref().clone(),
            None => "|".into(),
        };
        Some(PgQuery {
            user,
            database,
            sql: self.sql(&q.sql)?,
            separator,
        })
    }

    fn pattern_list(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        for p in list {
            if p.get_ref().is_empty() || p.get_ref().chars().any(|c| c.is_control()) {
                self.diags
                    .error("pg_dump", "empty pattern or control character")
                    .label(p.span(), "a pg_dump pattern, e.g. \"public.orders\"");
            }
        }
        list.iter().map(|p| p.get_ref().clone()).collect()
    }

    /// The file name, and each evidence file's name beside it, leaves room
    /// for the longest name cutter derives from it ([`MAX_DERIVED_SUFFIX`]).
    fn check_name_length(
        &mut self,
        plan: &Plan,
        raw: &Spanned<String>,
        path: &crate::plan::Template,
        owner: &str,
    ) {
        // Placeholders render to a fixed width, whatever the time.
        let rendered = path.render(chrono::DateTime::UNIX_EPOCH);
        let file = rendered.rsplit('/').next().unwrap_or(&rendered);
        let limit = NAME_MAX - MAX_DERIVED_SUFFIX;
        // Evidence files carry a container's name: the longest of them
        // needs the margin too.
        let evidence = plan
            .containers
            .values()
            .filter(|c| c.restore.as_ref().is_some_and(|r| r.artefact == owner))
            .map(|c| (c.name.clone(), format!(".{}", c.evidence_name())))
            .max_by_key(|(_, e)| e.len());
        let extra = evidence.as_ref().map_or(0, |(_, e)| e.len());
        if file.len() + extra <= limit {
            return;
        }
        let d = self.diags.error(
            "name_too_long",
            format!(
                "artefact `{owner}` has a file name of {} bytes: the host takes at most {NAME_MAX}, and cutter's files beside it need up to {MAX_DERIVED_SUFFIX} more",
                file.len()
            ),
        );
        match &evidence {
            Some((c, e)) => d.label(
                raw.span(),
                format!(
                    "at most {} bytes here: the restore test of container `{c}` leaves `<file>{e}` beside it",
                    limit.saturating_sub(extra)
                ),
            ),
            None => d.label(raw.span(), format!("at most {limit} bytes here")),
        };
        d.help("shorten the file name (cutter keeps its manifest, records and quarantined copies beside it under longer names)");
    }

    /// Paths are absolute, in normal form, and name a file.
    fn check_path(&mut self, raw: &Spanned<String>, display: &str, owner: &str) {
        let origins = self.var_origins(raw.get_ref());
        if !display.starts_with('/') {
            let d = self
                .diags
                .error("path", format!("artefact `{owner}` needs an absolute path"));
            d.label(raw.span(), format!("not absolute: `{display}`"));
            for (span, text) in origins {
                match span {
                    Some(span) => {
                        d.label(span, text);
                    }
                    None => {
                        d.help(text);
                    }
                }
            }
            return;
        }
        if display.ends_with('/')
            || display
                .rsplit('/')
                .next()
                .is_some_and(|f| f.is_empty() || f == "." || f == "..")
        {
            self.diags
                .error(
                    "path",
                    format!("artefact `{owner}` path does not name a file"),
                )
                .label(raw.span(), "ends in a folder");
            return;
        }
        if display[1..]
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || display.chars().any(|c| c.is_control())
        {
            self.diags
                .error("path", format!("artefact `{owner}` path is not in normal form"))
                .label(raw.span(), "no `//`, `/./`, `/../` or control characters")
                .help("write the path as it is, e.g. \"/opt/backups/x.dump\": cutter checks protection on the path it writes");
        }
    }
}
