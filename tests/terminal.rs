//! Apply from a terminal: one apply at a time per host, and Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::local::{MORNING, Site};

/// A second apply is refused while the host's lock is held, naming the holder.
#[test]
fn a_second_apply_is_refused_by_the_host_lock() {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n[artefacts.one]\npath = \"{out}/one.txt\"\ncommand = \"echo one\"\n",
    );
    let lock = site.dir().join(".cutter/apply.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(
        lock.join("holder"),
        "ops@bastion pid 4242 plan hb08.toml since 2026-05-15T07:59:00Z\n",
    )
    .unwrap();
    let run = site.cutter(1, &["apply", "--yes", "plan.toml"]);
    assert!(
        run.stderr.contains("locked by another apply"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ops@bastion pid 4242"),
        "{}",
        run.stderr
    );
    assert!(!site.file("one.txt").exists(), "nothing applied");
    // The holder's lock is untouched; once released, apply goes ahead and releases its own.
    assert!(lock.join("holder").exists());
    std::fs::remove_dir_all(&lock).unwrap();
    site.cutter(0, &["apply", "--yes", "plan.toml"]);
    assert!(!lock.exists(), "apply released its lock");
}

/// `--lock-wait` waits for the holder to finish.
#[test]
fn lock_wait_waits_for_the_holder() {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n[artefacts.one]\npath = \"{out}/one.txt\"\ncommand = \"echo one\"\n",
    );
    let lock = site.dir().join(".cutter/apply.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("holder"), "someone\n").unwrap();
    let release = lock.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        std::fs::remove_dir_all(release).unwrap();
    });
    site.cutter(0, &["apply", "--yes", "--lock-wait", "20s", "plan.toml"]);
    t.join().unwrap();
    assert!(site.file("one.txt").exists());
}

/// Ctrl-C mid-apply: the running step finishes, nothing new starts, no
/// partial file is left, the lock is released, and plan shows the rest.
#[test]
fn an_interrupted_apply_leaves_nothing_partial_and_plan_shows_the_rest() {
    interrupt_with("INT");
}

/// SIGTERM (a cancelled CI job) is handled like Ctrl-C.
#[test]
fn a_terminated_apply_stops_like_ctrl_c() {
    interrupt_with("TERM");
}

/// SIGHUP (the terminal closed) is handled like Ctrl-C, not a sudden death.
#[test]
fn a_hung_up_apply_stops_like_ctrl_c() {
    interrupt_with("HUP");
}

/// Send `signal` to an apply once its slow step runs; check it stops cleanly.
fn interrupt_with(signal: &str) {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n\
         [artefacts.slow]\npath = \"{out}/slow.txt\"\ncommand = \"sleep 2; echo slow\"\n\
         [artefacts.later]\npath = \"{out}/later.txt\"\ncommand = \"echo later\"\nafter = [\"slow\"]\n",
    );
    let mut child = Command::new(crate::test::cutter_bin())
        .args(["apply", "--yes", "plan.toml"])
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .env("CUTTER_NOW", MORNING)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the slow step is running, as an operator would.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Creating artefact.slow") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    let stderr = seen;
    assert_eq!(status.code(), Some(1), "SIG{signal}: {stderr}");
    assert!(stderr.contains("interrupted"), "SIG{signal}: {stderr}");
    assert!(site.file("slow.txt").exists(), "the running step finished");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !site.file("later.txt").exists(),
        "no step started after the interrupt"
    );
    assert!(
        site.listing().iter().all(|f| !f.contains("cutter-tmp")),
        "no partial file: {:?}",
        site.listing()
    );
    assert!(
        !site.dir().join(".cutter/apply.lock").exists(),
        "lock released"
    );
    let plan = site.cutter(2, &["plan", "--detailed-exitcode", "plan.toml"]);
    assert!(plan.stdout.contains("artefact.later"), "{}", plan.stdout);
}

/// A host without `docker` gets a clear error naming the missing command.
#[test]
fn a_host_without_docker_is_reported() {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n\
         [containers.pgcopy]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n",
    );
    // A PATH with the shell and coreutils but no docker.
    let bin = site.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "stat", "sha256sum", "cat", "printf", "mkdir", "rm"] {
        if let Ok(path) = which(tool) {
            std::os::unix::fs::symlink(path, bin.join(tool)).unwrap();
        }
    }
    let out = Command::new(crate::test::cutter_bin())
        .args(["plan", "plan.toml"])
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .env("PATH", &bin)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot observe host `here`"), "{stderr}");
    assert!(
        stderr.contains("`docker` is not installed on the host"),
        "{stderr}"
    );
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(tool))
        .find(|p| p.exists())
        .ok_or(())
}

/// `--target NAME` applies one resource and what it depends on, nothing else.
#[test]
fn target_applies_one_resource_and_its_dependencies() {
    let site = Site::new(
        "[hosts.here]\nlocal = true\n\
         [artefacts.base]\npath = \"{out}/base.txt\"\ncommand = \"echo base\"\n\
         [artefacts.top]\npath = \"{out}/top.txt\"\ncommand = \"cat {out}/base.txt\"\nafter = [\"base\"]\n\
         [artefacts.other]\npath = \"{out}/other.txt\"\ncommand = \"echo other\"\n",
    );
    let plan = site.cutter(
        2,
        &[
            "plan",
            "--detailed-exitcode",
            "--target",
            "top",
            "plan.toml",
        ],
    );
    assert!(
        plan.stdout.contains("not part of target `top`") || plan.stdout.contains("artefact.other"),
        "{}",
        plan.stdout
    );
    site.cutter(0, &["apply", "--yes", "--target", "top", "plan.toml"]);
    assert!(site.file("base.txt").exists() && site.file("top.txt").exists());
    assert!(!site.file("other.txt").exists(), "outside the target");
    let unknown = site.cutter(1, &["apply", "--yes", "--target", "nope", "plan.toml"]);
    assert!(
        unknown.stderr.contains("unknown target `nope`"),
        "{}",
        unknown.stderr
    );
}

/// A second Ctrl-C exits at once, and the running step's processes end with
/// cutter (their lifeline closes), not when the step would have finished.
#[test]
fn a_second_interrupt_ends_the_running_steps_processes_too() {
    let marker = format!("6161{}", std::process::id());
    let site = Site::new(&format!(
        "[hosts.here]\nlocal = true\n\
         [artefacts.slow]\npath = \"{{out}}/slow.txt\"\ncommand = \"sleep {marker}\"\n"
    ));
    let mut child = Command::new(crate::test::cutter_bin())
        .args(["apply", "--yes", "plan.toml"])
        .current_dir(site.dir())
        .env("NO_COLOR", "1")
        .env("HOME", site.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("Creating artefact.slow") {
            break;
        }
    }
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&format!("sleep {marker}")))
                .unwrap_or(false)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..2 {
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    for _ in lines {}
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step's process outlived cutter's second interrupt by 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
