//! The artefact step: produce, check, hash, record, publish; retention.

use super::*;
use crate::host::{self, Leaf};

/// Run by an artefact step's cleanup, with `$rc` its exit status: on
/// failure, the last lines of the command's stderr (`$err`); on a full
/// disk, where even that message could not be written, what `df` says.
/// Exit 3 and 4 are the size and format checks, 5 a refusal of the
/// boundary, 6 a lock held too long: they print their own reason last.
const STDERR_ON_FAILURE: &str = "case $rc in 0|3|4|5|6) ;; *) if [ -n \"$err\" ] && [ -s \"$err\" ]; then tail -n 8 -- \"$err\" >&2 || :; fi; \
     free=$(df -Pk -- . 2>/dev/null | tail -n 1) || free=; set -- $free; \
     if [ \"${4:-}\" = 0 ]; then echo \"No space left on device: ${6:-the file system} has 0 KiB free\" >&2; fi;; esac; ";

/// The operation that makes an artefact's content, writing standard output.
pub(super) fn producer(a: &Artefact, exec: &Exec, nonce: &str, s: &mut Script) -> String {
    let read_only = matches!(exec, Exec::External { .. });
    match &a.producer {
        Producer::Command { command } => match exec {
            Exec::Host => format!("sh -c {}", quote(command)),
            _ => format!(
                "docker exec {} timeout -k 10 {} sh -c {}",
                exec.word(),
                a.timeout.as_secs().max(1),
                quote(command)
            ),
        },
        Producer::PgDump(d) => {
            let argv = pg_dump_argv(d, nonce, read_only);
            typed(exec, &argv, a.timeout, s)
        }
        Producer::Query(q) => {
            let argv = psql_argv(
                &q.user,
                &q.database,
                q.sql.as_str(),
                Some(&q.separator),
                nonce,
                read_only,
                a.timeout,
            );
            typed(exec, &argv, a.timeout, s)
        }
    }
}

