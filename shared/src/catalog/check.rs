//! Checks a provider declaration: the same rules for the embedded files (the catalog
//! test) and for Custom HTTP declarations a user sends.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::model::{
    Auth, ChangeSource, Encoding, EntityMapping, Field, HttpMethod, Lookup, Operation, Provider,
    Webhooks,
};
use super::template::{Source, placeholders};
use crate::domain::Change;

/// Everything wrong with a catalog provider, each problem naming where it is (empty
/// when valid). Catalog files must also carry samples that validate.
pub fn check(provider: &Provider) -> Vec<String> {
    check_with(provider, true)
}

/// The same checks for a declaration a user sends (Custom HTTP), which has no samples.
pub fn check_declaration(provider: &Provider) -> Vec<String> {
    check_with(provider, false)
}

fn check_with(provider: &Provider, samples: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let credentials: BTreeSet<&str> = provider
        .credentials
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let config: BTreeSet<&str> = provider.config.iter().map(|f| f.name.as_str()).collect();
    let no_input = BTreeSet::new();

    if provider.display_name.trim().is_empty() {
        problems.push("display_name is empty".into());
    }
    check_fields("credentials", &provider.credentials, &config, &mut problems);
    check_fields("config", &provider.config, &config, &mut problems);
    check_unique_field_names(provider, &mut problems);

    let scope = Scope {
        credentials: &credentials,
        config: &config,
        input: &no_input,
    };
    check_connection(provider, &scope, &mut problems);
    if provider.operations.is_empty() {
        problems.push("no operations".into());
    }
    check_field_rules(provider, &mut problems);
    check_lookups(provider, &mut problems);
    if let Some(id) = &provider.default_operation
        && !provider.operations.iter().any(|o| &o.id == id)
    {
        problems.push(format!("default_operation {id} is not an operation"));
    }
    check_operations(provider, &scope, samples, &mut problems);
    check_quotes(provider, &mut problems);
    if let Some(hooks) = &provider.webhooks {
        check_webhooks(provider, hooks, &scope, &mut problems);
    }
    problems
}

/// Credential and config fields share one namespace: no name is declared twice.
fn check_unique_field_names(provider: &Provider, problems: &mut Vec<String>) {
    let all_names = provider
        .credentials
        .iter()
        .chain(&provider.config)
        .map(|f| &f.name);
    let mut seen = BTreeSet::new();
    for name in all_names {
        if !seen.insert(name) {
            problems.push(format!("field {name} is declared twice"));
        }
    }
}

/// How calls reach the provider: base URL, common headers, auth scheme, verification.
fn check_connection(provider: &Provider, scope: &Scope<'_>, problems: &mut Vec<String>) {
    scope.template("base_url", &provider.base_url, problems);
    // http:// only to this machine (local development and tests); the edge's egress
    // guard still refuses loopback unless it is allow-listed.
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| provider.base_url.starts_with(p));
    if !provider.base_url.starts_with("https://")
        && !provider.base_url.starts_with("{config.")
        && !loopback
    {
        problems.push(format!(
            "base_url {:?} must be https:// or a config placeholder",
            provider.base_url
        ));
    }
    for (name, value) in &provider.headers {
        scope.template(&format!("headers.{name}"), value, problems);
    }
    check_auth(&provider.auth, "auth", &provider.config, scope, problems);
    if let Some(verify) = &provider.verify {
        scope.template("verify.path", &verify.path, problems);
    }
}

/// A config field's `needed_for` names operations, and every field's pattern compiles.
fn check_field_rules(provider: &Provider, problems: &mut Vec<String>) {
    for field in &provider.config {
        for op in &field.needed_for {
            if !provider.operations.iter().any(|o| &o.id == op) {
                problems.push(format!(
                    "config.{}.needed_for: {op} is not an operation",
                    field.name
                ));
            }
        }
    }
    for field in provider.credentials.iter().chain(&provider.config) {
        if let Some(pattern) = &field.pattern
            && let Err(e) = regex::Regex::new(pattern)
        {
            problems.push(format!("{}.pattern: {e}", field.name));
        }
    }
}

