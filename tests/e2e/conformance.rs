//! Conformance of the catalog against the providers' own API descriptions: every
//! operation of every provider with a description builds its request from its sample input
//! and from an input with every field, and the request is checked against the description:
//! the path and method exist, every query parameter is declared, the required ones are sent,
//! the body fits the request schema (JSON) or sends only declared fields (form). The sandbox
//! mock is checked against the success response's schema, where the description has one.
//!
//! Two kinds of description are used. Published ones (Stripe, Twilio, SendGrid's Mail Send,
//! Slack, Intercom, Notion) come from the team's provider-specs folder
//! (`STUDIO_PROVIDER_SPECS`, else `../shared/provider-specs` beside the repository, else
//! `/work/shared/provider-specs`); without it they are skipped, and under `CI=true` the test
//! fails. Reference documents live in this repository, in `tests/data/reference-specs/`,
//! for the providers with no published description the catalog can use (Postmark, HubSpot,
//! Salesforce: written from the public reference, sources cited in each file's header) and
//! for parts a published one lacks (Mailgun's description and SendGrid's non-mail
//! operations, vendored under their licences): they are always checked. Against reference
//! documents the check is stricter: path and query parameter values, and form field values,
//! are checked against their schemas too, string formats are validated, and the catalog's
//! schemas are compared with the description's, for every input and not only the two
//! built here: what the description requires (in the request and the success response),
//! the catalog's schema requires; the catalog's enums allow no value the description does
//! not; and the catalog declares no field the description does not name.
//!
//! Known errors of a description are listed in [`KNOWN`] with the reason; a failure
//! they do not cover fails the test. The FHIR provider is checked against HL7's JSON
//! schema and R4's REST rules in `conformance_fhir`, Google's discovery documents in
//! `conformance_google`, Linear's GraphQL schema in `conformance_linear`: see
//! docs/catalog.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use shared::catalog::{Encoding, Operation, Provider, catalog};
use shared::runtime::request::{CredentialValues, build_request};

/// (provider, operation, what of it is known to differ from the description, why).
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "notion",
        "create_page",
        "at /children/",
        "Notion's published description types `children` as strings; the API takes block objects (developers.notion.com/reference/post-page)",
    ),
    (
        "notion",
        "create_page",
        "at /icon",
        "the description types `icon` as a string of JSON; the API takes an emoji or file object",
    ),
    (
        "notion",
        "append_block_children",
        "at /children/",
        "the description's block request forbids `object`, which Notion's own examples send (\"object\": \"block\", developers.notion.com/reference/patch-block-children)",
    ),
    (
        "sendgrid",
        "send_email",
        "at /custom_args",
        "the description types message-level custom_args as a string; the API takes an object of string values, as at the personalization level (Mail Send reference; see sendgrid.yaml's header)",
    ),
    (
        "notion",
        "create_page",
        "at /cover",
        "the description types `cover` as a string of JSON; the API takes a file object",
    ),
    (
        "notion",
        "update_page",
        "at /icon",
        "the description's icon object forbids `type`, which every emoji and file object the API documents has (developers.notion.com/reference/emoji-object)",
    ),
    (
        "notion",
        "create_page",
        "at /parent",
        "the description's data-source parent still requires `database_id`; API 2025-09-03 takes `data_source_id` (the upgrade guide, developers.notion.com/docs/upgrade-guide-2025-09-03)",
    ),
    (
        "mailgun",
        "list_bounces",
        "required query parameter page",
        "Mailgun's description marks the paging parameters required while its own text calls them optional (\"if empty, returns the first page\"); mailgun.js sends them only for later pages (SuppressionListQuery: limit?, page?)",
    ),
    (
        "mailgun",
        "list_bounces",
        "required query parameter term",
        "Mailgun's description marks the `term` filter required; it is a filter (\"Filter records based on addresses that start with...\"), and mailgun.js never sends it",
    ),
    (
        "mailgun",
        "list_bounces",
        "at /items/0/created_at",
        "the description types a bounce's created_at as an object (RFC822Time); the API answers a string such as \"Fri, 21 Oct 2011 11:02:55 UTC\", as its own text says (\"in RFC822 format\")",
    ),
    (
        "mailgun",
        "add_unsubscribe",
        "tag",
        "the description names the form field `tags`; one unsubscribe's tag is the form field `tag` (mailgun.js SuppressionCreationData: \"tag works only with FormData usage for one unsubscribe\")",
    ),
    (
        "mailgun",
        "add_unsubscribe",
        "response: the catalog declares",
        "the description's GenericResponse names message only; Mailgun's SDK reads type and value too (mailgun.js SuppressionCreationResponse)",
    ),
    (
        "mailgun",
        "add_list_member",
        "is not of type \"boolean\"",
        "the description types subscribed and upsert as booleans; Mailgun's SDK sends \"yes\" or \"no\" (mailgun.js CreateUpdateMailListMembers)",
    ),
    (
        "mailgun",
        "get_events",
        "response/items/items: the catalog declares",
        "the description's EventResponse leaves out recipient and reason, which every event carries (mailgun.js DomainEvent)",
    ),
    (
        "mailgun",
        "get_events",
        "response/paging: the catalog declares",
        "the description's events paging names next and previous; the API pages with first and last too (mailgun.js PagesList)",
    ),
    (
        "mailgun",
        "send_email",
        "subject is required by the description",
        "the description requires subject, and says why it may be left out: \"not required if sending with a template that has a pre-set Subject header\"",
    ),
];

