//! The JSON Schema editors use (`#:schema ../schema/plan.schema.json`) is
//! generated from the plan types; the committed copy must match them.

use crate::test::Test;

#[test]
fn committed_json_schema_matches_the_plan_types() {
    let run = Test::new().args(&["schema"]).status(0);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/plan.schema.json"
    ))
    .unwrap();
    assert_eq!(
        run.stdout.trim_end(),
        committed.trim_end(),
        "schema/plan.schema.json is stale: run `cargo run -- schema > schema/plan.schema.json`"
    );
}

#[test]
fn example_plans_point_editors_at_the_schema() {
    for plan in ["plans/quickstart.toml", "plans/hb08-09.toml"] {
        let text =
            std::fs::read_to_string(format!("{}/{plan}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(
            text.starts_with("#:schema ../schema/plan.schema.json\n"),
            "{plan}"
        );
    }
}