/// Each lookup reads with a read-only operation whose sample answer fits it.
fn check_lookups(provider: &Provider, problems: &mut Vec<String>) {
    for (kind, lookup) in &provider.lookups {
        match read_only(
            provider,
            &lookup.operation,
            &format!("lookups.{kind}"),
            "a lookup",
        ) {
            Err(problem) => problems.push(problem),
            Ok(op) => check_lookup_sample(kind, lookup, op, problems),
        }
    }
}

/// The sample answer has the lookup's list, and each item the id and a name.
fn check_lookup_sample(kind: &str, lookup: &Lookup, op: &Operation, problems: &mut Vec<String>) {
    let items = op
        .sample_response
        .pointer(&lookup.items)
        .and_then(Value::as_array);
    match items.and_then(|i| i.first()) {
        None => problems.push(format!(
            "lookups.{kind}: {} is not a non-empty list in {}'s sample_response",
            lookup.items, op.id
        )),
        Some(item) => {
            if item.pointer(&lookup.id).is_none() {
                problems.push(format!(
                    "lookups.{kind}: id {} is not in an item",
                    lookup.id
                ));
            }
            if !lookup
                .match_fields
                .iter()
                .any(|m| item.pointer(m).is_some())
            {
                problems.push(format!("lookups.{kind}: no match field is in an item"));
            }
        }
    }
}