/// Gaps of the catalog's own against a description, still to close: (provider,
/// operation, what, why). Unlike [`KNOWN`], these are ours; a gap not listed fails.
const OPEN_GAPS: &[(&str, &str, &str, &str)] = &[(
    "stripe",
    "list_invoices",
    "is a required property at /data/",
    "the catalog's invoice schema keeps the fields steps map (11 required of Stripe's 30), so its mock lacks the rest",
)];

/// Published descriptions that cover part of the provider's API (Twilio's has Messages and
/// Calls): an operation outside every description of its provider is checked against the
/// public reference its `schema_source` cites, not here.
const PARTIAL: &[&str] = &["twilio"];

/// One description a provider's operations are checked against.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A published description, a file of the team's provider-specs folder.
    Published(&'static str),
    /// A reference document, a file of `tests/data/reference-specs/` in this repository.
    Reference(&'static str),
}

/// The descriptions of a provider, in the order an operation is looked up in them: the
/// first that has the operation's path checks it.
fn spec_files(provider: &str) -> &'static [Source] {
    use Source::{Published, Reference};
    match provider {
        "stripe" => &[Published("stripe-openapi.spec3.2026-05-27.dahlia.json")],
        "twilio" => &[Published("twilio_api_v2010.json")],
        "sendgrid" => &[
            Published("tsg_mail_v3.json"),
            Reference("sendgrid-extra.yaml"),
        ],
        "slack" => &[Published("slack_web_openapi_v2.json")],
        "intercom" => &[Published("intercom_2.14.yaml")],
        "notion" => &[Published("notion-openapi.json")],
        "postmark" => &[Reference("postmark.yaml")],
        "mailgun" => &[Reference("mailgun.yaml")],
        "hubspot" => &[Reference("hubspot.yaml")],
        "salesforce" => &[Reference("salesforce.yaml")],
        _ => &[],
    }
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/reference-specs")
}

/// The team's provider-specs folder: `STUDIO_PROVIDER_SPECS`, else beside the
/// repository, else `/work/shared/provider-specs`.
pub(crate) fn specs_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("STUDIO_PROVIDER_SPECS") {
        return Some(PathBuf::from(dir));
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/provider-specs");
    [beside, PathBuf::from("/work/shared/provider-specs")]
        .into_iter()
        .find(|d| d.join("README.md").is_file())
}

/// The provider-specs folder; without it, `None` after saying the test is skipped, and
/// under `CI=true` a failure (CI must check conformance).
pub(crate) fn specs_dir_or_skip() -> Option<PathBuf> {
    let dir = specs_dir();
    if dir.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no provider-specs folder (set STUDIO_PROVIDER_SPECS)"
        );
        eprintln!("SKIPPED: no provider-specs folder (set STUDIO_PROVIDER_SPECS)");
    }
    dir
}

/// A description, with OpenAPI 3.0's `nullable` made JSON Schema (a union with null).
struct Spec {
    doc: Value,
    swagger: bool,
    /// Path prefixes the description's paths are relative to.
    prefixes: Vec<String>,
    /// A reference document: parameter and form values and string formats are checked too.
    reference: bool,
}

fn load(path: &std::path::Path, reference: bool) -> Spec {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("description {} unreadable: {e}", path.display()));
    let mut doc: Value = if path.extension().is_some_and(|e| e == "yaml") {
        serde_norway::from_str(&text).expect("YAML spec")
    } else {
        serde_json::from_str(&text).expect("JSON spec")
    };
    nullable_to_union(&mut doc);
    let swagger = doc.get("swagger").is_some();
    let mut prefixes = vec![String::new()];
    if let Some(base) = doc["basePath"].as_str() {
        prefixes.push(base.trim_end_matches('/').to_owned());
    }
    for server in doc["servers"].as_array().into_iter().flatten() {
        if let Some(url) = server["url"]
            .as_str()
            .and_then(|u| reqwest::Url::parse(u).ok())
        {
            prefixes.push(url.path().trim_end_matches('/').to_owned());
        }
    }
    Spec {
        doc,
        swagger,
        prefixes,
        reference,
    }
}

fn nullable_to_union(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(nullable_to_union);
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.push(Value::Null);
                }
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                    }
                    // `anyOf`/`oneOf`/`$ref` with `nullable`: the schema, or null.
                    _ => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_union),
        _ => {}
    }
}

/// Where a request's path is in a description: the template, its path item, and the
/// values of its path parameters (percent-decoded).
struct PathMatch<'s> {
    template: String,
    item: &'s Value,
    params: Vec<(String, String)>,
}

