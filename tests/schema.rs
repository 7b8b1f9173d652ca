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

fn schema() -> serde_json::Value {
    let run = Test::new().args(&["schema"]).status(0);
    serde_json::from_str(&run.stdout).unwrap()
}

/// Every property of every object, with its JSON pointer.
fn properties<'a>(
    at: String,
    v: &'a serde_json::Value,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                for (k, p) in props {
                    out.push((format!("{at}/properties/{k}"), p));
                }
            }
            for (k, child) in map {
                properties(format!("{at}/{k}"), child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                properties(format!("{at}/{i}"), child, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schema_has_an_id_a_title_and_a_description_for_every_property() {
    let s = schema();
    assert_eq!(s["$id"], "urn:cutter:schema:plan:1");
    assert_eq!(s["title"], "cutter plan");
    let mut props = Vec::new();
    properties(String::new(), &s, &mut props);
    assert!(props.len() > 50, "{} properties", props.len());
    let undescribed: Vec<&str> = props
        .iter()
        .filter(|(_, p)| p["description"].as_str().is_none_or(str::is_empty))
        .map(|(at, _)| at.as_str())
        .collect();
    assert!(undescribed.is_empty(), "no description: {undescribed:?}");
}

#[test]
fn the_schema_offers_the_valid_values_and_no_null() {
    let s = schema();
    assert_eq!(
        s["$defs"]["RawContainer"]["properties"]["lifecycle"]["enum"],
        serde_json::json!(["persistent", "ephemeral"])
    );
    assert_eq!(
        s["$defs"]["RawGuard"]["properties"]["kind"]["enum"],
        serde_json::json!(["protected-unchanged", "schema-unchanged"])
    );
    // TOML has no null: an optional key is left out.
    let text = serde_json::to_string(&s).unwrap();
    assert!(!text.contains("null"), "{text}");
    assert_eq!(
        s["$defs"]["RawContainer"]["properties"]["restore"]["$ref"],
        "#/$defs/RawRestore"
    );
}