/// Every operation once, each checked on its own.
fn check_operations(
    provider: &Provider,
    scope: &Scope<'_>,
    samples: bool,
    problems: &mut Vec<String>,
) {
    let lookup_ops: BTreeSet<&str> = provider
        .lookups
        .values()
        .map(|l| l.operation.as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for op in &provider.operations {
        if !ids.insert(op.id.as_str()) {
            problems.push(format!("operation {} is declared twice", op.id));
        }
        check_operation(
            op,
            scope.credentials,
            scope.config,
            samples,
            &lookup_ops,
            problems,
        );
        check_success(op, problems);
        check_samples_by(op, problems);
    }
}

/// Samples chosen by an input: the input is a top-level property, each value one
/// its `enum` allows (if it has one), each sample valid against the response schema.
fn check_samples_by(op: &Operation, problems: &mut Vec<String>) {
    let Some(by) = &op.sample_responses_by else {
        return;
    };
    let at = format!("operations.{}.sample_responses_by", op.id);
    let Some(property) = op
        .input_schema
        .pointer(&format!("/properties/{}", by.input))
    else {
        problems.push(format!("{at}: {} is not an input property", by.input));
        return;
    };
    let allowed = property.get("enum").and_then(Value::as_array);
    let validator = compile_schema(&op.response_schema);
    for (value, sample) in &by.samples {
        if allowed.is_some_and(|a| !a.iter().any(|v| v == value)) {
            problems.push(format!("{at}: {value} is not a value of {}", by.input));
        }
        if let Ok(validator) = &validator {
            for error in validation_errors(validator, sample) {
                problems.push(format!("{at}.{value} does not validate: {error}"));
            }
        }
    }
}

/// A success is a 2xx; an operation answered with no body says 202 or 204 and has no
/// sample body, and a 204 is always answered with no body.
fn check_success(op: &Operation, problems: &mut Vec<String>) {
    let at = format!("operations.{}", op.id);
    let status = op.success_status;
    if !(200..300).contains(&status) {
        problems.push(format!("{at}.success_status: {status} is not a 2xx"));
    }
    if op.empty_response {
        if !matches!(status, 202 | 204) {
            problems.push(format!(
                "{at}: empty_response needs success_status 202 or 204, not {status}"
            ));
        }
        let empty_sample = op.sample_response.is_null()
            || op.sample_response.as_object().is_some_and(Map::is_empty);
        if !empty_sample {
            problems.push(format!(
                "{at}: an empty_response operation's sample_response is {{}}"
            ));
        }
    } else if status == 204 {
        problems.push(format!("{at}: a 204 has no body: set empty_response"));
    }
}

/// Each quoted input names a string input of its operation.
fn check_quotes(provider: &Provider, problems: &mut Vec<String>) {
    for op in &provider.operations {
        for name in op.quote.keys() {
            let typed = op
                .input_schema
                .pointer(&format!("/properties/{name}/type"))
                .and_then(Value::as_str);
            if typed != Some("string") {
                problems.push(format!(
                    "operation {}: quote.{name} is not a string input",
                    op.id
                ));
            }
        }
    }
}

/// The webhook section: its declared fields, its pointers and its entity mappings.
fn check_webhooks(
    provider: &Provider,
    hooks: &Webhooks,
    scope: &Scope<'_>,
    problems: &mut Vec<String>,
) {
    for field in &hooks.secret_fields {
        if !scope.credentials.contains(field.as_str()) {
            problems.push(format!(
                "webhooks.secret_fields: {field} is not a credential field"
            ));
        }
    }
    check_webhook_pointers(hooks, problems);
    if hooks.payload == super::model::Payload::Headers && hooks.header_prefix.is_none() {
        problems.push("webhooks.payload: headers needs header_prefix".into());
    }
    if let Some(field) = &hooks.header_config
        && !scope.config.contains(field.as_str())
    {
        problems.push(format!(
            "webhooks.header_config: {field} is not a config field"
        ));
    }
    for mapping in &hooks.entities {
        check_entity_mapping(provider, mapping, problems);
    }
}

/// Every event pointer is a JSON pointer; the id, type and time are in the sample event.
fn check_webhook_pointers(hooks: &Webhooks, problems: &mut Vec<String>) {
    // A batch delivery is an array of events; pointers read each element.
    let sample = match (&hooks.sample_event, hooks.batch) {
        (Some(sample), true) => sample.get(0),
        (sample, _) => sample.as_ref(),
    };
    if hooks.batch && hooks.sample_event.is_some() && sample.is_none() {
        problems.push("webhooks.batch: sample_event is not a non-empty array".into());
    }
    // event_id_with parts may be missing from an event (they are skipped then), so
    // only their form is checked.
    for pointer in hooks.event_id_with.iter().filter(|p| !p.starts_with('/')) {
        problems.push(format!(
            "webhooks.event_id_with: {pointer:?} is not a JSON pointer"
        ));
    }
    for (name, pointer) in [
        ("event_id", Some(&hooks.event_id)),
        ("event_type", hooks.event_type.as_ref()),
        ("event_time", hooks.event_time.as_ref()),
    ] {
        if let Some(pointer) = pointer {
            if !pointer.starts_with('/') {
                problems.push(format!(
                    "webhooks.{name}: {pointer:?} is not a JSON pointer"
                ));
            } else if let Some(sample) = sample
                && sample.pointer(pointer).is_none()
            {
                problems.push(format!("webhooks.{name}: {pointer} is not in sample_event"));
            }
        }
    }
}

/// An entity mapping's change is readable, and its fetch reads an entity that exists.
fn check_entity_mapping(provider: &Provider, mapping: &EntityMapping, problems: &mut Vec<String>) {
    if let ChangeSource::FromPayload { from } = &mapping.change
        && !from.starts_with('/')
    {
        problems.push(format!(
            "webhooks.entities.change.from: {from:?} is not a JSON pointer"
        ));
    }
    if let Some(fetch) = &mapping.fetch {
        let at = "webhooks.entities.fetch";
        match read_only(provider, &fetch.operation, at, "a fetch") {
            Err(problem) => problems.push(problem),
            Ok(op) => {
                if op.sample_response.pointer(&fetch.id).is_none() {
                    problems.push(format!(
                        "webhooks.entities.fetch: id {} is not in {}'s sample_response",
                        fetch.id, op.id
                    ));
                }
            }
        }
        if mapping.change == ChangeSource::Fixed(Change::Deleted) {
            problems.push("webhooks.entities.fetch: a deleted entity cannot be read".into());
        }
    }
}

/// The operation a declaration (`at`) names, which must exist and only read.
fn read_only<'p>(
    provider: &'p Provider,
    id: &str,
    at: &str,
    what: &str,
) -> Result<&'p Operation, String> {
    match provider.operations.iter().find(|o| o.id == id) {
        None => Err(format!("{at}: {id} is not an operation")),
        Some(op) if op.side_effects => {
            Err(format!("{at}: {id} has side effects; {what} only reads"))
        }
        Some(op) => Ok(op),
    }
}

struct Scope<'a> {
    credentials: &'a BTreeSet<&'a str>,
    config: &'a BTreeSet<&'a str>,
    input: &'a BTreeSet<String>,
}

