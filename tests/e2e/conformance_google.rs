//! Conformance of the Google Calendar, Google Sheets and Google Docs operations against
//! Google's own discovery documents (`calendar.v3.json`, `sheets.v4.json`,
//! `docs.v1.json` in the team's provider-specs folder). Every operation builds its
//! request from its sample input, from an input that sets every top-level property and
//! from one that sets every property at every depth, and:
//! - the request URL, less the document's `rootUrl` and `servicePath`, and its method
//!   match a discovery method's `path` or `flatPath` (the one with most literal
//!   segments, if several do), which the operation's `schema_source` names;
//! - every query parameter is one the method declares (`location: query`) or a standard
//!   one of the document (`fields`, `key`...), of the declared type, in its `enum`, and
//!   repeated only if `repeated`; the method's required parameters are all sent, and
//!   path parameters fit their `pattern` where one is declared;
//! - the JSON body validates against the method's `request` schema, and the sandbox
//!   mock against its `response` schema, both converted to JSON Schema strictly: an
//!   object with `properties` and no `additionalProperties` refuses any other property
//!   (Google refuses unknown fields: "Invalid JSON payload received. Unknown name"),
//!   enums hold, `int64` values are strings, `date` and `date-time` are checked, and a
//!   property whose `annotations.required` names the method is required;
//! - the success status is the one discovery implies: 200 with a body for a method with
//!   a `response`, 204 without a body (`empty_response`) for one without.
//!
//! Known errors of a discovery document go in [`KNOWN`] with the reason; our own gaps
//! in [`OPEN_GAPS`]. Without the provider-specs folder the test skips (fails under
//! `CI=true`), as [`super::conformance`] does.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use serde_json::{Map, Value, json};
use shared::catalog::{Encoding, Operation, Provider, catalog};
use shared::runtime::request::{CredentialValues, build_request};

use super::conformance::{
    every_field_input, example_config, full_input, listed_reason, matches_template,
    require_everything, specs_dir_or_skip,
};

/// (provider, operation, what of it is known to differ from the discovery document, why).
/// Empty: the three documents describe every request and answer the catalog sends and
/// mocks.
const KNOWN: &[(&str, &str, &str, &str)] = &[];

/// Gaps of the catalog's own against a discovery document, still to close.
const OPEN_GAPS: &[(&str, &str, &str, &str)] = &[];

/// The discovery document of each Google provider.
fn discovery_file(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "google_calendar" => "calendar.v3.json",
        "google_sheets" => "sheets.v4.json",
        "google_docs" => "docs.v1.json",
        _ => return None,
    })
}

/// A discovery document: its methods (flattened from the nested resources), the base
/// every method path is relative to, and its schemas converted to JSON Schema per method
/// (a property `annotations.required` names is required for that method only).
struct Discovery {
    doc: Value,
    /// `rootUrl` + `servicePath`: `https://www.googleapis.com/calendar/v3/`.
    base: String,
    methods: Vec<Value>,
    validators: HashMap<String, Rc<jsonschema::Validator>>,
}

impl Discovery {
    fn load(path: &std::path::Path) -> Self {
        let text = std::fs::read_to_string(path).expect("discovery document readable");
        let doc: Value = serde_json::from_str(&text).expect("discovery document is JSON");
        let base = format!(
            "{}{}",
            doc["rootUrl"].as_str().expect("rootUrl"),
            doc["servicePath"].as_str().unwrap_or_default()
        );
        let mut methods = Vec::new();
        collect_methods(&doc["resources"], &mut methods);
        Discovery {
            doc,
            base,
            methods,
            validators: HashMap::new(),
        }
    }

    /// The method whose HTTP method and path template match; several matching (a literal
    /// segment against a `{param}`), the one with the most literal segments.
    fn method_for(
        &self,
        http_method: &str,
        relative: &str,
    ) -> Option<(&Value, Map<String, Value>)> {
        let segments: Vec<&str> = relative.split('/').collect();
        let mut found: Option<(usize, &Value, Map<String, Value>)> = None;
        for method in self
            .methods
            .iter()
            .filter(|m| m["httpMethod"] == http_method)
        {
            for key in ["path", "flatPath"] {
                let Some(template) = method[key].as_str() else {
                    continue;
                };
                let Some((literal, params)) = match_path(template, &segments) else {
                    continue;
                };
                if found.as_ref().is_none_or(|(best, ..)| literal > *best) {
                    found = Some((literal, method, params));
                }
            }
        }
        found.map(|(_, m, p)| (m, p))
    }

