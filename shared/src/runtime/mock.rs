//! Mock responses for sandbox steps: derived from the operation's response schema,
//! plausible, and deterministic for a seed (run id and step).
//!
//! The response schema is walked (objects: every declared property, except that where
//! the sample response has the object, an optional property it lacks is left out unless
//! the input has it, so mocks keep the provider's real shape; arrays: the sample's
//! items, or one item; `anyOf`/`oneOf`: the first branch that fits, else the
//! first non-null one; `type: [x, "null"]`: x; `enum`: the first; `const`; local
//! `$ref`s; `allOf` merged) and each value is chosen, in order of preference, from:
//!
//! 1. **the input**, under the same key at the same path, when it fits the schema: the
//!    provider echoes it (Postmark's `To`, Stripe's `email`, `amount`, `metadata`). Keys
//!    match ignoring case, `_` and `-` (Twilio's `To` comes back as `to`). The object
//!    named by the operation's `entity` (Linear's `issue`, Slack's `message`) echoes the
//!    input's GraphQL `input` variable, or the input. An operation that sends one field
//!    as the body and asks for `Prefer: return=representation` (FHIR create, update and
//!    transaction) gets that whole body back, when it is an object (a JSON Patch array
//!    is a change: the patched resource comes back); a body sent back whole has no
//!    entity echoed where it lacks one;
//! 2. **nothing**, when the sample input has the key but this input does not: the
//!    provider would echo nothing, so the value is null (or left out) rather than the
//!    sample's;
//! 3. **the seed**, for id-like fields (format `uuid`, `id`, `*_id`, `*Id`, `*ID`, `sid`,
//!    `*Sid`, `ts`...): shaped like the sample (Stripe's `cus_…`, Twilio's `SM` and 32
//!    hex digits, Slack's `1712345678.000123`) or the schema's `pattern`, so two runs
//!    differ and one run's step repeats exactly; and for timestamps (format `date-time`,
//!    `created`, `*_at`, `date_created`...), one instant per seed in the sample's style.
//!    An id the path names (`/{type}/{input.id}/_history`) stands for the sample
//!    input's wherever the sample repeats it;
//! 4. **the sample response**, at the same path (realistic shapes such as Stripe's
//!    `object: "customer"`), with the sample's ids replaced by the ones generated, so a
//!    Twilio `uri` names the new `sid`. An operation with `sample_responses_by` takes
//!    the sample for the input's value (a FHIR read of an Encounter, the Encounter
//!    sample). A sample object of another kind (its
//!    `resourceType`, `object`, `type` or `kind` differs from the one produced) is not
//!    used;
//! 5. **the schema**: formats (`email`, `uri`, `uuid`, `date-time`, `date`), `pattern`s
//!    (a common regex subset), `minimum`, `minLength`, `maxLength`.
//!
//! The result validates against the response schema: a test walks every operation of
//! the catalog.
//!
//! **Budgets.** A schema is the user's for Custom HTTP, so what it makes is bounded while
//! it is built, in time linear in what is built: at most [`MAX_MOCK_NODES`] schema nodes
//! visited and [`MAX_MOCK_BYTES`] of JSON per response (echoed values count), strings
//! from `minLength` or a `pattern` of at most [`MAX_STRING_CHARS`] characters and
//! [`MAX_PATTERN_REPEAT`] pattern repetitions, arrays from `minItems` of at most
//! [`MAX_ARRAY_ITEMS`] items, [`MAX_DEPTH`] levels. A schema that refers back to itself
//! (a tree of comments) is followed once more, then only what it requires is made:
//! required properties, scalar optional ones, `minItems` items, the `anyOf` branch that
//! does not recurse. What cannot fit is a [`MockError`], never a truncated response.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::catalog::Operation;

/// A realistic mock response for a sandbox step: derived from the operation's response
/// schema, deterministic for a given seed (run id + step), echoing inputs where the
/// provider echoes them.
///
/// # Errors
/// A [`MockError`] when the response would not fit the budgets (see the module doc).
pub fn mock_response(operation: &Operation, input: &Value, seed: &str) -> Result<Value, MockError> {
    // The provider answers with no body (SendGrid's 202, Salesforce's 204): nor does
    // the mock, so no later step can rely on an output the live call never returns.
    if operation.empty_response {
        return Ok(Value::Null);
    }
    let requested = with_requested_id(operation, input);
    let input = requested.as_ref().unwrap_or(input);
    let sample = operation.sample_response_for(input);
    let mut mocker = Mocker::new(operation, input, sample, seed);
    // The first pass learns which sample ids become which generated ids; the second
    // uses all of them to rewrite sample text that mentions an id (Twilio's `uri`).
    mocker.generate()?;
    let mut mock = mocker.generate()?;
    reply_per_request(operation, input, sample, seed, &mut mock);
    Ok(mock)
}

/// One reply per request, of the request's kind (Google Docs' `batchUpdate`): where the
/// input has an array of one-key requests (`{"insertText": …}`) whose schema declares
/// every kind the response's array of replies is keyed by, the reply to each request is the
/// sample's reply of its kind, or `{}` for a kind that has no reply fields. Ids in a reply
/// are new for the seed and the reply's position: two images inserted answer two
/// `objectId`s, and another run other ones.
fn reply_per_request(
    operation: &Operation,
    input: &Value,
    sample: &Value,
    seed: &str,
    mock: &mut Value,
) {
    let (Some(inputs), Some(replies)) = (
        input.as_object(),
        operation.response_schema.get("properties"),
    ) else {
        return;
    };
    let Some(replies) = replies.as_object() else {
        return;
    };
    for (name, schema) in replies {
        let Some(kinds) = schema
            .pointer("/items/properties")
            .and_then(Value::as_object)
        else {
            continue;
        };
        // The input array whose items may be of every reply kind.
        let requests = inputs.iter().find_map(|(field, items)| {
            let declared = operation
                .input_schema
                .pointer(&format!("/properties/{field}/items/properties"))?
                .as_object()?;
            let items = items.as_array()?;
            let one_key = items
                .iter()
                .all(|i| i.as_object().is_some_and(|o| o.len() == 1));
            (one_key && kinds.keys().all(|k| declared.contains_key(k))).then_some(items)
        });
        let (Some(requests), Some(slot)) = (requests, mock.get_mut(name.as_str())) else {
            continue;
        };
        let samples = sample.get(name.as_str()).and_then(Value::as_array);
        let reply = |kind: &str| {
            samples
                .and_then(|s| s.iter().find(|r| r.get(kind).is_some()))
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()))
        };
        *slot = requests
            .iter()
            .filter_map(|r| r.as_object()?.keys().next().map(|k| reply(k)))
            .enumerate()
            .map(|(i, mut reply)| {
                fresh_ids(&mut reply, seed, &format!("/{name}/{i}"));
                reply
            })
            .collect();
    }
}

/// Each id-like string in `value` replaced by a new one of its shape, drawn for the seed
/// and the id's path.
fn fresh_ids(value: &mut Value, seed: &str, path: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let at = format!("{path}/{key}");
                match v {
                    Value::String(id) if id_like(key) => {
                        *id = reshape(id, &mut Rng::new(seed, &at), 0);
                    }
                    _ => fresh_ids(v, seed, &at),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                fresh_ids(item, seed, &format!("{path}/{i}"));
            }
        }
        _ => {}
    }
}

/// Levels of nesting in a mock response.
pub const MAX_DEPTH: usize = 48;
/// Schema nodes one mock response may visit (each property, item and branch followed):
/// the bound on the generator's work, whatever the schema's shape.
pub const MAX_MOCK_NODES: usize = 10_000;
/// Bytes of compact JSON one mock response may hold, echoed values included. A step's
/// trace stores it next to the request, in one item of a store that holds 400 KB.
pub const MAX_MOCK_BYTES: usize = 64 * 1024;
/// Characters of a string made from `minLength` or a `pattern`.
pub const MAX_STRING_CHARS: usize = 4_096;
/// Items of an array made from `minItems`.
pub const MAX_ARRAY_ITEMS: usize = 256;
/// Repetitions a `pattern` expands to, nested quantifiers multiplied (`(a{256}){40}` is
/// 10,240): the generator stops there, and a declared schema may not go beyond it.
pub const MAX_PATTERN_REPEAT: usize = 1_024;
/// Group nesting the pattern generator follows.
const MAX_PATTERN_NESTING: usize = 32;

/// Why no mock response fits a schema within the budgets. The path is where in the
/// response (a JSON pointer; `/` for the top level).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// More than [`MAX_MOCK_BYTES`] of JSON.
    #[error("the mock response would be over {MAX_MOCK_BYTES} bytes of JSON")]
    TooLarge,
    /// More than [`MAX_MOCK_NODES`] schema nodes visited.
    #[error("the mock response would take more than {MAX_MOCK_NODES} schema nodes")]
    TooManyNodes,
    /// Deeper than [`MAX_DEPTH`].
    #[error("the mock response would nest deeper than {MAX_DEPTH} levels (at {path})")]
    TooDeep {
        /// Where.
        path: String,
    },
    /// A schema that requires itself: no finite response fits.
    #[error(
        "the schema requires itself at {path} (through required properties, minItems or \
         branches that all refer back): no finite response fits it"
    )]
    Endless {
        /// Where.
        path: String,
    },
    /// A `minLength` over [`MAX_STRING_CHARS`].
    #[error(
        "{path} asks for at least {min} characters; a mock string holds at most {MAX_STRING_CHARS}"
    )]
    StringTooLong {
        /// Where.
        path: String,
        /// The schema's `minLength`.
        min: u64,
    },
    /// A `minItems` over [`MAX_ARRAY_ITEMS`].
    #[error("{path} asks for at least {min} items; a mock array holds at most {MAX_ARRAY_ITEMS}")]
    TooManyItems {
        /// Where.
        path: String,
        /// The schema's `minItems`.
        min: u64,
    },
    /// A `pattern` that expands beyond [`MAX_PATTERN_REPEAT`] repetitions or
    /// [`MAX_STRING_CHARS`] characters.
    #[error(
        "the pattern at {path} repeats more than {MAX_PATTERN_REPEAT} times or makes more \
         than {MAX_STRING_CHARS} characters"
    )]
    PatternTooLong {
        /// Where.
        path: String,
    },
}

/// What one pass of the generator has spent; each step checks it, so nothing is built
/// past the budget.
#[derive(Default)]
struct Budget {
    nodes: usize,
    bytes: usize,
}

impl Budget {
    fn visit(&mut self) -> Result<(), MockError> {
        self.nodes += 1;
        if self.nodes > MAX_MOCK_NODES {
            return Err(MockError::TooManyNodes);
        }
        Ok(())
    }

    fn spend(&mut self, bytes: usize) -> Result<(), MockError> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > MAX_MOCK_BYTES {
            return Err(MockError::TooLarge);
        }
        Ok(())
    }
}

