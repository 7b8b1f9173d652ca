//! Tests never share the operator's own HOME (`~/.cutter`, the local host's
//! apply lock): each test's folder is its HOME.

use crate::stack::StackTest;
use crate::test::Test;

const WRITES_TO_HOME: &str = r#"
[hosts.local]
local = true

[artefacts.probe]
path = "{{ env.HOME }}/probe.txt"
command = "echo probe"
"#;

#[test]
fn the_test_builder_gives_each_test_its_own_home() {
    let t = Test::new()
        .plan(WRITES_TO_HOME)
        .args(&["apply", "--yes", "plan.toml"]);
    t.status(0);
    assert!(t.path().join("probe.txt").is_file());
    // The apply took and released its lock in the test's HOME.
    assert!(t.path().join(".cutter").is_dir());
    assert!(!t.path().join(".cutter/apply.lock").exists());
}

#[test]
fn stack_tests_get_their_own_home_too() {
    let t = StackTest::new("isolation");
    t.plan(WRITES_TO_HOME);
    t.expect(&["apply", "--yes", "plan.toml"], 0);
    assert!(t.local.path().join("probe.txt").is_file());
}