impl Scope<'_> {
    fn template(&self, at: &str, template: &str, problems: &mut Vec<String>) {
        match placeholders(template) {
            Err(e) => problems.push(format!("{at}: {e}")),
            Ok(found) => {
                for p in found {
                    let declared = match p.source {
                        Source::Credentials => self.credentials.contains(p.name.as_str()),
                        Source::Config => self.config.contains(p.name.as_str()),
                        Source::Input => self.input.contains(&p.name),
                    };
                    if !declared {
                        let kind = match p.source {
                            Source::Credentials => "credential field",
                            Source::Config => "config field",
                            Source::Input => "input property",
                        };
                        problems.push(format!(
                            "{at}: {{{}}} names no declared {kind}",
                            template_name(&p)
                        ));
                    }
                }
            }
        }
    }
}

fn template_name(p: &super::Placeholder) -> String {
    let source = match p.source {
        Source::Input => "input",
        Source::Config => "config",
        Source::Credentials => "credentials",
    };
    format!("{source}.{}", p.name)
}

fn check_fields(kind: &str, fields: &[Field], config: &BTreeSet<&str>, problems: &mut Vec<String>) {
    for f in fields {
        if f.name.is_empty()
            || !f
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            problems.push(format!(
                "{kind}.{}: names use letters, digits and _",
                f.name
            ));
        }
        if f.label.trim().is_empty() {
            problems.push(format!("{kind}.{}: no label", f.name));
        }
        if let Some(default) = &f.default
            && !f.choices.is_empty()
            && !f.choices.contains(default)
        {
            problems.push(format!(
                "{kind}.{}: default {default:?} is not one of its choices",
                f.name
            ));
        }
        if f.required && f.default.is_some() {
            problems.push(format!(
                "{kind}.{}: a field with a default is not required",
                f.name
            ));
        }
        if let Some(when) = &f.when {
            for key in when.keys() {
                if !config.contains(key.as_str()) {
                    problems.push(format!(
                        "{kind}.{}: when names no config field {key}",
                        f.name
                    ));
                }
            }
        }
    }
}

fn check_auth(
    auth: &Auth,
    at: &str,
    config_fields: &[Field],
    scope: &Scope<'_>,
    problems: &mut Vec<String>,
) {
    let needs = |names: &[&str], problems: &mut Vec<String>| {
        for name in names {
            if !scope.credentials.contains(name) {
                problems.push(format!("{at}: this scheme needs a credential field {name}"));
            }
        }
    };
    match auth {
        Auth::Header { header, value } => {
            if header.trim().is_empty() {
                problems.push(format!("{at}: header name is empty"));
            }
            scope.template(&format!("{at}.value"), value, problems);
            if !value.contains("{credentials.") {
                problems.push(format!("{at}: the header carries no credential"));
            }
        }
        Auth::Basic { username, password } => {
            scope.template(&format!("{at}.username"), username, problems);
            scope.template(&format!("{at}.password"), password, problems);
        }
        Auth::Query { param, value } => {
            if param.trim().is_empty() {
                problems.push(format!("{at}: query parameter name is empty"));
            }
            scope.template(&format!("{at}.value"), value, problems);
        }
        Auth::OAuth2 {
            authorize_url,
            token_url,
            ..
        } => {
            scope.template(&format!("{at}.authorize_url"), authorize_url, problems);
            scope.template(&format!("{at}.token_url"), token_url, problems);
            needs(&["client_id", "client_secret", "refresh_token"], problems);
        }
        Auth::SmartBackendServices { token_url, .. } => {
            scope.template(&format!("{at}.token_url"), token_url, problems);
            needs(&["client_id", "private_key"], problems);
        }
        Auth::Choice {
            config_field,
            options,
        } => {
            match config_fields.iter().find(|f| &f.name == config_field) {
                None => problems.push(format!(
                    "{at}: choice by undeclared config field {config_field}"
                )),
                Some(field) => {
                    let choices: BTreeSet<&String> = field.choices.iter().collect();
                    let keys: BTreeSet<&String> = options.keys().collect();
                    if choices != keys {
                        problems.push(format!("{at}: options {keys:?} differ from {config_field}'s choices {choices:?}"));
                    }
                    for (name, option) in options {
                        check_auth(
                            option,
                            &format!("{at}.options.{name}"),
                            config_fields,
                            scope,
                            problems,
                        );
                    }
                }
            }
        }
        Auth::None => {}
    }
}

