//! Conformance of the Linear operations against Linear's GraphQL schema
//! (`linear_schema.graphql` in the team's provider-specs folder). Every operation builds
//! its request from its sample input, from an input that sets every top-level property
//! and from one that sets every property at every depth, and:
//! - the request is a POST of `{"query", "variables"}` to `/graphql`;
//! - the query parses and validates against the schema with apollo-compiler (the
//!   GraphQL specification's validation: fields exist on their types, arguments exist
//!   and have the right types, variables are declared, used, and of compatible types,
//!   leaves have no selections...), holds one operation, and is a mutation exactly when
//!   the catalog says the call has side effects;
//! - the `variables` fit the declared variable types as the specification's input
//!   coercion reads them: every variable is declared, non-null ones are present, input
//!   objects have only their fields and all their required ones (and exactly one for a
//!   `@oneOf` input), enums hold, scalars are of their JSON kind (Linear's own scalars by
//!   their descriptions: `DateTime` and `TimelessDate` strings, `UUID` a UUID,
//!   `JSONObject` an object...);
//! - the sandbox mock (as a step gets it, and with every property the catalog's response
//!   schema declares) fits the query's selection set: under `data` every field is
//!   selected and of its type's kind or nesting, and every selected field is there
//!   (GraphQL answers each one, null when it has no value; a non-null one is never
//!   null); nothing but `data`, `errors` and `extensions` at the top; status 200 with a
//!   body.
//!
//! The schema validates as it is: no scalar or directive had to be added. Known errors of
//! the schema would go in [`KNOWN`], our gaps in [`OPEN_GAPS`]. Without the provider-specs
//! folder the test skips (fails under `CI=true`), as [`super::conformance`] does.

use std::collections::BTreeSet;

use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::schema::{ExtendedType, Type};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use serde_json::{Map, Value};
use shared::catalog::{Encoding, Operation, Provider, catalog};
use shared::runtime::request::{CredentialValues, build_request};

use super::conformance::{
    every_field_input, example_config, full_input, listed_reason, require_everything,
    specs_dir_or_skip,
};

/// (provider, operation, what of it is known to differ from the schema, why). Empty.
const KNOWN: &[(&str, &str, &str, &str)] = &[];

/// Gaps of the catalog's own against the schema, still to close. Empty.
const OPEN_GAPS: &[(&str, &str, &str, &str)] = &[];

fn load_schema(path: &std::path::Path) -> Valid<Schema> {
    let text = std::fs::read_to_string(path).expect("Linear's schema readable");
    match Schema::parse_and_validate(text, "linear_schema.graphql") {
        Ok(schema) => schema,
        Err(e) => panic!("Linear's schema does not validate:\n{}", e.errors),
    }
}

/// Every problem of one operation's request and mock against the schema.
fn check(
    schema: &Valid<Schema>,
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
    if request.method != "POST"
        || url.path() != "/graphql"
        || operation.encoding != Encoding::Graphql
    {
        return vec![format!(
            "{} {} ({:?}): Linear's API is a GraphQL POST to /graphql",
            request.method,
            url.path(),
            operation.encoding
        )];
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return vec!["the body is not JSON".into()];
    };
    let Some(query) = body["query"].as_str() else {
        return vec!["the body has no query".into()];
    };
    let document = match ExecutableDocument::parse_and_validate(schema, query, "query.graphql") {
        Ok(d) => d,
        Err(e) => {
            return e
                .errors
                .iter()
                .map(|d| format!("query: {}", d.error))
                .collect();
        }
    };
    let operations: Vec<_> = document.operations.iter().collect();
    let [gql] = operations.as_slice() else {
        return vec![format!(
            "the query holds {} operations, not one",
            operations.len()
        )];
    };
    let mut problems = Vec::new();
    if gql.is_mutation() != operation.side_effects {
        problems.push(format!(
            "a {} operation, where the catalog says side_effects: {}",
            gql.operation_type, operation.side_effects
        ));
    }
    let empty = Map::new();
    let variables = body["variables"].as_object().unwrap_or(&empty);
    let declared: BTreeSet<&str> = gql.variables.iter().map(|v| v.name.as_str()).collect();
    for name in variables.keys() {
        if !declared.contains(name.as_str()) {
            problems.push(format!("variable ${name} is not declared"));
        }
    }
    for definition in &gql.variables {
        let name = definition.name.as_str();
        match variables.get(name) {
            Some(value) => input_value(
                schema,
                &definition.ty,
                value,
                &format!("${name}"),
                &mut problems,
            ),
            None if definition.ty.is_non_null() && definition.default_value.is_none() => {
                problems.push(format!("non-null variable ${name} not sent"))
            }
            None => {}
        }
    }
    problems.extend(check_answer(
        schema,
        &document,
        &gql.selection_set,
        operation,
        input,
    ));
    problems
}

