//! The JSON Schema of plan files, for editors (`cutter schema`, committed as
//! `schema/plan.schema.json`). It is generated from the raw plan types in
//! [`super::schema`] and then made to describe TOML: an optional key is left
//! out, never `null` (TOML has no null, and an editor offering one misleads),
//! and the document gets a title and a stable `$id`.

use serde_json::Value;

/// Identifies this schema; changes only with an incompatible plan format.
pub const SCHEMA_ID: &str = "urn:cutter:schema:plan:1";

pub fn plan_schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(super::schema::RawPlan).to_value();
    drop_null(&mut schema);
    if let Value::Object(root) = &mut schema {
        root.insert("$id".into(), SCHEMA_ID.into());
        root.insert("title".into(), "cutter plan".into());
    }
    // Back into a schema, which prints its keywords in a readable order.
    schemars::Schema::try_from(schema).expect("the plan schema is an object")
}

/// Remove `null` from `type` lists and `anyOf` alternatives, everywhere.
fn drop_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1
                    && let Value::Object(only) = any.remove(0)
                {
                    map.remove("anyOf");
                    for (k, v) in only {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            for v in map.values_mut() {
                drop_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}