/// The description's path template that matches `path` (after a prefix). Where several
/// match (HubSpot's `/contacts/search` and `/contacts/{contactId}`), the one with the most
/// literal segments wins, as servers route them.
fn find_path<'s>(spec: &'s Spec, path: &str) -> Option<PathMatch<'s>> {
    let paths = spec.doc["paths"].as_object()?;
    for prefix in &spec.prefixes {
        let Some(rest) = path.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let best = paths
            .iter()
            .filter(|(template, _)| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.contains('{') && matches_template(t, s)))
            })
            .max_by_key(|(template, _)| template.split('/').filter(|t| !t.contains('{')).count());
        if let Some((template, item)) = best {
            let params = template
                .split('/')
                .zip(&segments)
                .filter_map(|(t, s)| template_value(t, s))
                .collect();
            return Some(PathMatch {
                template: template.clone(),
                item,
                params,
            });
        }
    }
    None
}

/// The parameter a segment template (`{Sid}.json`) names, and its value in the segment.
fn template_value(template: &str, segment: &str) -> Option<(String, String)> {
    let (open, close) = (template.find('{')?, template.rfind('}')?);
    let name = &template[open + 1..close];
    let raw = &segment[open..segment.len() - (template.len() - close - 1)];
    Some((name.to_owned(), percent_decode(raw)))
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A segment template (`{Sid}.json`, `{id}`) against a segment.
pub(crate) fn matches_template(template: &str, segment: &str) -> bool {
    let (Some(open), Some(close)) = (template.find('{'), template.rfind('}')) else {
        return false;
    };
    let (before, after) = (&template[..open], &template[close + 1..]);
    segment.len() > before.len() + after.len()
        && segment.starts_with(before)
        && segment.ends_with(after)
}

/// A JSON pointer token, escaped for a pointer and for the URI fragment it goes in.
fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// The value at a pointer made for a URI fragment (braces escaped, as [`escape_pointer`]
/// writes them).
fn schema_at<'s>(spec: &'s Spec, pointer: &str) -> Option<&'s Value> {
    spec.doc
        .pointer(&pointer.replace("%7B", "{").replace("%7D", "}"))
}

/// The pointer of the operation's request body schema for a content type, through a
/// `$ref`'d request body.
fn body_schema_pointer(spec: &Spec, op: &Value, op_pointer: &str, content: &str) -> Option<String> {
    let (base, body) = match op["requestBody"]["$ref"].as_str() {
        Some(r) => {
            let pointer = r.strip_prefix('#')?;
            (pointer.to_owned(), spec.doc.pointer(pointer)?)
        }
        None => (format!("{op_pointer}/requestBody"), &op["requestBody"]),
    };
    body["content"][content]["schema"]
        .is_object()
        .then(|| format!("{base}/content/{}/schema", escape_pointer(content)))
}

/// The operation's parameters (path item's and operation's), resolved.
fn parameters<'s>(spec: &'s Spec, item: &'s Value, op: &'s Value) -> Vec<&'s Value> {
    item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(op["parameters"].as_array().into_iter().flatten())
        .map(|p| resolve(spec, p))
        .collect()
}

fn resolve<'s>(spec: &'s Spec, value: &'s Value) -> &'s Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => spec.doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

/// Validates `instance` against the schema at `pointer` in the description, with the
/// description's own references resolvable.
fn validate(spec: &Spec, pointer: &str, instance: &Value) -> Vec<String> {
    validate_root(spec, json!(format!("#{pointer}")), None, instance)
}

/// Validates `instance` against `schema`, a schema of the description (a parameter's).
fn validate_schema(spec: &Spec, schema: &Value, instance: &Value) -> Vec<String> {
    validate_root(spec, json!("#/x-subject"), Some(schema), instance)
}