/// A variable's value against its type, as the specification's input coercion reads it.
fn input_value(schema: &Schema, ty: &Type, value: &Value, at: &str, problems: &mut Vec<String>) {
    if value.is_null() {
        if ty.is_non_null() {
            problems.push(format!("{at}: null for the non-null {ty}"));
        }
        return;
    }
    if ty.is_list() {
        // A single value is coerced to a list of one.
        match value.as_array() {
            Some(items) => items.iter().enumerate().for_each(|(i, item)| {
                input_value(schema, ty.item_type(), item, &format!("{at}/{i}"), problems)
            }),
            None => input_value(schema, ty.item_type(), value, at, problems),
        }
        return;
    }
    let name = ty.inner_named_type().as_str();
    match schema.types.get(name) {
        Some(ExtendedType::Scalar(_)) => {
            if !scalar_fits(name, value, false) {
                problems.push(format!("{at}: {value} is not a {name}"));
            }
        }
        Some(ExtendedType::Enum(e)) => {
            if !value.as_str().is_some_and(|v| e.values.contains_key(v)) {
                problems.push(format!("{at}: {value} is not a value of the enum {name}"));
            }
        }
        Some(ExtendedType::InputObject(object)) => {
            let Some(fields) = value.as_object() else {
                problems.push(format!("{at}: {value} is not an input object {name}"));
                return;
            };
            for (key, field) in fields {
                match object.fields.get(key.as_str()) {
                    Some(def) => {
                        input_value(schema, &def.ty, field, &format!("{at}/{key}"), problems)
                    }
                    None => problems.push(format!("{at}: {name} has no field {key}")),
                }
            }
            for (key, def) in &object.fields {
                let required = def.ty.is_non_null() && def.default_value.is_none();
                if required && !fields.contains_key(key.as_str()) {
                    problems.push(format!("{at}: required field {name}.{key} not sent"));
                }
            }
            let set = fields.values().filter(|v| !v.is_null()).count();
            if object.directives.get("oneOf").is_some() && (set != 1 || fields.len() != 1) {
                problems.push(format!(
                    "{at}: the @oneOf input {name} takes exactly one field"
                ));
            }
        }
        _ => problems.push(format!("{at}: {name} is not an input type")),
    }
}

/// Whether a JSON value is of a scalar's kind: the built-in scalars as the specification
/// coerces them, Linear's own by their descriptions in the schema. An answer's dates are
/// held to their format; an input's may be Linear's shortcuts (`2021`, `-P2W1D`).
fn scalar_fits(name: &str, value: &Value, output: bool) -> bool {
    let text = value.as_str();
    match name {
        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => value.is_number(),
        "String" => value.is_string(),
        "Boolean" => value.is_boolean(),
        // An answer's ID is always a string.
        "ID" => value.is_string() || (!output && value.is_i64()),
        "DateTime" if output => {
            text.is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        }
        "TimelessDate" if output => {
            text.is_some_and(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok())
        }
        "UUID" => text.is_some_and(|t| uuid::Uuid::parse_str(t).is_ok()),
        "Duration" => value.is_string() || value.is_i64(),
        "JSONObject" => value.is_object(),
        // Dates and durations as text; `JSON` is stringified JSON; the notification
        // types are strings.
        "DateTime" | "DateTimeOrDuration" | "TimelessDate" | "TimelessDateOrDuration" | "JSON" => {
            value.is_string()
        }
        n if n.ends_with("NotificationType") => value.is_string(),
        // A scalar the schema adds later: anything, until its kind is known here.
        _ => true,
    }
}

/// The success status and the mock (as a step gets it, and with every field the
/// catalog's response schema declares) against the query's selection set.
fn check_answer(
    schema: &Schema,
    document: &ExecutableDocument,
    selection: &SelectionSet,
    operation: &Operation,
    input: &Value,
) -> Vec<String> {
    if operation.success_status != 200 || operation.empty_response {
        return vec![format!(
            "Linear answers 200 with a body; the operation says {} and empty_response {}",
            operation.success_status, operation.empty_response
        )];
    }
    let mut every_field = operation.clone();
    require_everything(&mut every_field.response_schema);
    let mut problems = Vec::new();
    for (which, op) in [("mock", operation), ("mock of every field", &every_field)] {
        let mock = match shared::runtime::mock::mock_response(op, input, "conformance") {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("no {which}: {e}"));
                continue;
            }
        };
        let mut found = Vec::new();
        match mock.as_object() {
            Some(top) => {
                for key in top
                    .keys()
                    .filter(|k| !["data", "errors", "extensions"].contains(&k.as_str()))
                {
                    found.push(format!("/{key}: not part of a GraphQL response"));
                }
                match top.get("data") {
                    Some(Value::Object(_)) => result_object(
                        schema,
                        document,
                        selection,
                        &top["data"],
                        "/data",
                        &mut found,
                    ),
                    Some(other) => found.push(format!("/data: {other} is not an object")),
                    None => found.push("/data: missing".into()),
                }
            }
            None => found.push(format!("{mock} is not an object")),
        }
        problems.extend(found.into_iter().map(|p| format!("{which}: {p}")));
    }
    problems
}

