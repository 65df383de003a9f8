//! The project's tools as MCP describes them: one per operation of each integration
//! (`{integration}.{operation}`), and the studio's own two (`describe_integration`,
//! `compile_step`).
//!
//! An operation's `inputSchema` is its catalog input schema with the integration's
//! defaults applied (each such property says so, carries the value as its `default`, and
//! is no longer required), plus the studio's `mode`. Its `outputSchema` is the object a
//! call answers, `{run, mode, effect, status, request, response}`, whose `response` is
//! the operation's response schema.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::catalog::{HttpMethod, Operation, Provider};
use crate::domain::Integration;
use crate::runtime::agent::tool_name;

/// The studio's tool that picks a provider from plain words.
pub const DESCRIBE: &str = "describe_integration";
/// The studio's tool that compiles a plain-words step into a contract, stored.
pub const COMPILE: &str = "compile_step";

/// The argument that chooses sandbox or live, unless the operation has an input of that
/// name; then [`MODE_FALLBACK`].
pub const MODE: &str = "mode";
/// The mode argument of an operation whose own input is called `mode`.
pub const MODE_FALLBACK: &str = "studio_mode";

/// The name of the argument that chooses the mode for this operation.
pub fn mode_argument(operation: &Operation) -> &'static str {
    let has_own = operation
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(MODE));
    if has_own { MODE_FALLBACK } else { MODE }
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

/// The tool of one operation of one integration.
pub fn operation_tool(integration: &Integration, provider: &Provider, op: &Operation) -> Tool {
    let description = format!(
        "{} ({} integration \"{}\": {} {}.) Runs in sandbox unless {} is \"live\": nothing is sent, and the result is the exact request that would have been sent (credentials masked) with a mock answer shaped like {}'s. Live calls are sent only where a person allowed agents live calls on this integration.",
        op.description.trim_end_matches('.'),
        provider.display_name,
        integration.name,
        op.method.as_str(),
        op.path,
        mode_argument(op),
        provider.display_name,
    );
    let mut tool = Tool::new_with_raw(
        Cow::Owned(tool_name(&integration.name, &op.id)),
        Some(Cow::Owned(description)),
        object(input_schema(provider, op, &integration.config)),
    );
    tool.title = Some(format!("{}: {}", integration.name, op.name));
    tool.with_raw_output_schema(object(output_schema(op)))
        .with_annotations(annotations(op))
}

/// What the tool does to the world, as MCP's hints say it.
pub fn annotations(op: &Operation) -> ToolAnnotations {
    let deletes = op.method == HttpMethod::Delete || op.destructive;
    let idempotent = !op.side_effects
        || matches!(
            op.method,
            HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete
        )
        || op.idempotency_header.is_some();
    ToolAnnotations::with_title(op.name.clone())
        .read_only(!op.side_effects)
        .destructive(deletes)
        .idempotent(idempotent)
        .open_world(true)
}

/// The operation's input schema with the integration's defaults applied and said so,
/// and the mode argument.
pub fn input_schema(provider: &Provider, op: &Operation, config: &Map<String, Value>) -> Value {
    let mut schema = op.input_schema.clone();
    if let Ok(defaults) = crate::runtime::request::with_defaults(provider, op, &json!({}), config) {
        apply_defaults(&mut schema, &defaults);
    }
    if let Some(properties) = schema
        .as_object_mut()
        .map(|s| s.entry("properties").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        properties.insert(
            mode_argument(op).to_owned(),
            json!({
                "type": "string",
                "enum": ["sandbox", "live"],
                "default": "sandbox",
                "description": "The studio's, not the provider's: \"sandbox\" (the default) sends nothing and shows what would have been sent; \"live\" sends it, if the integration allows agents live calls."
            }),
        );
    }
    schema
}

/// Marks each input the integration's defaults fill: its `default`, a sentence in its
/// description, and not required. Nested defaults (`input.teamId`) go down objects.
fn apply_defaults(schema: &mut Value, defaults: &Map<String, Value>) {
    for (key, value) in defaults {
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|r| r.as_str() != Some(key));
        }
        let Some(property) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut(key))
            .filter(|p| p.is_object())
        else {
            continue;
        };
        match value {
            Value::Object(inner) if property.get("properties").is_some() => {
                apply_defaults(property, inner);
            }
            _ => {
                let said =
                    format!("Defaults to the integration's setting ({value}) when left out.");
                let description = match property.get("description").and_then(Value::as_str) {
                    Some(d) => format!("{} {said}", d.trim_end()),
                    None => said,
                };
                property["default"] = value.clone();
                property["description"] = Value::String(description);
            }
        }
    }
}