fn validate_root(
    spec: &Spec,
    reference: Value,
    subject: Option<&Value>,
    instance: &Value,
) -> Vec<String> {
    let mut root = Map::new();
    root.insert("$ref".into(), reference);
    if let Some(schema) = subject {
        root.insert("x-subject".into(), schema.clone());
    }
    for key in ["components", "definitions", "paths"] {
        if let Some(v) = spec.doc.get(key) {
            root.insert(key.into(), v.clone());
        }
    }
    let validator = match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(spec.reference)
        .build(&Value::Object(root))
    {
        Ok(v) => v,
        Err(e) => return vec![format!("the description's schema does not compile: {e}")],
    };
    validator
        .iter_errors(instance)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// A parameter or form field's text, as the value its schema types: a number, a boolean,
/// a JSON object (a form field typed `object` carries JSON, as Mailgun's `vars`), or an
/// array of the values (repeated, or comma-separated when `explode` is false). A text that
/// is not of its type stays text, so the schema reports it.
fn typed_value(spec: &Spec, schema: &Value, texts: &[String], explode: bool) -> Value {
    let schema = resolve(spec, schema);
    let one = |schema: &Value, text: &str| -> Value {
        let schema = resolve(spec, schema);
        let parsed = match schema["type"].as_str() {
            Some("integer") => text.parse::<i64>().ok().map(Value::from),
            Some("number") => text.parse::<f64>().ok().map(Value::from),
            Some("boolean") => text.parse::<bool>().ok().map(Value::from),
            Some("object") => serde_json::from_str::<Value>(text).ok(),
            _ => None,
        };
        parsed.unwrap_or_else(|| Value::String(text.to_owned()))
    };
    if schema["type"] == "array" {
        let items: Vec<&str> = if explode {
            texts.iter().map(String::as_str).collect()
        } else {
            texts.iter().flat_map(|t| t.split(',')).collect()
        };
        Value::Array(
            items
                .into_iter()
                .map(|t| one(&schema["items"], t))
                .collect(),
        )
    } else {
        texts.last().map_or(Value::Null, |t| one(schema, t))
    }
}

/// Each path and query parameter the request sends, against its schema (reference
/// documents only).
fn check_parameter_values(
    spec: &Spec,
    params: &[&Value],
    path: &[(String, String)],
    query: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for p in params {
        let name = p["name"].as_str().unwrap_or_default();
        let texts = match p["in"].as_str() {
            Some("path") => path
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect(),
            Some("query") => query.get(name).cloned().unwrap_or_default(),
            _ => continue,
        };
        if texts.is_empty() {
            continue;
        }
        let explode = p["explode"].as_bool().unwrap_or(true);
        let value = typed_value(spec, &p["schema"], &texts, explode);
        for problem in validate_schema(spec, &p["schema"], &value) {
            problems.push(format!(
                "{} parameter {name}: {problem}",
                p["in"].as_str().unwrap_or_default()
            ));
        }
    }
    problems
}

/// Form pairs' field names, without bracket suffixes (`metadata[a]` → `metadata`).
fn form_names(body: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split('=').next())
        .map(|k| {
            let k = k.replace("%5B", "[").replace("%5D", "]");
            k.split('[').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// The provider's config with each field's example (or default) value.
pub(crate) fn example_config(provider: &Provider) -> Map<String, Value> {
    provider
        .config
        .iter()
        .filter_map(|f| {
            let value = f.example.clone().or_else(|| f.default.clone())?;
            Some((f.name.clone(), Value::from(value)))
        })
        .collect()
}

/// The problem of an operation the description does not cover.
const NOT_COVERED: &str = "not in the description";

/// An input that sets every top-level property the input schema declares (the sample
/// input's values where it has them, the rest made up from the schema as a mock is).
pub(crate) fn full_input(operation: &Operation) -> Option<Value> {
    let mut schema = operation.input_schema.clone();
    let names: Vec<Value> = schema["properties"]
        .as_object()?
        .keys()
        .map(|k| json!(k))
        .collect();
    schema["required"] = Value::Array(names);
    let mut filler = operation.clone();
    filler.response_schema = schema;
    filler.sample_response = operation.sample_input.clone();
    filler.empty_response = false;
    let mut input = shared::runtime::mock::mock_response(&filler, &json!({}), "full").ok()?;
    let (Some(full), Some(sample)) = (input.as_object_mut(), operation.sample_input.as_object())
    else {
        return Some(input);
    };
    for (k, v) in sample {
        full.insert(k.clone(), v.clone());
    }
    // Alternatives only one of which may be set (Postmark's TemplateId or TemplateAlias):
    // the sample's choice stays, the others go, or no input could be valid.
    for branch in operation.input_schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let names: Vec<&str> = branch["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !names.is_empty() && !names.iter().all(|n| sample.contains_key(*n)) {
            for name in names {
                full.remove(name);
            }
        }
    }
    Some(input)
}

/// Form pairs by field name (without bracket suffixes), decoded, in order.
fn form_values(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        let name = k.split('[').next().unwrap_or_default().to_owned();
        fields.entry(name).or_default().push(v.into_owned());
    }
    fields
}

/// Every problem of one operation's request and mock against the description.
fn check(spec: &Spec, provider: &Provider, operation: &Operation, input: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let config = example_config(provider);
    let request = match build_request(
        provider,
        operation,
        input,
        &config,
        CredentialValues::Masked,
        Some("conformance-key"),
    ) {
        Ok(r) => r,
        Err(e) => return vec![format!("the sample input builds no request: {e}")],
    };
    let url = reqwest::Url::parse(&request.url).expect("URL");
    let Some(found) = find_path(spec, url.path()) else {
        return vec![format!("{NOT_COVERED}: no path {} in it", url.path())];
    };
    let method = request.method.to_ascii_lowercase();
    let Some(op) = found.item.get(&method) else {
        return vec![format!("{} has no {method}", found.template)];
    };
    let op_pointer = format!("/paths/{}/{method}", escape_pointer(&found.template));
    let params = parameters(spec, found.item, op);
    // Query parameters: declared, and the required ones sent.
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        let name = k.split('[').next().unwrap_or_default().to_owned();
        query.entry(name).or_default().push(v.into_owned());
    }
    let declared: BTreeSet<&str> = params
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .map(|n| n.trim_end_matches("[]"))
        .collect();
    for name in query.keys() {
        if !declared.contains(name.as_str()) {
            problems.push(format!("query parameter {name} is not declared"));
        }
    }
    for p in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        let name = p["name"].as_str().unwrap_or_default();
        // Slack's `token`: sent as the Authorization header, which Slack prefers.
        if name != "token" && !query.contains_key(name) {
            problems.push(format!("required query parameter {name} not sent"));
        }
    }
    if spec.reference {
        problems.extend(check_parameter_values(spec, &params, &found.params, &query));
    }
    if matches!(method.as_str(), "get" | "delete") && !request.body.is_empty() {
        problems.push(format!("a {} request with a body", request.method));
    }
    let call = Call {
        spec,
        operation,
        op,
        op_pointer: &op_pointer,
    };
    problems.extend(call.check_body(&request.body, &params));
    problems.extend(call.check_mock());
    problems
}