/// The fields a selection set selects, fragments flattened: (response key, field).
fn selected<'d>(
    document: &'d ExecutableDocument,
    selection: &'d SelectionSet,
    out: &mut Vec<(&'d str, &'d apollo_compiler::executable::Field)>,
) {
    for item in &selection.selections {
        match item {
            Selection::Field(field) => out.push((field.response_key().as_str(), field)),
            Selection::InlineFragment(fragment) => selected(document, &fragment.selection_set, out),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                    selected(document, &fragment.selection_set, out);
                }
            }
        }
    }
}

/// An answer object against a selection set: only selected fields, each of its type,
/// all of them present.
fn result_object(
    schema: &Schema,
    document: &ExecutableDocument,
    selection: &SelectionSet,
    value: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        problems.push(format!("{at}: {value} is not an object"));
        return;
    };
    let mut fields = Vec::new();
    selected(document, selection, &mut fields);
    for key in object.keys() {
        if !fields.iter().any(|(k, _)| k == key) {
            problems.push(format!("{at}/{key}: not selected"));
        }
    }
    for (key, field) in fields {
        let at = format!("{at}/{key}");
        match object.get(key) {
            Some(v) => result_value(schema, document, field, field.ty(), v, &at, problems),
            // GraphQL answers every selected field, null when it has no value.
            None => problems.push(format!("{at}: the selected {} is missing", field.ty())),
        }
    }
}

fn result_value(
    schema: &Schema,
    document: &ExecutableDocument,
    field: &apollo_compiler::executable::Field,
    ty: &Type,
    value: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    if value.is_null() {
        if ty.is_non_null() {
            problems.push(format!("{at}: null for the non-null {ty}"));
        }
        return;
    }
    if ty.is_list() {
        match value.as_array() {
            Some(items) => items.iter().enumerate().for_each(|(i, item)| {
                let at = format!("{at}/{i}");
                result_value(schema, document, field, ty.item_type(), item, &at, problems)
            }),
            None => problems.push(format!("{at}: {value} is not a list ({ty})")),
        }
        return;
    }
    let name = ty.inner_named_type().as_str();
    match schema.types.get(name) {
        Some(ExtendedType::Scalar(_)) => {
            if !scalar_fits(name, value, true) {
                problems.push(format!("{at}: {value} is not a {name}"));
            }
        }
        Some(ExtendedType::Enum(e)) => {
            if !value.as_str().is_some_and(|v| e.values.contains_key(v)) {
                problems.push(format!("{at}: {value} is not a value of the enum {name}"));
            }
        }
        Some(_) => result_object(schema, document, &field.selection_set, value, at, problems),
        None => problems.push(format!("{at}: no type {name}")),
    }
}

#[test]
fn every_linear_operation_conforms_to_linear_s_graphql_schema() {
    let Some(dir) = specs_dir_or_skip() else {
        return;
    };
    let schema = load_schema(&dir.join("linear_schema.graphql"));
    let linear = catalog().expect("catalog").get("linear").expect("linear");
    let mut failures = Vec::new();
    let mut known = 0;
    for operation in &linear.operations {
        let mut inputs = vec![("sample", operation.sample_input.clone())];
        inputs.extend(full_input(operation).map(|full| ("every field", full)));
        inputs.extend(every_field_input(operation).map(|all| ("every field at every depth", all)));
        let mut problems = BTreeSet::new();
        for (which, input) in &inputs {
            for p in check(&schema, linear, operation, input) {
                problems.insert(format!("({which} input) {p}"));
            }
        }
        for problem in problems {
            let o = operation.id.as_str();
            match listed_reason(&[KNOWN, OPEN_GAPS], "linear", o, &problem) {
                Some(why) => {
                    known += 1;
                    println!("known: linear {o}: {problem} ({why})");
                }
                None => failures.push(format!("linear {o}: {problem}")),
            }
        }
    }
    println!(
        "conformance_linear: {} operations checked against Linear's GraphQL schema, {known} known differences, {} failures",
        linear.operations.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        linear.operations.len() >= 5,
        "only {} operations",
        linear.operations.len()
    );
}