/// The input with the id the path asks for as its `id`, so the answer is the object
/// asked for (Stripe's `/v1/customers/{input.customer}`, HubSpot's
/// `/crm/v3/objects/contacts/{input.contactId}`): the path's last segment is an
/// `{input.x}` placeholder named `id`, `*_id` or `*Id`, or named as the segment before
/// it in the singular (`customers/{input.customer}`), and the response declares a
/// top-level `id`. `None` when the path fixes no id. An operation that gets its body
/// back (FHIR update) has the id put in that body.
fn with_requested_id(operation: &Operation, input: &Value) -> Option<Value> {
    let declares_id = operation
        .response_schema
        .get("properties")
        .is_some_and(|p| p.get("id").is_some());
    if !declares_id {
        return None;
    }
    let mut segments = operation.path.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    let name = last.strip_prefix("{input.")?.strip_suffix('}')?;
    let collection = segments.next().unwrap_or_default();
    let names_object = name == "id"
        || name.ends_with("_id")
        || name.ends_with("Id")
        || collection.strip_suffix('s') == Some(name);
    let id = input.get(name).filter(|v| v.is_string() || v.is_number())?;
    if !names_object {
        return None;
    }
    let mut requested = input.clone();
    let target = match &operation.body_field {
        Some(field) if returns_body(operation, input) => requested.get_mut(field.as_str()),
        _ => Some(&mut requested),
    };
    let id = Value::String(match id {
        Value::String(s) => dashed_uuid(s).unwrap_or_else(|| s.clone()),
        other => other.to_string(),
    });
    target?.as_object_mut()?.insert("id".into(), id);
    Some(requested)
}

/// A UUID written without dashes (Notion takes `59833787…` in a path), in the dashed
/// form the response spells it in.
fn dashed_uuid(id: &str) -> Option<String> {
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let cuts = [0, 8, 12, 16, 20, 32];
    let parts: Vec<&str> = cuts.windows(2).map(|w| &id[w[0]..w[1]]).collect();
    Some(parts.join("-"))
}

/// The operation sends one field as the body and asks for it back
/// (`Prefer: return=representation`). A body that is not an object (a FHIR patch's JSON
/// Patch array) describes a change: what comes back is the changed resource, not it.
fn returns_body(operation: &Operation, input: &Value) -> bool {
    operation
        .body_field
        .as_ref()
        .is_some_and(|field| input.get(field).is_some_and(Value::is_object))
        && operation
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("prefer") && v.contains("return=representation"))
}

/// The sample input's ids the path names, each standing for this input's: the answer
/// is about the object the path names, wherever the sample repeats its id (the
/// entries of a FHIR `/{type}/{id}/_history` Bundle are versions of that resource).
fn ids_named_in_path(operation: &Operation, input: &Value) -> BTreeMap<String, String> {
    let Ok(placeholders) = crate::catalog::placeholders(&operation.path) else {
        return BTreeMap::new();
    };
    placeholders
        .iter()
        .filter(|p| p.source == crate::catalog::Source::Input && id_like(&p.name))
        .filter_map(|p| {
            let sample = operation.sample_input.get(&p.name)?.as_str()?;
            let own = input.get(&p.name)?.as_str()?;
            Some((sample.to_owned(), own.to_owned()))
        })
        .collect()
}

/// Keys whose value says what kind of object a sample is.
const KIND_KEYS: [&str; 4] = ["resourceType", "object", "type", "kind"];
/// 2026-01-01T00:00:00Z: seeded instants fall within the year after it.
const EPOCH: i64 = 1_767_225_600;
const YEAR_SECS: u64 = 365 * 86_400;

static ANY: Value = Value::Bool(true);

/// The values of one path: the input there, the sample response there, the sample input
/// there.
#[derive(Clone, Copy, Default)]
struct Sources<'a> {
    echo: Option<&'a Value>,
    sample: Option<&'a Value>,
    sample_input: Option<&'a Value>,
    /// Echo every input key, declared or not (a resource sent back whole).
    echo_all: bool,
    /// The sample input has this key but the input does not.
    echo_gone: bool,
}

struct Mocker<'a> {
    operation: &'a Operation,
    /// The sample answer shapes are taken from (see [`Operation::sample_response_for`]).
    sample_response: &'a Value,
    root: &'a Value,
    seed: &'a str,
    time: DateTime<Utc>,
    echo_root: Option<&'a Value>,
    sample_input_root: Option<&'a Value>,
    echo_all: bool,
    entity_echo: Option<&'a Value>,
    entity_sample_input: Option<&'a Value>,
    /// Sample id → the id generated (or echoed) in its place.
    ids: BTreeMap<String, String>,
    budget: Budget,
    /// The `$ref` targets on the path being built (by address), each marked when it
    /// was already on the path: below a mark, only what the schema requires is made.
    refs: Vec<(usize, bool)>,
    repeats: usize,
    /// `allOf` schemas merged, by the address of the schema holding the `allOf`: merged
    /// once per response, not at each visit.
    merged: HashMap<usize, Rc<Merged>>,
}

/// An `allOf` merged into one schema, and the targets of its members that were `$ref`s.
struct Merged(Value, Vec<usize>);

impl<'a> Mocker<'a> {
    fn new(
        operation: &'a Operation,
        input: &'a Value,
        sample_response: &'a Value,
        seed: &'a str,
    ) -> Self {
        let returns_body = returns_body(operation, input);
        let (echo_root, sample_input_root) = match (&operation.body_field, returns_body) {
            (Some(field), true) => (input.get(field), operation.sample_input.get(field)),
            _ => (Some(input), Some(&operation.sample_input)),
        };
        let graphql_input = |v: &'a Value| v.get("input").filter(|i| i.is_object()).or(Some(v));
        let offset = u64_of(&sha(&[seed.as_bytes(), b"\0time"])) % YEAR_SECS;
        let time = DateTime::from_timestamp(EPOCH + offset as i64, 0).unwrap_or_default();
        Self {
            operation,
            sample_response,
            root: &operation.response_schema,
            seed,
            time,
            echo_root: echo_root.filter(|v| v.is_object()),
            sample_input_root: sample_input_root.filter(|v| v.is_object()),
            echo_all: returns_body,
            entity_echo: graphql_input(input),
            entity_sample_input: graphql_input(&operation.sample_input),
            ids: ids_named_in_path(operation, input),
            budget: Budget::default(),
            refs: Vec::new(),
            repeats: 0,
            merged: HashMap::new(),
        }
    }

    fn generate(&mut self) -> Result<Value, MockError> {
        let sources = Sources {
            echo: self.echo_root,
            sample: Some(self.sample_response),
            sample_input: self.sample_input_root,
            echo_all: self.echo_all,
            echo_gone: false,
        };
        self.budget = Budget::default();
        // The top level is on the path: a `$ref` to `#` meets it again.
        self.refs = vec![(address(self.root), false)];
        self.repeats = 0;
        Ok(self
            .value(self.root, None, "", sources, true, 0)?
            .unwrap_or_else(|| Value::Object(Map::new())))
    }

    /// Whether the path is below a schema met again: only what is required is made.
    fn minimal(&self) -> bool {
        self.repeats > 0
    }

    /// Follows local `$ref`s (`#/$defs/x`).
    fn resolve<'s>(&self, mut schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        for _ in 0..16 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            match reference
                .strip_prefix('#')
                .and_then(|p| self.root.pointer(p))
            {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    /// One value for `schema` at `path`; `None` leaves an optional property out. Each
    /// call is a node of the budget. A `$ref` followed is kept on the path: met again,
    /// what is below is made minimally; met a third time with nothing to echo or copy,
    /// the schema requires itself.
    fn value<'s>(
        &mut self,
        schema: &'s Value,
        key: Option<&str>,
        path: &str,
        src: Sources<'a>,
        required: bool,
        depth: usize,
    ) -> Result<Option<Value>, MockError>
    where
        'a: 's,
    {
        self.budget.visit()?;
        if depth > MAX_DEPTH {
            return Err(MockError::TooDeep { path: shown(path) });
        }
        let followed = schema.get("$ref").is_some();
        let schema = self.resolve(schema);
        let entered = if followed {
            self.enter(&[address(schema)], &src, path)?
        } else {
            0
        };
        let out = self.value_at(schema, key, path, src, required, depth);
        self.leave(entered);
        out
    }

    /// Puts the `$ref` targets being followed on the path, and says how many. A target
    /// met a third time with nothing to echo or copy is a schema that requires itself.
    /// (After an error nothing is left to undo: the pass ends, and the next starts anew.)
    fn enter(
        &mut self,
        targets: &[usize],
        src: &Sources<'_>,
        path: &str,
    ) -> Result<usize, MockError> {
        for &target in targets {
            let seen = self.refs.iter().filter(|(r, _)| *r == target).count();
            if seen >= 2 && src.echo.is_none() && src.sample.is_none() {
                return Err(MockError::Endless { path: shown(path) });
            }
            self.refs.push((target, seen > 0));
            self.repeats += usize::from(seen > 0);
        }
        Ok(targets.len())
    }

    /// Takes the last `entered` targets off the path.
    fn leave(&mut self, entered: usize) {
        for _ in 0..entered {
            if let Some((_, true)) = self.refs.pop() {
                self.repeats -= 1;
            }
        }
    }

