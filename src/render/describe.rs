//! What a step does, in the words an operator reviews: what is made, from
//! where, to which path, in which format. The exact commands are in
//! [`super::ChangeView::commands`] (shown with `--verbose` and in JSON);
//! these lines are built from the same plan, not parsed back from them.

use serde::{Deserialize, Serialize};

use crate::apply::step::Inputs;
use crate::diff::Action;
use crate::graph::StepKind;
use crate::plan::{
    Artefact, Check, CheckKind, Container, DumpFormat, GuardKind, Lifecycle, PgDump, PgQuery,
    Place, Plan, Producer, Protected,
};

/// One line of a step's description: a short verb and what it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Detail {
    pub label: String,
    pub text: String,
}

fn detail(label: &str, text: impl Into<String>) -> Detail {
    Detail {
        label: label.into(),
        text: text.into(),
    }
}

/// Inline code, in Markdown's syntax (also readable on a terminal); a
/// value holding backticks gets a longer fence.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// Where an operation runs, as a phrase: `in container `x` (...)` or `on the host`.
fn place(plan: &Plan, p: &Place) -> String {
    match p {
        Place::Host => "on the host".into(),
        Place::Own(resource) => format!(
            "in container {} (cutter's own)",
            code(&plan.containers[resource].docker_name)
        ),
        Place::External(r) => format!(
            "in container {} (not cutter's: read-only session, no shell)",
            code(r)
        ),
    }
}

/// The words of step `id`, from the same inputs as its commands.
pub fn step(inputs: &Inputs<'_>, id: &str) -> Vec<Detail> {
    let Some(node) = inputs.graph.node(id) else {
        return Vec::new();
    };
    let step = &inputs.graph.graph[node];
    let plan = inputs.plan;
    match step.kind {
        StepKind::Artefact => {
            let a = &plan.artefacts[&step.resource];
            artefact(plan, a, &a.path.render(inputs.now))
        }
        StepKind::Container => {
            let c = &plan.containers[&step.resource];
            let file = c
                .restore
                .as_ref()
                .and_then(|r| inputs.artefact_file(&r.artefact));
            let start = inputs
                .diff
                .get(id)
                .is_some_and(|ch| ch.action == Action::Start);
            container(c, file.as_deref(), start)
        }
        StepKind::Check => {
            let k = &plan.checks[&step.resource];
            let snapshot = match &k.kind {
                CheckKind::Rowcounts { artefact, .. } => inputs.artefact_file(artefact),
                _ => None,
            };
            check(plan, k, snapshot.as_deref())
        }
        StepKind::Teardown => {
            let c = &plan.containers[&step.resource];
            let tested = inputs.tested_file(&c.name);
            teardown(c, tested.as_deref())
        }
        StepKind::Prune => {
            let a = &plan.artefacts[&step.resource];
            let files = inputs.prune_files(&a.name).unwrap_or_default();
            prune(a, &files)
        }
        StepKind::Leftovers => vec![
            detail(
                "removes",
                "containers, volumes and networks of this plan on the host that it no longer holds",
            ),
            detail(
                "only",
                format!(
                    "what carries cutter's label {} and this plan's {} (or, for a volume or network made before it was labelled so, a name this plan gives), read again just before",
                    code(&format!("{}=true", crate::plan::MANAGED_LABEL)),
                    code(crate::plan::PLAN_LABEL)
                ),
            ),
        ],
        StepKind::GuardBefore | StepKind::GuardAfter => {
            match (plan.guards.get(&step.resource), plan.hosts.get(&step.host)) {
                (Some(g), Some(h)) => guard(
                    plan,
                    &g.kind,
                    &h.protected,
                    step.kind == StepKind::GuardBefore,
                ),
                _ => Vec::new(),
            }
        }
    }
}

