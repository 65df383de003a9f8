//! Changed entities a webhook names only by id. HubSpot's events say "contact 512
//! changed" and little else; a step that maps `{{change.after.properties.email}}` needs
//! the contact itself. The provider's file says how to read it
//! ([`crate::catalog::EntityFetch`]): a read-only operation of the provider that reported
//! the change. Before such a step's input is built, the runtime reads the entity and
//! fills what the event lacks (the event's own fields stay as they were).
//!
//! - Only when needed: a step that maps nothing the event lacks reads nothing, and a
//!   deleted entity is never read.
//! - Live: the reporting integration's credentials are opened for this read, audited
//!   (`change_fetch`, with the workflow, step and run as its cause), and the answer is
//!   kept per integration, credential version, revision and event for
//!   `STUDIO_LOOKUP_TTL_SECS` (600 by default), so the later steps of the run reuse it.
//! - Sandbox: nothing is sent; the trace shows the read that would have been sent and a
//!   mock answer derived from the operation's response schema, carrying the entity's id.
//! - The step's trace shows the read under `fetched`.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::cache::TtlCache;
use super::{live, mock, request};
use crate::catalog::{EntityFetch, Operation, Provider};
use crate::domain::{AuditPurpose, Change, DataChanged, Integration, ProjectId, Run, RunMode};
use crate::ports::Deps;

/// The `change.after` paths a step's mapping reads (`properties.email`).
pub fn paths_read(mapping: &Map<String, Value>) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => {
                for piece in super::mapping::pieces(text).unwrap_or_default() {
                    if let super::mapping::Piece::Template(inner) = piece
                        && let Some(path) = inner.strip_prefix("change.after.")
                        && !out.iter().any(|p| p == path)
                    {
                        out.push(path.to_owned());
                    }
                }
            }
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    mapping.values().for_each(|v| walk(v, &mut out));
    out
}

/// Whether a dotted path has a value in the state.
fn present(state: &Value, path: &str) -> bool {
    path.split('.')
        .try_fold(state, |v, part| match v {
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            other => other.get(part),
        })
        .is_some_and(|v| !v.is_null())
}

/// The entity's state: what the event said, with what the read adds where it said
/// nothing.
fn merged(event: &Value, read: &Value) -> Value {
    match (event, read) {
        (Value::Object(e), Value::Object(r)) => {
            let mut out = e.clone();
            for (k, v) in r {
                let joined = match out.get(k) {
                    Some(existing) if !existing.is_null() => merged(existing, v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), joined);
            }
            Value::Object(out)
        }
        (Value::Null, read) => read.clone(),
        (event, _) => event.clone(),
    }
}

/// The provider's declaration for reading this change's entity, if it has one.
fn declaration<'p>(
    provider: &'p Provider,
    change: &DataChanged,
) -> Option<(&'p EntityFetch, &'p Operation)> {
    let hooks = provider.webhooks.as_ref()?;
    let fetch = hooks
        .entities
        .iter()
        .filter(|m| m.entity_type == change.entity_type)
        .find_map(|m| m.fetch.as_ref())?;
    let op = provider
        .operations
        .iter()
        .find(|o| o.id == fetch.operation)?;
    Some((fetch, op))
}

/// The read's input: the declared one with the entity's id, and the operation's
/// defaults.
fn input_for(
    provider: &Provider,
    op: &Operation,
    fetch: &EntityFetch,
    id: &str,
    integration: &Integration,
) -> Result<Value, String> {
    fn fill(value: &Value, id: &str) -> Value {
        match value {
            Value::String(s) => Value::String(s.replace("{id}", id)),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, id))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, id)).collect()),
            other => other.clone(),
        }
    }
    let declared = fill(&Value::Object(fetch.input.clone()), id);
    request::with_defaults(provider, op, &declared, &integration.config)
        .map(Value::Object)
        .map_err(|e| e.to_string())
}

fn cache() -> &'static TtlCache<Value> {
    static CACHE: OnceLock<TtlCache<Value>> = OnceLock::new();
    CACHE.get_or_init(TtlCache::new)
}

/// Completes `context["change"]["after"]` when the step maps a field the event lacks and
/// the reporting provider says how to read the entity. Returns the read's trace.
pub async fn complete(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: u32,
    mapping: &Map<String, Value>,
    context: &mut Value,
) -> Result<Option<Value>, String> {
    // Decided on the context as it is: the change is copied only when a read is due.
    let Some(after) = context.pointer("/change/after") else {
        return Ok(None);
    };
    if paths_read(mapping).iter().all(|p| present(after, p)) {
        return Ok(None);
    }
    let Some(Ok(change)) = context
        .get("change")
        .map(|raw| serde_json::from_value::<DataChanged>(raw.clone()))
    else {
        return Ok(None);
    };
    if change.change == Change::Deleted {
        return Ok(None);
    }
    let integration: Integration =
        crate::aggregates::integrations::get(deps, project, &change.integration)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "the integration that reported the change, {}, is gone",
                    change.integration
                )
            })?;
    let provider = super::provider_of(&integration).map_err(|e| e.to_string())?;
    let Some((fetch, op)) = declaration(&provider, &change) else {
        return Ok(None);
    };
    let input = input_for(&provider, op, fetch, &change.entity_id, &integration)?;
    let masked = request::build_request(
        &provider,
        op,
        &input,
        &integration.config,
        request::CredentialValues::Masked,
        None,
    )
    .map_err(|e| e.to_string())?;
    let (read, trace) = match run.mode {
        RunMode::Sandbox => {
            let mut body = mock::mock_response(op, &input, &format!("{}#fetch", run.id))
                .map_err(|e| format!("no mock response for {}: {e}", op.id))?;
            if let Some(slot) = body.pointer_mut(&fetch.id) {
                *slot = json!(change.entity_id);
            }
            let trace = json!({
                "integration": integration.name,
                "operation": op.id,
                "effect": "would_have_sent",
                "request": super::request_view(&masked),
                "response": body,
                "mock": true,
            });
            (body, trace)
        }
        RunMode::Live => {
            let key = format!(
                "{project}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                integration.name,
                integration.credentials.version,
                integration.revision,
                change.entity_type,
                change.entity_id,
                change.provider_event_id
            );
            match cache().get(&key) {
                Some(body) => {
                    let trace = json!({
                        "integration": integration.name,
                        "operation": op.id,
                        "cached": true,
                    });
                    (body, trace)
                }
                None => {
                    let cause = super::cause_of(run, step);
                    let read = Read {
                        provider: &provider,
                        op,
                        integration: &integration,
                        input: &input,
                        masked: &masked,
                    };
                    let body = read_live(deps, project, cause, read).await?;
                    cache().put(key, body.0.clone());
                    body
                }
            }
        }
    };
    if let Some(after) = context.pointer_mut("/change/after") {
        *after = merged(after, &read);
    }
    Ok(Some(trace))
}