/// One operation of the catalog and the description's operation it calls.
struct Call<'a> {
    spec: &'a Spec,
    operation: &'a Operation,
    op: &'a Value,
    op_pointer: &'a str,
}

impl Call<'_> {
    fn check_body(&self, body: &[u8], params: &[&Value]) -> Vec<String> {
        match self.operation.encoding {
            Encoding::None => vec![],
            Encoding::Json | Encoding::Graphql => self.check_json_body(body, params),
            Encoding::Form if self.spec.swagger => form_fields(params, form_names(body)),
            Encoding::Form if self.spec.reference => self.check_form_values(body),
            Encoding::Form => self.check_form_names(body),
        }
    }

    fn check_json_body(&self, body: &[u8], params: &[&Value]) -> Vec<String> {
        let (spec, op, op_pointer) = (self.spec, self.op, self.op_pointer);
        let Ok(json_body) = serde_json::from_slice::<Value>(body) else {
            return vec!["the body is not JSON".into()];
        };
        if spec.swagger {
            // Swagger 2: a body parameter's schema, or form fields sent as JSON (Slack
            // takes either).
            return match op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().position(|p| p["in"] == "body"))
            {
                Some(i) => validate(
                    spec,
                    &format!("{op_pointer}/parameters/{i}/schema"),
                    &json_body,
                ),
                None => form_fields(
                    params,
                    json_body
                        .as_object()
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default(),
                ),
            };
        }
        match body_schema_pointer(spec, op, op_pointer, "application/json") {
            Some(pointer) => validate(spec, &pointer, &json_body),
            // An empty object sends no field a description could refuse: Postmark's
            // bounce activation is a PUT the catalog sends `{}` with.
            None if op.get("requestBody").is_none() && json_body == json!({}) => vec![],
            None => vec!["the description takes no JSON body".into()],
        }
    }

    /// The schema of a form body: URL-encoded, or else multipart (Mailgun documents only
    /// multipart, and names the same fields either way; only attachments need multipart).
    fn form_schema(&self) -> Option<(String, &Value)> {
        ["application/x-www-form-urlencoded", "multipart/form-data"]
            .into_iter()
            .find_map(|content| {
                let pointer = body_schema_pointer(self.spec, self.op, self.op_pointer, content)?;
                let schema = schema_at(self.spec, &pointer)?;
                Some((pointer, resolve(self.spec, schema)))
            })
    }

    /// Published OpenAPI descriptions' forms: each field sent declared, each required one sent.
    fn check_form_names(&self, body: &[u8]) -> Vec<String> {
        let names = form_names(body);
        let schema = self.form_schema().map_or(&Value::Null, |(_, s)| s);
        let declared: BTreeSet<&str> = schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut problems: Vec<String> = names
            .iter()
            .filter(|name| !declared.contains(name.as_str()))
            .map(|name| format!("form field {name} is not declared"))
            .collect();
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap_or_default();
            if !names.contains(required) {
                problems.push(format!("required form field {required} not sent"));
            }
        }
        problems
    }

    /// Reference documents' forms: the fields, typed as their schemas say, against the body
    /// schema (required fields, enums, types), and none it does not name, even where it
    /// allows others (Mailgun's allows any, and ignores them: a field it ignores does
    /// nothing the step meant).
    fn check_form_values(&self, body: &[u8]) -> Vec<String> {
        let Some((_, schema)) = self.form_schema() else {
            return vec!["the description takes no form body".into()];
        };
        let fields: Map<String, Value> = form_values(body)
            .into_iter()
            .map(|(name, texts)| {
                let field = match schema["properties"].get(&name) {
                    Some(s) => s.clone(),
                    None => pattern_property(schema, &name).unwrap_or(Value::Null),
                };
                let value = typed_value(self.spec, &field, &texts, true);
                (name, value)
            })
            .collect();
        let mut closed = schema.clone();
        closed["additionalProperties"] = json!(false);
        validate_schema(self.spec, &closed, &Value::Object(fields))
            .into_iter()
            .map(|p| format!("form: {p}"))
            .collect()
    }

    /// The mock against the description's response for the operation's success status.
    fn check_mock(&self) -> Vec<String> {
        let (spec, operation, op_pointer) = (self.spec, self.operation, self.op_pointer);
        let status = operation.success_status.to_string();
        let responses = &self.op["responses"];
        if responses.get(&status).is_none() && responses.get("default").is_none() {
            let documented: Vec<&String> = responses
                .as_object()
                .map(|r| r.keys().filter(|k| k.starts_with('2')).collect())
                .unwrap_or_default();
            return vec![format!(
                "success status {status}: the description documents {documented:?}"
            )];
        }
        if operation.empty_response {
            return vec![];
        }
        let pointer = if spec.swagger {
            format!("{op_pointer}/responses/{status}/schema")
        } else {
            format!("{op_pointer}/responses/{status}/content/application~1json/schema")
        };
        // A description without a response schema (Notion's) checks no mock.
        if schema_at(spec, &pointer).is_none() {
            return vec![];
        }
        let mock = match shared::runtime::mock::mock_response(
            operation,
            &operation.sample_input,
            "conformance",
        ) {
            Ok(m) => m,
            Err(e) => return vec![format!("no mock: {e}")],
        };
        validate(spec, &pointer, &mock)
            .into_iter()
            .map(|p| format!("mock: {p}"))
            .collect()
    }
}

