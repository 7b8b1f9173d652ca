//! Protected containers' data seen from the host: these create their own
//! containers and volumes (never touching production's) and remove them.

use std::process::Command;

use super::*;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Containers and volumes a test created, removed when it ends.
struct Made {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker").args(["volume", "rm", v]).output();
        }
    }
}

/// A stand-in for production: a container (sleeping, from the stack's
/// image) with the given mounts.
fn prod_like(name: &str, mounts: &[String]) {
    let image = crate::stack::stack()
        .get("CUTTER_TEST_PG_IMAGE")
        .to_string();
    let mut args = vec!["run", "-d", "--name", name];
    for m in mounts {
        args.push("-v");
        args.push(m);
    }
    args.extend(["--entrypoint", "sleep", &image, "3600"]);
    docker(&args);
}

/// A read-only query of the stack's production: makes the plan use Docker
/// on the host, so cutter observes Docker there.
fn docker_use(d: &str) -> String {
    format!(
        "\n[artefacts.q]\ncontainer = \"postgres\"\npath = \"{d}/q/one.txt\"\nquery = {{ database = \"directus\", user = \"directus\", sql = \"SELECT 1\" }}\n"
    )
}

/// A protected container whose data is a bind-mounted folder: a plan with
/// only host artefacts (no Docker resource) does not observe Docker, so
/// the mount source is not protected and cutter writes its artefact,
/// manifest, `SHA256SUMS` and report copy into production's data folder.
/// With a Docker resource in the plan, the same write is refused (the
/// regression half). Twin: the container unprotected, the write goes
/// through.
#[test]
fn stack_a_protected_bind_mount_is_protected_when_the_plan_uses_no_docker() {
    let lab = Lab::new();
    let name = format!("cutter-attack-bind-{}", std::process::id());
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![],
    };
    lab.put("data/keep", "production\n");
    prod_like(&name, &[format!("{}:/data", lab.path("data").display())]);
    let plan = |protected: &str, extra: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{protected}\"]\n\n[artefacts.a]\npath = \"{{d}}/data/x.txt\"\ncommand = \"echo attack\"\n{extra}"
        )
    };
    // Twin: unprotected, written.
    lab.plan("twin.toml", &plan("someone-else", ""));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("data/x.txt").unwrap(), "attack\n");
    lab.keep_only("data", &["keep"]);
    // With a Docker resource: refused, naming the mount.
    lab.plan("docker.toml", &plan(&name, &docker_use(&lab.d())));
    let r = lab.apply("docker.toml", &[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        says(&r, &format!("mounted by protected container `{name}`")),
        "{}",
        r.stderr
    );
    // Without: the same protection must hold.
    lab.plan("plan.toml", &plan(&name, ""));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.snapshot("data"),
        vec![("keep".into(), "production\n".into())],
        "{}",
        r.stdout
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
}

/// A protected container's volume backed by a host folder
/// (`--opt type=none --opt o=bind --opt device=DIR`): Docker reports the
/// mountpoint under its root, but the data lives in DIR, which nothing
/// protects; cutter writes into production's data there. Twin: the same
/// container unprotected.
#[test]
fn stack_the_folder_behind_a_protected_bind_backed_volume_is_protected() {
    let lab = Lab::new();
    let pid = std::process::id();
    let name = format!("cutter-attack-bindvol-{pid}");
    let volume = format!("cutter-attack-bindvol-{pid}");
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![volume.clone()],
    };
    lab.put("pgdata/PG_VERSION", "15\n");
    let device = format!("device={}", lab.path("pgdata").display());
    docker(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        &volume,
    ]);
    prod_like(&name, &[format!("{volume}:/var/lib/postgresql/data")]);
    let plan = |protected: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{protected}\"]\n\n[artefacts.a]\npath = \"{{d}}/pgdata/x.txt\"\ncommand = \"echo attack\"\n{}",
            docker_use(&lab.d())
        )
    };
    lab.plan("twin.toml", &plan("someone-else"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("pgdata/x.txt").unwrap(), "attack\n");
    lab.keep_only("pgdata", &["PG_VERSION"]);
    lab.plan("plan.toml", &plan(&name));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(lab.read("pgdata/x.txt"), None, "{}", r.stdout);
    assert_eq!(r.status, 1, "{}", r.stderr);
}

/// A protected container bind-mounts a single file (its configuration):
/// the file is observed as protected, but a `stderr` name beside an
/// artefact in its folder replaces it. Twin: the container unprotected.
#[test]
fn stack_a_protected_bind_mounted_file_is_never_replaced() {
    let lab = Lab::new();
    let name = format!("cutter-attack-conf-{}", std::process::id());
    let _made = Made {
        containers: vec![name.clone()],
        volumes: vec![],
    };
    lab.put("app/postgresql.conf", "production\n");
    lab.put("free/postgresql.conf", "production\n");
    prod_like(
        &name,
        &[format!(
            "{}:/etc/postgresql/postgresql.conf:ro",
            lab.path("app/postgresql.conf").display()
        )],
    );
    let plan = |dir: &str| {
        format!(
            "{HERE}[hosts.here.protected]\ncontainers = [\"{name}\"]\n\n[artefacts.a]\npath = \"{{d}}/{dir}/x.txt\"\ncommand = \"echo out; echo attack >&2\"\nstderr = \"postgresql.conf\"\n{}",
            docker_use(&lab.d())
        )
    };
    lab.plan("twin.toml", &plan("free"));
    assert_eq!(lab.apply("twin.toml", &[]).status, 0);
    assert_eq!(lab.read("free/postgresql.conf").unwrap(), "attack\n");

    lab.plan("plan.toml", &plan("app"));
    let r = lab.apply("plan.toml", &[]);
    assert_eq!(
        lab.read("app/postgresql.conf").as_deref(),
        Some("production\n"),
        "{}",
        r.stdout
    );
    assert_ne!(r.status, 0);
}