    /// A validator for the schema `name` as the method `method_id` reads it.
    fn validator(
        &mut self,
        method_id: &str,
        name: &str,
    ) -> Result<Rc<jsonschema::Validator>, String> {
        let key = format!("{method_id} {name}");
        if let Some(v) = self.validators.get(&key) {
            return Ok(v.clone());
        }
        let schemas: Map<String, Value> = self.doc["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, s)| (k.clone(), to_json_schema(s, method_id)))
            .collect();
        let root = json!({"$ref": format!("#/schemas/{name}"), "schemas": schemas});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("schema {name} does not compile: {e}"))?;
        let validator = Rc::new(validator);
        self.validators.insert(key, validator.clone());
        Ok(validator)
    }

    /// Problems of `instance` against the schema `name` as `method_id` reads it.
    fn validate(&mut self, method_id: &str, name: &str, instance: &Value) -> Vec<String> {
        match self.validator(method_id, name) {
            Ok(v) => v
                .iter_errors(instance)
                .take(5)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect(),
            Err(e) => vec![e],
        }
    }
}

fn collect_methods(resources: &Value, out: &mut Vec<Value>) {
    for resource in resources.as_object().into_iter().flatten().map(|(_, r)| r) {
        out.extend(
            resource["methods"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, m)| m.clone()),
        );
        collect_methods(&resource["resources"], out);
    }
}

/// A path template (`v4/spreadsheets/{spreadsheetId}/values/{range}:append`) against
/// the request's segments: the number of literal segments and the path parameters'
/// values (percent-decoded), or None.
fn match_path(template: &str, segments: &[&str]) -> Option<(usize, Map<String, Value>)> {
    let parts: Vec<&str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literal = 0;
    let mut params = Map::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part == segment {
            literal += 1;
            continue;
        }
        let (Some(open), Some(close)) = (part.find('{'), part.find('}')) else {
            return None;
        };
        if !matches_template(part, segment) {
            return None;
        }
        let name = part[open + 1..close].trim_start_matches('+');
        let value = &segment[open..segment.len() - (part.len() - close - 1)];
        params.insert(name.to_owned(), Value::String(percent_decode(value)));
    }
    Some((literal, params))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A discovery schema as JSON Schema, for the method `method_id`: `$ref: "Event"` →
