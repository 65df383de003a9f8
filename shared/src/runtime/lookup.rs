//! Named targets: a step's input may name a thing its provider knows by id ("create a
//! Linear issue for the ENG team" → `input.teamId: {"lookup": "team", "name": "ENG"}`).
//! The runtime finds the id as the provider's file says ([`crate::catalog::Lookup`]): a
//! read-only operation, the list in its answer, the fields a name is compared with.
//!
//! - Live: the lookup is sent with the step's credentials, after the step's claim and
//!   audit record (one decryption, audited, covers both calls), and its answer is cached
//!   per integration for `STUDIO_LOOKUP_TTL_SECS` (600 by default). The cache key holds
//!   the integration's credential version and revision, so a rotation or a config change
//!   finds nothing cached.
//! - Sandbox: nothing is sent; the trace shows the lookup request that would have been
//!   sent and a mock id (the same for the same name, so later steps can map it).
//! - Nothing found: the step fails with what was looked for and what exists.

use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::cache::TtlCache;
use super::{live, request};
use crate::catalog::{Lookup, NAMED_TARGET_PLACEHOLDER as PLACEHOLDER, Provider, named_target};
use crate::domain::{Integration, ProjectId};
use crate::ports::{Deps, Edge};
use crate::redact::Redactor;
use crate::vault::Credentials;

/// Names listed when nothing matches.
const LISTED: usize = 10;

/// A named target in an input: where it is, its kind and the name looked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Where the target sits in the input: object keys and array indexes, from the top.
    pub path: Vec<String>,
    /// What kind of thing it names, as the provider's lookups call it (`team`...).
    pub kind: String,
    /// The name to look for (`ENG`).
    pub name: String,
}

/// The named targets in an input.
pub fn targets(input: &Value) -> Vec<Target> {
    fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<Target>) {
        if let Some((kind, name)) = named_target(value) {
            out.push(Target {
                path: path.clone(),
                kind: kind.to_owned(),
                name: name.to_owned(),
            });
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(input, &mut Vec::new(), &mut out);
    out
}

fn put(input: &mut Value, path: &[String], value: Value) {
    let mut current = input;
    for part in path {
        current = match current {
            Value::Object(map) => match map.get_mut(part) {
                Some(v) => v,
                None => return,
            },
            Value::Array(items) => {
                match part.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(v) => v,
                    None => return,
                }
            }
            _ => return,
        };
    }
    *current = value;
}

/// The input with a placeholder id in place of each named target.
pub fn with_placeholders(input: &Value) -> Value {
    let mut out = input.clone();
    for target in targets(input) {
        put(&mut out, &target.path, json!(PLACEHOLDER));
    }
    out
}

fn declaration<'p>(
    provider: &'p Provider,
    target: &Target,
) -> Result<(&'p Lookup, &'p crate::catalog::Operation), String> {
    let lookup = provider.lookups.get(&target.kind).ok_or_else(|| {
        format!(
            "{} cannot look up a {} by name",
            provider.display_name, target.kind
        )
    })?;
    let operation = provider
        .operations
        .iter()
        .find(|o| o.id == lookup.operation)
        .ok_or_else(|| {
            format!(
                "{} has no operation {}",
                provider.display_name, lookup.operation
            )
        })?;
    Ok((lookup, operation))
}

/// The lookup operation's input, with the name in place of `{name}`.
fn lookup_input(lookup: &Lookup, name: &str) -> Value {
    fn fill(value: &Value, name: &str) -> Value {
        match value {
            Value::String(s) => Value::String(s.replace("{name}", name)),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, name))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, name)).collect()),
            other => other.clone(),
        }
    }
    fill(&Value::Object(lookup.input.clone()), name)
}

/// Resolves every named target with a mock id, and the trace of each lookup.
pub fn resolve_sandbox(
    provider: &Provider,
    integration: &Integration,
    input: &Value,
) -> Result<(Value, Vec<Value>), String> {
    let mut out = input.clone();
    let mut traces = Vec::new();
    for target in targets(input) {
        let (lookup, operation) = declaration(provider, &target)?;
        let request = request::build_request(
            provider,
            operation,
            &lookup_input(lookup, &target.name),
            &integration.config,
            request::CredentialValues::Masked,
            None,
        )
        .map_err(|e| e.to_string())?;
        let id = mock_id(integration, &target);
        traces.push(json!({
            "kind": target.kind,
            "name": target.name,
            "operation": operation.id,
            "effect": "would_have_sent",
            "request": super::request_view(&request),
            "id": id,
            "mock": true,
        }));
        put(&mut out, &target.path, json!(id));
    }
    Ok((out, traces))
}

