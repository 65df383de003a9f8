//! From a verified delivery to provider events, and from an event to an entity change,
//! following the provider's `webhooks` declaration in the catalog.

use http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::verify::is_form;
use crate::catalog::{ChangeSource, EntityMapping, Payload, Webhooks};
use crate::domain::Change;

/// The delivery could not be read as the provider's events (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The delivery as one JSON document: the JSON body, the form fields as an object of
/// strings (the first value of a repeated name), or the headers with the declared
/// prefix (lower-cased names). The signature header is never part of it: a header
/// scheme's "signature" is the secret itself.
pub fn read(
    hooks: &Webhooks,
    headers: &HeaderMap,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<Value, Unreadable> {
    match hooks.payload {
        Payload::Headers => {
            let prefix = hooks
                .header_prefix
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let secret = signature_header.map(str::to_ascii_lowercase);
            let mut doc = Map::new();
            for (name, value) in headers {
                let name = name.as_str();
                if name.starts_with(&prefix) && Some(name) != secret.as_deref() {
                    let value = value
                        .to_str()
                        .map_err(|_| Unreadable(format!("header {name} is not text")))?;
                    doc.insert(name.to_owned(), Value::String(value.to_owned()));
                }
            }
            Ok(Value::Object(doc))
        }
        Payload::Body if body.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        Payload::Body if is_form(headers) => {
            let mut doc = Map::new();
            for (name, value) in form_urlencoded::parse(body) {
                doc.entry(name.into_owned())
                    .or_insert_with(|| Value::String(value.into_owned()));
            }
            Ok(Value::Object(doc))
        }
        Payload::Body => serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the body is not JSON: {e}"))),
    }
}

/// The events of a delivery: each element of a batch, or the delivery itself.
pub fn split(hooks: &Webhooks, doc: Value) -> Result<Vec<Value>, Unreadable> {
    match (hooks.batch, doc) {
        (true, Value::Array(events)) => Ok(events),
        (true, Value::Object(one)) => Ok(vec![Value::Object(one)]),
        (true, _) => Err(Unreadable("expected a JSON array of events".into())),
        (false, doc) => Ok(vec![doc]),
    }
}

/// The value at a JSON pointer (RFC 6901), as `Value::pointer` finds it, without
/// copying each token.
pub fn at<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    tokens(pointer)?.try_fold(value, |target, token| match target {
        Value::Object(map) => map.get(token.as_ref()),
        Value::Array(list) => index(&token).and_then(|i| list.get(i)),
        _ => None,
    })
}

/// Moves the value at a JSON pointer out of a document (leaving null in its place).
fn take_at(value: &mut Value, pointer: &str) -> Option<Value> {
    tokens(pointer)?
        .try_fold(value, |target, token| match target {
            Value::Object(map) => map.get_mut(token.as_ref()),
            Value::Array(list) => index(&token).and_then(move |i| list.get_mut(i)),
            _ => None,
        })
        .map(Value::take)
}

/// A JSON pointer's reference tokens, unescaped (only a token with `~0` or `~1` is
/// rewritten); none for the empty pointer, which names the whole document. `None` if
/// the text is not a pointer.
fn tokens(pointer: &str) -> Option<impl Iterator<Item = std::borrow::Cow<'_, str>>> {
    let rest = match pointer {
        "" => None,
        _ => Some(pointer.strip_prefix('/')?),
    };
    Some(rest.into_iter().flat_map(|r| r.split('/')).map(|token| {
        if token.contains('~') {
            std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            std::borrow::Cow::Borrowed(token)
        }
    }))
}

/// An array index as RFC 6901 writes one: digits, no leading zero, no sign.
fn index(token: &str) -> Option<usize> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    token.parse().ok()
}