/// Produce an artefact atomically in its folder, on the host primitives
/// (`crate::host`): output, stderr and manifest in exclusive temporaries,
/// checks, checksum; then, under the folder's `SHA256SUMS` lock, the new
/// `SHA256SUMS` is written before anything takes its final name, and the
/// file, its manifest and `SHA256SUMS` are put in place by rename. A file
/// being replaced (corrupted, stale) is first moved aside to a quarantine
/// name outside `SHA256SUMS`, with its evidence, so the folder stays
/// verifiable.
pub fn artefact(
    plan: &Plan,
    a: &Artefact,
    exec: &Exec,
    now: DateTime<Utc>,
    nonce: &str,
    quarantine: Option<&str>,
) -> Result<Script, String> {
    let path = a.path.render(now);
    let (dir, name) = split_path(&path);
    let leaf = Leaf::new(name)?;
    let manifest_leaf = Leaf::new(&format!("{name}.cutter.json"))?;
    let stderr_leaf = a.stderr.as_deref().map(Leaf::new).transpose()?;
    let q_verifier = quote(&format!("{VERIFY_PREFIX}{nonce}"));
    let producer_json = serde_json::to_value(&a.producer).unwrap_or_default();
    let manifest = serde_json::json!({
        "cutter": env!("CARGO_PKG_VERSION"),
        "artefact": a.name,
        "plan": std::fs::canonicalize(&plan.file).unwrap_or(plan.file.clone()).display().to_string(),
        "plan_sha256": plan.sha256,
        "path": path,
        "taken_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "producer": producer_json,
        "container": a.place.container_ref(),
        "container_id": match exec { Exec::External { id, .. } => Some(id.clone()), _ => None },
    });
    let manifest = manifest.to_string();
    let static_part = manifest[..manifest.len() - 1]
        .replace('\\', "\\\\")
        .replace('%', "%%");
    let manifest_fmt = format!(
        "{static_part},\"sha256\":\"%s\",\"size\":%s,\"toc_entries\":%s,\"inode\":%s,\"lines\":%s,\"versions\":\"%s\"}}\\n"
    );
    // Stable from plan to apply (a saved plan's commands must not change),
    // and distinct per artefact for the progress shown while it is written.
    let out_role = {
        use sha2::Digest;
        format!(
            "out-{}",
            &hex::encode(sha2::Sha256::digest(a.name.as_bytes()))[..8]
        )
    };

    let mut s = Script {
        progress: Some((dir.to_string(), host::temp_glob(&out_role))),
        ..Script::default()
    };
    // On failure, the command's own stderr (pg_dump's error, docker's
    // refusal) is the cause: show its last lines before the temporaries go.
    s.setup.push(format!(
        "out=; err=; verifier=; cleanup() {{ rc=$?; if [ -n \"$verifier\" ]; then wait \"$verifier\" 2>/dev/null || :; docker rm -f {q_verifier} > /dev/null 2>&1 || :; fi; {STDERR_ON_FAILURE}{} ; {} ; }}; trap cleanup EXIT; trap 'exit 130' INT TERM HUP",
        host::UNLOCK,
        host::DROP_TEMPS,
    ));
    if let Some(l) = exec.lookup() {
        s.commands.push(l);
    }
    s.commands
        .push(host::enter(dir, plan.hosts[&a.host].protected.real_paths()));
    s.commands.push(format!(
        "{}; {}",
        host::temp("out", &out_role),
        host::temp("err", "err")
    ));
    let make = producer(a, exec, nonce, &mut s);
    let archive = matches!(&a.producer, Producer::PgDump(d) if d.format.is_archive());
    if archive {
        // The throw-away container that checks the archive with
        // `pg_restore --list` (never production) starts while the dump
        // runs: production's image, no network, read-only, labelled. It is
        // addressed by its name, which holds the step's nonce: `docker run`
        // fails if the name is taken, so after it succeeded the name is this
        // container (nothing read back from the folder names it).
        let image = match exec {
            Exec::External { image_id, .. } => quote(image_id),
            _ => "\"$(docker inspect -f '{{.Image}}' \"$cid\")\"".into(),
        };
        s.commands.push(format!(
            "{}; docker run -d --rm --network none --read-only --name {q_verifier} --label {} --label cutter.role=verify --label {} --entrypoint sleep {image} {} > /dev/null 2> \"$verr\" & verifier=$!",
            host::temp("verr", "verr"),
            quote(&format!("{MANAGED_LABEL}=true")),
            quote(&format!("{PLAN_LABEL}={}", plan.canonical_file())),
            a.timeout.as_secs().max(1),
        ));
    }
    // A write that filled the file system may have been cut short without
    // the producer noticing (docker relays output it could not write):
    // such an output is never taken for complete.
    s.commands.push(format!(
        "{make} > \"$out\" 2> \"$err\"; cutter_room \"$out\""
    ));
    if let Some(min) = a.min_size {
        s.commands.push(format!(
            "size=$(stat -c %s -- \"$out\"); [ \"$size\" -ge {min} ] || {{ echo \"output is $size bytes, below min_size {min}\" >&2; exit 3; }}"
        ));
    }
    s.commands.push("toc=null; dumped=".into());
    match (&a.producer, &a.verify) {
        (Producer::Command { .. }, Some(verify)) => {
            let run = match exec {
                Exec::Host => format!("sh -c {}", quote(verify)),
                _ => format!(
                    "docker exec -i {} timeout -k 10 {} sh -c {}",
                    exec.word(),
                    a.timeout.as_secs().max(1),
                    quote(verify)
                ),
            };
            s.commands.push(format!(
                "{run} < \"$out\" > /dev/null || {{ echo {} >&2; exit 4; }}",
                quote(&format!("format check `{verify}` rejected the output"))
            ));
        }
        (Producer::PgDump(d), _) if d.format.is_archive() => {
            s.commands.push(format!(
                "v=$verifier; verifier=; wait \"$v\" || {{ echo 'cannot start the throw-away container for the format check:' >&2; cat -- \"$verr\" >&2; docker rm -f {q_verifier} > /dev/null 2>&1; exit 4; }}; verifier=$v"
            ));
            s.commands.push(format!(
                "list=$(docker exec -i {q_verifier} timeout -k 10 {} pg_restore --list < \"$out\") || {{ echo 'format check `pg_restore --list` (in a throw-away container) rejected the dump' >&2; exit 4; }}; verifier=; docker rm -f {q_verifier} > /dev/null 2>&1 & remover=$!; toc=$(printf '%s\n' \"$list\" | grep -c -v -e '^;' -e '^$' || :); dumped=$(printf '%s\n' \"$list\" | sed -n -e 's/^;[[:space:]]*Dumped from database version: */server /p' -e 's/^;[[:space:]]*Dumped by pg_dump version: */pg_dump /p' | tr '\n' ' ')",
                a.timeout.as_secs().max(1),
            ));
        }
        _ => {}
    }
    // Hashed once, right after it is written (from the page cache), with
    // openssl where the host has it: it uses the CPU's SHA instructions and
    // is several times faster than coreutils. (Hashing through a FIFO while
    // writing measured slower here: the extra pipe copies cost more than
    // the cached read.)
    s.commands.push(
        "sha=$(if command -v openssl > /dev/null 2>&1; then openssl dgst -sha256 -r < \"$out\"; else sha256sum < \"$out\"; fi); sha=${sha%% *}; size=$(stat -c %s -- \"$out\"); [ ${#sha} -eq 64 ] || { echo 'cannot hash the output' >&2; exit 1; }".into()
    );
    if let Some(old) = quarantine {
        s.commands.push(quarantine_old(plan, a, old)?);
    }
    s.commands.push(format!(
        "lines=null; [ \"$size\" -gt 67108864 ] || lines=$(wc -l < \"$out\"); {}; printf {} \"$sha\" \"$size\" \"$toc\" \"$(stat -c %i -- \"$out\")\" \"$lines\" \"${{dumped% }}\" > \"$man\" || cutter_fail \"cannot write the manifest in $cutter_dir\"; cutter_room \"$man\"",
        host::temp("man", "man"),
        quote(&manifest_fmt),
    ));
    // Bookkeeping first, names last: the new SHA256SUMS is written before
    // the file, its stderr and its manifest take their names, so a full
    // disk or a failed write leaves nothing that looks complete.
    let sums_leaf = Leaf::new("SHA256SUMS")?;
    let mut names = vec![&leaf, &manifest_leaf, &sums_leaf];
    names.extend(stderr_leaf.as_ref());
    s.commands.push(host::dest(&names));
    s.commands.push(host::LOCK.into());
    s.commands.push(host::sums(name, Some("\"$sha\"")));
    s.commands.push(host::put("out", &leaf));
    match &stderr_leaf {
        Some(l) => s.commands.push(host::put("err", l)),
        None => s.commands.push("rm -f -- \"$err\"; err=".into()),
    }
    s.commands.push(host::put("man", &manifest_leaf));
    s.commands.push(host::SUMS_PUT.into());
    s.commands.push(host::UNLOCK.into());
    // Metadata after the rename: later observations trust `$sha` while it
    // is unchanged, instead of reading the file again.
    s.commands.push(crate::observe::record_verified(&leaf));
    if archive {
        // The check container's removal ran meanwhile; the step ends after it.
        s.commands.push("wait \"$remover\" || :".into());
    }
    s.bookkeeping.push(printf(&[
        (Key::Path, &quote(&path)),
        (Key::Sha256, "\"$sha\""),
        (Key::Size, "\"$size\""),
        (Key::TocEntries, "\"$toc\""),
        (Key::Lines, "\"$lines\""),
        (Key::Versions, "\"${dumped% }\""),
    ]));
    Ok(s)
}