/// One read of a changed entity: the operation, with whom and what.
struct Read<'a> {
    provider: &'a Provider,
    op: &'a Operation,
    integration: &'a Integration,
    input: &'a Value,
    /// The request built with masked credentials, for the trace.
    masked: &'a crate::ports::OutboundRequest,
}

/// Reads the entity with the reporting integration's credentials (opened and audited
/// for this read, caused by `cause`), and masks the answer with them.
async fn read_live(
    deps: &Deps,
    project: &ProjectId,
    cause: Value,
    read: Read<'_>,
) -> Result<(Value, Value), String> {
    let Read {
        provider,
        op,
        integration,
        input,
        masked,
    } = read;
    let credentials = crate::vault::open_for(
        deps,
        project,
        integration,
        AuditPurpose::ChangeFetch,
        cause.clone(),
    )
    .await
    .map_err(|e| format!("credentials of {} unavailable: {e}", integration.name))?;
    let credentials =
        super::fresh(deps, project, provider, integration, credentials, cause).await?;
    let redactor = credentials.redactor();
    let request = request::build_request(
        provider,
        op,
        input,
        &integration.config,
        request::CredentialValues::Real(&credentials),
        None,
    )
    .map_err(|e| redactor.text(&e.to_string()))?;
    drop(credentials);
    let view = redactor.json(&super::request_view(masked));
    let delivery = live::send(
        deps.live_edge.as_ref(),
        &request,
        true,
        live::RetryPolicy::default(),
    )
    .await;
    drop(request);
    let what = format!("reading the changed {} from {}", op.id, integration.name);
    let response = delivery
        .result
        .map_err(|e| redactor.text(&format!("{what}: {e}")))?;
    if !(200..300).contains(&response.status) {
        return Err(format!(
            "{what}: {} answered {}",
            provider.display_name, response.status
        ));
    }
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| format!("{what}: {}'s answer is not JSON", provider.display_name))?;
    let body = redactor.json(&body);
    let trace = json!({
        "integration": integration.name,
        "operation": op.id,
        "effect": "sent",
        "request": view,
        "status": response.status,
        "response": body,
    });
    Ok((body, trace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_a_mapping_reads_from_the_change_are_found_in_any_value() {
        let mapping = json!({
            "email": "{{change.after.properties.email}}",
            "name": "Hi {{ change.after.properties.firstname }} ({{change.entity_id}})",
            "list": [{"x": "{{change.after.id}}"}, "{{entity.email}}"]
        });
        let mut paths = paths_read(mapping.as_object().expect("object"));
        paths.sort();
        assert_eq!(
            paths,
            vec!["id", "properties.email", "properties.firstname"]
        );
    }

    #[test]
    fn a_read_fills_what_the_event_lacks_and_the_event_keeps_its_own_fields() {
        let event = json!({"objectId": 512, "propertyName": "email", "properties": {"email": "new@example.com"}});
        let read = json!({"id": "512", "propertyName": "other",
                          "properties": {"email": "old@example.com", "firstname": "Ada"}});
        let state = merged(&event, &read);
        assert_eq!(state["objectId"], 512);
        assert_eq!(state["propertyName"], "email");
        assert_eq!(state["properties"]["email"], "new@example.com");
        assert_eq!(state["properties"]["firstname"], "Ada");
        assert_eq!(state["id"], "512");
        assert!(present(&state, "properties.firstname"));
        assert!(!present(&state, "properties.lastname"));
        assert!(!present(&json!({"a": null}), "a"));
    }

    #[test]
    fn hubspot_declares_how_to_read_a_changed_contact_and_deal() {
        let hubspot = crate::catalog::catalog()
            .expect("catalog")
            .get("hubspot")
            .expect("hubspot");
        for (entity, operation) in [("contact", "get_contact"), ("deal", "get_deal")] {
            let change: DataChanged = serde_json::from_value(json!({
                "project": "p1", "integration": "hubspot", "entity_type": entity,
                "entity_id": "512", "change": "updated", "provider_event_id": "e1"
            }))
            .expect("change");
            let (_, op) = declaration(hubspot, &change).expect("declared");
            assert_eq!(op.id, operation);
            assert!(!op.side_effects);
        }
    }
}