    /// [`Self::value`] for a resolved schema: combinators followed, scalars charged to
    /// the budget (objects and arrays are charged as they are built).
    fn value_at<'s>(
        &mut self,
        schema: &'s Value,
        key: Option<&str>,
        path: &str,
        src: Sources<'a>,
        required: bool,
        depth: usize,
    ) -> Result<Option<Value>, MockError>
    where
        'a: 's,
    {
        let schema: &'s Value = match schema {
            Value::Bool(false) => return Ok(None),
            Value::Object(_) => schema,
            _ => &ANY,
        };
        if let Some(members) = schema.get("allOf").and_then(Value::as_array)
            && !members.is_empty()
        {
            // A member that is a `$ref` is followed as much as a `$ref` alone is.
            let merged = self.merged_all_of(schema, members);
            let entered = self.enter(&merged.1, &src, path)?;
            let out = self.value(&merged.0, key, path, src, required, depth + 1);
            self.leave(entered);
            return out;
        }
        if let Some(branches) = combinator_branches(schema) {
            // Each branch is looked at to choose one.
            for _ in branches {
                self.budget.visit()?;
            }
            if let Some(branch) = self.branch(branches, &src) {
                return self.value(branch, key, path, src, required, depth + 1);
            }
            self.budget.spend(json_len(&Value::Null))?;
            return Ok(Some(Value::Null));
        }
        let made = self.value_from(schema, key, path, src, required, depth)?;
        if let Some(v) = made.as_ref().filter(|v| !v.is_object() && !v.is_array()) {
            self.budget.spend(json_len(v))?;
        }
        Ok(made)
    }

    /// A value for a resolved schema with no combinator, from the first source that
    /// gives one (see the module doc).
    fn value_from(
        &mut self,
        schema: &Value,
        key: Option<&str>,
        path: &str,
        src: Sources<'a>,
        required: bool,
        depth: usize,
    ) -> Result<Option<Value>, MockError> {
        if let Some(fixed) = fixed_value(schema, &src) {
            if fixed.is_object() || fixed.is_array() {
                self.budget.spend(json_len(&fixed))?;
            }
            return Ok(Some(fixed));
        }
        let types = types(schema);
        let any = types.is_empty();

        // 1. The input, when it fits.
        if let Some(echo) = src.echo
            && self.fits(echo, schema, &types)
        {
            self.remember_echoed_id(key, src.sample, echo);
            return self.built_like(echo, schema, path, src, depth).map(Some);
        }
        // 2. An echoed field this input does not have.
        if src.echo_gone {
            if types.contains(&"null") {
                return Ok(Some(Value::Null));
            }
            if !required {
                return Ok(None);
            }
        }
        let sample = src.sample;
        let sample_fits = sample.is_some_and(|s| self.fits(s, schema, &types));
        if sample_fits && sample.is_some_and(Value::is_null) {
            return Ok(Some(Value::Null));
        }
        // 3. Ids and timestamps from the seed.
        if let Some(key) = key {
            let sample_scalar = sample.filter(|s| sample_fits && !s.is_object() && !s.is_array());
            if let Some(v) = self.seeded(key, path, schema, &types, sample_scalar)? {
                return Ok(Some(v));
            }
        }
        // 4. The sample.
        if let Some(sample) = sample.filter(|_| sample_fits) {
            return self
                .taken_from_sample(sample, schema, &types, path, src, depth)
                .map(Some);
        }
        if any {
            // No type to generate from (an open schema, where anything the input or the
            // sample held was taken above): null where something is required.
            return Ok(required.then_some(Value::Null));
        }
        // 5. The schema.
        self.made_from_schema(schema, &types, key, path, src, depth)
            .map(Some)
    }

    /// The sample's id stands for the echoed one wherever the sample repeats it.
    fn remember_echoed_id(&mut self, key: Option<&str>, sample: Option<&Value>, echo: &Value) {
        if let (Some(k), Some(Value::String(sample)), Value::String(echoed)) = (key, sample, echo)
            && id_like(k)
        {
            self.ids.insert(sample.clone(), echoed.clone());
        }
    }

    /// An object or array built from the schema where `like` is one, else `like` itself.
    fn built_like(
        &mut self,
        like: &Value,
        schema: &Value,
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        match like {
            Value::Object(_) => self.object(schema, path, src, depth),
            Value::Array(_) => self.array(schema, path, src, depth),
            other => Ok(other.clone()),
        }
    }

    /// The sample's value; its text names the ids generated for the sample's, if that fits.
    fn taken_from_sample(
        &mut self,
        sample: &Value,
        schema: &Value,
        types: &[&str],
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        let Value::String(s) = sample else {
            return self.built_like(sample, schema, path, src, depth);
        };
        let candidate = Value::String(self.rewrite(s));
        Ok(if self.fits(&candidate, schema, types) {
            candidate
        } else {
            sample.clone()
        })
    }

    /// A value made from the schema alone (its first non-null type), the sample set aside.
    fn made_from_schema(
        &mut self,
        schema: &Value,
        types: &[&str],
        key: Option<&str>,
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        let src = Sources {
            sample: None,
            ..src
        };
        let kind = types
            .iter()
            .copied()
            .find(|t| *t != "null")
            .unwrap_or("null");
        Ok(match kind {
            "object" => self.object(schema, path, src, depth)?,
            "array" => self.array(schema, path, src, depth)?,
            "string" => Value::String(self.string(key, path, schema)?),
            "integer" | "number" => {
                Value::Number(self.number(key, path, schema, kind == "integer")?)
            }
            "boolean" => Value::Bool(matches!(key, Some("ok" | "success"))),
            _ => Value::Null,
        })
    }

    fn object(
        &mut self,
        schema: &Value,
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        let spent_before = self.budget.bytes;
        let built = self.object_from(schema, path, src, depth)?;
        // A sample of another kind (a Patient for an Encounter) is not used.
        if let (Some(Value::Object(sample)), Value::Object(out)) = (src.sample, &built) {
            let other_kind = KIND_KEYS
                .iter()
                .any(|k| match (out.get(*k), sample.get(*k)) {
                    (Some(Value::String(a)), Some(Value::String(b))) => a != b,
                    _ => false,
                });
            if other_kind {
                let src = Sources {
                    sample: None,
                    ..src
                };
                // The first object is dropped: its bytes are not in the response.
                self.budget.bytes = spent_before;
                return self.object_from(schema, path, src, depth);
            }
        }
        Ok(built)
    }

    fn object_from(
        &mut self,
        schema: &Value,
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        static NO_PROPERTIES: OnceLock<Map<String, Value>> = OnceLock::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| NO_PROPERTIES.get_or_init(Map::new));
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let must_have: HashSet<&str> = required.iter().copied().collect();
        let additional = schema.get("additionalProperties");
        let extra_schema: &Value = match additional {
            Some(s @ Value::Object(_)) => s,
            _ => &ANY,
        };
        let sample = src.sample.and_then(Value::as_object);
        self.budget.spend(2)?;

        let mut out = Map::new();
        for (name, sub) in properties {
            // A property left out is still a node looked at.
            self.budget.visit()?;
            let child = self.child(src, name, sub);
            let at = format!("{path}/{name}");
            let must = must_have.contains(name.as_str());
            // A sample gives the real shape: an optional property it lacks stays out
            // unless the input has it (Google Calendar's start has date or dateTime).
            // An empty sample (Custom HTTP declares none) says nothing.
            if !must
                && child.echo.is_none()
                && sample.is_some_and(|s| !s.is_empty() && !s.contains_key(name))
            {
                continue;
            }
            // Below a schema met again, an optional object, array or open value with
            // nothing to echo or copy stays out: that is where a schema recurses.
            if !must
                && self.minimal()
                && child.echo.is_none()
                && child.sample.is_none()
                && !scalar(self.resolve(sub))
            {
                continue;
            }
            let v = match self.value(sub, Some(name), &at, child, must, depth + 1)? {
                Some(v) => v,
                None if must => self
                    .value(sub, Some(name), &at, Sources::default(), true, depth + 1)?
                    .unwrap_or(Value::Null),
                None => continue,
            };
            self.budget.spend(json_str_len(name) + 2)?;
            out.insert(name.clone(), v);
        }
        for name in required.iter().filter(|n| !properties.contains_key(**n)) {
            let child = self.child(src, name, &ANY);
            let at = format!("{path}/{name}");
            let v = self
                .value(extra_schema, Some(name), &at, child, true, depth + 1)?
                .unwrap_or(Value::Null);
            self.budget.spend(json_str_len(name) + 2)?;
            out.insert((*name).to_owned(), v);
        }
        if additional != Some(&Value::Bool(false)) {
            self.extra_properties(schema, extra_schema, path, src, depth, &mut out)?;
        }
        Ok(Value::Object(out))
    }

    /// The undeclared properties of an open object: the sample's, and the input's where
    /// the object is a map or the resource comes back whole.
    fn extra_properties(
        &mut self,
        schema: &Value,
        extra_schema: &Value,
        path: &str,
        src: Sources<'a>,
        depth: usize,
        out: &mut Map<String, Value>,
    ) -> Result<(), MockError> {
        let properties = schema.get("properties").and_then(Value::as_object);
        let map_like = properties.is_none_or(Map::is_empty);
        let mut extras: Vec<&String> = Vec::new();
        if let Some(sample) = src.sample.and_then(Value::as_object) {
            extras.extend(sample.keys());
        }
        if let Some(echo) = src
            .echo
            .and_then(Value::as_object)
            .filter(|_| map_like || src.echo_all)
        {
            extras.extend(echo.keys());
        }
        extras.sort();
        extras.dedup();
        for name in extras {
            if properties.is_some_and(|p| p.contains_key(name)) || out.contains_key(name) {
                continue;
            }
            let child = self.child(src, name, extra_schema);
            let at = format!("{path}/{name}");
            if let Some(v) = self.value(extra_schema, Some(name), &at, child, false, depth + 1)? {
                self.budget.spend(json_str_len(name) + 2)?;
                out.insert(name.clone(), v);
            }
        }
        Ok(())
    }

    /// The sources of property `name` of an object whose sources are `src`.
    fn child(&self, src: Sources<'a>, name: &str, schema: &Value) -> Sources<'a> {
        let mut echo = src.echo.and_then(|e| lookup(e, name));
        let mut sample_input = src.sample_input.and_then(|s| lookup(s, name));
        let is_entity = self.operation.entity.as_deref() == Some(name)
            && types(self.resolve(schema)).contains(&"object");
        // A body sent back whole (a FHIR transaction's Bundle) already holds the entity
        // where the input has it; where it has none, none is invented from the input.
        if echo.is_none() && is_entity && !src.echo_all {
            echo = self.entity_echo;
            sample_input = self.entity_sample_input;
        }
        Sources {
            echo,
            sample: src.sample.and_then(|s| s.get(name)),
            sample_input,
            echo_all: src.echo_all,
            echo_gone: src.echo.is_some() && echo.is_none() && sample_input.is_some(),
        }
    }

    fn array(
        &mut self,
        schema: &Value,
        path: &str,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        let items: &Value = schema.get("items").unwrap_or(&ANY);
        let sample_items = src.sample.and_then(Value::as_array);
        let sample_input_items = src.sample_input.and_then(Value::as_array);
        let first_sample = sample_items.and_then(|s| s.first());
        self.budget.spend(2)?;
        let mut out = Vec::new();
        if let Some(echo) = src.echo.and_then(Value::as_array) {
            for (i, element) in echo.iter().enumerate() {
                let child = Sources {
                    echo: Some(element),
                    sample: sample_items.and_then(|s| s.get(i)).or(first_sample),
                    sample_input: sample_input_items.and_then(|s| s.get(i)),
                    echo_all: src.echo_all,
                    echo_gone: false,
                };
                out.push(self.item(items, path, i, child, depth)?);
            }
        } else if let Some(samples) = sample_items {
            for (i, sample) in samples.iter().enumerate() {
                let child = Sources {
                    sample: Some(sample),
                    ..Sources::default()
                };
                out.push(self.item(items, path, i, child, depth)?);
            }
        } else {
            for i in 0..self.generated_items(schema, path)? {
                out.push(self.item(items, path, i, Sources::default(), depth)?);
            }
        }
        Ok(Value::Array(out))
    }

    /// Item `i` of an array at `path`.
    fn item(
        &mut self,
        items: &Value,
        path: &str,
        i: usize,
        src: Sources<'a>,
        depth: usize,
    ) -> Result<Value, MockError> {
        let at = format!("{path}/{i}");
        let v = self
            .value(items, None, &at, src, true, depth + 1)?
            .unwrap_or(Value::Null);
        self.budget.spend(1)?;
        Ok(v)
    }

    /// How many items to make for an array with nothing to echo or copy: one, or
    /// `minItems` (below a schema met again, `minItems` alone), within `maxItems`.
    fn generated_items(&self, schema: &Value, path: &str) -> Result<usize, MockError> {
        let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        if min > MAX_ARRAY_ITEMS as u64 {
            return Err(MockError::TooManyItems {
                path: shown(path),
                min,
            });
        }
        let max = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let wanted = if self.minimal() { min } else { min.max(1) };
        // At most MAX_ARRAY_ITEMS, checked above: the cast cannot truncate.
        Ok(wanted.min(max) as usize)
    }

    /// `allOf` as one schema: the members' properties and required lists joined, nested
    /// `allOf`s flattened, each member once; with the targets of the members that are
    /// `$ref`s. Merged once per schema and kept.
    fn merged_all_of(&mut self, schema: &Value, members: &[Value]) -> Rc<Merged> {
        let key = address(schema);
        if let Some(merged) = self.merged.get(&key) {
            return merged.clone();
        }
        let mut merged = schema.as_object().cloned().unwrap_or_default();
        merged.remove("allOf");
        let mut targets = Vec::new();
        let mut seen = HashSet::from([key]);
        let mut queue: Vec<&Value> = members.iter().rev().collect();
        while let Some(member) = queue.pop() {
            let followed = member.get("$ref").is_some();
            let member = self.resolve(member);
            let Some(fields) = member.as_object() else {
                continue;
            };
            if !seen.insert(address(member)) {
                continue;
            }
            if followed {
                targets.push(address(member));
            }
            if let Some(Value::Array(nested)) = fields.get("allOf") {
                queue.extend(nested.iter().rev());
            }
            merge_member(&mut merged, fields);
        }
        let merged = Rc::new(Merged(Value::Object(merged), targets));
        self.merged.insert(key, merged.clone());
        merged
    }

    /// The `anyOf`/`oneOf` branch to follow: the first the input fits, else the first
    /// the sample fits, else the first that is not just null. Below a schema met again,
    /// a branch that refers back to a schema on the path is the last choice.
    fn branch<'s>(&self, branches: &'s [Value], src: &Sources<'a>) -> Option<&'s Value>
    where
        'a: 's,
    {
        for candidate in [src.echo, src.sample].into_iter().flatten() {
            if let Some(b) = branches.iter().find(|b| {
                let b = self.resolve(b);
                self.fits(candidate, b, &types(b))
            }) {
                return Some(b);
            }
        }
        let recurses = |b: &Value| {
            self.minimal()
                && b.get("$ref").is_some()
                && self
                    .refs
                    .iter()
                    .any(|(r, _)| *r == address(self.resolve(b)))
        };
        let not_null = |b: &&Value| types(self.resolve(b)) != ["null"];
        branches
            .iter()
            .find(|b| !recurses(b) && not_null(b))
            .or_else(|| branches.iter().find(|b| !recurses(b)))
            .or_else(|| branches.iter().find(not_null))
            .or(branches.first())
    }

    /// Whether `value` fits `schema` at this level (nested values are walked later).
    fn fits(&self, value: &Value, schema: &Value, types: &[&str]) -> bool {
        let allowed = |t: &str| types.is_empty() || types.contains(&t);
        let type_ok = match value {
            Value::Null => allowed("null"),
            Value::Bool(_) => allowed("boolean"),
            Value::Number(n) => {
                allowed("number")
                    || (allowed("integer")
                        && (n.is_i64()
                            || n.is_u64()
                            || n.as_f64().is_some_and(|f| f.fract() == 0.0)))
            }
            Value::String(_) => allowed("string"),
            Value::Array(_) => allowed("array"),
            Value::Object(_) => allowed("object"),
        };
        if !type_ok {
            return false;
        }
        if let Some(constant) = schema.get("const") {
            return constant == value;
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            return choices.contains(value);
        }
        match value {
            Value::String(s) => string_fits(s, schema),
            Value::Number(n) => number_fits(n, schema),
            Value::Array(items) => {
                let len = items.len() as u64;
                schema
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .is_none_or(|m| len >= m)
                    && schema
                        .get("maxItems")
                        .and_then(Value::as_u64)
                        .is_none_or(|m| len <= m)
            }
            _ => true,
        }
    }

    /// Ids and timestamps, derived from the seed; `None` when `key` is neither.
    fn seeded(
        &mut self,
        key: &str,
        path: &str,
        schema: &Value,
        types: &[&str],
        sample: Option<&Value>,
    ) -> Result<Option<Value>, MockError> {
        let allowed = |t: &str| types.is_empty() || types.contains(&t);
        let format = schema.get("format").and_then(Value::as_str);
        if allowed("string") && sample.is_none_or(Value::is_string) {
            let sample_text = sample.and_then(Value::as_str);
            if format == Some("uuid") || id_like(key) {
                return Ok(Some(Value::String(self.id(path, sample_text, schema)?)));
            }
            if (format == Some("date-time") || format == Some("date") || time_like(key))
                && let Some(t) = self.time_text(sample_text, format)
            {
                let v = Value::String(t);
                if self.fits(&v, schema, types) {
                    return Ok(Some(v));
                }
            }
        }
        if (allowed("integer") || allowed("number")) && sample.is_none_or(Value::is_number) {
            let sample_int = sample.and_then(Value::as_i64);
            if unix_time_like(key) && sample_int.is_none_or(|n| n >= 1_000_000_000) {
                let v = Value::from(self.time.timestamp());
                if self.fits(&v, schema, &["integer"]) {
                    return Ok(Some(v));
                }
            }
            if id_like(key) && sample.is_none_or(Value::is_number) {
                let digits = sample_int.map_or(6, |n| n.to_string().len().clamp(1, 15));
                let mut rng = Rng::new(self.seed, path);
                let low = 10i64.pow(digits as u32 - 1);
                let n = low + (rng.next_u64() % (9 * low as u64)) as i64;
                let v = Value::from(n);
                if self.fits(&v, schema, &["integer"]) {
                    return Ok(Some(v));
                }
            }
        }
        Ok(None)
    }

    /// An id for `path`: the one already chosen for the same sample id, else one shaped
    /// like the sample or the schema's pattern.
    fn id(
        &mut self,
        path: &str,
        sample: Option<&str>,
        schema: &Value,
    ) -> Result<String, MockError> {
        if let Some(known) = sample.and_then(|s| self.ids.get(s)) {
            return Ok(known.clone());
        }
        let min_length = min_length(schema, path)?;
        let mut rng = Rng::new(self.seed, path);
        let format = schema.get("format").and_then(Value::as_str);
        let looks_uuid = sample.is_some_and(|s| s.len() == 36 && uuid::Uuid::parse_str(s).is_ok());
        let mut candidates: Vec<String> = Vec::new();
        if format == Some("uuid") || looks_uuid {
            candidates.push(rng.uuid());
        }
        if let Some(sample) = sample {
            candidates.push(reshape(sample, &mut rng, self.time.timestamp()));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(generated) = from_pattern(pattern, &mut rng)
                .map_err(|_| MockError::PatternTooLong { path: shown(path) })?
        {
            candidates.push(generated);
        }
        candidates.push(rng.token(20));
        let chosen = candidates
            .into_iter()
            .find(|c| string_fits(c, schema))
            .map(|c| fit_length(c, min_length, schema))
            .or_else(|| sample.map(str::to_owned))
            .unwrap_or_default();
        if let Some(sample) = sample {
            self.ids.insert(sample.to_owned(), chosen.clone());
        }
        Ok(chosen)
    }

    /// The seed's instant, written like the sample (RFC 3339 with or without fraction,
    /// RFC 2822), or as the format asks.
    fn time_text(&self, sample: Option<&str>, format: Option<&str>) -> Option<String> {
        if format == Some("date") {
            return Some(self.time.format("%Y-%m-%d").to_string());
        }
        match sample {
            Some(s) if DateTime::parse_from_rfc3339(s).is_ok() => Some(if s.contains('.') {
                self.time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            } else {
                self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            }),
            Some(s) if DateTime::parse_from_rfc2822(s).is_ok() => Some(self.time.to_rfc2822()),
            Some(_) => None,
            None if format == Some("date-time") => {
                Some(self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            None => None,
        }
    }

    /// Sample text with the sample's ids replaced by the generated ones.
    fn rewrite(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut ids: Vec<(&String, &String)> =
            self.ids.iter().filter(|(k, _)| k.len() >= 8).collect();
        ids.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (old, new) in ids {
            if out.contains(old.as_str()) {
                out = out.replace(old.as_str(), new);
            }
        }
        out
    }

    fn string(
        &mut self,
        key: Option<&str>,
        path: &str,
        schema: &Value,
    ) -> Result<String, MockError> {
        let min_length = min_length(schema, path)?;
        let mut rng = Rng::new(self.seed, path);
        let generated = match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => Some(rng.uuid()),
            Some("date-time") => Some(self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Some("date") => Some(self.time.format("%Y-%m-%d").to_string()),
            Some("time") => Some(self.time.format("%H:%M:%SZ").to_string()),
            Some("email" | "idn-email") => Some("user@example.com".to_owned()),
            Some("uri" | "url" | "iri" | "uri-reference" | "iri-reference") => {
                Some(format!("https://example.com/{}", key.unwrap_or("resource")))
            }
            Some("hostname" | "idn-hostname") => Some("example.com".to_owned()),
            Some("ipv4") => Some("192.0.2.1".to_owned()),
            Some("ipv6") => Some("2001:db8::1".to_owned()),
            _ => None,
        };
        if let Some(generated) = generated {
            return Ok(generated);
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let generated = from_pattern(pattern, &mut rng)
                .map_err(|_| MockError::PatternTooLong { path: shown(path) })?;
            if let Some(generated) = generated.filter(|g| string_fits(g, schema)) {
                return Ok(generated);
            }
        }
        Ok(fit_length(
            key.unwrap_or("example").to_owned(),
            min_length,
            schema,
        ))
    }

    fn number(
        &mut self,
        key: Option<&str>,
        path: &str,
        schema: &Value,
        integer: bool,
    ) -> Result<Number, MockError> {
        let types: &[&str] = if integer { &["integer"] } else { &["number"] };
        if let Some(k) = key
            && let Some(Value::Number(n)) = self.seeded(k, path, schema, types, None)?
        {
            return Ok(n);
        }
        let minimum = schema.get("minimum").and_then(Value::as_f64);
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_f64);
        let maximum = schema.get("maximum").and_then(Value::as_f64).or(schema
            .get("exclusiveMaximum")
            .and_then(Value::as_f64)
            .map(|m| m - 1.0));
        let mut n = match (minimum, exclusive) {
            (Some(m), _) => m.ceil(),
            (None, Some(e)) => e.floor() + 1.0,
            (None, None) => 0.0,
        };
        if let Some(max) = maximum
            && n > max
        {
            n = max.floor();
        }
        Ok(if integer || n.fract() == 0.0 {
            Number::from(n as i64)
        } else {
            Number::from_f64(n).unwrap_or_else(|| Number::from(0))
        })
    }
}

/// One `allOf` member's keywords joined into `merged`: properties and required names
/// added, other keywords taken where `merged` has none (conditionals and nested `allOf`s
/// aside).
fn merge_member(merged: &mut Map<String, Value>, member: &Map<String, Value>) {
    for (k, v) in member {
        match (k.as_str(), merged.get_mut(k)) {
            ("properties", Some(Value::Object(existing))) => {
                if let Value::Object(more) = v {
                    for (name, sub) in more {
                        existing.entry(name.clone()).or_insert_with(|| sub.clone());
                    }
                }
            }
            ("required", Some(Value::Array(existing))) => {
                if let Value::Array(more) = v {
                    let mut known: HashSet<String> = existing
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    for name in more.iter().filter_map(Value::as_str) {
                        if known.insert(name.to_owned()) {
                            existing.push(Value::from(name));
                        }
                    }
                }
            }
            ("if" | "then" | "else" | "not" | "allOf", _) => {}
            (_, None) => {
                merged.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
}

/// Where a schema is in memory: the same address on one path means a `$ref` led back.
/// Every schema the generator reads lives as long as the generator (the response schema,
/// a static, or a merged `allOf` it keeps), so an address names one schema.
fn address(schema: &Value) -> usize {
    std::ptr::from_ref(schema) as usize
}

/// A path as errors show it: the top level is `/`.
fn shown(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// Whether a schema makes a scalar (a typed string, number, boolean or null): it cannot
/// recurse.
fn scalar(schema: &Value) -> bool {
    let types = types(schema);
    !types.is_empty()
        && types.iter().all(|t| !matches!(*t, "object" | "array"))
        && schema.get("allOf").is_none()
}

/// The length of `value` written as compact JSON, as serde_json writes it.
fn json_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => json_str_len(s),
        Value::Array(items) => {
            2 + items.iter().map(json_len).sum::<usize>() + items.len().saturating_sub(1)
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| json_str_len(k) + 1 + json_len(v))
                .sum::<usize>()
                + map.len().saturating_sub(1)
        }
    }
}

/// The length of `text` as a JSON string: quotes, and escapes for `"`, `\` and control
/// characters.
fn json_str_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// The branches of an `anyOf` or `oneOf` standing alone (no `type` or `properties` by it).
fn combinator_branches(schema: &Value) -> Option<&Vec<Value>> {
    for combinator in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(combinator).and_then(Value::as_array)
            && schema.get("type").is_none()
            && schema.get("properties").is_none()
        {
            return Some(branches);
        }
    }
    None
}

/// The value a `const` or an `enum` fixes, the input's or the sample's choice first.
fn fixed_value(schema: &Value, src: &Sources<'_>) -> Option<Value> {
    if let Some(constant) = schema.get("const") {
        return Some(constant.clone());
    }
    let choices = schema.get("enum").and_then(Value::as_array)?;
    for candidate in [src.echo, src.sample].into_iter().flatten() {
        if choices.contains(candidate) {
            return Some(candidate.clone());
        }
    }
    if src.echo_gone && choices.contains(&Value::Null) {
        return Some(Value::Null);
    }
    choices
        .iter()
        .find(|c| !c.is_null())
        .or(choices.first())
        .cloned()
        .or(Some(Value::Null))
}

/// The JSON types a schema allows; empty means any.
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => {
            if let Some(c) = schema.get("const") {
                vec![json_type(c)]
            } else if schema.get("properties").is_some() {
                vec!["object"]
            } else if schema.get("items").is_some() {
                vec!["array"]
            } else {
                vec![]
            }
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A key of `object` matching `name`: exactly, else ignoring case, `_` and `-`.
fn lookup<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    if let Some(v) = map.get(name) {
        return Some(v);
    }
    // Compared in place, with no key copied: this runs for each property of each object
    // the input echoes.
    map.iter()
        .find(|(k, _)| folded(k).eq(folded(name)))
        .map(|(_, v)| v)
}

/// A key's characters, ASCII lowercase, without `_` and `-`.
fn folded(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
}

/// Names of fields that identify something: generated per run, never copied.
fn id_like(key: &str) -> bool {
    if key.to_ascii_lowercase().contains("version") {
        return false;
    }
    matches!(
        key,
        "id" | "Id" | "ID" | "sid" | "ts" | "uid" | "uuid" | "guid"
    ) || key.ends_with("_id")
        || key.ends_with("Id")
        || key.ends_with("ID")
        || key.ends_with("_sid")
        || key.ends_with("Sid")
}

/// Names of fields that hold when something happened (text timestamps).
fn time_like(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["creat", "updat", "modif", "submit", "edited"]
        .iter()
        .any(|w| lower.contains(w))
        || lower.ends_with("_at")
        || key.ends_with("At")
        || lower.starts_with("date_")
        || lower == "timestamp"
}

/// Names of integer fields that hold a Unix time.
fn unix_time_like(key: &str) -> bool {
    matches!(key, "created" | "updated" | "timestamp")
        || key.ends_with("_at")
        || key.ends_with("At")
}

fn string_fits(text: &str, schema: &Value) -> bool {
    let chars = text.chars().count() as u64;
    if schema
        .get("minLength")
        .and_then(Value::as_u64)
        .is_some_and(|m| chars < m)
        || schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| chars > m)
    {
        return false;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && !pattern_matches(pattern, text)
    {
        return false;
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => text.len() == 36 && uuid::Uuid::parse_str(text).is_ok(),
        Some("date-time") => DateTime::parse_from_rfc3339(text).is_ok(),
        Some("date") => {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
        }
        Some("email") => {
            let parts: Vec<&str> = text.split('@').collect();
            parts.len() == 2
                && parts.iter().all(|p| !p.is_empty())
                && !text.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
        }
        Some("uri") => url::Url::parse(text).is_ok(),
        _ => true,
    }
}

fn number_fits(n: &Number, schema: &Value) -> bool {
    let Some(x) = n.as_f64() else { return true };
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    bound("minimum").is_none_or(|m| x >= m)
        && bound("maximum").is_none_or(|m| x <= m)
        && bound("exclusiveMinimum").is_none_or(|m| x > m)
        && bound("exclusiveMaximum").is_none_or(|m| x < m)
}

/// Regex patterns are checked by the schema engine, compiled once per pattern.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    type Cache = Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let validator = {
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 1024 {
            map.clear();
        }
        map.entry(pattern.to_owned())
            .or_insert_with(|| {
                crate::catalog::compile_schema(&serde_json::json!({"pattern": pattern}))
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    };
    // A pattern the engine cannot compile cannot be checked; the schema would not
    // compile either.
    validator.is_none_or(|v| v.is_valid(&Value::String(text.to_owned())))
}

/// The schema's `minLength`, when a mock string can hold it.
fn min_length(schema: &Value, path: &str) -> Result<usize, MockError> {
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    if min > MAX_STRING_CHARS as u64 {
        return Err(MockError::StringTooLong {
            path: shown(path),
            min,
        });
    }
    // At most MAX_STRING_CHARS, checked above: the cast cannot truncate.
    Ok(min as usize)
}

/// `text` padded with `x` to `min` characters (at most [`MAX_STRING_CHARS`]), then cut
/// to the schema's `maxLength`: one pass over the text.
fn fit_length(mut text: String, min: usize, schema: &Value) -> String {
    let chars = text.chars().count();
    let min = min.min(MAX_STRING_CHARS);
    if chars < min {
        text.extend(std::iter::repeat_n('x', min - chars));
    }
    let max = schema.get("maxLength").and_then(Value::as_u64);
    if let Some(max) = max.and_then(|m| usize::try_from(m).ok())
        && let Some((cut, _)) = text.char_indices().nth(max)
    {
        text.truncate(cut);
    }
    text
}

/// A new id shaped like `sample`: its prefix kept (`cus_`, `kix.`, Twilio's two letters, a
/// Salesforce key prefix, Slack's `C`), each other letter or digit replaced by one of
/// the same kind (hex stays hex), the domain of a `local@domain` id kept; a Slack-style `ts` becomes
/// the seed's instant.
fn reshape(sample: &str, rng: &mut Rng, unix: i64) -> String {
    let bytes = sample.as_bytes();
    let slack_ts = bytes.len() == 17
        && bytes[10] == b'.'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 10 || b.is_ascii_digit());
    if slack_ts {
        return format!("{unix:010}.{:06}", rng.next_u64() % 1_000_000);
    }
    let (local, domain) = match sample.rfind('@') {
        Some(at) => (&sample[..at], &sample[at..]),
        None => (sample, ""),
    };
    let keep = prefix_len(local);
    let all_digits = local.bytes().all(|b| b.is_ascii_digit());
    let mut out = String::with_capacity(sample.len());
    out.push_str(&local[..keep]);
    for (i, c) in local[keep..].chars().enumerate() {
        let next = match c {
            '0'..='9' if all_digits && i == 0 && keep == 0 => rng.pick(b"123456789"),
            '0'..='9' => rng.pick(b"0123456789"),
            'a'..='f' => rng.pick(b"abcdef0123456789"),
            'A'..='F' => rng.pick(b"ABCDEF"),
            'g'..='z' => rng.pick(b"abcdefghijklmnopqrstuvwxyz"),
            'G'..='Z' => rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            other => other,
        };
        out.push(next);
    }
    out.push_str(domain);
    out
}

/// How much of an id is a type prefix to keep (`cus_`, Google Docs' `kix.`).
fn prefix_len(id: &str) -> usize {
    if let Some(underscore) = id.find(['_', '.'])
        && (1..=8).contains(&underscore)
        && id[..underscore].bytes().all(|b| b.is_ascii_alphabetic())
    {
        return underscore + 1;
    }
    let b = id.as_bytes();
    if b.len() == 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return 2;
    }
    if (b.len() == 15 || b.len() == 18)
        && b.iter().all(u8::is_ascii_alphanumeric)
        && b[0].is_ascii_digit()
    {
        return 3;
    }
    // Slack's C…, U…, B… ids.
    if (9..=11).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return 1;
    }
    0
}