/// `#/schemas/Event`; objects with `properties` and no `additionalProperties` closed;
/// `int64`/`uint64` strings of digits; `int32`/`uint32` ranges; `date` as a calendar
/// date, `date-time` and `google-datetime` as RFC 3339; `any` anything; properties whose
/// `annotations.required` names the method required.
fn to_json_schema(schema: &Value, method_id: &str) -> Value {
    if let Some(name) = schema["$ref"].as_str() {
        return json!({"$ref": format!("#/schemas/{name}")});
    }
    let mut out = Map::new();
    if let Some(values) = schema.get("enum") {
        out.insert("enum".into(), values.clone());
    }
    match schema["type"].as_str() {
        Some("object") => {
            out.insert("type".into(), json!("object"));
            let mut required = Vec::new();
            if let Some(properties) = schema["properties"].as_object() {
                let converted: Map<String, Value> = properties
                    .iter()
                    .map(|(k, p)| (k.clone(), to_json_schema(p, method_id)))
                    .collect();
                for (name, property) in properties {
                    let named = property["annotations"]["required"]
                        .as_array()
                        .is_some_and(|ms| ms.iter().any(|m| m == method_id));
                    if named || property["required"] == true {
                        required.push(json!(name));
                    }
                }
                out.insert("properties".into(), Value::Object(converted));
                if schema.get("additionalProperties").is_none() {
                    out.insert("additionalProperties".into(), json!(false));
                }
            }
            if let Some(extra) = schema.get("additionalProperties") {
                out.insert(
                    "additionalProperties".into(),
                    to_json_schema(extra, method_id),
                );
            }
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        Some("array") => {
            out.insert("type".into(), json!("array"));
            if let Some(items) = schema.get("items") {
                out.insert("items".into(), to_json_schema(items, method_id));
            }
        }
        Some("string") => {
            out.insert("type".into(), json!("string"));
            match schema["format"].as_str() {
                Some("int64") => {
                    out.insert("pattern".into(), json!("^-?[0-9]+$"));
                }
                Some("uint64") => {
                    out.insert("pattern".into(), json!("^[0-9]+$"));
                }
                Some("date") => {
                    out.insert("format".into(), json!("date"));
                }
                Some("date-time" | "google-datetime") => {
                    out.insert("format".into(), json!("date-time"));
                }
                _ => {}
            }
        }
        Some("integer") => {
            out.insert("type".into(), json!("integer"));
            let (min, max) = match schema["format"].as_str() {
                Some("int32") => (i64::from(i32::MIN), i64::from(i32::MAX)),
                Some("uint32") => (0, i64::from(u32::MAX)),
                _ => (i64::MIN, i64::MAX),
            };
            out.insert("minimum".into(), json!(min));
            out.insert("maximum".into(), json!(max));
        }
        Some(t @ ("number" | "boolean")) => {
            out.insert("type".into(), json!(t));
        }
        // `any`, or no type: anything.
        _ => {}
    }
    Value::Object(out)
}

/// Problems of a query parameter's value against its declaration.
fn check_parameter(name: &str, values: &[String], declared: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if values.len() > 1 && declared["repeated"] != true {
        problems.push(format!(
            "query parameter {name} is repeated but not `repeated`"
        ));
    }
    for value in values {
        if let Some(allowed) = declared["enum"].as_array()
            && !allowed.iter().any(|a| a == value.as_str())
        {
            problems.push(format!("query parameter {name}={value} is not in its enum"));
        }
        let fits = match declared["type"].as_str() {
            Some("integer") => value.parse::<i64>().is_ok_and(|n| {
                let bound = |k: &str| declared[k].as_str().and_then(|b| b.parse::<i64>().ok());
                bound("minimum").is_none_or(|m| n >= m) && bound("maximum").is_none_or(|m| n <= m)
            }),
            Some("boolean") => value == "true" || value == "false",
            Some("number") => value.parse::<f64>().is_ok(),
            _ => true,
        };
        if !fits {
            problems.push(format!(
                "query parameter {name}={value} is not of type {} within its bounds",
                declared["type"].as_str().unwrap_or("value")
            ));
        }
        if let Some(pattern) = declared["pattern"].as_str()
            && !fits_pattern(pattern, value)
        {
            problems.push(format!(
                "query parameter {name}={value} does not fit {pattern}"
            ));
        }
    }
    problems
}

fn fits_pattern(pattern: &str, value: &str) -> bool {
    jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
        .is_ok_and(|v| v.is_valid(&json!(value)))
}

/// Every problem of one operation's request and mock against the discovery document.
fn check(
    discovery: &mut Discovery,
    provider: &Provider,
    operation: &Operation,
    input: &Value,
) -> Vec<String> {
    let request = match build_request(
        provider,
        operation,
        input,
        &example_config(provider),
        CredentialValues::Masked,
        None,
    ) {
        Ok(r) => r,
        Err(e) => return vec![format!("the input builds no request: {e}")],
    };
    let url = reqwest::Url::parse(&request.url).expect("URL");
    let mut without_query = url.clone();
    without_query.set_query(None);
    let Some(relative) = without_query.as_str().strip_prefix(&discovery.base) else {
        return vec![format!("{} is not under {}", without_query, discovery.base)];
    };
    let Some((method, path_params)) = discovery.method_for(&request.method, relative) else {
        return vec![format!("no method {} {relative}", request.method)];
    };
    let method = method.clone();
    let method_id = method["id"].as_str().unwrap_or_default().to_owned();
    let mut problems = Vec::new();
    if !operation.schema_source.as_deref().is_some_and(|s| {
        s.split(|c: char| !(c.is_alphanumeric() || c == '.'))
            .any(|w| w == method_id)
    }) {
        problems.push(format!("schema_source does not name {method_id}"));
    }
    problems.extend(check_parameters(discovery, &method, &path_params, &url));
    problems.extend(check_body(discovery, operation, &method, &request.body));
    problems.extend(check_answer(discovery, operation, &method, input));
    problems
}

/// Path parameters fit their pattern; query parameters declared and well-typed; the
/// required ones sent.
fn check_parameters(
    discovery: &Discovery,
    method: &Value,
    path_params: &Map<String, Value>,
    url: &reqwest::Url,
) -> Vec<String> {
    let mut problems = Vec::new();
    let declared = &method["parameters"];
    for (name, value) in path_params {
        let value = value.as_str().unwrap_or_default();
        if value.is_empty() {
            problems.push(format!("path parameter {name} is empty"));
        }
        if let Some(pattern) = declared[name]["pattern"].as_str()
            && !fits_pattern(pattern, value)
        {
            problems.push(format!(
                "path parameter {name}={value} does not fit {pattern}"
            ));
        }
    }
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url.query_pairs() {
        sent.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    for (name, values) in &sent {
        let own = declared.get(name).filter(|p| p["location"] == "query");
        match own.or_else(|| discovery.doc["parameters"].get(name)) {
            Some(p) => problems.extend(check_parameter(name, values, p)),
            None => problems.push(format!("query parameter {name} is not declared")),
        }
    }
    for (name, p) in declared.as_object().into_iter().flatten() {
        if p["required"] != true {
            continue;
        }
        let missing = match p["location"].as_str() {
            Some("query") => !sent.contains_key(name),
            _ => !path_params.contains_key(name),
        };
        if missing {
            problems.push(format!("required parameter {name} not sent"));
        }
    }
    problems
}

fn check_body(
    discovery: &mut Discovery,
    operation: &Operation,
    method: &Value,
    body: &[u8],
) -> Vec<String> {
    let method_id = method["id"].as_str().unwrap_or_default();
    let schema = method["request"]["$ref"].as_str();
    match (operation.encoding, schema) {
        (Encoding::None, None) => vec![],
        (Encoding::None, Some(name)) => vec![format!("no body sent; {method_id} takes a {name}")],
        (Encoding::Json, Some(name)) => match serde_json::from_slice::<Value>(body) {
            Ok(json_body) => discovery.validate(method_id, name, &json_body),
            Err(_) => vec!["the body is not JSON".into()],
        },
        (Encoding::Json, None) => vec![format!("a JSON body sent; {method_id} takes none")],
        (encoding, _) => vec![format!("{encoding:?} body; Google's methods take JSON")],
    }
}

/// The success status and empty body discovery implies, and the mock against the
/// response schema.
fn check_answer(
    discovery: &mut Discovery,
    operation: &Operation,
    method: &Value,
    input: &Value,
) -> Vec<String> {
    let method_id = method["id"].as_str().unwrap_or_default();
    let Some(name) = method["response"]["$ref"].as_str() else {
        return if operation.success_status == 204 && operation.empty_response {
            vec![]
        } else {
            vec![format!(
                "{method_id} has no response: expected 204 and empty_response, the operation says {} and empty_response {}",
                operation.success_status, operation.empty_response
            )]
        };
    };
    if operation.success_status != 200 || operation.empty_response {
        return vec![format!(
            "{method_id} answers 200 with a {name}: the operation says {} and empty_response {}",
            operation.success_status, operation.empty_response
        )];
    }
    // The mock as a step gets it, and one with every property the catalog's response
    // schema declares (a mock leaves out what the sample response lacks).
    let mut every_field = operation.clone();
    require_everything(&mut every_field.response_schema);
    let mut problems = Vec::new();
    for (which, op) in [("mock", operation), ("mock of every field", &every_field)] {
        match shared::runtime::mock::mock_response(op, input, "conformance") {
            Ok(mock) => problems.extend(
                discovery
                    .validate(method_id, name, &mock)
                    .into_iter()
                    .map(|p| format!("{which}: {p}")),
            ),
            Err(e) => problems.push(format!("no {which}: {e}")),
        }
    }
    problems
}

#[test]
fn every_google_operation_conforms_to_its_discovery_document() {
    let Some(dir) = specs_dir_or_skip() else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    let mut known = 0;
    for provider in catalog().expect("catalog").providers() {
        let Some(file) = discovery_file(provider.id.as_str()) else {
            continue;
        };
        let mut discovery = Discovery::load(&dir.join(file));
        for operation in &provider.operations {
            checked.insert((provider.id.as_str(), operation.id.as_str()));
            let mut inputs = vec![("sample", operation.sample_input.clone())];
            inputs.extend(full_input(operation).map(|full| ("every field", full)));
            inputs.extend(
                every_field_input(operation).map(|all| ("every field at every depth", all)),
            );
            let mut problems = BTreeSet::new();
            for (which, input) in &inputs {
                for p in check(&mut discovery, provider, operation, input) {
                    problems.insert(format!("({which} input) {p}"));
                }
            }
            for problem in problems {
                let (p, o) = (provider.id.as_str(), operation.id.as_str());
                match listed_reason(&[KNOWN, OPEN_GAPS], p, o, &problem) {
                    Some(why) => {
                        known += 1;
                        println!("known: {p} {o}: {problem} ({why})");
                    }
                    None => failures.push(format!("{p} {o}: {problem}")),
                }
            }
        }
    }
    println!(
        "conformance_google: {} operations checked against Google's discovery documents, {known} known differences, {} failures",
        checked.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked.len() >= 19,
        "only {} operations checked",
        checked.len()
    );
}