/// A mock id, the same for the same integration, kind and name (a UUID's form).
fn mock_id(integration: &Integration, target: &Target) -> String {
    let digest = sha2::Sha256::digest(
        format!(
            "{}\u{1f}{}\u{1f}{}",
            integration.name,
            target.kind,
            target.name.to_lowercase()
        )
        .as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Resolves every named target through the provider, with the step's credentials.
pub async fn resolve_live(
    deps: &Deps,
    project: &ProjectId,
    provider: &Provider,
    integration: &Integration,
    input: &Value,
    credentials: &Credentials,
    redactor: &Redactor,
) -> Result<(Value, Vec<Value>), String> {
    let mut out = input.clone();
    let mut traces = Vec::new();
    for target in targets(input) {
        let (lookup, operation) = declaration(provider, &target)?;
        let key = cache_key(project, integration, &target);
        if let Some(id) = cache().get(&key) {
            traces
                .push(json!({"kind": target.kind, "name": target.name, "id": id, "cached": true}));
            put(&mut out, &target.path, json!(id));
            continue;
        }
        let lookup_in = lookup_input(lookup, &target.name);
        let request = request::build_request(
            provider,
            operation,
            &lookup_in,
            &integration.config,
            request::CredentialValues::Real(credentials),
            None,
        )
        .map_err(|e| redactor.text(&e.to_string()))?;
        let masked = request::build_request(
            provider,
            operation,
            &lookup_in,
            &integration.config,
            request::CredentialValues::Masked,
            None,
        )
        .map_err(|e| e.to_string())?;
        let view = redactor.json(&super::request_view(&masked));
        let edge: &dyn Edge = deps.live_edge.as_ref();
        let delivery = live::send(edge, &request, true, live::RetryPolicy::default()).await;
        drop(request);
        let response = delivery.result.map_err(|e| {
            redactor.text(&format!(
                "looking up {} {:?}: {e}",
                target.kind, target.name
            ))
        })?;
        if !(200..300).contains(&response.status) {
            return Err(format!(
                "looking up {} {:?}: {} answered {}",
                target.kind, target.name, provider.display_name, response.status
            ));
        }
        let body: Value = serde_json::from_slice(&response.body).map_err(|_| {
            format!(
                "looking up {} {:?}: {}'s answer is not JSON",
                target.kind, target.name, provider.display_name
            )
        })?;
        let id = find(lookup, &body, &target.name).map_err(|names| {
            format!(
                "no {} named {:?} in {}; it has: {}",
                target.kind,
                target.name,
                provider.display_name,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )
        })?;
        cache().put(key, id.clone());
        traces.push(json!({
            "kind": target.kind,
            "name": target.name,
            "operation": operation.id,
            "effect": "sent",
            "request": view,
            "status": response.status,
            "id": id,
        }));
        put(&mut out, &target.path, json!(id));
    }
    Ok((out, traces))
}

/// The id of the item a name matches (case and surrounding space ignored), or the names
/// there are.
pub fn find(lookup: &Lookup, answer: &Value, name: &str) -> Result<String, Vec<String>> {
    let wanted = name.trim().to_lowercase();
    let items = answer
        .pointer(&lookup.items)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for item in items {
        let matches = lookup
            .match_fields
            .iter()
            .filter_map(|m| item.pointer(m).and_then(text))
            .any(|v| v.trim().to_lowercase() == wanted);
        if matches && let Some(id) = item.pointer(&lookup.id).and_then(text) {
            return Ok(id);
        }
    }
    Err(items
        .iter()
        .filter_map(|item| {
            lookup
                .match_fields
                .iter()
                .find_map(|m| item.pointer(m).and_then(text))
        })
        .take(LISTED)
        .collect())
}

fn cache() -> &'static TtlCache<String> {
    static CACHE: OnceLock<TtlCache<String>> = OnceLock::new();
    CACHE.get_or_init(TtlCache::new)
}

fn cache_key(project: &ProjectId, integration: &Integration, target: &Target) -> String {
    format!(
        "{project}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        integration.name,
        integration.credentials.version,
        integration.revision,
        target.kind,
        target.name.trim().to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear() -> &'static Provider {
        crate::catalog::catalog()
            .expect("catalog")
            .get("linear")
            .expect("linear")
    }

    #[test]
    fn a_name_matches_a_key_or_name_whatever_its_case_and_misses_list_what_exists() {
        let lookup = &linear().lookups["team"];
        let answer = json!({"data": {"teams": {"nodes": [
            {"id": "t-1", "key": "ENG", "name": "Engineering"},
            {"id": "t-2", "key": "SUP", "name": "Support"}
        ]}}});
        assert_eq!(find(lookup, &answer, "eng"), Ok("t-1".to_owned()));
        assert_eq!(find(lookup, &answer, " Support "), Ok("t-2".to_owned()));
        assert_eq!(
            find(lookup, &answer, "Design"),
            Err(vec!["ENG".to_owned(), "SUP".to_owned()])
        );
        assert_eq!(find(lookup, &json!({"errors": []}), "ENG"), Err(vec![]));
    }

    #[test]
    fn targets_are_found_anywhere_and_replaced_by_placeholders() {
        let input = json!({"input": {"title": "x", "teamId": {"lookup": "team", "name": "ENG"}},
                           "list": [{"lookup": "calendar", "name": "Front Desk"}]});
        let found = targets(&input);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, vec!["input".to_owned(), "teamId".to_owned()]);
        assert_eq!(found[1].name, "Front Desk");
        let placed = with_placeholders(&input);
        assert_eq!(placed["input"]["teamId"], PLACEHOLDER);
        assert_eq!(placed["list"][0], PLACEHOLDER);
        assert_eq!(placed["input"]["title"], "x");
    }
}