/// Compiles a JSON Schema, or says why it does not.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// A compiled validator from a process-wide cache, under a key that names the schema
/// (an operation, or the schema's own text): compiling costs far more than validating.
pub fn cached_validator(
    key: String,
    schema: &Value,
) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(v.clone());
    }
    let compiled = Arc::new(compile_schema(schema)?);
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    if guard.len() > 1024 {
        guard.clear();
    }
    guard.insert(key, compiled.clone());
    Ok(compiled)
}

/// A compiled validator for a schema, cached under the schema's text.
pub fn schema_validator(schema: &Value) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
    cached_validator(format!("schema:{schema}"), schema)
}

/// The compiled validator of an operation's input schema: cached by provider and
/// operation for the catalog, by the schema's text for a Custom HTTP declaration.
pub fn operation_validator(
    provider: &Provider,
    op: &Operation,
) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
    let key = if provider.id == super::custom::ID {
        format!("custom:{}", op.input_schema)
    } else {
        format!("{}/{}", provider.id, op.id)
    };
    cached_validator(key, &op.input_schema)
}

/// The first few validation errors of `value` against `validator`, as text.
pub fn validation_errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn check_operation(
    op: &Operation,
    credentials: &BTreeSet<&str>,
    config: &BTreeSet<&str>,
    samples: bool,
    lookup_ops: &BTreeSet<&str>,
    problems: &mut Vec<String>,
) {
    let at = format!("operations.{}", op.id);
    if op.id.is_empty()
        || !op
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        problems.push(format!("{at}: ids use lowercase letters, digits and _"));
    }
    let input: BTreeSet<String> = op
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let scope = Scope {
        credentials,
        config,
        input: &input,
    };
    scope.template(&format!("{at}.path"), &op.path, problems);
    // An empty path is the base URL itself: FHIR posts a transaction to [base], which
    // has no trailing slash.
    if !op.path.is_empty() && !op.path.starts_with('/') {
        problems.push(format!("{at}.path must be empty or start with /"));
    }
    for (k, v) in &op.query {
        scope.template(&format!("{at}.query.{k}"), v, problems);
    }
    for (k, v) in &op.headers {
        scope.template(&format!("{at}.headers.{k}"), v, problems);
    }
    for (k, v) in &op.defaults {
        let target = super::model::default_path(k)
            .into_iter()
            .try_fold(&op.input_schema, |schema, segment| {
                schema.get("properties")?.get(segment)
            });
        if target.is_none() {
            problems.push(format!("{at}.defaults: {k} is not an input property"));
        }
        for (entry, template) in v.templates() {
            if let (Some(entry), Some(target)) = (entry, target) {
                let declared = target
                    .get("properties")
                    .and_then(|p| p.get(entry))
                    .is_some()
                    || target.get("$ref").or_else(|| target.get("oneOf")).is_some();
                if !declared {
                    problems.push(format!(
                        "{at}.defaults.{k}: {entry} is not a property of it"
                    ));
                }
            }
            scope.template(&format!("{at}.defaults.{k}"), template, problems);
        }
    }
    match (op.encoding, &op.graphql) {
        (Encoding::Graphql, None) => {
            problems.push(format!("{at}: graphql encoding needs a graphql document"))
        }
        (Encoding::Graphql, Some(_)) if op.method != HttpMethod::Post => {
            problems.push(format!("{at}: GraphQL is sent with POST"))
        }
        (e, Some(_)) if e != Encoding::Graphql => {
            problems.push(format!("{at}: graphql document without graphql encoding"))
        }
        _ => {}
    }
    if op.encoding == Encoding::None && !matches!(op.method, HttpMethod::Get | HttpMethod::Delete) {
        problems.push(format!("{at}: {} without a body", op.method.as_str()));
    }
    if let Some(field) = &op.body_field
        && !input.contains(field)
    {
        problems.push(format!("{at}.body_field: {field} is not an input property"));
    }
    if let Some(rule) = &op.error_when
        && !rule.pointer.starts_with('/')
    {
        problems.push(format!("{at}.error_when.pointer is not a JSON pointer"));
    }
    // An operation only the runtime calls (a lookup) has no words; every other one does.
    if samples && op.phrases.is_empty() && !lookup_ops.contains(op.id.as_str()) {
        problems.push(format!("{at}: no phrases"));
    }
    if op.response_schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        problems.push(format!("{at}: response schemas stay open to extra fields"));
    }
    for (kind, schema, sample) in [
        ("input_schema", &op.input_schema, &op.sample_input),
        ("response_schema", &op.response_schema, &op.sample_response),
    ] {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(format!("{at}.{kind}: the top level is an object"));
        }
        match compile_schema(schema) {
            Err(e) => problems.push(format!("{at}.{kind} does not compile: {e}")),
            Ok(validator) if samples => {
                for error in validation_errors(&validator, sample) {
                    problems.push(format!(
                        "{at}: sample for {kind} does not validate: {error}"
                    ));
                }
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_read_from_the_payload_needs_a_json_pointer() {
        let mut linear = crate::catalog::catalog()
            .expect("catalog")
            .get("linear")
            .expect("linear")
            .clone();
        let hooks = linear.webhooks.as_mut().expect("webhooks");
        assert_eq!(
            hooks.entities[0].change,
            ChangeSource::FromPayload {
                from: "/action".into()
            }
        );
        assert!(check(&linear).is_empty(), "{:?}", check(&linear));
        let hooks = linear.webhooks.as_mut().expect("webhooks");
        hooks.entities[0].change = ChangeSource::FromPayload {
            from: "action".into(),
        };
        assert_eq!(
            check(&linear),
            vec!["webhooks.entities.change.from: \"action\" is not a JSON pointer"]
        );
    }

    #[test]
    fn samples_chosen_by_an_input_name_its_values_and_fit_the_response_schema() {
        let mut fhir = crate::catalog::catalog()
            .expect("catalog")
            .get("fhir")
            .expect("fhir")
            .clone();
        assert!(check(&fhir).is_empty(), "{:?}", check(&fhir));
        let read = fhir
            .operations
            .iter_mut()
            .find(|o| o.id == "read_resource")
            .expect("read_resource");
        let by = read.sample_responses_by.as_mut().expect("samples by type");
        by.samples.insert(
            "Bundle".into(),
            serde_json::json!({"resourceType": "Bundle"}),
        );
        by.samples.insert(
            "Encounter".into(),
            serde_json::json!({"resourceType": "Encounter"}),
        );
        assert_eq!(
            check(&fhir),
            vec![
                "operations.read_resource.sample_responses_by: Bundle is not a value of resource_type",
                "operations.read_resource.sample_responses_by.Bundle does not validate: \"id\" is a required property at ",
                "operations.read_resource.sample_responses_by.Encounter does not validate: \"id\" is a required property at ",
            ]
        );
    }

    #[test]
    fn an_operation_answered_with_no_body_says_202_or_204_and_has_no_sample_body() {
        let sendgrid = crate::catalog::catalog()
            .expect("catalog")
            .get("sendgrid")
            .expect("sendgrid")
            .clone();
        assert!(check(&sendgrid).is_empty(), "{:?}", check(&sendgrid));
        let mut wrong = sendgrid.clone();
        wrong.operations[0].success_status = 200;
        wrong.operations[0].sample_response = serde_json::json!({"message": "queued"});
        assert_eq!(
            check(&wrong),
            vec![
                "operations.send_email: empty_response needs success_status 202 or 204, not 200",
                "operations.send_email: an empty_response operation's sample_response is {}",
            ]
        );
        let mut no_content = sendgrid;
        no_content.operations[0].success_status = 204;
        no_content.operations[0].empty_response = false;
        assert_eq!(
            check(&no_content),
            vec!["operations.send_email: a 204 has no body: set empty_response"]
        );
        no_content.operations[0].success_status = 302;
        no_content.operations[0].empty_response = false;
        assert_eq!(
            check(&no_content),
            vec!["operations.send_email.success_status: 302 is not a 2xx"]
        );
    }
}