/// A JSON value as the text of an id: strings as they are, numbers and booleans as
/// written, anything else absent.
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Longest id kept as it is in a sort key (DynamoDB's sort key limit is 1 KiB).
const MAX_KEY_ID: usize = 200;

/// Makes an id safe as part of a store key: short, printable, no leading `#` (the
/// receiver's own items in the dedupe partition start with `#`); anything else is
/// replaced by its SHA-256.
pub fn key_safe(id: &str) -> String {
    let fits = !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && !id.starts_with('#')
        && !id.chars().any(char::is_control);
    if fits {
        id.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
    }
}

/// The provider's id of an event, for deduplication: the delivery-id header when the
/// provider sends one, else the body's id joined with `event_id_with`, else (a verified
/// event without any id) the digest of the event itself, so an exact redelivery is
/// still recognised.
pub fn event_id(hooks: &Webhooks, headers: &HeaderMap, event: &Value, batch: bool) -> String {
    // In a batch, one delivery header would name every element alike: not an event id.
    let from_header = hooks
        .event_id_header
        .as_deref()
        .filter(|_| !batch)
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let id = from_header.or_else(|| {
        text(at(event, &hooks.event_id)).map(|base| {
            hooks
                .event_id_with
                .iter()
                .filter_map(|p| text(at(event, p)))
                .fold(base, |id, part| format!("{id}|{part}"))
        })
    });
    match id {
        Some(id) => key_safe(&id),
        None => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(event.to_string().as_bytes()))
        ),
    }
}

/// An event's change to an entity, before the cached state is consulted.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The provider's type of the event, read at the `event_type` pointer
    /// (`customer.updated`, `Issue`).
    pub event_type: String,
    /// The entity type of the mapping that lists the event type (`customer`, `issue`).
    pub entity_type: String,
    /// The entity's provider id, made safe for a store key (a long or odd id becomes
    /// `sha256:<hex>`).
    pub entity_id: String,
    /// Created, updated or deleted: the mapping's fixed change, or the one the event
    /// names.
    pub change: Change,
    /// The entity's state after the change.
    pub after: Value,
    /// The previous values of the changed fields, when the provider sends them.
    pub previous: Option<Map<String, Value>>,
    /// The changed fields' names, when the provider sends only those.
    pub changed: Option<Vec<String>>,
    /// When the event happened, in milliseconds since the epoch, if the provider says.
    pub event_time: Option<i64>,
}

/// An event time as milliseconds since the epoch: a number of seconds (fractions
/// allowed) or of milliseconds (any number past 10^11: 1973 in milliseconds, the year
/// 5138 in seconds), as a JSON number or a numeric string, or an RFC 3339 text.
pub fn event_time_ms(value: &Value) -> Option<i64> {
    let number = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(text) => match text.parse::<f64>() {
            Ok(n) => n,
            Err(_) => {
                return chrono::DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.timestamp_millis());
            }
        },
        _ => return None,
    };
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let ms = if number > 1e11 {
        number
    } else {
        number * 1000.0
    };
    (ms < 1e15).then_some(ms as i64)
}

/// Why an event makes no change: said in the answer and the log, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// No event type is found at the `event_type` pointer, or none is declared.
    NoEventType,
    /// No entity mapping lists this event type.
    Unmapped(String),
    /// The mapping's id pointer finds no id in this event type's event.
    NoEntityId(String),
    /// The event's word for the change (empty when it has none) is not read as a
    /// create, an update or a delete.
    UnknownAction(String),
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignored::NoEventType => f.write_str("the event has no event type"),
            Ignored::Unmapped(t) => write!(f, "event type {t:?} maps to no entity"),
            Ignored::NoEntityId(t) => write!(f, "event type {t:?} carries no entity id"),
            Ignored::UnknownAction(a) => {
                write!(f, "action {a:?} is not a create, update or delete")
            }
        }
    }
}

/// Reads a provider's word for a change: Linear's create/update/remove, and the like.
fn change_word(word: &str) -> Option<Change> {
    match word.to_ascii_lowercase().as_str() {
        "create" | "created" | "insert" | "inserted" | "add" | "added" | "new" => {
            Some(Change::Created)
        }
        "update" | "updated" | "change" | "changed" | "modify" | "modified" | "set" => {
            Some(Change::Updated)
        }
        "remove" | "removed" | "delete" | "deleted" | "destroy" | "destroyed" | "archive" => {
            Some(Change::Deleted)
        }
        _ => None,
    }
}

/// The change a mapped event makes: the mapping's own, or the one the event names.
fn mapping_change(mapping: &EntityMapping, event: &Value) -> Result<Change, Ignored> {
    match &mapping.change {
        ChangeSource::Fixed(change) => Ok(*change),
        ChangeSource::FromPayload { from } => {
            let word = text(at(event, from)).unwrap_or_default();
            change_word(&word).ok_or(Ignored::UnknownAction(word))
        }
    }
}

