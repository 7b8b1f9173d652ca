//! The plan JSON has a JSON Schema of its own, committed beside the plan
//! schema and kept in step with the types; real plans validate against it.

use crate::local::Site;

#[test]
fn committed_plan_json_schema_matches_the_types_and_validates_a_plan() {
    let schema = cutter::render::json_schema();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/plan-json.schema.json");
    if std::env::var_os("CUTTER_UPDATE_SCHEMA").is_some() {
        std::fs::write(file, serde_json::to_string_pretty(&schema).unwrap() + "\n").unwrap();
    }
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(
        schema, committed,
        "schema/plan-json.schema.json is stale: regenerate it with CUTTER_UPDATE_SCHEMA=1 cargo test --test lib plan_json_schema"
    );
    // A real plan has every property the schema requires.
    let site = Site::new(
        "[hosts.local]\nlocal = true\n[artefacts.a]\npath = \"{out}/a.txt\"\ncommand = \"echo a\"\n",
    );
    let r = site.cutter(0, &["plan", "plan.toml", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let required = schema["required"].as_array().unwrap();
    for key in required {
        assert!(
            plan.get(key.as_str().unwrap()).is_some(),
            "plan JSON lacks `{key}`"
        );
    }
    let _: cutter::render::PlanView = serde_json::from_value(plan).unwrap();
}