/// A string matching `pattern`, for a common regex subset (literals, escapes `\d \w \s`,
/// classes, groups with alternation, quantifiers): each alternation takes its first
/// branch, each quantifier its minimum. `Ok(None)` when the pattern is outside the subset
/// or the result does not match; [`PatternTooLong`] past [`MAX_PATTERN_REPEAT`]
/// repetitions or [`MAX_STRING_CHARS`] characters, counted as they are made.
fn from_pattern(pattern: &str, rng: &mut Rng) -> Result<Option<String>, PatternTooLong> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pos = 0;
    let Some(tree) = parse_alternation(&chars, &mut pos, 0) else {
        return Ok(None);
    };
    if pos != chars.len() {
        return Ok(None);
    }
    let mut out = Generated {
        text: String::new(),
        chars: 0,
        repeats: 0,
    };
    match generate(&tree, rng, &mut out) {
        Ok(()) => Ok(pattern_matches(pattern, &out.text).then_some(out.text)),
        Err(PatternStop::Unsupported) => Ok(None),
        Err(PatternStop::TooLong) => Err(PatternTooLong),
    }
}

/// A pattern that repeats beyond what a mock string may hold.
struct PatternTooLong;

/// Why generating from a pattern stopped.
enum PatternStop {
    /// An empty class: nothing to pick.
    Unsupported,
    /// Past [`MAX_PATTERN_REPEAT`] or [`MAX_STRING_CHARS`].
    TooLong,
}

