//! The example CI workflow (`examples/ci/plan-review.yml`), run the way
//! GitHub runs its steps but without GitHub: each `run:` script is taken
//! from the file and run with `bash --noprofile --norc -eo pipefail` (the
//! runner's `shell: bash`), with the step's and the workflow's `env:`, the
//! runner's files (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `RUNNER_TEMP`),
//! the built `cutter` first on `PATH`, and local plans (`local = true`).
//! Only the GitHub CLI is replaced, by a script that serves canned comments
//! and records what it was asked to do. `scripts/lint-workflow` checks the
//! same file against GitHub's workflow schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::test::cutter_bin;

const WORKFLOW: &str = include_str!("../examples/ci/plan-review.yml");
const MARKER: &str = "<!-- cutter:plan-review -->";

fn workflow() -> Yaml {
    YamlLoader::load_from_str(WORKFLOW)
        .expect("the workflow is YAML")
        .remove(0)
}

/// What `${{ ... }}` stands for in these runs: repository settings, secrets
/// and the event. An expression not listed here fails the test, so a new
/// one has to be thought about.
fn expression(expr: &str, ctx: &HashMap<&str, String>) -> String {
    let key = expr
        .trim()
        .strip_prefix("${{")
        .and_then(|e| e.strip_suffix("}}"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("not an expression: {expr}"));
    ctx.get(key)
        .cloned()
        .unwrap_or_else(|| panic!("the test gives no value for `{key}`"))
}

/// A step's script and environment (workflow `env:` then the step's).
struct Step {
    script: String,
    env: Vec<(String, String)>,
}

fn step(job: &str, id: &str, ctx: &HashMap<&str, String>) -> Step {
    let wf = workflow();
    let steps = wf["jobs"][job]["steps"]
        .as_vec()
        .unwrap_or_else(|| panic!("no job `{job}`"));
    let s = steps
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no step `{id}` in job `{job}`"));
    let mut env = Vec::new();
    for scope in [&wf["env"], &s["env"]] {
        if let Some(h) = scope.as_hash() {
            for (k, v) in h {
                let value = match v {
                    Yaml::String(v) if v.contains("${{") => expression(v, ctx),
                    Yaml::String(v) => v.clone(),
                    other => panic!("env value {other:?} is not a string"),
                };
                env.push((k.as_str().unwrap().to_string(), value));
            }
        }
    }
    Step {
        script: s["run"]
            .as_str()
            .unwrap_or_else(|| panic!("step `{id}` has no run"))
            .to_string(),
        env,
    }
}

/// A repository of plans with a runner's folders around it.
struct Repo {
    dir: tempfile::TempDir,
    ctx: HashMap<&'static str, String>,
}

struct Ran {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        for d in ["ws/plans", "temp", "bin", "home"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let fake_gh = dir.path().join("bin/gh");
        std::fs::write(&fake_gh, FAKE_GH).unwrap();
        make_executable(&fake_gh);
        let out = dir.path().join("ws/out").display().to_string();
        let mut ctx = HashMap::new();
        ctx.insert("vars.CUTTER_VARS", format!("out = \"{out}\"\n"));
        for k in [
            "vars.CUTTER_SSH_HOST",
            "vars.CUTTER_BACKUP_ROOT",
            "vars.CUTTER_PG_IMAGE",
            "vars.CUTTER_GIT_URL",
            "vars.CUTTER_GIT_REV",
            "secrets.CUTTER_SSH_KEY",
            "secrets.CUTTER_KNOWN_HOSTS",
            "secrets.CUTTER_SSH_CONFIG",
            "secrets.CUTTER_SECRET_ENV",
        ] {
            ctx.insert(k, String::new());
        }
        ctx.insert(
            "github.event.pull_request.head.sha",
            "0123456789abcdef".repeat(2) + "01234567",
        );
        ctx.insert("github.event.pull_request.number", "7".into());
        ctx.insert("github.token", "not-a-token".into());
        ctx.insert(
            "github.workflow_ref",
            "ops/plans/.github/workflows/cutter.yml@refs/pull/7/merge".into(),
        );
        let repo = Repo { dir, ctx };
        repo.write_plan("a-backup", "a");
        repo.write_plan("c-notes", "c");
        repo
    }

    fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    /// A local plan writing `<out>/<file>.txt`; `out` comes from `CUTTER_VARS`.
    fn write_plan(&self, name: &str, file: &str) {
        std::fs::write(
            self.ws().join(format!("plans/{name}.toml")),
            format!(
                "[vars]\nout = \"/nonexistent/not-set-by-ci\"\n\n[hosts.here]\nlocal = true\n\n\
                 [artefacts.{file}]\npath = \"{{{{ var.out }}}}/{file}.txt\"\ncommand = \"echo {file}\"\n"
            ),
        )
        .unwrap();
    }

    fn read(&self, path: &str) -> String {
        let p = self.ws().join(path);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn runner_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("temp").join(name)).unwrap_or_default()
    }

    /// Run step `id` of `job` as the runner would, in the workspace.
    fn run(&self, job: &str, id: &str) -> Ran {
        let step = step(job, id, &self.ctx);
        let script = self.dir.path().join("temp/step.sh");
        std::fs::write(&script, &step.script).unwrap();
        let temp = self.dir.path().join("temp");
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            self.dir.path().join("bin").display(),
            cutter_bin().parent().unwrap().display()
        );
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(self.ws())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_OUTPUT", temp.join("output"))
            .env("GITHUB_STEP_SUMMARY", temp.join("summary"))
            .env("GITHUB_REPOSITORY", "ops/plans")
            .env("FAKE_GH_DIR", &temp)
            .stdin(std::process::Stdio::null());
        for (k, v) in &step.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Ran {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn expect(&self, job: &str, id: &str, status: i32) -> Ran {
        let r = self.run(job, id);
        assert_eq!(
            r.status, status,
            "step `{id}` of `{job}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            r.status, r.stdout, r.stderr
        );
        r
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The GitHub CLI's part, recording every call in `gh.log`:
/// - `gh api` lists the pull request's comments from
///   `$FAKE_GH_DIR/comments.json` (one JSON array per page) and keeps what
///   it is given on standard input in `gh.input`;
/// - `gh run list ... --jq EXPR` applies EXPR with the real jq to
///   `$FAKE_GH_DIR/runs.json`;
/// - `gh run download RUN --name NAME --dir DIR` copies
///   `$FAKE_GH_DIR/artifacts/RUN/NAME/*` into DIR.
const FAKE_GH: &str = r#"#!/bin/sh
log="$FAKE_GH_DIR/gh.log"
printf 'gh %s\n' "$*" >> "$log"
case "$*" in
  *"--input -"*) cat > "$FAKE_GH_DIR/gh.input" ;;
  "api --paginate "*) cat "$FAKE_GH_DIR/comments.json" ;;
  "run list "*)
    expr=.
    while [ $# -gt 0 ]; do
      if [ "$1" = --jq ]; then expr=$2; fi
      shift
    done
    jq -r "$expr" "$FAKE_GH_DIR/runs.json"
    ;;
  "run download "*)
    run=$3; name=; dir=.
    while [ $# -gt 0 ]; do
      case "$1" in --name) name=$2 ;; --dir) dir=$2 ;; esac
      shift
    done
    src="$FAKE_GH_DIR/artifacts/$run/$name"
    [ -d "$src" ] || { echo "no artifact $name in run $run" >&2; exit 1; }
    mkdir -p "$dir" && cp "$src"/* "$dir"/
    ;;
  *) echo "fake gh: unexpected call: $*" >&2; exit 1 ;;
esac
"#;

#[test]
fn plan_review_runs_every_plan_and_comments_with_the_marker() {
    let repo = Repo::new();
    std::fs::write(
        repo.ws().join("plans/b-broken.toml"),
        "[hosts.here]\nlocal = true\n[artefacts.b]\npath = \"/tmp/b.txt\"\ncomand = \"echo b\"\n",
    )
    .unwrap();

    // validate: every plan, then fail for the broken one
    let v = repo.expect("validate", "validate", 1);
    assert!(
        v.stdout.contains("validated 3 plan(s), 1 invalid"),
        "{}",
        v.stdout
    );
    assert!(v.stderr.contains("unknown key"), "{}", v.stderr);

    // plan: the broken plan in the middle does not stop the third
    let p = repo.expect("plan", "plan", 1);
    let comment = repo.read("cutter-out/comment.md");
    assert!(comment.starts_with(&format!("{MARKER}\n")), "{comment}");
    for row in [
        "| `plans/a-backup.toml` | changes |",
        "| `plans/b-broken.toml` | error (exit 1) |",
        "| `plans/c-notes.toml` | changes |",
    ] {
        assert!(comment.contains(row), "{row} in\n{comment}");
    }
    assert!(comment.contains("3 plan(s): 2 with changes, 1 with errors."));
    // cutter's markdown plans, with the variable from the repository settings
    let out = repo.ws().join("out").display().to_string();
    assert!(
        comment.contains("### cutter plan: `a-backup.toml`"),
        "{comment}"
    );
    assert!(
        comment.contains(&format!("- **writes** `{out}/c.txt`")),
        "{comment}"
    );
    // and the broken plan's diagnostic
    assert!(comment.contains("unknown key"), "{comment}");
    assert!(
        p.stdout
            .contains("::error file=plans/b-broken.toml::cutter plan exited 1")
    );
    let output = repo.runner_file("output");
    assert!(
        output.contains("total=3\nchanges=2\nerrors=1\n"),
        "{output}"
    );
    assert!(repo.runner_file("summary").starts_with(MARKER));
    assert!(repo.ws().join("cutter-out/saved/a-backup.json").is_file());
    assert!(!repo.ws().join("cutter-out/saved/b-broken.json").exists());
}

#[test]
fn the_comment_step_updates_its_own_comment_found_by_the_marker() {
    let repo = Repo::new();
    repo.expect("plan", "plan", 0);
    let body = repo.read("cutter-out/comment.md");
    let temp = repo.dir.path().join("temp");
    // Two pages: someone quoting the marker, cutter's own comment, another bot comment.
    std::fs::write(
        temp.join("comments.json"),
        format!(
            "[{{\"id\": 1, \"user\": {{\"login\": \"someone\"}}, \"body\": \"{MARKER} quoted\"}}]\n\
             [{{\"id\": 42, \"user\": {{\"login\": \"github-actions[bot]\"}}, \"body\": \"{MARKER}\\nold plan\"}},\
              {{\"id\": 43, \"user\": {{\"login\": \"github-actions[bot]\"}}, \"body\": \"unrelated\"}},\
              {{\"id\": 44, \"user\": {{\"login\": \"github-actions[bot]\"}}, \"body\": null}}]\n"
        ),
    )
    .unwrap();
    let r = repo.expect("plan", "comment", 0);
    assert!(r.stdout.contains("updated comment 42"), "{}", r.stdout);
    let log = std::fs::read_to_string(temp.join("gh.log")).unwrap();
    assert!(
        log.contains("gh api -X PATCH repos/ops/plans/issues/comments/42 --input -"),
        "{log}"
    );
    let sent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(temp.join("gh.input")).unwrap()).unwrap();
    assert_eq!(sent["body"].as_str(), Some(body.as_str()));

    // No comment of its own yet: a new one.
    std::fs::write(
        temp.join("comments.json"),
        format!(
            "[{{\"id\": 1, \"user\": {{\"login\": \"someone\"}}, \"body\": \"{MARKER}\"}}]\n[]\n"
        ),
    )
    .unwrap();
    let r = repo.expect("plan", "comment", 0);
    assert!(r.stdout.contains("posted a new comment"), "{}", r.stdout);
    let log = std::fs::read_to_string(temp.join("gh.log")).unwrap();
    assert!(
        log.contains("gh api -X POST repos/ops/plans/issues/7/comments --input -"),
        "{log}"
    );
}

/// The reviewed saved plans are applied on merge, each one whatever the
/// others did, and a stale one is refused.
#[test]
fn apply_on_merge_applies_every_reviewed_plan_and_collects_failures() {
    let mut repo = Repo::new();
    repo.expect("plan", "plan", 0);
    // the first plan changes after review: its saved plan is stale
    repo.write_plan("a-backup", "a2");
    repo.ctx.insert(
        "secrets.CUTTER_SECRET_ENV",
        "RESTORE_PW=s3cret\n# a comment\n".into(),
    );
    let r = repo.expect("apply", "apply", 1);
    assert!(
        r.stdout.contains("::add-mask::s3cret"),
        "the secret is masked: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("applied 2 saved plan(s), 1 failed"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("is stale"), "{}", r.stderr);
    assert!(!repo.ws().join("out/a.txt").exists() && !repo.ws().join("out/a2.txt").exists());
    assert_eq!(repo.read("out/c.txt"), "c\n", "the second plan was applied");
    let summary = repo.runner_file("summary");
    assert!(
        summary.contains("| `cutter-out/saved/a-backup.json` | failed (exit 1) |"),
        "{summary}"
    );
    assert!(
        summary.contains("| `cutter-out/saved/c-notes.json` | applied |"),
        "{summary}"
    );
    assert!(
        std::fs::read_dir(repo.ws().join("cutter-reports"))
            .unwrap()
            .count()
            >= 2
    );

    repo.ctx
        .insert("secrets.CUTTER_SECRET_ENV", "not a setting\n".into());
    let r = repo.expect("apply", "apply", 1);
    assert!(
        r.stdout.contains("expected NAME=value lines"),
        "{}",
        r.stdout
    );
}

/// On merge, the saved plans of the pull request's last successful review
/// are fetched from that run, then applied.
#[test]
fn apply_on_merge_fetches_the_reviewed_plans_of_the_last_successful_run() {
    let repo = Repo::new();
    repo.expect("plan", "plan", 0);
    let temp = repo.dir.path().join("temp");
    let artifact = temp.join("artifacts/4242/cutter-saved-plans");
    std::fs::create_dir_all(&artifact).unwrap();
    for f in std::fs::read_dir(repo.ws().join("cutter-out/saved")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, artifact.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::remove_dir_all(repo.ws().join("cutter-out")).unwrap();

    // no successful review of this commit: nothing is applied
    std::fs::write(temp.join("runs.json"), "[]").unwrap();
    let r = repo.expect("apply", "fetch", 1);
    assert!(
        r.stdout.contains("no successful review of 0123456789ab"),
        "{}",
        r.stdout
    );

    std::fs::write(temp.join("runs.json"), "[{\"databaseId\": 4242}]").unwrap();
    let r = repo.expect("apply", "fetch", 0);
    assert!(
        r.stdout.contains("saved plans of run 4242:"),
        "{}",
        r.stdout
    );
    let log = std::fs::read_to_string(temp.join("gh.log")).unwrap();
    let head = repo.ctx["github.event.pull_request.head.sha"].clone();
    assert!(
        log.contains(&format!(
            "gh run list --repo ops/plans --workflow cutter.yml --commit {head} --event pull_request --status success"
        )),
        "{log}"
    );
    assert!(
        log.contains(
            "gh run download 4242 --repo ops/plans --name cutter-saved-plans --dir cutter-out/saved"
        ),
        "{log}"
    );
    repo.expect("apply", "apply", 0);
    assert_eq!(repo.read("out/a.txt"), "a\n");
    assert_eq!(repo.read("out/c.txt"), "c\n");
}

#[test]
fn drift_checks_every_plan_and_fails_on_drift_or_error() {
    let repo = Repo::new();
    repo.expect("plan", "plan", 0);
    std::fs::remove_dir_all(repo.ws().join("cutter-out")).unwrap();
    // apply both directly, as an operator would
    for p in ["a-backup", "c-notes"] {
        let out = Command::new(cutter_bin())
            .current_dir(repo.ws())
            .env("HOME", repo.dir.path().join("home"))
            .args(["apply", "--yes", &format!("plans/{p}.toml"), "--var-file"])
            .arg(repo.dir.path().join("temp/cutter-vars.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = repo.expect("drift", "drift", 0);
    assert!(
        r.stdout.contains("checked 2 plan(s): 0 drifted, 0 errors"),
        "{}",
        r.stdout
    );

    // the first plan drifts: the second is still checked, and the step exits 2
    std::fs::remove_file(repo.ws().join("out/a.txt")).unwrap();
    std::fs::write(repo.dir.path().join("temp/summary"), "").unwrap();
    let r = repo.expect("drift", "drift", 2);
    let summary = repo.runner_file("summary");
    assert!(
        summary.contains("- `plans/a-backup.toml`: **drift**"),
        "{summary}"
    );
    assert!(summary.contains("missing: nothing matches"), "{summary}");
    assert!(
        summary.contains("- `plans/c-notes.toml`: in sync"),
        "{summary}"
    );
    assert!(r.stdout.contains("checked 2 plan(s): 1 drifted, 0 errors"));

    // an error outranks drift
    std::fs::write(repo.ws().join("plans/b-broken.toml"), "[hosts\n").unwrap();
    let r = repo.expect("drift", "drift", 1);
    assert!(
        r.stdout.contains("checked 3 plan(s): 1 drifted, 1 errors"),
        "{}",
        r.stdout
    );
}

#[test]
fn ssh_and_install_steps_need_their_settings() {
    let mut repo = Repo::new();
    for job in ["plan", "apply", "drift"] {
        let r = repo.expect(job, "ssh", 1);
        assert!(
            r.stdout.contains("CUTTER_SSH_KEY is not set"),
            "{}",
            r.stdout
        );
    }
    for job in ["validate", "plan", "apply", "drift"] {
        let r = repo.expect(job, "install", 1);
        assert!(
            r.stdout.contains("CUTTER_GIT_URL and CUTTER_GIT_REV"),
            "{}",
            r.stdout
        );
    }
    repo.ctx.insert(
        "secrets.CUTTER_SSH_KEY",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----".into(),
    );
    repo.ctx.insert(
        "secrets.CUTTER_KNOWN_HOSTS",
        "vps.example ssh-ed25519 AAAA".into(),
    );
    repo.ctx.insert(
        "secrets.CUTTER_SSH_CONFIG",
        "Host prod-vps\n  HostName vps.example\n  User ops".into(),
    );
    for job in ["plan", "apply", "drift"] {
        repo.expect(job, "ssh", 0);
        let ssh = repo.dir.path().join("home/.ssh");
        let mode = |f: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(ssh.join(f)).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode("cutter_key"), 0o600);
        assert_eq!(mode("known_hosts"), 0o600);
        let config = std::fs::read_to_string(ssh.join("config")).unwrap();
        assert!(
            config.starts_with("Host prod-vps\n  HostName vps.example\n"),
            "{config}"
        );
        assert!(config.contains("StrictHostKeyChecking yes"), "{config}");
        assert!(
            config.contains("IdentityFile ~/.ssh/cutter_key"),
            "{config}"
        );
        std::fs::remove_dir_all(&ssh).unwrap();
    }
}

/// What GitHub cannot show until it runs: how the file is put together.
#[test]
fn the_workflow_is_pinned_least_privileged_and_injection_free() {
    let wf = workflow();
    let uses = regex::Regex::new(r"^\s*(- )?uses: ([^\s@]+)@(\S+)(.*)$").unwrap();
    let mut pinned = 0;
    for line in WORKFLOW.lines() {
        if let Some(c) = uses.captures(line) {
            let (action, rev, comment) = (&c[2], &c[3], &c[4]);
            assert!(
                rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
                "`{action}` is not pinned to a full commit SHA: {line}"
            );
            assert!(
                comment.contains("# v"),
                "say which version `{action}@{rev}` is: {line}"
            );
            pinned += 1;
        }
    }
    assert!(pinned >= 4, "{pinned} actions");
    // no permission unless asked for, and every job asks
    assert!(wf["permissions"].as_hash().is_some_and(|h| h.is_empty()));
    let jobs = wf["jobs"].as_hash().unwrap();
    for (name, job) in jobs {
        let name = name.as_str().unwrap();
        assert!(
            job["permissions"].as_hash().is_some(),
            "job `{name}` has no permissions"
        );
        let writes: Vec<&str> = job["permissions"]
            .as_hash()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.as_str() == Some("write"))
            .map(|(k, _)| k.as_str().unwrap())
            .collect();
        let allowed: &[&str] = if name == "plan" {
            &["pull-requests"]
        } else {
            &[]
        };
        assert_eq!(writes, allowed, "job `{name}` writes");
        for s in job["steps"].as_vec().unwrap() {
            if let Some(run) = s["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "job `{name}`: pass values through `env:`, not `${{{{ }}}}` in a script:\n{run}"
                );
            }
        }
    }
    for job in ["plan", "apply", "drift"] {
        assert!(
            wf["jobs"][job]["concurrency"]["group"].as_str().is_some(),
            "job `{job}` has no concurrency group"
        );
    }
    assert_eq!(
        wf["jobs"]["apply"]["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false),
        "an apply is never cancelled by the next"
    );
    assert!(!WORKFLOW.contains("--edit-last"));
    assert!(WORKFLOW.contains("--detailed-exitcode"));
}