/// What a call of the operation answers: the run, the mode, what became of the step,
/// the request (masked) and the provider's (or the mock's) answer.
pub fn output_schema(op: &Operation) -> Value {
    let mut response = op.response_schema.clone();
    let defs = response.as_object_mut().and_then(|r| {
        r.remove("$schema");
        r.remove("$id");
        r.remove("$defs")
    });
    if op.empty_response {
        response = json!({"type": ["null", "object"], "description": format!("The provider answers {} with no body.", op.success_status)});
    }
    let mut schema = json!({
        "type": "object",
        "properties": {
            "run": {"type": "string", "description": "The run that records the call: GET /projects/{project}/runs/{run} shows its trace."},
            "mode": {"type": "string", "enum": ["sandbox", "live"]},
            "effect": {"type": "string", "enum": ["would_have_sent", "sent"], "description": "would_have_sent in sandbox (nothing left the studio), sent live."},
            "status": {"type": "integer", "description": "The HTTP status of the answer (the mock's, in sandbox)."},
            "request": {
                "type": "object",
                "description": "The request as built, credentials masked: method, url, headers, body (and body_json when it is JSON).",
                "properties": {
                    "method": {"type": "string"},
                    "url": {"type": "string"},
                    "headers": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                    "body": {"type": "string"}
                },
                "required": ["method", "url", "headers", "body"]
            },
            "response": response
        },
        "required": ["run", "mode", "effect", "status", "request", "response"]
    });
    if let Some(defs) = defs {
        schema["$defs"] = defs;
    }
    schema
}

/// The studio's own tools: describe a connection, compile a step.
pub fn studio_tools() -> Vec<Tool> {
    let describe = Tool::new_with_raw(
        Cow::Borrowed(DESCRIBE),
        Some(Cow::Borrowed(
            "Picks the catalog provider that plain words ask for (\"send appointment reminders by SMS\") and answers the credentials and settings a person must give to add it; or Custom HTTP for the user's own REST API, or no provider when nothing fits. Changes nothing.",
        )),
        object(json!({
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": 2000, "description": "The connection in plain words."}},
            "required": ["text"],
            "additionalProperties": false
        })),
    )
    .with_annotations(
        ToolAnnotations::with_title("Describe a connection")
            .read_only(true)
            .idempotent(true)
            .open_world(false),
    );
    let compile = Tool::new_with_raw(
        Cow::Borrowed(COMPILE),
        Some(Cow::Borrowed(
            "Compiles one workflow step written in plain words (\"when the intake form is submitted, email the patient a confirmation with clinic-mail\") into a step contract, with the same checks as the studio's API, and stores it in the workflow with its dependency edges: it replaces the step of that number, or adds the next one. A step the project cannot do is refused, naming the field at fault.",
        )),
        object(json!({
            "type": "object",
            "properties": {
                "workflow": {"type": "string", "description": "The workflow's id in the project (lowercase letters, digits, '-' and '_'); created with its first step."},
                "instruction": {"type": "string", "maxLength": 2000, "description": "The step in plain words."},
                "entity": {
                    "type": "object",
                    "description": "The studio entity whose event triggers the workflow, and its fields, so the words can name them.",
                    "properties": {
                        "name": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string", "enum": ["string", "email", "phone", "datetime", "date", "number", "integer", "boolean", "url"]}}
                    },
                    "required": ["name"]
                },
                "step": {"type": "integer", "minimum": 1, "maximum": 99, "description": "The step's number: an existing step is recompiled; by default the one after the last."}
            },
            "required": ["workflow", "instruction"],
            "additionalProperties": false
        })),
    )
    .with_annotations(
        // Destructive: a step of a number that exists is replaced.
        ToolAnnotations::with_title("Compile a workflow step")
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(false),
    );
    vec![describe, compile]
}