/// The text made from a pattern so far, and what it cost.
struct Generated {
    text: String,
    chars: usize,
    /// Each repetition of each node, made or empty: `((a{0}){99}){99}` makes nothing
    /// and still costs 9,801.
    repeats: usize,
}

enum Node {
    Literal(char),
    Set(Vec<char>),
    /// Alternatives, each a sequence of (node, repetitions).
    Group(Vec<Vec<(Node, usize)>>),
}

fn generate(
    alternatives: &[Vec<(Node, usize)>],
    rng: &mut Rng,
    out: &mut Generated,
) -> Result<(), PatternStop> {
    let Some(first) = alternatives.first() else {
        return Err(PatternStop::Unsupported);
    };
    for (node, times) in first {
        for _ in 0..*times {
            out.repeats += 1;
            if out.repeats > MAX_PATTERN_REPEAT {
                return Err(PatternStop::TooLong);
            }
            let c = match node {
                Node::Literal(c) => *c,
                Node::Set(set) => rng.pick_char(set).ok_or(PatternStop::Unsupported)?,
                Node::Group(inner) => {
                    generate(inner, rng, out)?;
                    continue;
                }
            };
            out.chars += 1;
            if out.chars > MAX_STRING_CHARS {
                return Err(PatternStop::TooLong);
            }
            out.text.push(c);
        }
    }
    Ok(())
}