/// The schema of the first of `schema`'s patternProperties whose pattern `name` matches
/// (checked by the JSON Schema validator itself, so the patterns mean what they mean there).
fn pattern_property(schema: &Value, name: &str) -> Option<Value> {
    schema["patternProperties"]
        .as_object()?
        .iter()
        .find(|(pattern, _)| {
            let probe = json!({"patternProperties": {pattern.as_str(): {"not": {}}}});
            jsonschema::validator_for(&probe).is_ok_and(|v| !v.is_valid(&json!({name: 0})))
        })
        .map(|(_, s)| s.clone())
}

/// Swagger 2 form fields: each sent one declared, each required one sent.
fn form_fields(params: &[&Value], names: BTreeSet<String>) -> Vec<String> {
    let form: Vec<&&Value> = params.iter().filter(|p| p["in"] == "formData").collect();
    let declared: BTreeSet<&str> = form.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut problems: Vec<String> = names
        .iter()
        .filter(|n| !declared.contains(n.as_str()))
        .map(|n| format!("field {n} is not declared"))
        .collect();
    for p in form.iter().filter(|p| p["required"] == true) {
        let name = p["name"].as_str().unwrap_or_default();
        // The token goes in the Authorization header, not the form.
        if name != "token" && !names.contains(name) {
            problems.push(format!("required field {name} not sent"));
        }
    }
    problems
}

/// Where the catalog's schemas are looser than a reference document's: a field the
/// description requires (in the request or the success response) that the catalog's schema
/// does not, or an enum value the description does not allow. The mocks and the requests
/// above show what one input sends; this shows what every input may send.
fn check_schemas(spec: &Spec, provider: &Provider, operation: &Operation) -> Vec<String> {
    let config = example_config(provider);
    let Ok(request) = build_request(
        provider,
        operation,
        &operation.sample_input,
        &config,
        CredentialValues::Masked,
        None,
    ) else {
        return vec![];
    };
    let Some(found) = reqwest::Url::parse(&request.url)
        .ok()
        .and_then(|url| find_path(spec, url.path()))
    else {
        return vec![];
    };
    let method = request.method.to_ascii_lowercase();
    let Some(op) = found.item.get(&method) else {
        return vec![];
    };
    let op_pointer = format!("/paths/{}/{method}", escape_pointer(&found.template));
    let mut problems = Vec::new();
    // The request body.
    // The body is the input less what the path and query take (or one input, body_field).
    let ours = match &operation.body_field {
        Some(field) => operation.input_schema["properties"][field].clone(),
        None => {
            let mut body = operation.input_schema.clone();
            let templates: Vec<&String> = std::iter::once(&operation.path)
                .chain(operation.query.values())
                .collect();
            if let Some(properties) = body["properties"].as_object_mut() {
                properties.retain(|name, _| {
                    !templates
                        .iter()
                        .any(|t| t.contains(&format!("{{input.{name}}}")))
                });
            }
            body
        }
    };
    let ours = &ours;
    let content = match operation.encoding {
        Encoding::Form => ["application/x-www-form-urlencoded", "multipart/form-data"].as_slice(),
        Encoding::Json => ["application/json"].as_slice(),
        _ => [].as_slice(),
    };
    if let Some(theirs) = content
        .iter()
        .find_map(|c| body_schema_pointer(spec, op, &op_pointer, c))
        .and_then(|p| schema_at(spec, &p))
    {
        looser(spec, theirs, ours, "request body", true, &mut problems);
    }
    // Query parameters the catalog fills from one input.
    for p in parameters(spec, found.item, op)
        .iter()
        .filter(|p| p["in"] == "query")
    {
        let name = p["name"].as_str().unwrap_or_default();
        let input = operation
            .query
            .get(name)
            .and_then(|t| t.strip_prefix("{input.").and_then(|t| t.strip_suffix('}')));
        if let Some(input) = input {
            let ours = &operation.input_schema["properties"][input];
            looser(
                spec,
                &p["schema"],
                ours,
                &format!("query parameter {name}"),
                true,
                &mut problems,
            );
        }
    }
    // The success response.
    let status = operation.success_status.to_string();
    let pointer = format!("{op_pointer}/responses/{status}/content/application~1json/schema");
    if let (Some(theirs), false) = (schema_at(spec, &pointer), operation.empty_response) {
        looser(
            spec,
            theirs,
            &operation.response_schema,
            "response",
            false,
            &mut problems,
        );
    }
    problems
        .into_iter()
        .map(|p| format!("(schemas) {p}"))
        .collect()
}