/// Maps one event through the first entity mapping that names its type.
pub fn draft(hooks: &Webhooks, mut event: Value) -> Result<Draft, Ignored> {
    let event_type = hooks
        .event_type
        .as_deref()
        .and_then(|p| text(at(&event, p)))
        .ok_or(Ignored::NoEventType)?;
    let mapping = hooks
        .entities
        .iter()
        .find(|m| m.event_types.contains(&event_type))
        .ok_or_else(|| Ignored::Unmapped(event_type.clone()))?;
    let entity_id =
        text(at(&event, &mapping.id)).ok_or_else(|| Ignored::NoEntityId(event_type.clone()))?;
    let change = mapping_change(mapping, &event)?;
    let previous = mapping
        .previous
        .as_deref()
        .and_then(|p| at(&event, p))
        .and_then(Value::as_object)
        .cloned();
    let changed = mapping
        .changed
        .as_deref()
        .and_then(|p| at(&event, p))
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(|n| text(Some(n))).collect());
    let event_time = hooks
        .event_time
        .as_deref()
        .and_then(|p| at(&event, p))
        .and_then(event_time_ms);
    // Last: it moves the state out of the event (which may be the whole event).
    let after = take_at(&mut event, &mapping.state).unwrap_or(Value::Null);
    Ok(Draft {
        event_time,
        event_type,
        entity_type: mapping.entity_type.clone(),
        entity_id: key_safe(&entity_id),
        change,
        after,
        previous,
        changed,
    })
}

/// Overlays a provider's partial previous values (nested objects merged, as Stripe's
/// `previous_attributes` nests them) on a state.
fn overlay(base: &mut Value, previous: &Map<String, Value>) {
    if !base.is_object() {
        *base = Value::Object(Map::new());
    }
    if let Value::Object(target) = base {
        for (name, old) in previous {
            match (target.get_mut(name), old) {
                (Some(current @ Value::Object(_)), Value::Object(nested)) => {
                    overlay(current, nested)
                }
                _ => {
                    target.insert(name.clone(), old.clone());
                }
            }
        }
    }
}

