//! `cutter init` and `cutter man`: a starter plan that works as written,
//! and manual pages generated from the command line itself.

use crate::diagnostics::assert_says;
use crate::local::Site;

/// What `cutter init` writes.
const STARTER: &str = include_str!("../examples/starter.toml");

#[test]
fn init_writes_a_starter_plan_that_validates_and_applies() {
    let site = Site::new("");
    let run = site.cutter(0, &["init", "plans/first.toml"]);
    assert_says(&run.stderr, "Created plans/first.toml");
    let written = std::fs::read_to_string(site.dir().join("plans/first.toml")).unwrap();
    assert_eq!(written, STARTER);
    site.cutter(0, &["validate", "plans/first.toml"]);
    let root = format!("root={}", site.out().display());
    let plan = site.cutter(0, &["plan", "plans/first.toml", "--var", &root]);
    assert_says(&plan.stdout, "+ create   artefact.inventory");
    site.cutter(0, &["apply", "plans/first.toml", "--yes", "--var", &root]);
    site.cutter(0, &["drift", "plans/first.toml", "--var", &root]);
    // the default name
    std::fs::remove_file(site.dir().join("plan.toml")).unwrap();
    site.cutter(0, &["init"]);
    assert!(site.dir().join("plan.toml").is_file());
}

/// Every example in the starter (a `#` directly followed by TOML) is valid
/// once uncommented, so following its comments never leads to an error.
#[test]
fn every_example_in_the_starter_plan_is_valid() {
    let uncommented: String = STARTER
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', ':', '!']) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.contains("[containers.restore_test]"));
    let site = Site::new(&uncommented);
    let run = site.cutter(0, &["validate", "plan.toml"]);
    assert_says(
        &run.stderr,
        "2 host(s), 3 artefact(s), 1 container(s), 1 check(s), 1 guard(s)",
    );
}

#[test]
fn init_never_overwrites() {
    let site = Site::new("# mine\n");
    let run = site.cutter(1, &["init", "plan.toml"]);
    assert_says(&run.stderr, "`plan.toml` already exists: not overwritten");
    assert_eq!(
        std::fs::read_to_string(site.dir().join("plan.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn man_pages_are_generated_from_the_cli() {
    let site = Site::new("");
    let page = site.cutter(0, &["man"]);
    assert!(page.stdout.contains(".TH cutter 1"), "{}", page.stdout);
    for text in [
        "\\-\\-verbose",
        "cutter\\-plan(1)",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        "CUTTER_LOCK_WAIT",
    ] {
        assert!(page.stdout.contains(text), "`{text}` in\n{}", page.stdout);
    }
    assert!(!page.stdout.contains(".SH EXTRA"), "{}", page.stdout);
    site.cutter(0, &["man", "--dir", "man"]);
    let plan = std::fs::read_to_string(site.dir().join("man/cutter-plan.1")).unwrap();
    assert!(plan.contains(".TH cutter-plan 1"), "{plan}");
    assert!(plan.contains("\\-\\-detailed\\-exitcode"), "{plan}");
    assert!(plan.contains("\\-\\-var\\-file"), "{plan}");
    assert!(site.dir().join("man/cutter-init.1").is_file());
    let main = std::fs::read_to_string(site.dir().join("man/cutter.1")).unwrap();
    assert_eq!(
        main, page.stdout,
        "cutter.1 is the page `cutter man` prints"
    );
}