/// A schema's `required` names and `properties`, through `$ref` and `allOf`.
fn members<'s>(spec: &'s Spec, schema: &'s Value) -> (BTreeSet<&'s str>, Map<String, Value>) {
    let schema = resolve(spec, schema);
    let mut required: BTreeSet<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (r, p) = members(spec, part);
        required.extend(r);
        properties.extend(p);
    }
    (required, properties)
}

/// Compares the description's schema (`theirs`) with the catalog's (`ours`) at `at`:
/// required names (and, in a request, enums), through properties and array items.
fn looser(
    spec: &Spec,
    theirs: &Value,
    ours: &Value,
    at: &str,
    request: bool,
    out: &mut Vec<String>,
) {
    let theirs = resolve(spec, theirs);
    let (their_required, their_properties) = members(spec, theirs);
    let our_required: BTreeSet<&str> = ours["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for name in their_required.difference(&our_required) {
        out.push(format!(
            "{at}: {name} is required by the description, not by the catalog"
        ));
    }
    if request && let Some(allowed) = theirs["enum"].as_array() {
        match ours["enum"].as_array() {
            Some(ours) => {
                let extra: Vec<&Value> = ours
                    .iter()
                    .filter(|v| !allowed.contains(v) && !v.is_null())
                    .collect();
                if !extra.is_empty() {
                    out.push(format!("{at}: the catalog allows {extra:?}, which the description does not ({allowed:?})"));
                }
            }
            None if ours.is_object() => out.push(format!(
                "{at}: the description allows only {allowed:?}; the catalog any value"
            )),
            None => {}
        }
    }
    // Fields the catalog declares that the description does not name, where it names them.
    if !their_properties.is_empty() && !theirs["additionalProperties"].is_object() {
        for name in ours["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let pattern = pattern_property(theirs, name).is_some();
            if !their_properties.contains_key(name) && !pattern {
                out.push(format!(
                    "{at}: the catalog declares {name}, which the description does not"
                ));
            }
        }
    }
    for (name, their_property) in &their_properties {
        if let Some(our_property) = ours["properties"].get(name) {
            looser(
                spec,
                their_property,
                our_property,
                &format!("{at}/{name}"),
                request,
                out,
            );
        }
    }
    if theirs["type"] == "array" && ours["items"].is_object() {
        looser(
            spec,
            &theirs["items"],
            &ours["items"],
            &format!("{at}/items"),
            request,
            out,
        );
    }
}

/// What one operation's check came to.
enum Outcome {
    /// Checked against a description: its kind, and the problems found.
    Checked(Source, Vec<String>),
    /// No description of its provider has its path, and one (published) was not available.
    Skipped,
    /// No description of its provider has its path.
    Uncovered,
}

/// The operation against the first of its provider's descriptions that has its path, for
/// the sample input and for an input with every field.
fn check_operation(
    specs: &[(Source, Option<Spec>)],
    provider: &Provider,
    operation: &Operation,
) -> Outcome {
    let mut inputs = vec![("sample", operation.sample_input.clone())];
    if let Some(full) = full_input(operation) {
        inputs.push(("every field", full));
    }
    let mut skipped = false;
    for (source, spec) in specs {
        let Some(spec) = spec else {
            skipped = true;
            continue;
        };
        let sample = check(spec, provider, operation, &inputs[0].1);
        if sample.len() == 1 && sample[0].contains(NOT_COVERED) {
            continue;
        }
        let problems = inputs
            .iter()
            .flat_map(|(which, input)| {
                check(spec, provider, operation, input)
                    .into_iter()
                    .map(move |p| format!("({which} input) {p}"))
            })
            .collect::<BTreeSet<_>>();
        let mut problems: Vec<String> = problems.into_iter().collect();
        if spec.reference {
            problems.extend(check_schemas(spec, provider, operation));
        }
        return Outcome::Checked(*source, problems);
    }
    if skipped {
        Outcome::Skipped
    } else {
        Outcome::Uncovered
    }
}