fn artefact(plan: &Plan, a: &Artefact, path: &str) -> Vec<Detail> {
    let mut out = vec![detail("writes", code(path))];
    let at = place(plan, &a.place);
    match &a.producer {
        Producer::Command { command } => {
            out.push(detail("from", format!("{} {at}", code(command))))
        }
        Producer::PgDump(d) => {
            out.push(detail(
                "from",
                format!(
                    "pg_dump of database {} as {} {at}",
                    code(&d.database),
                    code(&d.user)
                ),
            ));
            out.push(detail("format", dump_format(d)));
        }
        Producer::Query(q) => {
            out.push(detail("from", query(q, &at)));
            out.push(detail(
                "format",
                format!("one row a line, fields separated by {}", code(&q.separator)),
            ));
        }
    }
    let mut checks = Vec::new();
    if let Some(min) = a.min_size {
        checks.push(format!("at least {}", bytesize::ByteSize(min)));
    }
    match (&a.producer, &a.verify) {
        (Producer::Command { .. }, Some(v)) => checks.push(format!("{} accepts it", code(v))),
        (Producer::PgDump(d), _) if d.format.is_archive() => checks.push(
            "`pg_restore --list` accepts it, in a throw-away container without network".to_string(),
        ),
        _ => {}
    }
    if !checks.is_empty() {
        out.push(detail(
            "checks",
            format!("{} (else no file is kept)", checks.join("; ")),
        ));
    }
    if let Some(e) = &a.stderr {
        out.push(detail("keeps", format!("its error output as {}", code(e))));
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    out.push(detail(
        "records",
        format!(
            "SHA-256 in `SHA256SUMS` and the manifest {} beside it",
            code(&format!("{name}.cutter.json"))
        ),
    ));
    out
}

/// Retention: the older files cutter made, deleted.
fn prune(a: &Artefact, files: &[String]) -> Vec<Detail> {
    let mut out = Vec::new();
    if let Some(keep) = a.keep {
        let within = keep.within.map_or(String::new(), |w| {
            format!(
                " and every one taken within {}",
                humantime::format_duration(w)
            )
        });
        out.push(detail(
            "keeps",
            format!("the newest {} file(s){within}", keep.last),
        ));
    }
    out.push(detail(
        "deletes",
        format!(
            "{} older file(s) cutter made, with their manifests, evidence and `SHA256SUMS` lines",
            files.len()
        ),
    ));
    out.push(detail(
        "never",
        "a file cutter did not make, or one under a protected path",
    ));
    out
}

fn dump_format(d: &PgDump) -> String {
    let mut what = vec![
        match d.format {
            DumpFormat::Custom => "custom (for pg_restore)",
            DumpFormat::Tar => "tar (for pg_restore)",
            DumpFormat::Plain => "plain SQL",
        }
        .to_string(),
    ];
    if let Some(z) = d.compress {
        what.push(format!("compression {z}"));
    }
    if d.schema_only {
        what.push("schema only".into());
    }
    for (label, items) in [
        ("tables", &d.tables),
        ("without tables", &d.exclude_tables),
        ("schemas", &d.schemas),
        ("without schemas", &d.exclude_schemas),
    ] {
        if !items.is_empty() {
            what.push(format!("{label} {}", list(items)));
        }
    }
    what.join(", ")
}

fn query(q: &PgQuery, at: &str) -> String {
    format!(
        "query {} on database {} as {} {at}",
        code(q.sql.as_str()),
        code(&q.database),
        code(&q.user)
    )
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| code(i)).collect::<Vec<_>>().join(", ")
}

/// A container step; `restore_file` is the artefact file it restores.
fn container(c: &Container, restore_file: Option<&str>, start_only: bool) -> Vec<Detail> {
    let mut out = Vec::new();
    if start_only {
        out.push(detail(
            "starts",
            format!("the stopped container {}", code(&c.docker_name)),
        ));
    } else {
        let life = match c.lifecycle {
            Lifecycle::Ephemeral => "ephemeral: removed with its volume after its checks",
            Lifecycle::Persistent => "persistent: kept running",
        };
        out.push(detail(
            "runs",
            format!(
                "image {} as container {} ({life})",
                code(&c.image),
                code(&c.docker_name)
            ),
        ));
        if c.lifecycle == Lifecycle::Ephemeral {
            out.push(detail(
                "clears",
                "a leftover of an interrupted test of the same name (cutter's own)",
            ));
        }
        let ports = if c.ports.is_empty() {
            "no published ports".to_string()
        } else {
            format!("publishes {}", list(&c.ports))
        };
        out.push(detail(
            "on",
            format!(
                "network {} (a bridge of cutter's own), volume {} at {}, {ports}",
                code(&c.network),
                code(&c.volume),
                code(&c.mount)
            ),
        ));
        if !c.env.is_empty() {
            let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(detail("env", list(&env)));
        }
        if !c.secrets.is_empty() {
            let names: Vec<String> = c
                .secrets
                .iter()
                .map(|(k, _)| format!("{k}=********"))
                .collect();
            out.push(detail(
                "secrets",
                format!("{} on standard input, read when applied", list(&names)),
            ));
        }
    }
    if let Some(ready) = &c.ready {
        out.push(detail(
            "waits",
            format!("until {} succeeds in it (at most 120 s)", code(ready)),
        ));
    }
    if let (Some(r), false) = (&c.restore, start_only) {
        let file = restore_file.map_or_else(|| format!("artefact `{}`", r.artefact), code);
        let mut text = format!("{file} with {}", code(&r.command));
        if !r.tolerated_errors.is_empty() {
            text.push_str(&format!(", tolerating {}", list(&r.tolerated_errors)));
        }
        out.push(detail("restores", text));
    }
    out
}

