//! Property tests of the mock generator's budgets: arbitrary response schemas (objects,
//! arrays, strings with lengths and patterns, enums, consts, `$ref`s local and not,
//! `allOf`, `anyOf`, `oneOf`) and arbitrary inputs to echo. Whatever they are, the
//! generator returns, without a panic, a response within the byte budget or an error.
//!
//! 256 cases by default (a few seconds); `PROPTEST_CASES=20000 cargo test -p
//! studio-shared --lib mock_properties` runs more.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::mock::{MAX_ARRAY_ITEMS, MAX_DEPTH, MAX_MOCK_BYTES, MAX_STRING_CHARS, mock_response};
use crate::catalog::{Operation, custom};

const NAMES: [&str; 7] = ["a", "b", "id", "name", "created_at", "items", "Total-Count"];

/// The one endpoint of a Custom HTTP API, answering with `response_schema` (put in place
/// after the declaration is checked: the generator is what is under test).
fn operation(response_schema: Value) -> Operation {
    let declared = json!({
        "base_url": "https://api.example.com",
        "auth": {"scheme": "none"},
        "endpoints": [{"name": "x", "method": "POST", "path": "/x"}]
    });
    let mut provider = custom::build("Any", declared.as_object().expect("object")).expect("valid");
    let mut op = provider.operations.remove(0);
    op.response_schema = response_schema;
    op
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned)
}

/// Lengths and counts: small ones, the caps and one past them, and absurd ones.
fn count(cap: usize) -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..20,
        1 => Just(cap as u64),
        1 => Just(cap as u64 + 1),
        1 => Just(1_000_000_000u64),
    ]
}

fn pattern() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "^[a-z]{3,8}$",
        "^(SM|MM)[0-9a-fA-F]{32}$",
        "\\d{4}-\\d{2}",
        "(a{256}){40}",
        "((a{0}){200}){200}",
        "^a{1024}$",
        "x{99999999999999999999}",
        "(((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))))",
        "^(?=x)y$",
        "[",
        "[^\\s]+@x\\.org",
    ])
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..1_000_000).prop_map(Value::from),
        "[a-z\"\\\\\n]{0,6}".prop_map(Value::from),
    ]
}

fn string_schema() -> impl Strategy<Value = Value> {
    (
        prop::option::of(count(MAX_STRING_CHARS)),
        prop::option::of(count(MAX_STRING_CHARS)),
        prop::option::of(pattern()),
        prop::option::of(prop::sample::select(vec![
            "uuid",
            "date-time",
            "email",
            "uri",
        ])),
    )
        .prop_map(|(min, max, pattern, format)| {
            let mut schema = Map::new();
            schema.insert("type".into(), json!("string"));
            for (k, v) in [
                ("minLength", min.map(Value::from)),
                ("maxLength", max.map(Value::from)),
                ("pattern", pattern.map(Value::from)),
                ("format", format.map(Value::from)),
            ] {
                if let Some(v) = v {
                    schema.insert(k.into(), v);
                }
            }
            Value::Object(schema)
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!({})),
        string_schema(),
        string_schema(),
        (prop::option::of(-5i64..5), prop::bool::ANY).prop_map(|(minimum, integer)| {
            let kind = if integer { "integer" } else { "number" };
            match minimum {
                Some(m) => json!({"type": kind, "minimum": m}),
                None => json!({"type": kind}),
            }
        }),
        Just(json!({"type": "boolean"})),
        Just(json!({"type": ["string", "null"]})),
        prop::collection::vec(scalar(), 0..4).prop_map(|v| json!({"enum": v})),
        scalar().prop_map(|v| json!({"const": v})),
        prop::sample::select(vec![
            "#",
            "#",
            "#/$defs/d",
            "#/properties/a",
            "#/nope",
            "https://example.com/s.json",
        ])
        .prop_map(|r| json!({"$ref": r})),
    ]
}

fn object(properties: Map<String, Value>, required: Vec<String>, extra: Option<Value>) -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    schema.insert("required".into(), json!(required));
    if let Some(extra) = extra {
        schema.insert("additionalProperties".into(), extra);
    }
    Value::Object(schema)
}

fn schema() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            (
                prop::collection::btree_map(name(), inner.clone(), 0..4),
                prop::collection::vec(name(), 0..3),
                prop::option::of(inner.clone()),
            )
                .prop_map(|(p, r, e)| object(p.into_iter().collect(), r, e)),
            (
                inner.clone(),
                prop::option::of(count(MAX_ARRAY_ITEMS)),
                prop::option::of(0u64..4),
            )
                .prop_map(|(items, min, max)| {
                    let mut schema = json!({"type": "array", "items": items});
                    if let Some(min) = min {
                        schema["minItems"] = json!(min);
                    }
                    if let Some(max) = max {
                        schema["maxItems"] = json!(max);
                    }
                    schema
                }),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|m| json!({"allOf": m})),
            (
                prop::sample::select(vec!["anyOf", "oneOf"]),
                prop::collection::vec(inner, 1..4),
            )
                .prop_map(|(k, branches)| json!({ k: branches })),
        ]
    })
}

/// A response schema: an object (what Custom HTTP declares) whose properties, required
/// names and `$defs` are arbitrary.
fn response_schema() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map(name(), schema(), 0..4),
        prop::collection::vec(name(), 0..4),
        schema(),
    )
        .prop_map(|(properties, required, d)| {
            let mut root = object(properties.into_iter().collect(), required, None);
            root["$defs"] = json!({"d": d});
            root
        })
}

/// An input to echo: objects under the schemas' names, now and then a long text.
fn input() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        8 => scalar(),
        1 => Just(Value::from("x".repeat(MAX_MOCK_BYTES / 3))),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(name(), value, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #[test]
    fn any_schema_mocks_within_the_budget_or_says_why(
        schema in response_schema(),
        input in input(),
        seed in "[a-z0-9]{1,6}#[0-9]",
    ) {
        let op = operation(schema);
        if let Ok(mock) = mock_response(&op, &input, &seed) {
            let bytes = serde_json::to_vec(&mock).expect("serializes").len();
            prop_assert!(bytes <= MAX_MOCK_BYTES, "{bytes} bytes");
            prop_assert!(depth(&mock) <= MAX_DEPTH + 1, "{} levels", depth(&mock));
            prop_assert_eq!(Ok(mock), mock_response(&op, &input, &seed), "deterministic");
        }
    }
}