/// How many operations were checked against which kind of description.
#[derive(Default)]
struct Tally {
    published: usize,
    reference: usize,
    skipped: usize,
    uncovered: usize,
}

#[test]
fn every_operation_conforms_to_its_published_description_or_reference_document() {
    let published = specs_dir();
    if published.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no provider-specs folder (set STUDIO_PROVIDER_SPECS)"
        );
        eprintln!(
            "SKIPPED published descriptions: no provider-specs folder (set STUDIO_PROVIDER_SPECS); reference documents still checked"
        );
    }
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    for provider in catalog().expect("catalog").providers() {
        let specs: Vec<(Source, Option<Spec>)> = spec_files(provider.id.as_str())
            .iter()
            .map(|source| {
                let spec = match source {
                    Source::Published(file) => {
                        published.as_ref().map(|d| load(&d.join(file), false))
                    }
                    Source::Reference(file) => Some(load(&reference_dir().join(file), true)),
                };
                (*source, spec)
            })
            .collect();
        if specs.is_empty() {
            continue;
        }
        for operation in &provider.operations {
            let (p, o) = (provider.id.as_str(), operation.id.as_str());
            let problems = match check_operation(&specs, provider, operation) {
                Outcome::Checked(Source::Published(_), problems) => {
                    tally.published += 1;
                    problems
                }
                Outcome::Checked(Source::Reference(_), problems) => {
                    tally.reference += 1;
                    problems
                }
                Outcome::Skipped => {
                    tally.skipped += 1;
                    continue;
                }
                Outcome::Uncovered => {
                    match (&operation.schema_source, PARTIAL.contains(&p)) {
                        (Some(source), true) => {
                            println!("not covered: {p} {o}: checked against {source}");
                            tally.uncovered += 1;
                        }
                        (None, true) => failures.push(format!(
                            "{p} {o}: outside the description and no schema_source cited"
                        )),
                        (_, false) => failures.push(format!(
                            "{p} {o}: in none of its provider's descriptions (add its path to the reference document)"
                        )),
                    }
                    continue;
                }
            };
            for problem in problems {
                let known = KNOWN
                    .iter()
                    .chain(OPEN_GAPS)
                    .find(|(kp, ko, what, _)| *kp == p && *ko == o && problem.contains(what));
                match known {
                    Some((_, _, _, why)) => println!("known: {p} {o}: {problem} ({why})"),
                    None => failures.push(format!("{p} {o}: {problem}")),
                }
            }
        }
    }
    println!(
        "conformance: {} operations checked against published descriptions, {} against reference documents ({} outside partial descriptions, on their cited references; {} skipped without the provider-specs folder)",
        tally.published, tally.reference, tally.uncovered, tally.skipped
    );
    assert!(
        tally.published + tally.reference >= 10,
        "only {} operations checked",
        tally.published + tally.reference
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An input that sets every property the input schema declares at every depth (the
/// sample input's values where it has them, the rest made up from the schema as a mock
/// is): what [`full_input`] does for the top level, inside objects and array items too.
pub(crate) fn every_field_input(operation: &Operation) -> Option<Value> {
    let mut filler = operation.clone();
    filler.response_schema = operation.input_schema.clone();
    require_everything(&mut filler.response_schema);
    filler.sample_response = operation.sample_input.clone();
    filler.empty_response = false;
    let mut input = shared::runtime::mock::mock_response(&filler, &json!({}), "every").ok()?;
    overlay(&mut input, &operation.sample_input);
    Some(input)
}

/// Every object schema's properties made required, at every depth.
pub(crate) fn require_everything(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(names) = map
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().map(|k| json!(k)).collect::<Vec<_>>())
            {
                map.insert("required".into(), Value::Array(names));
            }
            map.values_mut().for_each(require_everything);
        }
        Value::Array(items) => items.iter_mut().for_each(require_everything),
        _ => {}
    }
}

/// `sample`'s values laid over `value`: objects key by key, arrays item by item.
fn overlay(value: &mut Value, sample: &Value) {
    match (value, sample) {
        (Value::Object(target), Value::Object(sample)) => {
            for (k, v) in sample {
                match target.get_mut(k) {
                    Some(t) => overlay(t, v),
                    None => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(target), Value::Array(sample)) if target.len() == sample.len() => {
            target
                .iter_mut()
                .zip(sample)
                .for_each(|(t, v)| overlay(t, v));
        }
        (target, sample) => *target = sample.clone(),
    }
}

/// The reason a problem is listed for, in lists of (provider, operation, what, why):
/// the first entry of the operation whose `what` the problem contains.
pub(crate) fn listed_reason<'a>(
    lists: &[&'a [(&str, &str, &str, &'a str)]],
    provider: &str,
    operation: &str,
    problem: &str,
) -> Option<&'a str> {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .find(|(p, o, what, _)| *p == provider && *o == operation && problem.contains(what))
        .map(|(_, _, _, why)| *why)
}