fn check(plan: &Plan, k: &Check, snapshot_file: Option<&str>) -> Vec<Detail> {
    let session = format!(
        "as {} on database {} {}",
        code(&k.user),
        code(&k.database),
        place(plan, &k.place)
    );
    match &k.kind {
        CheckKind::Equals { sql, expect } => vec![
            detail("queries", format!("{} {session}", code(sql.as_str()))),
            detail("expects", code(expect)),
        ],
        CheckKind::SameAs { sql, other } => vec![
            detail("queries", format!("{} {session}", code(sql.as_str()))),
            detail("expects", format!("the same result {}", place(plan, other))),
        ],
        CheckKind::Rowcounts { artefact, tables } => vec![
            detail("counts", format!("rows of {} {session}", list(tables))),
            detail(
                "expects",
                format!(
                    "the counts in {}",
                    snapshot_file.map_or_else(|| format!("artefact `{artefact}`"), code)
                ),
            ),
        ],
    }
}

fn teardown(c: &Container, tested_file: Option<&str>) -> Vec<Detail> {
    let mut out = vec![
        detail(
            "removes",
            format!(
                "container {} and its volume {}; network {} when nothing else uses it",
                code(&c.docker_name),
                code(&c.volume),
                code(&c.network)
            ),
        ),
        detail("proves", "neither is left, also when a check failed"),
    ];
    if let Some(f) = tested_file {
        out.push(detail(
            "records",
            format!(
                "the restore test's result beside {} as {}",
                code(f),
                code(&c.evidence_name())
            ),
        ));
    }
    out
}

fn guard(plan: &Plan, kind: &GuardKind, protected: &Protected, before: bool) -> Vec<Detail> {
    let when = if before { "before" } else { "after" };
    match kind {
        GuardKind::ProtectedUnchanged => {
            let mut what = vec!["containers (id, image, state, restarts)".to_string()];
            if !protected.volumes.is_empty() {
                what.push(format!("volumes {}", list(&protected.volumes)));
            }
            if !protected.networks.is_empty() {
                what.push(format!("networks {}", list(&protected.networks)));
            }
            let mut out = vec![detail(
                "reads",
                format!("the protected {} {when} the apply", what.join(", ")),
            )];
            if !before {
                out.push(detail("expects", "exactly what was read before"));
            }
            out
        }
        GuardKind::SchemaUnchanged {
            container,
            user,
            database,
        } => {
            let mut out = vec![detail(
                "hashes",
                format!(
                    "the schema (`pg_dump --schema-only`) of database {} as {} {} {when} the apply",
                    code(database),
                    code(user),
                    place(plan, container)
                ),
            )];
            if !before {
                out.push(detail("expects", "the same hash as before"));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(toml: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, toml).unwrap();
        crate::plan::load(&path).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn words(d: &[Detail]) -> Vec<String> {
        d.iter()
            .map(|d| format!("{} {}", d.label, d.text))
            .collect()
    }

    #[test]
    fn typed_operations_in_words() {
        let p = plan(
            r#"
[hosts.here]
local = true

[artefacts.dump]
path = "/srv/b/app.tar"
container = "postgres"
pg_dump = { database = "app", user = "ops", format = "tar", tables = ["public.a"], exclude_schemas = ["tmp"] }

[artefacts.counts]
path = "/srv/b/counts.psv"
container = "postgres"
query = { database = "app", sql = "SELECT 1", separator = ";" }
"#,
        );
        let dump = words(&artefact(&p, &p.artefacts["dump"], "/srv/b/app.tar"));
        assert_eq!(
            dump[1..4],
            [
                "from pg_dump of database `app` as `ops` in container `postgres` (not cutter's: read-only session, no shell)",
                "format tar (for pg_restore), tables `public.a`, without schemas `tmp`",
                "checks `pg_restore --list` accepts it, in a throw-away container without network (else no file is kept)",
            ]
        );
        let counts = words(&artefact(&p, &p.artefacts["counts"], "/srv/b/counts.psv"));
        assert_eq!(
            counts[1..3],
            [
                "from query `SELECT 1` on database `app` as `postgres` in container `postgres` (not cutter's: read-only session, no shell)",
                "format one row a line, fields separated by `;`",
            ]
        );
    }

    #[test]
    fn backticks_in_a_value_keep_it_one_code_span() {
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("ab"), "`ab`");
    }
}
