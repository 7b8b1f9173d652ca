//! Time in the diff: when a file was taken, files dated in the future,
//! and which older files retention deletes.

use super::*;

/// Warnings for files dated in the future (beyond [`crate::clock::MAX_SKEW`]):
/// the newest match of each artefact and every match retention sees, with
/// the file's time and "now".
pub fn future_dated(
    plan: &Plan,
    states: &HashMap<String, HostState>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    for a in plan.artefacts.values() {
        let Some(state) = states.get(&a.host).and_then(|s| s.artefacts.get(&a.name)) else {
            continue;
        };
        let newest = state
            .newest
            .as_ref()
            .and_then(|f| Some((f.path.clone(), dated_in_future(a, f, now)?)));
        let matches = state.all.iter().filter_map(|(p, _)| {
            let t = a.path.time_of(p)?;
            crate::clock::is_future(t, now).then(|| (p.clone(), (t, now)))
        });
        let mut seen = std::collections::BTreeSet::new();
        for (path, (t, reference)) in newest.into_iter().chain(matches) {
            if seen.insert(path.clone()) {
                out.push(format!(
                    "`{path}` (artefact `{}`) is dated {}, but now is {}: it is not fresh and retention does not count it (check the clocks of the host and of this machine)",
                    a.name,
                    crate::clock::show(t),
                    crate::clock::show(reference)
                ));
            }
        }
    }
    out
}

/// When a file was taken and the "now" it is ahead of, if it lies in the
/// future (beyond [`crate::clock::MAX_SKEW`]). A time read from the file's
/// name is compared with the plan's "now" (`CUTTER_NOW` when set), the clock
/// that named it; a modification time, set by the host's real clock, with
/// the later of that "now" and the real time.
pub fn dated_in_future(
    a: &Artefact,
    f: &FileState,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (t, reference) = match a.path.time_of(&f.path) {
        Some(t) => (t, now),
        None => (DateTime::from_timestamp(f.mtime, 0)?, now.max(Utc::now())),
    };
    crate::clock::is_future(t, reference).then_some((t, reference))
}

/// When a file was taken: from its name if it carries a timestamp, else its mtime.
pub fn taken_at(a: &Artefact, f: &FileState) -> DateTime<Utc> {
    a.path
        .time_of(&f.path)
        .unwrap_or_else(|| DateTime::from_timestamp(f.mtime, 0).unwrap_or_default())
}

/// The files retention deletes: matches cutter made (a manifest beside them)
/// beyond the newest `keep.last` and older than `keep.within`; never the
/// newest, never one cutter did not make, and never one dated in the future,
/// which does not count among the kept either. When the artefact is made anew in
/// this apply, the new file counts among the kept.
pub fn prune_list(a: &Artefact, host: &HostState, now: DateTime<Utc>, remade: bool) -> Vec<String> {
    let Some(keep) = a.keep else {
        return Vec::new();
    };
    let Some(state) = host.artefacts.get(&a.name) else {
        return Vec::new();
    };
    let mut dated: Vec<(DateTime<Utc>, &String, bool)> = state
        .all
        .iter()
        .filter_map(|(p, mine)| a.path.time_of(p).map(|t| (t, p, *mine)))
        // Dated in the future: neither kept in place of a real file nor
        // deleted (its date cannot be trusted either way).
        .filter(|(t, _, _)| !crate::clock::is_future(*t, now))
        .collect();
    dated.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| y.1.cmp(x.1)));
    let keep_existing = if remade {
        keep.last.saturating_sub(1)
    } else {
        keep.last
    }
    .max(usize::from(!remade));
    dated
        .iter()
        .enumerate()
        .filter(|(i, (t, _, mine))| {
            *mine
                && *i >= keep_existing
                && keep.within.is_none_or(|w| {
                    now.signed_duration_since(*t)
                        .to_std()
                        .is_ok_and(|age| age > w)
                })
        })
        .map(|(_, (_, p, _))| (*p).clone())
        .collect()
}