/// Move a file being replaced aside, in its own folder and under its own
/// lock, with its manifest, evidence and verification record: its line
/// leaves `SHA256SUMS` with it, so `sha256sum -c` passes again. Runs in a
/// subshell, which gives its lock back however it ends.
fn quarantine_old(plan: &Plan, a: &Artefact, old: &str) -> Result<String, String> {
    let (old_dir, old_name) = split_path(old);
    let old_leaf = Leaf::new(old_name)?;
    let q_old = old_leaf.word();
    let q_old_rec = Leaf::new(&format!(".{old_name}.cutter-verified"))?.word();
    Ok(format!(
        "( cutter_temps=; trap '{}; {}' EXIT; {}; {}; q=$(date -u +%Y%m%dT%H%M%SZ); for f in {q_old} {q_old}.*.json {q_old_rec}; do [ -e \"$f\" ] || [ -L \"$f\" ] || continue; cutter_mine \"$f\"; cutter_put \"$f\" \"./.cutter-quarantine.$q.${{f#./}}\"; done; {}; {}; {}; printf '{}%s/.cutter-quarantine.%s.%s\\n' \"$cutter_dir\" \"$q\" {} )",
        host::UNLOCK,
        host::DROP_TEMPS,
        host::enter(old_dir, plan.hosts[&a.host].protected.real_paths()),
        host::LOCK,
        host::sums(old_name, None),
        host::SUMS_PUT,
        host::UNLOCK,
        Key::Quarantined.prefix(),
        quote(old_name),
    ))
}

/// Write evidence JSON (given on stdin) beside an artefact.
pub fn write_evidence(
    plan: &Plan,
    host: &str,
    artefact_path: &str,
    c: &Container,
) -> Result<Script, String> {
    let (dir, name) = split_path(artefact_path);
    let target = Leaf::new(&format!("{name}.{}", c.evidence_name()))?;
    let mut s = Script::default();
    s.setup.push(format!(
        "trap '{}' EXIT; trap 'exit 130' INT TERM HUP",
        host::DROP_TEMPS
    ));
    s.commands
        .push(host::enter(dir, plan.hosts[host].protected.real_paths()));
    s.commands.push(host::write_stdin(&target));
    Ok(s)
}

/// Retention: delete older files cutter made, each with its manifest,
/// evidence and verification record, in its own folder under the protected
/// paths check and the folder's SHA256SUMS lock, dropping their lines so the
/// folder stays verifiable.
pub fn prune(plan: &Plan, a: &Artefact, files: &[String]) -> Result<Script, String> {
    let mut s = Script::default();
    for f in files {
        let (dir, name) = split_path(f);
        let q = Leaf::new(name)?.word();
        let rec = Leaf::new(&format!(".{name}.cutter-verified"))?.word();
        s.commands.push(format!(
            "( cutter_temps=; trap '{}; {}' EXIT; {}; {}; [ -f {q}.cutter.json ] || {{ echo {} >&2; exit 7; }}; for f in {q} {q}.*.json {rec}; do [ -e \"$f\" ] || [ -L \"$f\" ] || continue; cutter_mine \"$f\"; done; rm -f -- {q} {q}.*.json {rec}; {}; {}; {} )",
            host::UNLOCK,
            host::DROP_TEMPS,
            host::enter(dir, plan.hosts[&a.host].protected.real_paths()),
            host::LOCK,
            quote(&format!("`{f}` has no cutter manifest any more: not deleting it")),
            host::sums(name, None),
            host::SUMS_PUT,
            host::UNLOCK,
        ));
    }
    Ok(s)
}