/// The top-level fields whose values differ between two states (added and removed
/// ones included), sorted.
fn diff(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut names: Vec<String> = b
        .keys()
        .chain(a.keys())
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Before, and the changed fields, from the cached state and what the provider says.
///
/// - With the provider's previous values: before is the cached state with them laid
///   over (or only them, when nothing was cached: a partial state is more honest than
///   one borrowed from after), and the changed fields are their names.
/// - With only the changed fields' names (Notion): before is the cached state.
/// - Otherwise: before is the cached state and the changed fields are its difference
///   from after; with nothing cached, every field of after is new.
pub fn before_and_changed(draft: &Draft, cached: Option<Value>) -> (Value, Vec<String>) {
    if let Some(previous) = &draft.previous {
        let mut before = cached.unwrap_or_else(|| Value::Object(Map::new()));
        overlay(&mut before, previous);
        let mut names: Vec<String> = previous.keys().cloned().collect();
        names.sort();
        return (before, names);
    }
    if let Some(names) = &draft.changed {
        return (cached.unwrap_or(Value::Null), names.clone());
    }
    match cached {
        Some(before) => {
            let changed = diff(&before, &draft.after);
            (before, changed)
        }
        None => (Value::Null, diff(&Value::Null, &draft.after)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_read_seconds_milliseconds_fractions_and_rfc3339() {
        use super::event_time_ms;
        use serde_json::json;
        assert_eq!(event_time_ms(&json!(1721950000)), Some(1_721_950_000_000));
        assert_eq!(
            event_time_ms(&json!(1462216307945_i64)),
            Some(1_462_216_307_945)
        );
        assert_eq!(
            event_time_ms(&json!(1770920772.543219)),
            Some(1_770_920_772_543)
        );
        assert_eq!(event_time_ms(&json!("1770920772")), Some(1_770_920_772_000));
        assert_eq!(
            event_time_ms(&json!("2024-12-05T23:57:05.379Z")),
            Some(1_733_443_025_379)
        );
        for unreadable in [
            json!("soon"),
            json!(-5),
            json!(null),
            json!({"t": 1}),
            json!(1e300),
        ] {
            assert_eq!(event_time_ms(&unreadable), None, "{unreadable}");
        }
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_find_what_value_pointer_finds_and_take_moves_it_out() {
        let doc = json!({"data": {"object": {"id": "cus_1", "tags": ["a", "b"]}},
                         "a/b": {"m~n": 1}, "": {"": 2}, "list": [{"x": 0}, 10, 11],
                         "01": "key, not index"});
        for pointer in [
            "",
            "/data",
            "/data/object/id",
            "/data/object/tags/1",
            "/data/object/tags/2",
            "/a~1b/m~0n",
            "/a~1b/m~n",
            "/",
            "//",
            "/list/0/x",
            "/list/01",
            "/list/-",
            "/list/+1",
            "/01",
            "/missing/deeper",
            "data",
            "/data/object/id/x",
        ] {
            assert_eq!(at(&doc, pointer), doc.pointer(pointer), "{pointer:?}");
            let mut copy = doc.clone();
            let taken = take_at(&mut copy, pointer);
            assert_eq!(taken.as_ref(), doc.pointer(pointer), "{pointer:?}");
            if taken.is_some() && !pointer.is_empty() {
                assert_eq!(copy.pointer(pointer), Some(&Value::Null), "{pointer:?}");
            }
        }
    }

    #[test]
    fn previous_values_overlay_the_cached_state_and_name_the_changed_fields() {
        let draft = Draft {
            event_time: None,
            event_type: "Issue".into(),
            entity_type: "issue".into(),
            entity_id: "i1".into(),
            change: Change::Updated,
            after: json!({"stateId": "done", "state": {"name": "Done"}, "title": "t"}),
            previous: json!({"stateId": "progress"}).as_object().cloned(),
            changed: None,
        };
        let cached = json!({"stateId": "progress", "state": {"name": "In Progress"}, "title": "t"});
        let (before, changed) = before_and_changed(&draft, Some(cached.clone()));
        assert_eq!(before["state"]["name"], "In Progress");
        assert_eq!(changed, vec!["stateId"]);
        let (partial, _) = before_and_changed(&draft, None);
        assert_eq!(
            partial,
            json!({"stateId": "progress"}),
            "nothing borrowed from after"
        );
    }

    #[test]
    fn nested_previous_attributes_merge_into_objects() {
        let mut base = json!({"metadata": {"a": "new", "b": "kept"}, "email": "new@x"});
        overlay(
            &mut base,
            json!({"metadata": {"a": "old"}, "email": "old@x"})
                .as_object()
                .expect("obj"),
        );
        assert_eq!(
            base,
            json!({"metadata": {"a": "old", "b": "kept"}, "email": "old@x"})
        );
    }

    #[test]
    fn without_previous_values_the_change_is_the_difference_from_the_cache() {
        let draft = Draft {
            event_time: None,
            event_type: "t".into(),
            entity_type: "e".into(),
            entity_id: "1".into(),
            change: Change::Updated,
            after: json!({"a": 1, "b": 2, "c": 3}),
            previous: None,
            changed: None,
        };
        let (_, changed) = before_and_changed(&draft, Some(json!({"a": 1, "b": 1, "d": 0})));
        assert_eq!(changed, vec!["b", "c", "d"]);
    }

    #[test]
    fn awkward_ids_become_digests_in_keys() {
        assert_eq!(key_safe("evt_1"), "evt_1");
        assert!(key_safe("#token").starts_with("sha256:"));
        assert!(key_safe(&"x".repeat(300)).starts_with("sha256:"));
        assert!(key_safe("a\u{0}b").starts_with("sha256:"));
    }

    #[test]
    fn provider_words_for_changes_are_read() {
        assert_eq!(change_word("remove"), Some(Change::Deleted));
        assert_eq!(change_word("Create"), Some(Change::Created));
        assert_eq!(change_word("restore"), None);
    }

    #[test]
    fn a_mapping_makes_its_fixed_change_or_the_one_the_event_names() {
        let hooks: Webhooks = serde_json::from_value(json!({
            "signature": "linear", "event_id": "/id", "event_type": "/type",
            "entities": [
                {"event_types": ["Issue"], "entity_type": "issue", "id": "/data/id",
                 "change": {"from": "/action"}, "state": "/data"},
                {"event_types": ["Comment"], "entity_type": "comment", "id": "/data/id",
                 "change": "updated", "state": "/data"}]
        }))
        .expect("webhooks");
        let event = |kind: &str, action: &str| json!({"id": "e1", "type": kind, "action": action, "data": {"id": "i1"}});
        let change = |e| draft(&hooks, e).map(|d| d.change);
        assert_eq!(change(event("Issue", "remove")), Ok(Change::Deleted));
        assert_eq!(change(event("Issue", "create")), Ok(Change::Created));
        assert_eq!(
            change(event("Issue", "restore")),
            Err(Ignored::UnknownAction("restore".into()))
        );
        assert_eq!(change(event("Comment", "remove")), Ok(Change::Updated));
    }
}
