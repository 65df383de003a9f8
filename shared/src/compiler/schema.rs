//! The JSON Schema reading the compiler needs: following local `$ref`s, the JSON types
//! a schema admits, walking down a path, and typed sample values.

use serde_json::{Map, Value, json};

/// Follows `"$ref": "#/$defs/X"` (and `#/definitions/X`) within the root schema.
pub fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => match reference
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer))
            {
                Some(target) => schema = target,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// The JSON types a value may have, as far as the compiler tracks them.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String(Option<String>),
    Integer,
    Number,
    Boolean,
    /// An object; `open` when it declares no properties (anything below is allowed).
    Object {
        open: bool,
    },
    Array,
    Any,
}

impl Kind {
    pub fn name(&self) -> String {
        match self {
            Kind::String(Some(format)) => format!("string ({format})"),
            Kind::String(None) => "string".into(),
            Kind::Integer => "integer".into(),
            Kind::Number => "number".into(),
            Kind::Boolean => "boolean".into(),
            Kind::Object { .. } => "object".into(),
            Kind::Array => "array".into(),
            Kind::Any => "any value".into(),
        }
    }

    /// A value of this kind that passes format checks, for validating a mapping.
    pub fn sample(&self) -> Value {
        match self {
            Kind::String(Some(format)) => match format.as_str() {
                "email" => json!("ada@example.com"),
                "date-time" => json!("2026-12-01T10:00:00Z"),
                "date" => json!("2026-12-01"),
                "uri" | "url" | "iri" => json!("https://example.com/x"),
                "uuid" => json!("00000000-0000-4000-8000-000000000000"),
                "phone" => json!("+15555550100"),
                _ => json!("sample"),
            },
            Kind::String(None) | Kind::Any => json!("sample"),
            Kind::Integer => json!(1),
            Kind::Number => json!(1.5),
            Kind::Boolean => json!(true),
            Kind::Object { .. } => json!({}),
            Kind::Array => json!([]),
        }
    }
}

/// The JSON type names a schema admits (empty when it does not say).
pub fn types(root: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve(root, schema);
    match schema.get("type") {
        Some(Value::String(t)) => return vec![t.clone()],
        Some(Value::Array(ts)) => {
            return ts
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
        }
        _ => {}
    }
    if let Some(value) = schema.get("const") {
        return vec![json_type(value).into()];
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        let mut out: Vec<String> = values.iter().map(|v| json_type(v).to_owned()).collect();
        out.dedup();
        return out;
    }
    if schema.get("properties").is_some() {
        return vec!["object".into()];
    }
    if schema.get("items").is_some() {
        return vec!["array".into()];
    }
    let mut out = Vec::new();
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for branch in branches {
                let branch_types = types(root, branch);
                if branch_types.is_empty() {
                    return Vec::new();
                }
                for t in branch_types {
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
        }
    }
    out
}

pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The kind of a schema, for sources (fields an earlier step returns, a change's fields).
pub fn kind(root: &Value, schema: &Value) -> Kind {
    let resolved = resolve(root, schema);
    let ts: Vec<String> = types(root, resolved)
        .into_iter()
        .filter(|t| t != "null")
        .collect();
    match ts.first().map(String::as_str) {
        Some("string") if ts.len() == 1 => Kind::String(
            resolved
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        Some("integer") if ts.len() == 1 => Kind::Integer,
        Some("number") if ts.iter().all(|t| t == "number" || t == "integer") => Kind::Number,
        Some("boolean") if ts.len() == 1 => Kind::Boolean,
        Some("object") if ts.len() == 1 => Kind::Object {
            open: resolved
                .get("properties")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty),
        },
        Some("array") if ts.len() == 1 => Kind::Array,
        _ => Kind::Any,
    }
}

/// Whether a value of `kind` fits a target schema's types (an untyped target takes anything).
pub fn fits(kind: &Kind, target: &[String]) -> bool {
    if target.is_empty() || matches!(kind, Kind::Any) {
        return true;
    }
    let has = |t: &str| target.iter().any(|x| x == t);
    match kind {
        Kind::String(_) => has("string"),
        Kind::Integer => has("integer") || has("number"),
        Kind::Number => has("number"),
        Kind::Boolean => has("boolean"),
        Kind::Object { .. } => has("object"),
        Kind::Array => has("array"),
        Kind::Any => true,
    }
}

/// A property's schema, looking into `allOf`/`anyOf`/`oneOf` branches when the schema
/// itself does not declare it.
pub fn property<'a>(root: &'a Value, schema: &'a Value, name: &str) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if let Some(p) = schema.get("properties").and_then(|p| p.get(name)) {
        return Some(p);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for branch in branches {
                if let Some(p) = property(root, branch, name) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// The schema at a path of property names and array indexes.
pub fn at_path<'a>(root: &'a Value, schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = resolve(root, schema);
    for part in path {
        let is_index = part.parse::<usize>().is_ok();
        current = if is_index {
            resolve(root, current.get("items")?)
        } else {
            resolve(root, property(root, current, part)?)
        };
    }
    Some(current)
}

/// The `required` names of an object schema.
pub fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The alternatives of `anyOf`/`oneOf` branches that only say which properties are
/// required (Postmark: HtmlBody or TextBody).
pub fn alternatives(root: &Value, schema: &Value) -> Vec<Vec<String>> {
    let schema = resolve(root, schema);
    let mut out = Vec::new();
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for branch in branches {
                let names = required(resolve(root, branch));
                if !names.is_empty() {
                    out.push(names);
                }
            }
        }
    }
    out
}

/// Object properties flattened to dotted paths, up to `depth` levels, with their schemas
/// (for the fields a source offers: `state.name`, `properties.email`).
pub fn flatten<'a>(root: &'a Value, schema: &'a Value, depth: usize) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    flatten_into(root, schema, "", depth, &mut out);
    out
}

fn flatten_into<'a>(
    root: &'a Value,
    schema: &'a Value,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, &'a Value)>,
) {
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push((path.clone(), property));
        if depth > 1 {
            flatten_into(root, property, &path, depth - 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_types_and_paths() {
        let root = json!({
            "$defs": {"address": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "format": "email"}}}},
            "type": "object",
            "properties": {
                "from": {"$ref": "#/$defs/address"},
                "to": {"type": "array", "items": {"$ref": "#/$defs/address"}},
                "n": {"type": ["integer", "null"]}
            }
        });
        let email =
            at_path(&root, &root, &["to".into(), "0".into(), "email".into()]).expect("path");
        assert_eq!(kind(&root, email), Kind::String(Some("email".into())));
        assert_eq!(kind(&root, &root["properties"]["n"]), Kind::Integer);
        assert!(fits(
            &Kind::Integer,
            &types(&root, &root["properties"]["n"])
        ));
        assert!(!fits(&Kind::Number, &["integer".into()]));
        let flat: Vec<String> = flatten(&root, &root, 2)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert!(flat.contains(&"from.email".to_owned()));
    }
}
