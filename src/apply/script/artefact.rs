//! The artefact step: produce, check, hash, record, publish; retention.

use super::host::*;
use super::*;

/// Run by an artefact step's cleanup, in its folder, with `$rc` its exit
/// status: on failure, the last lines of the command's stderr (`{q_err}`);
/// on a full disk, where even that message could not be written, what `df`
/// says. Exit 3 and 4 are the size and format checks, which print their own
/// reason last.
pub(super) const STDERR_ON_FAILURE: &str = "case $rc in 0|3|4) ;; *) if [ -s {q_err} ]; then tail -n 8 -- {q_err} >&2 || :; fi; \
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

/// Produce an artefact atomically in its folder: temporary name, checks,
/// checksum, manifest, rename, then its line in `SHA256SUMS`. A file being
/// replaced (corrupted, stale) is first moved aside to a quarantine name
/// outside `SHA256SUMS`, with its evidence, so the folder stays verifiable.
pub fn artefact(
    plan: &Plan,
    a: &Artefact,
    exec: &Exec,
    now: DateTime<Utc>,
    nonce: &str,
    quarantine: Option<&str>,
) -> Script {
    let path = a.path.render(now);
    let (dir, name) = split_path(&path);
    let tmp = format!(".{name}.cutter-tmp");
    let err_tmp = format!(".{name}.cutter-stderr");
    let (q_tmp, q_err, q_name) = (here(&tmp), here(&err_tmp), here(name));
    let q_verifier = quote(&format!("{VERIFY_PREFIX}{nonce}"));
    let q_verr = here(&format!(".{name}.cutter-verifier-err"));
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

    let mut s = Script {
        progress_file: Some(format!("{dir}/{tmp}")),
        ..Script::default()
    };
    // On failure, the command's own stderr (pg_dump's error, docker's
    // refusal) is the cause: show its last lines before the file goes.
    s.setup.push(ENTER_FN.into());
    s.setup.push(format!(
        "locked=; entered=; verifier=; cleanup() {{ rc=$?; if [ -n \"$verifier\" ]; then wait \"$verifier\" 2>/dev/null || :; docker rm -f {q_verifier} > /dev/null 2>&1 || :; fi; if [ -n \"$entered\" ]; then {}rm -f -- {q_tmp} {q_err} {q_verr} {} {} {}; if [ -n \"$locked\" ]; then rm -f ./.SHA256SUMS.cutter-lock/pid; rmdir -- ./.SHA256SUMS.cutter-lock 2>/dev/null || :; fi; fi; }}; trap cleanup EXIT; trap 'exit 130' INT TERM HUP",
        STDERR_ON_FAILURE.replace("{q_err}", &q_err),
        here(&format!(".SHA256SUMS.{name}.cutter-tmp")),
        here(&format!(".{name}.cutter.json.cutter-tmp")),
        here(&format!(".{name}.cutter-verified.tmp")),
    ));
    if let Some(l) = exec.lookup() {
        s.commands.push(l);
    }
    s.commands.push(enter(dir, &plan.hosts[&a.host].protected));
    s.commands.push("entered=1".into());
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
            "docker run -d --rm --network none --read-only --name {q_verifier} --label {} --label cutter.role=verify --entrypoint sleep {image} {} > /dev/null 2> {q_verr} & verifier=$!",
            quote(&format!("{MANAGED_LABEL}=true")),
            a.timeout.as_secs().max(1),
        ));
    }
    s.commands.push(format!("{make} > {q_tmp} 2> {q_err}"));
    if let Some(min) = a.min_size {
        s.commands.push(format!(
            "size=$(stat -c %s -- {q_tmp}); [ \"$size\" -ge {min} ] || {{ echo \"output is $size bytes, below min_size {min}\" >&2; exit 3; }}"
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
                "{run} < {q_tmp} > /dev/null || {{ echo {} >&2; exit 4; }}",
                quote(&format!("format check `{verify}` rejected the output"))
            ));
        }
        (Producer::PgDump(d), _) if d.format.is_archive() => {
            s.commands.push(format!(
                "v=$verifier; verifier=; wait \"$v\" || {{ echo 'cannot start the throw-away container for the format check:' >&2; cat {q_verr} >&2; docker rm -f {q_verifier} > /dev/null 2>&1; exit 4; }}; verifier=$v; rm -f -- {q_verr}"
            ));
            s.commands.push(format!(
                "list=$(docker exec -i {q_verifier} timeout -k 10 {} pg_restore --list < {q_tmp}) || {{ echo 'format check `pg_restore --list` (in a throw-away container) rejected the dump' >&2; exit 4; }}; verifier=; docker rm -f {q_verifier} > /dev/null 2>&1 & remover=$!; toc=$(printf '%s\n' \"$list\" | grep -c -v -e '^;' -e '^$' || :); dumped=$(printf '%s\n' \"$list\" | sed -n -e 's/^;[[:space:]]*Dumped from database version: */server /p' -e 's/^;[[:space:]]*Dumped by pg_dump version: */pg_dump /p' | tr '\n' ' ')",
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
    s.commands.push(format!(
        "sha=$(if command -v openssl > /dev/null 2>&1; then openssl dgst -sha256 -r < {q_tmp}; else sha256sum < {q_tmp}; fi); sha=${{sha%% *}}; size=$(stat -c %s -- {q_tmp}); [ ${{#sha}} -eq 64 ] || {{ echo 'cannot hash the output' >&2; exit 1; }}"
    ));
    if let Some(old) = quarantine {
        // Moved aside in its own folder, under its own lock: its line leaves
        // SHA256SUMS with it, so `sha256sum -c` passes again.
        let (old_dir, old_name) = split_path(old);
        let q_old = here(old_name);
        let q_old_rec = here(&format!(".{old_name}.cutter-verified"));
        s.commands.push(format!(
            "( {}; {}; q=$(date -u +%Y%m%dT%H%M%SZ); for f in {q_old} {q_old}.*.json {q_old_rec}; do [ ! -e \"$f\" ] || mv -f -- \"$f\" \"./.cutter-quarantine.$q.${{f#./}}\"; done; {}; {}; printf '{}%s/.cutter-quarantine.%s.%s\\n' \"$cutter_dir\" \"$q\" {} )",
            enter(old_dir, &plan.hosts[&a.host].protected),
            sums_lock(),
            sums_rewrite(old_name, false),
            sums_unlock(),
            Key::Quarantined.prefix(),
            quote(old_name),
        ));
    }
    let json_tmp = here(&format!(".{name}.cutter.json.cutter-tmp"));
    s.commands.push(format!(
        "lines=null; [ \"$size\" -gt 67108864 ] || lines=$(wc -l < {q_tmp}); printf {} \"$sha\" \"$size\" \"$toc\" \"$(stat -c %i -- {q_tmp})\" \"$lines\" \"${{dumped% }}\" > {json_tmp} && mv -f -- {json_tmp} {}",
        quote(&manifest_fmt),
        here(&format!("{name}.cutter.json"))
    ));
    s.commands.push(format!("mv -f -- {q_tmp} {q_name}"));
    // Metadata after the rename: later observations trust `$sha` while it
    // is unchanged, instead of reading the file again.
    s.commands.push(crate::observe::record_verified(name));
    if archive {
        // The check container's removal ran meanwhile; the step ends after it.
        s.commands.push("wait \"$remover\" || :".into());
    }
    match &a.stderr {
        Some(f) => s.commands.push(format!("mv -f -- {q_err} {}", here(f))),
        None => s.commands.push(format!("rm -f -- {q_err}")),
    }
    s.bookkeeping.push(sums_lock());
    s.bookkeeping.push(sums_rewrite(name, true));
    s.bookkeeping.push(sums_unlock());
    s.bookkeeping.push(printf(&[
        (Key::Path, &quote(&path)),
        (Key::Sha256, "\"$sha\""),
        (Key::Size, "\"$size\""),
        (Key::TocEntries, "\"$toc\""),
        (Key::Lines, "\"$lines\""),
        (Key::Versions, "\"${dumped% }\""),
    ]));
    s
}

/// Write evidence JSON (given on stdin) beside an artefact.
pub fn write_evidence(plan: &Plan, host: &str, artefact_path: &str, c: &Container) -> Script {
    let (dir, name) = split_path(artefact_path);
    let target = format!("{name}.{}", c.evidence_name());
    let mut s = Script::default();
    s.setup.push(ENTER_FN.into());
    s.commands.push(enter(dir, &plan.hosts[host].protected));
    s.commands.push(format!(
        "cat > {} && mv -f -- {} {}",
        here(&format!(".{target}.cutter-tmp")),
        here(&format!(".{target}.cutter-tmp")),
        here(&target)
    ));
    s
}

/// Retention: delete older files cutter made, each with its manifest,
/// evidence and verification record, in its own folder under the protected
/// paths check and the folder's SHA256SUMS lock, dropping their lines so the
/// folder stays verifiable.
pub fn prune(plan: &Plan, a: &Artefact, files: &[String]) -> Script {
    let mut s = Script::default();
    s.setup.push(ENTER_FN.into());
    for f in files {
        let (dir, name) = split_path(f);
        let q = here(name);
        s.commands.push(format!(
            "( {}; {}; [ -f {q}.cutter.json ] || {{ echo {} >&2; exit 7; }}; rm -f -- {q} {q}.*.json {}; {}; {} )",
            enter(dir, &plan.hosts[&a.host].protected),
            sums_lock(),
            quote(&format!("`{f}` has no cutter manifest any more: not deleting it")),
            here(&format!(".{name}.cutter-verified")),
            sums_rewrite(name, false),
            sums_unlock(),
        ));
    }
    s
}