fn parse_alternation(
    p: &[char],
    pos: &mut usize,
    nesting: usize,
) -> Option<Vec<Vec<(Node, usize)>>> {
    if nesting > MAX_PATTERN_NESTING {
        return None;
    }
    let mut alternatives = vec![parse_sequence(p, pos, nesting)?];
    while p.get(*pos) == Some(&'|') {
        *pos += 1;
        alternatives.push(parse_sequence(p, pos, nesting)?);
    }
    Some(alternatives)
}

fn parse_sequence(p: &[char], pos: &mut usize, nesting: usize) -> Option<Vec<(Node, usize)>> {
    let mut sequence = Vec::new();
    while let Some(&c) = p.get(*pos) {
        let node = match c {
            '|' | ')' => break,
            '^' | '$' => {
                *pos += 1;
                continue;
            }
            '(' => {
                *pos += 1;
                if p.get(*pos) == Some(&'?') {
                    if p.get(*pos + 1) != Some(&':') {
                        return None;
                    }
                    *pos += 2;
                }
                let inner = parse_alternation(p, pos, nesting + 1)?;
                if p.get(*pos) != Some(&')') {
                    return None;
                }
                *pos += 1;
                Node::Group(inner)
            }
            '[' => Node::Set(pattern_class(p, pos)?),
            '\\' => Node::Set(pattern_escape(p, pos)?),
            '.' => {
                *pos += 1;
                Node::Set(alnum())
            }
            '*' | '+' | '?' | '{' | '}' | ']' => return None,
            c => {
                *pos += 1;
                Node::Literal(c)
            }
        };
        let times = pattern_quantifier(p, pos)?;
        sequence.push((node, times));
    }
    Some(sequence)
}

/// The minimum repetitions of the quantifier at `pos` (1 without one); what they cost is
/// counted as they are made.
fn pattern_quantifier(p: &[char], pos: &mut usize) -> Option<usize> {
    let min = match p.get(*pos) {
        Some('?') | Some('*') => {
            *pos += 1;
            0
        }
        Some('+') => {
            *pos += 1;
            1
        }
        Some('{') => {
            let close = p[*pos..].iter().position(|c| *c == '}')? + *pos;
            let inner: String = p[*pos + 1..close].iter().collect();
            *pos = close + 1;
            let low = inner.split(',').next()?.trim();
            low.parse().ok()?
        }
        _ => 1,
    };
    if p.get(*pos) == Some(&'?') {
        *pos += 1;
    }
    Some(min)
}

fn alnum() -> Vec<char> {
    ('a'..='z').chain('A'..='Z').chain('0'..='9').collect()
}

fn pattern_escape(p: &[char], pos: &mut usize) -> Option<Vec<char>> {
    let c = *p.get(*pos + 1)?;
    *pos += 2;
    Some(match c {
        'd' => ('0'..='9').collect(),
        'w' => {
            let mut set = alnum();
            set.push('_');
            set
        }
        's' => vec![' '],
        'n' => vec!['\n'],
        't' => vec!['\t'],
        other if other.is_ascii_alphanumeric() => return None,
        other => vec![other],
    })
}

fn pattern_class(p: &[char], pos: &mut usize) -> Option<Vec<char>> {
    *pos += 1;
    let negated = p.get(*pos) == Some(&'^');
    if negated {
        *pos += 1;
    }
    let mut set: Vec<char> = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(*pos)?;
        if c == ']' && !first {
            *pos += 1;
            break;
        }
        first = false;
        let low = if c == '\\' {
            let escaped = pattern_escape(p, pos)?;
            if escaped.len() != 1 {
                set.extend(escaped);
                continue;
            }
            escaped[0]
        } else {
            *pos += 1;
            c
        };
        match (p.get(*pos), p.get(*pos + 1)) {
            (Some('-'), Some(&high)) if high != ']' && high != '\\' => {
                *pos += 2;
                if high < low {
                    return None;
                }
                set.extend(low..=high);
            }
            _ => set.push(low),
        }
    }
    if negated {
        set = alnum().into_iter().filter(|c| !set.contains(c)).collect();
    }
    Some(set)
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn u64_of(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first)
}

/// A deterministic byte stream for one path of one seed: SHA-256 blocks of
/// (seed, path, counter).
struct Rng {
    key: [u8; 32],
    block: [u8; 32],
    used: usize,
    counter: u64,
}

impl Rng {
    fn new(seed: &str, path: &str) -> Self {
        let key = sha(&[seed.as_bytes(), b"\0", path.as_bytes()]);
        Self {
            key,
            block: [0; 32],
            used: 32,
            counter: 0,
        }
    }

    fn next_u8(&mut self) -> u8 {
        if self.used == 32 {
            self.block = sha(&[&self.key, &self.counter.to_be_bytes()]);
            self.counter += 1;
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }

    fn next_u64(&mut self) -> u64 {
        let mut n = 0u64;
        for _ in 0..8 {
            n = (n << 8) | u64::from(self.next_u8());
        }
        n
    }

    fn pick(&mut self, set: &[u8]) -> char {
        char::from(set[(self.next_u64() % set.len() as u64) as usize])
    }

    fn pick_char(&mut self, set: &[char]) -> Option<char> {
        if set.is_empty() {
            return None;
        }
        Some(set[(self.next_u64() % set.len() as u64) as usize])
    }

    fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        for b in &mut bytes {
            *b = self.next_u8();
        }
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    fn token(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| self.pick(b"abcdefghijklmnopqrstuvwxyz0123456789"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::{Provider, catalog, compile_schema, custom, validation_errors};

    /// The mock of a schema that fits the budgets.
    fn mock_response(operation: &Operation, input: &Value, seed: &str) -> Value {
        super::mock_response(operation, input, seed).expect("the mock fits the budgets")
    }

    fn operation(provider: &str, id: &str) -> &'static Operation {
        catalog()
            .expect("catalog")
            .get(provider)
            .expect("provider")
            .operations
            .iter()
            .find(|o| o.id == id)
            .expect("operation")
    }

    #[test]
    fn the_object_a_path_asks_for_is_the_one_answered() {
        let retrieve = operation("stripe", "retrieve_customer");
        let mock = mock_response(retrieve, &json!({"customer": "cus_QXg1o8vcGmoR32"}), "r#1");
        assert_eq!(mock["id"], "cus_QXg1o8vcGmoR32");
        let update = operation("hubspot", "update_contact");
        let input = json!({"contactId": "512", "properties": {"lifecyclestage": "customer"}});
        let mock = mock_response(update, &input, "r#1");
        assert_eq!(mock["id"], "512");
        assert_eq!(mock["properties"]["lifecyclestage"], "customer");
        for (provider, op, name) in [
            ("notion", "get_page", "page_id"),
            ("intercom", "update_contact", "contact_id"),
            ("hubspot", "get_deal", "dealId"),
        ] {
            let op = operation(provider, op);
            let mut input = op.sample_input.clone();
            let asked = input[name].as_str().expect("a string id").to_owned();
            input[name] = json!(asked.replace(|c: char| c.is_ascii_digit(), "7"));
            let mock = mock_response(op, &input, "r#1");
            let asked = input[name].as_str().expect("a string id");
            let id = mock["id"].as_str().expect("an id").replace('-', "");
            assert_eq!(id, asked, "{provider}.{}", op.id);
            assert_valid(op, &mock, &op.id);
        }
    }

    #[test]
    fn an_id_in_the_path_that_names_a_container_is_not_the_answer_s_id() {
        // `calendars/{calendarId}/events`: the event's id is its own.
        let create = operation("google_calendar", "create_event");
        let mock = mock_response(create, &create.sample_input, "r#1");
        assert_ne!(mock["id"], create.sample_input["calendarId"]);
    }

    #[test]
    fn a_batch_update_replies_once_per_request_in_the_request_s_kind() {
        let update = operation("google_docs", "update_document");
        let input = json!({"documentId": "doc-1", "requests": [
            {"insertText": {"endOfSegmentLocation": {}, "text": "Hello"}},
            {"replaceAllText": {"containsText": {"text": "{{name}}"}, "replaceText": "Ada"}},
            {"insertText": {"endOfSegmentLocation": {}, "text": "Bye"}}
        ]});
        let mock = mock_response(update, &input, "r#1");
        assert_eq!(
            mock["replies"],
            json!([{}, {"replaceAllText": {"occurrencesChanged": 1}}, {}])
        );
        let only_insert =
            json!({"documentId": "doc-1", "requests": [{"insertText": {"text": "x"}}]});
        assert_eq!(
            mock_response(update, &only_insert, "r#1")["replies"],
            json!([{}])
        );
        assert_valid(update, &mock, "update_document");
    }

    #[test]
    fn each_inserted_image_is_answered_with_its_own_new_object_id() {
        let embed = operation("google_docs", "embed_image");
        let image =
            |uri: &str| json!({"insertInlineImage": {"uri": uri, "endOfSegmentLocation": {}}});
        let input = json!({"documentId": "doc-1", "requests": [
            image("https://example.com/logo.png"), image("https://example.com/chart.png")
        ]});
        let mock = mock_response(embed, &input, "r#1");
        let ids: Vec<&str> = mock["replies"]
            .as_array()
            .expect("replies")
            .iter()
            .map(|r| {
                r["insertInlineImage"]["objectId"]
                    .as_str()
                    .expect("objectId")
            })
            .collect();
        let sample = embed.sample_response["replies"][0]["insertInlineImage"]["objectId"].clone();
        assert_eq!(ids.len(), 2, "{mock}");
        assert_ne!(ids[0], ids[1], "{mock}");
        assert!(
            ids.iter().all(|id| *id != sample && id.starts_with("kix.")),
            "{mock}"
        );
        assert_eq!(mock, mock_response(embed, &input, "r#1"));
        assert_ne!(
            mock["replies"],
            mock_response(embed, &input, "r#2")["replies"]
        );
        assert_valid(embed, &mock, "embed_image");
    }

    #[test]
    fn an_operation_answered_with_no_body_mocks_no_body() {
        for (provider, op) in [("sendgrid", "send_email"), ("salesforce", "update_record")] {
            let op = operation(provider, op);
            assert_eq!(mock_response(op, &op.sample_input, "r#1"), Value::Null);
        }
    }

    fn assert_valid(operation: &Operation, mock: &Value, what: &str) {
        if operation.empty_response {
            assert_eq!(mock, &Value::Null, "{what}: answered with no body");
            return;
        }
        let validator = compile_schema(&operation.response_schema).expect("schema compiles");
        let errors = validation_errors(&validator, mock);
        assert!(errors.is_empty(), "{what}: {errors:?}\n{mock:#}");
    }

    /// (path, value) of every string or number under an id-like key.
    fn id_leaves(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let at = format!("{path}/{k}");
                    if id_like(k) && (v.is_string() || v.is_number()) {
                        out.push((at.clone(), v.clone()));
                    }
                    id_leaves(v, &at, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    id_leaves(v, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn scalars(value: &Value, out: &mut Vec<Value>) {
        match value {
            Value::Object(map) => map.values().for_each(|v| scalars(v, out)),
            Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
            other => out.push(other.clone()),
        }
    }

    #[test]
    fn every_catalog_operation_mocks_valid_deterministic_responses_with_fresh_ids() {
        let catalog = catalog().expect("catalog");
        let mut operations = 0;
        let mut without_fresh_ids = Vec::new();
        let providers: Vec<&Provider> = catalog.providers().collect();
        for provider in providers {
            for op in &provider.operations {
                let what = format!("{}.{}", provider.id, op.id);
                let first = mock_response(op, &op.sample_input, "run-a#1");
                assert_valid(op, &first, &what);
                assert_eq!(
                    first,
                    mock_response(op, &op.sample_input, "run-a#1"),
                    "{what}: deterministic"
                );
                let second = mock_response(op, &op.sample_input, "run-b#1");
                assert_valid(op, &second, &what);
                // Another step of the same run differs too.
                let next_step = mock_response(op, &op.sample_input, "run-a#2");
                assert_valid(op, &next_step, &what);

                let mut echoed = Vec::new();
                scalars(&op.sample_input, &mut echoed);
                let mut ids = Vec::new();
                id_leaves(&first, "", &mut ids);
                let mut fresh = 0;
                for (path, value) in ids {
                    let undashed = value.as_str().map(|v| Value::String(v.replace('-', "")));
                    if echoed.contains(&value) || undashed.is_some_and(|v| echoed.contains(&v)) {
                        continue; // echoed from the input, the same in every run
                    }
                    let other = second.pointer(&path);
                    assert_ne!(other, Some(&value), "{what}: {path} repeats across runs");
                    assert_ne!(
                        next_step.pointer(&path),
                        Some(&value),
                        "{what}: {path} repeats across steps"
                    );
                    fresh += 1;
                }
                if fresh == 0 {
                    without_fresh_ids.push(what);
                }
                operations += 1;
            }
        }
        assert!(operations >= 38, "{operations} operations");
        // Every operation whose response names something new gets new ids per run; the
        // others read or update what the input names (its id is echoed), or answer with
        // an empty body.
        without_fresh_ids.sort_unstable();
        assert_eq!(
            without_fresh_ids,
            [
                "fhir.patch_resource",
                "fhir.read_history",
                "fhir.read_resource",
                "fhir.update_resource",
                "google_calendar.cancel_event",
                "google_sheets.append_values",
                "google_sheets.batch_get_values",
                "google_sheets.batch_update_values",
                "google_sheets.clear_values",
                "google_sheets.get_values",
                "google_sheets.update_values",
                "hubspot.get_company",
                "hubspot.get_contact",
                "hubspot.get_deal",
                "hubspot.update_contact",
                "mailgun.add_list_member",
                "mailgun.add_unsubscribe",
                "mailgun.delete_bounce",
                "mailgun.delete_unsubscribe",
                "mailgun.list_bounces",
                "postmark.get_outbound_message",
                "postmark.suppress_recipients",
                "salesforce.delete_record",
                "salesforce.get_record",
                "salesforce.update_record",
                "sendgrid.add_global_unsubscribe",
                "sendgrid.add_group_unsubscribe",
                "sendgrid.cancel_scheduled_send",
                "sendgrid.remove_bounce",
                "sendgrid.send_email",
                "slack.add_reaction",
                "slack.update_message",
            ]
        );
    }

    #[test]
    fn postmark_echoes_the_recipient_and_invents_a_message_id() {
        let op = operation("postmark", "send_email");
        let input = json!({"From": "clinic@example.com", "To": "grace@example.com", "TextBody": "Hi", "MessageStream": "outbound"});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "postmark");
        assert_eq!(mock["To"], "grace@example.com");
        assert_eq!(mock["ErrorCode"], 0);
        assert_eq!(mock["Message"], "OK");
        let id = mock["MessageID"].as_str().expect("id");
        assert_ne!(id, "0a129aee-e1cd-480d-b08d-4f48548ff48d");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        let submitted = mock["SubmittedAt"].as_str().expect("time");
        assert!(submitted.starts_with("2026-"), "{submitted}");
    }

    #[test]
    fn stripe_echoes_what_it_was_sent_and_nulls_what_it_was_not() {
        let op = operation("stripe", "create_customer");
        let input = json!({"email": "grace@example.com", "name": "Grace Hopper", "metadata": {"mrn": "M-7"}});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "stripe customer");
        assert_eq!(mock["email"], "grace@example.com");
        assert_eq!(mock["name"], "Grace Hopper");
        assert_eq!(mock["object"], "customer");
        assert_eq!(
            mock["phone"],
            Value::Null,
            "the sample's phone is not this customer's"
        );
        assert_eq!(mock["metadata"], json!({"mrn": "M-7"}));
        let id = mock["id"].as_str().expect("id");
        assert!(
            id.starts_with("cus_")
                && id.len() == "cus_QXg1o8vcGmoR32".len()
                && id != "cus_QXg1o8vcGmoR32",
            "{id}"
        );
        let created = mock["created"].as_i64().expect("created");
        assert!(
            created >= EPOCH && created < EPOCH + YEAR_SECS as i64,
            "{created}"
        );

        let op = operation("stripe", "create_payment_intent");
        let input = json!({"amount": 2500, "currency": "eur", "customer": "cus_X1", "metadata": {"visit": "V-9"}});
        let mock = mock_response(op, &input, "run-1#1");
        assert_valid(op, &mock, "stripe payment intent");
        assert_eq!(
            (
                mock["amount"].clone(),
                mock["currency"].clone(),
                mock["customer"].clone()
            ),
            (json!(2500), json!("eur"), json!("cus_X1"))
        );
        assert_eq!(mock["description"], Value::Null);
        assert_eq!(mock["metadata"], json!({"visit": "V-9"}));
        let id = mock["id"].as_str().expect("id");
        assert!(id.starts_with("pi_"), "{id}");
        let secret = mock["client_secret"].as_str().expect("client secret");
        assert!(
            secret.starts_with(&format!("{id}_secret_")),
            "the sample's id is replaced everywhere: {secret}"
        );
    }

    #[test]
    fn twilio_and_slack_ids_have_the_providers_shapes() {
        let op = operation("twilio", "send_sms");
        let input = json!({"To": "+15550001111", "From": "+15017122661", "Body": "Hello"});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "twilio");
        let sid = mock["sid"].as_str().expect("sid");
        assert!(
            sid.starts_with("SM") && sid.len() == 34 && sid != "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "{sid}"
        );
        assert_eq!(
            (
                mock["to"].clone(),
                mock["from"].clone(),
                mock["body"].clone()
            ),
            (json!("+15550001111"), json!("+15017122661"), json!("Hello"))
        );
        assert!(
            mock["uri"].as_str().expect("uri").contains(sid),
            "{}",
            mock["uri"]
        );
        let created = mock["date_created"].as_str().expect("date");
        assert!(
            DateTime::parse_from_rfc2822(created).is_ok() && created.contains("2026"),
            "{created}"
        );

        let op = operation("slack", "post_message");
        let input = json!({"channel": "#general", "text": "Patient checked in"});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "slack");
        assert_eq!(
            mock["message"]["text"], "Patient checked in",
            "the message echoes the text"
        );
        assert_eq!(mock["ts"], mock["message"]["ts"], "one ts for the message");
        assert_ne!(mock["ts"], "1503435956.000247");
    }

    #[test]
    fn a_fhir_read_patch_or_history_answers_the_type_and_id_asked_for() {
        // Read: the Encounter sample, with what R4 requires of an Encounter.
        let read = operation("fhir", "read_resource");
        let mock = mock_response(
            read,
            &json!({"resource_type": "Encounter", "id": "e-9"}),
            "r#1",
        );
        assert_eq!(
            (&mock["resourceType"], &mock["id"]),
            (&json!("Encounter"), &json!("e-9"))
        );
        assert!(
            mock["status"].is_string() && mock["class"]["code"].is_string(),
            "{mock:#}"
        );

        // Patch: the patched resource of the type, not the JSON Patch sent nor the
        // sample's Appointment.
        let patch = operation("fhir", "patch_resource");
        let input = json!({"resource_type": "Condition", "id": "c-9",
                           "patch": [{"op": "replace", "path": "/onsetDateTime", "value": "2026-01-02"}]});
        let mock = mock_response(patch, &input, "r#1");
        assert_valid(patch, &mock, "fhir patch");
        assert_eq!(
            (&mock["resourceType"], &mock["id"]),
            (&json!("Condition"), &json!("c-9"))
        );
        assert!(mock["subject"]["reference"].is_string(), "{mock:#}");

        // History: every entry a version of the resource asked for.
        let history = operation("fhir", "read_history");
        let mock = mock_response(
            history,
            &json!({"resource_type": "Observation", "id": "o-5"}),
            "r#1",
        );
        assert_valid(history, &mock, "fhir history");
        let entries = mock["entry"].as_array().expect("entries");
        assert!(!entries.is_empty());
        for entry in entries {
            let resource = &entry["resource"];
            assert_eq!(
                (&resource["resourceType"], &resource["id"]),
                (&json!("Observation"), &json!("o-5"))
            );
            assert_eq!(
                entry["fullUrl"],
                "https://fhir.example.org/r4/Observation/o-5"
            );
        }
    }

    #[test]
    fn a_fhir_transaction_answers_each_entry_without_its_request_or_an_invented_resource() {
        let transaction = operation("fhir", "transaction");
        let input = json!({"bundle": {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "name": [{"family": "Hopper"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/p-1"}},
            {"request": {"method": "DELETE", "url": "Encounter/e-1"}}
        ]}});
        let mock = mock_response(transaction, &input, "r#1");
        assert_valid(transaction, &mock, "fhir transaction");
        let entries = mock["entry"].as_array().expect("entries");
        assert_eq!(entries.len(), 3, "one answer per entry: {mock:#}");
        assert!(
            entries
                .iter()
                .all(|e| e.get("request").is_none() && e["response"]["status"].is_string())
        );
        assert_eq!(
            entries[0]["resource"]["name"],
            json!([{"family": "Hopper"}])
        );
        assert!(
            entries[1].get("resource").is_none() && entries[2].get("resource").is_none(),
            "{mock:#}"
        );
    }

    #[test]
    fn resources_come_back_as_sent_and_samples_of_another_kind_are_not_mixed_in() {
        let op = operation("fhir", "create_resource");
        let input = json!({"resource_type": "Patient", "resource": {"resourceType": "Patient", "name": [{"family": "Hopper", "given": ["Grace"]}], "gender": "female"}});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "fhir create");
        assert_eq!(mock["resourceType"], "Patient");
        assert_eq!(mock["name"], input["resource"]["name"]);
        assert_eq!(mock["gender"], "female");
        assert!(
            mock.get("class").is_none() && mock.get("period").is_none(),
            "no Encounter fields: {mock:#}"
        );
        assert!(mock["id"].as_str().is_some_and(|id| !id.is_empty()));

        let op = operation("fhir", "update_resource");
        let input = json!({"resource_type": "Patient", "id": "p-7", "resource": {"resourceType": "Patient", "id": "p-7", "active": false}});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "fhir update");
        assert_eq!(
            (mock["id"].clone(), mock["active"].clone()),
            (json!("p-7"), json!(false))
        );

        let op = operation("linear", "create_issue");
        let input = json!({"input": {"teamId": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a", "title": "Portal is down"}});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "linear");
        let issue = &mock["data"]["issueCreate"]["issue"];
        assert_eq!(issue["title"], "Portal is down");
        assert_eq!(issue["description"], Value::Null);
    }

    #[test]
    fn declared_apis_without_samples_get_schema_derived_mocks() {
        let declared = json!({
            "base_url": "https://api.example.com",
            "auth": {"scheme": "none"},
            "endpoints": [{
                "name": "create_ticket", "method": "POST", "path": "/tickets",
                "response_schema": {
                    "type": "object",
                    "required": ["id", "number", "state", "ref", "owner", "tags"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "number": {"type": "integer", "minimum": 1000},
                        "title": {"type": "string"},
                        "state": {"enum": ["open", "closed"]},
                        "ref": {"type": "string", "pattern": "^TCK-[0-9]{6}(-[A-Z]{2})?$"},
                        "score": {"type": ["number", "null"], "exclusiveMinimum": 0},
                        "owner": {"$ref": "#/$defs/user"},
                        "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 3}},
                        "created_at": {"type": "string", "format": "date-time"},
                        "link": {"type": "string", "format": "uri"},
                        "kind": {"anyOf": [{"type": "null"}, {"type": "string", "const": "ticket"}]},
                        "extra": {"allOf": [{"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]},
                                            {"properties": {"b": {"type": "string", "maxLength": 2}}, "required": ["b"]}]}
                    },
                    "$defs": {"user": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "format": "email"}, "user_id": {"type": "integer"}}}}
                }
            }]
        });
        let provider = custom::build("Ours", declared.as_object().expect("object")).expect("valid");
        let op = &provider.operations[0];
        let input = json!({"title": "Printer on fire"});
        let mock = mock_response(op, &input, "run-1#0");
        assert_valid(op, &mock, "custom");
        assert_eq!(mock["title"], "Printer on fire");
        assert_eq!(mock["state"], "open");
        assert_eq!(mock["kind"], "ticket");
        assert!(mock["number"].as_i64().is_some_and(|n| n >= 1000));
        assert!(
            mock["ref"].as_str().is_some_and(|r| r.starts_with("TCK-")),
            "{mock:#}"
        );
        assert_eq!(mock["tags"].as_array().map(Vec::len), Some(2));
        assert_eq!(mock, mock_response(op, &input, "run-1#0"));
        assert_ne!(mock["id"], mock_response(op, &input, "run-2#0")["id"]);
    }

    /// The one endpoint of a Custom HTTP API, with `response_schema` put in place after
    /// the declaration is checked: the generator keeps its budgets on its own.
    fn declared(response_schema: Value) -> Operation {
        let declared = json!({
            "base_url": "https://api.example.com",
            "auth": {"scheme": "none"},
            "endpoints": [{"name": "x", "method": "POST", "path": "/x"}]
        });
        let mut provider =
            custom::build("Ours", declared.as_object().expect("object")).expect("valid");
        let mut op = provider.operations.remove(0);
        op.response_schema = response_schema;
        op
    }

    fn mock_of(response_schema: Value) -> Result<Value, MockError> {
        super::mock_response(&declared(response_schema), &json!({}), "run-1#0")
    }

    #[test]
    fn a_schema_that_requires_itself_twice_is_refused_not_expanded() {
        // Every level requires two more: 2^48 objects before the depth limit.
        let twice = json!({"type": "object", "required": ["a", "b"],
                           "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}}});
        assert_eq!(
            mock_of(twice),
            Err(MockError::Endless {
                path: "/a/a".into()
            })
        );
        let through_items = json!({"type": "object", "required": ["kids"], "properties": {
            "kids": {"type": "array", "minItems": 1, "items": {"$ref": "#"}}}});
        assert!(matches!(
            mock_of(through_items),
            Err(MockError::Endless { .. })
        ));
    }

    #[test]
    fn a_schema_that_may_recur_is_followed_once_more_then_only_what_it_requires() {
        let tree = json!({"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "parent": {"$ref": "#"},
            "children": {"type": "array", "items": {"$ref": "#"}}}});
        let op = declared(tree.clone());
        let mock = mock_response(&op, &json!({}), "run-1#0");
        assert_valid(&op, &mock, "tree");
        assert_eq!(
            mock,
            json!({"name": "name", "parent": {"name": "name"},
                   "children": [{"name": "name"}]})
        );
        // A required link that may be null ends in null rather than recurring.
        let list = json!({"type": "object", "required": ["next"], "properties": {
            "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}});
        let op = declared(list);
        let mock = mock_response(&op, &json!({}), "run-1#0");
        assert_valid(&op, &mock, "list");
        assert_eq!(mock, json!({"next": {"next": null}}));
        // What the input holds is echoed however deep it goes.
        let op = declared(tree);
        let input = json!({"name": "a", "children": [{"name": "b", "children": [{"name": "c", "children": [{"name": "d"}]}]}]});
        let mock = mock_response(&op, &input, "run-1#0");
        assert_eq!(mock["children"], input["children"]);
    }

    #[test]
    fn a_huge_min_length_is_refused_at_once_and_lengths_within_the_cap_are_made() {
        // Padding one character at a time, counting each time, never ended.
        for key in ["note", "ticket_id"] {
            let schema = json!({"type": "object", "required": [key],
                                "properties": {key: {"type": "string", "minLength": 1_000_000_000}}});
            assert_eq!(
                mock_of(schema),
                Err(MockError::StringTooLong {
                    path: format!("/{key}"),
                    min: 1_000_000_000
                })
            );
        }
        let schema = json!({"type": "object", "required": ["note"], "properties": {
            "note": {"type": "string", "minLength": MAX_STRING_CHARS, "maxLength": MAX_STRING_CHARS}}});
        let op = declared(schema);
        let mock = mock_response(&op, &json!({}), "run-1#0");
        assert_valid(&op, &mock, "long note");
        assert_eq!(mock["note"].as_str().map(str::len), Some(MAX_STRING_CHARS));
    }

    #[test]
    fn nested_arrays_stop_at_the_node_budget_instead_of_filling_memory() {
        // 16 items at each of 6 levels: 16.7 million leaves, 186 MB of trace.
        let mut schema = json!({"type": "integer"});
        for _ in 0..6 {
            schema = json!({"type": "array", "minItems": 16, "items": schema});
        }
        let schema =
            json!({"type": "object", "required": ["grid"], "properties": {"grid": schema}});
        assert_eq!(mock_of(schema), Err(MockError::TooManyNodes));
    }

    #[test]
    fn arrays_get_the_items_min_items_asks_for_up_to_the_cap() {
        let op = declared(
            json!({"type": "object", "required": ["tags"], "properties": {
            "tags": {"type": "array", "minItems": 40, "items": {"type": "integer"}}}}),
        );
        let mock = mock_response(&op, &json!({}), "run-1#0");
        assert_valid(&op, &mock, "40 tags");
        let too_many = json!({"type": "object", "required": ["tags"], "properties": {
            "tags": {"type": "array", "minItems": MAX_ARRAY_ITEMS + 1}}});
        assert_eq!(
            mock_of(too_many),
            Err(MockError::TooManyItems {
                path: "/tags".into(),
                min: MAX_ARRAY_ITEMS as u64 + 1
            })
        );
    }

    #[test]
    fn a_pattern_that_repeats_past_the_cap_is_refused_before_any_matching() {
        let schema = json!({"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string", "pattern": "^(a{256}){40}$"}}});
        assert_eq!(
            mock_of(schema),
            Err(MockError::PatternTooLong {
                path: "/code".into()
            })
        );
        let mut rng = Rng::new("seed", "/p");
        // Repetitions that make nothing still count.
        assert!(from_pattern("((a{0}){200}){200}", &mut rng).is_err());
        assert!(matches!(from_pattern("^a{1000}$", &mut rng), Ok(Some(t)) if t.len() == 1000));
    }

    #[test]
    fn a_response_over_the_byte_budget_is_refused_echoes_included() {
        let mut properties = Map::new();
        for i in 0..20 {
            properties.insert(
                format!("part{i}"),
                json!({"type": "string", "minLength": 4000}),
            );
        }
        let wide = json!({"type": "object", "properties": properties});
        assert_eq!(mock_of(wide), Err(MockError::TooLarge));

        let op = declared(json!({"type": "object", "properties": {"text": {"type": "string"}}}));
        let fits = json!({"text": "x".repeat(MAX_MOCK_BYTES - 100)});
        assert!(super::mock_response(&op, &fits, "run-1#0").is_ok());
        let over = json!({"text": "\"".repeat(MAX_MOCK_BYTES / 2)});
        assert_eq!(
            super::mock_response(&op, &over, "run-1#0"),
            Err(MockError::TooLarge),
            "an escaped quote is two bytes"
        );
    }

    #[test]
    fn the_byte_count_is_what_serde_json_writes() {
        for v in [
            json!(null),
            json!(false),
            json!(-12.5e-7),
            json!(u64::MAX),
            json!("a\"b\\c\n\u{1}\u{7f}é"),
            json!({"k\"": [1, {"x": true}, []], "": {}}),
        ] {
            assert_eq!(json_len(&v), v.to_string().len(), "{v}");
        }
    }

    #[test]
    fn patterns_generate_matching_text() {
        let mut rng = Rng::new("seed", "/p");
        for pattern in [
            "^(SM|MM)[0-9a-fA-F]{32}$",
            "^\\d{10}\\.\\d{6}$",
            "^[CGD][A-Z0-9]{8,}$",
            "^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$",
            "^[^@\\s]+@x\\.org$",
        ] {
            let text = from_pattern(pattern, &mut rng)
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{pattern}"));
            assert!(pattern_matches(pattern, &text), "{pattern}: {text}");
        }
        assert!(
            matches!(from_pattern("^(?=x)y$", &mut rng), Ok(None)),
            "lookarounds are not generated"
        );
    }
}
