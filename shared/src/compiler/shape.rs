//! Shaping from the catalog's data: an operation's `compile` hints (see
//! [`crate::catalog::CompileHints`]) put templates at input paths, where an input's
//! structure is more than its name tells (SendGrid's personalizations, a Notion title
//! property, Salesforce fields per sObject, a FHIR resource). No provider is named
//! here: what each provider needs is in its file.
//!
//! A template's strings may hold fill expressions in braces. `{a|b}` takes the first
//! that finds a value; `!xml` escapes text for XML. The expressions:
//! - `role:<role>`: the trigger's field of that role (`email`, `first_name`, `start`...);
//! - `trigger_id:<kind>`: the trigger's id field of that kind (`patient`, `identifier`);
//! - `step_id:<entity>`: the id of the entity an earlier step of the provider made (a
//!   contact to associate a deal with), else of the changed one that started the run;
//! - `step_field:<name>`: the output field `<name>` of the latest earlier step of the
//!   provider that has one (Slack's `ts`, a message's id), else the changed entity's
//!   field when the workflow starts on this integration's change;
//! - `amount_units`: the trigger's amount, unless its name says cents;
//! - `title`, `body`, `document_text`: the texts the words imply;
//! - `sender`: an address after "from"/"as"/"sender"; `email`: the first address
//!   written in the words; `channel`: a `#channel`;
//! - `quoted:<title|body|template|range|other>`: quoted words of that kind;
//! - `template_alias`, `template_id`: a template named in the words, by alias or number;
//! - `name_before:<word,word>`, `name_after:<word,word>`: the name written right
//!   before one of these words ("the Orders tab" → `Orders`, "the Front Desk
//!   calendar" → `Front Desk`), or capitalized right after one ("team ENG");
//! - `prefixed:<prefix>`: a word written with that prefix and more after it (SendGrid's
//!   dynamic template `d-8c21f0a9`), as written;
//! - `named_field`: the trigger's field the words name last ("whose external id
//!   equals the patient's email" → the patient's email);
//! - `fields_object`, `fields_row`: the trigger's fields worth listing, as an object of
//!   templates or as one row;
//! - `enum_in_words`: the value of the input's enum the words name;
//! - `uuid`, `uuid:<word>`: a UUID in the words (after that word); `a1_range`: a
//!   spreadsheet range written in A1 notation (`Orders!A:E`); `url`: the first web
//!   address written out;
//! - `status_value`: "set the status to Done" → `Done`; `value_after:<word>`: the
//!   words written after "<word> is|to|becomes|says", as written ("so its location is
//!   Room 4" → `Room 4`);
//! - `table`: the hint's `table` entry the words name; `number_after:<word>`: the
//!   number written after that word; `kind`: the chosen kind;
//!   `event`: the trigger's event; `same:<path>`: the input at another path.
//!
//! Two expressions act instead of giving a value, as a hint's whole value: `{fill:<role>}`
//! fills the path from a source of that role (as inputs are filled by name, ambiguity
//! included), and `{fill_id:<kind>}` with the id of that kind of thing (`$kind`: the
//! chosen kind).

use serde_json::{Map, Value, json};

use super::mapping::{Builder, Pick, is_set, pick, status_value};
use super::schema::{self, Kind};
use super::sources::{Origin, Role, Source, role_named};
use super::text::{Cue, Literal, squash};
use crate::catalog::{InputHint, KindChoice, value_at};

/// Applies the operation's hints; true when they build the input whole.
pub(super) fn shape(b: &mut Builder<'_>) -> bool {
    let Some(hints) = b.plan.op.compile.as_ref() else {
        return false;
    };
    let (chosen, kind) = choose_kind(b, hints.kind.as_ref());
    if hints.kind.as_ref().is_some_and(|k| k.required) && chosen.is_none() {
        return hints.whole;
    }
    if let (Some(kind), Some(input)) = (&chosen, hints.kind.as_ref().and_then(|k| k.input.as_ref()))
    {
        b.put_str(input, json!(kind));
    }
    apply(b, &hints.inputs, kind.as_deref());
    hints.whole
}

/// Applies the hints meant for after inputs are filled by their names.
pub(super) fn after(b: &mut Builder<'_>) {
    let Some(hints) = b.plan.op.compile.as_ref() else {
        return;
    };
    let (_, kind) = choose_kind(b, hints.kind.as_ref());
    apply(b, &hints.after, kind.as_deref());
}

/// The kind the words choose, and the kind in force (the chosen one or the default).
fn choose_kind(b: &Builder<'_>, choice: Option<&KindChoice>) -> (Option<String>, Option<String>) {
    let Some(choice) = choice else {
        return (None, None);
    };
    // "the Order__c record": a kind of the user's own, as written.
    if let Some(suffix) = choice.custom_suffix.as_deref() {
        let original = b.plan.original;
        let lexicon = crate::lexicon::lexicon();
        let custom = original.windows(2).find_map(|pair| {
            let record = pair[1].to_lowercase();
            (pair[0].to_lowercase().ends_with(suffix)
                && pair[0].len() > suffix.len()
                && lexicon.record_nouns.contains(&record))
            .then(|| pair[0].clone())
        });
        if let Some(kind) = custom {
            return (Some(kind.clone()), Some(kind));
        }
    }
    // Several kinds named: a plural one is what is looked for ("the patient's
    // Encounters"), else the first not named as an owner ("the visit's Practitioner").
    let action = b.plan.action;
    let mut named: Vec<(String, bool, bool)> = action
        .words
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let owner = action.owners.contains(&i);
            match choice.words.get(w.as_str()) {
                Some(kind) => Some((kind.clone(), false, owner)),
                None => w
                    .strip_suffix('s')
                    .and_then(|s| choice.words.get(s))
                    .map(|kind| (kind.clone(), true, owner)),
            }
        })
        .collect();
    if named.iter().any(|(_, _, owner)| !owner) {
        named.retain(|(_, _, owner)| !owner);
    }
    let named: Vec<(String, bool)> = named
        .into_iter()
        .map(|(kind, plural, _)| (kind, plural))
        .collect();
    let chosen = named
        .iter()
        .find(|(_, plural)| *plural)
        .or(named.first())
        .map(|(kind, _)| kind.clone());
    let kind = chosen.clone().or_else(|| choice.default.clone());
    (chosen, kind)
}

fn applies(b: &Builder<'_>, hint: &InputHint, kind: Option<&str>) -> bool {
    let has_kind = |list: &[String]| kind.is_some_and(|k| list.iter().any(|x| x == k));
    (hint.when_words.is_empty() || hint.when_words.iter().any(|w| has_words(b, w)))
        && !hint.unless_words.iter().any(|w| has_words(b, w))
        && (hint.when_kind.is_empty() || has_kind(&hint.when_kind))
        && !has_kind(&hint.unless_kind)
        && (hint.when_event.is_empty() || hint.when_event.contains(&b.plan.label.1))
        && !hint
            .unless_set
            .iter()
            .any(|p| is_set(b.mapping(), &split(p)))
}

/// Whether the action says these words (one word, or several in a row).
fn has_words(b: &Builder<'_>, phrase: &str) -> bool {
    if !phrase.contains(' ') {
        return b.plan.action.has(phrase);
    }
    !crate::lexicon::phrase_positions(phrase, &b.plan.action.words).is_empty()
}

fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

fn apply(b: &mut Builder<'_>, hints: &[InputHint], kind: Option<&str>) {
    for hint in hints {
        let path = split(&hint.path);
        if is_set(b.mapping(), &path) || !applies(b, hint, kind) {
            continue;
        }
        if let Some(expr) = hint.value.as_str().and_then(whole_expression)
            && act(b, hint, &path, expr, kind)
        {
            continue;
        }
        let found = render(b, hint, &hint.value, kind).0;
        if let Some(value) = found {
            b.put(&path, value);
        }
    }
}

/// `"{expr}"` → `expr`, for a template that is one expression and nothing else.
fn whole_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.contains(['{', '}'])).then_some(inner)
}

/// The acting expressions; true when the expression was one (whatever it filled).
fn act(
    b: &mut Builder<'_>,
    hint: &InputHint,
    path: &[String],
    expr: &str,
    kind: Option<&str>,
) -> bool {
    let (name, arg) = expr.split_once(':').unwrap_or((expr, ""));
    match name {
        "fill" => {
            let Some(role) = role_named(arg) else {
                return true;
            };
            let root = &b.plan.op.input_schema;
            let target = schema::at_path(root, root, path)
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            b.fill_role(path, &role, &target, root, hint.required);
            true
        }
        "fill_id" => {
            let kind = if arg == "$kind" {
                kind.unwrap_or_default().to_lowercase()
            } else {
                arg.to_owned()
            };
            b.fill_id(path, &kind, hint.required);
            true
        }
        _ => false,
    }
}

/// A template with its expressions filled: (value, had expressions, found any). An
/// object or array that had expressions and found none is left out.
fn render(
    b: &Builder<'_>,
    hint: &InputHint,
    template: &Value,
    kind: Option<&str>,
) -> (Option<Value>, bool, bool) {
    match template {
        Value::String(text) if text.contains('{') => {
            let value = interpolate(b, hint, text, kind);
            let found = value.is_some();
            (value, true, found)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            let (mut had, mut found) = (false, false);
            for (k, v) in map {
                let (value, h, f) = render(b, hint, v, kind);
                had |= h;
                found |= f;
                if let Some(value) = value {
                    out.insert(k.clone(), value);
                }
            }
            let keep = (!out.is_empty() || map.is_empty()) && (!had || found);
            (keep.then_some(Value::Object(out)), had, found)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            let (mut had, mut found) = (false, false);
            for v in items {
                let (value, h, f) = render(b, hint, v, kind);
                had |= h;
                found |= f;
                out.extend(value);
            }
            let keep = (!out.is_empty() || items.is_empty()) && (!had || found);
            (keep.then_some(Value::Array(out)), had, found)
        }
        other => (Some(other.clone()), false, false),
    }
}

/// A string template: one expression keeps its value's JSON type; text around
/// expressions makes a string, and any expression that finds nothing leaves it out.
fn interpolate(b: &Builder<'_>, hint: &InputHint, text: &str, kind: Option<&str>) -> Option<Value> {
    if let Some(expr) = whole_expression(text) {
        return evaluate(b, hint, expr, kind);
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let value = evaluate(b, hint, &rest[open + 1..close], kind)?;
        match value {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(Value::String(out))
}

fn evaluate(b: &Builder<'_>, hint: &InputHint, expr: &str, kind: Option<&str>) -> Option<Value> {
    expr.split('|').find_map(|alternative| {
        let (expr, filter) = alternative
            .split_once('!')
            .map_or((alternative, None), |(e, f)| (e, Some(f)));
        let value = value_of(b, hint, expr.trim(), kind)?;
        match (filter, value) {
            (Some("xml"), Value::String(s)) => Some(Value::String(
                s.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;"),
            )),
            (_, value) => Some(value),
        }
    })
}

fn cue_named(name: &str) -> Option<Cue> {
    Some(match name {
        "title" => Cue::Title,
        "body" => Cue::Body,
        "template" => Cue::Template,
        "range" => Cue::Range,
        "other" => Cue::Other,
        _ => return None,
    })
}

fn text(s: String) -> Option<Value> {
    (!s.is_empty()).then_some(Value::String(s))
}

/// `role:<role>`: the trigger's plain field of that role (several addresses: the one
/// the words pick, else the one named plainly `email`).
fn role_value(b: &Builder<'_>, arg: &str) -> Option<Value> {
    let action = b.plan.action;
    let role = role_named(arg)?;
    // Only plain values: an object (a FHIR reference) is no name or text.
    let of_role: Vec<&Source> = b
        .trigger_sources()
        .filter(|s| s.role == role && !matches!(s.kind, Kind::Object { .. } | Kind::Array))
        .collect();
    let source = match role {
        // Several addresses: the words pick one, else the one named plainly `email`.
        Role::Email => match pick(of_role.clone(), action, None) {
            Pick::One(s) => Some(s),
            _ => of_role.iter().copied().find(|s| s.name == "email"),
        },
        _ => of_role.first().copied(),
    };
    source.map(|s| Value::String(s.template()))
}

/// `step_id:<entity>`: the id of the entity an earlier step of this provider made (the
/// latest), else of the changed one that started the workflow.
fn step_id(b: &Builder<'_>, arg: &str) -> Option<Value> {
    let plan = b.plan;
    // The id of the <entity> an earlier step of this provider made (the latest),
    // else of the one whose change started the workflow.
    let made = plan.sources.iter().rev().find(|s| {
        s.name == "id"
            && matches!(&s.origin, Origin::Step { provider, entity, .. }
                if *provider == plan.provider.id && entity.as_deref() == Some(arg))
    });
    match (made, plan.trigger) {
        (Some(s), _) => Some(Value::String(s.template())),
        (
            None,
            crate::domain::Trigger::DataChange {
                integration,
                entity_type,
                ..
            },
        ) if *integration == plan.integration.name && entity_type == arg => {
            Some(json!("{{change.entity_id}}"))
        }
        _ => None,
    }
}

/// The words written after "`word` is|to|becomes|says" up to a word that ends the value,
/// as written ("update the event so its location is Room 4" → `Room 4`).
fn value_after(action: &super::Action, original: &[String], word: &str) -> Option<String> {
    let words = &action.words;
    let at = words.iter().position(|w| w == word)?;
    // "so it says processing": the value right after a verb of saying.
    let skip = if matches!(word, "says" | "reads" | "saying") {
        at + 1
    } else {
        let cue = words.get(at + 1)?;
        if !matches!(cue.as_str(), "is" | "to" | "becomes" | "says" | "reads") {
            return None;
        }
        at + 2
    };
    let value: Vec<&str> = original
        .iter()
        .skip(skip)
        .map(String::as_str)
        .take_while(|w| {
            !matches!(
                w.to_lowercase().as_str(),
                "in" | "on" | "with" | "and" | "then" | "via" | "using" | "when" | "whenever"
            )
        })
        .collect();
    (!value.is_empty()).then(|| value.join(" "))
}

fn step_field(b: &Builder<'_>, field: &str) -> Option<Value> {
    let plan = b.plan;
    let earlier = plan.sources.iter().rev().find(|s| {
        s.name == field
            && matches!(&s.origin, Origin::Step { provider, .. } if *provider == plan.provider.id)
    });
    match (earlier, plan.trigger) {
        (Some(s), _) => Some(Value::String(s.template())),
        (
            None,
            crate::domain::Trigger::DataChange {
                integration,
                entity_type,
                ..
            },
        ) if *integration == plan.integration.name
            // The changed thing itself ("the payment intent" of a payment intent's
            // change) is found by its id, not by a field of itself.
            && squash(entity_type) != squash(field) =>
        {
            // The field the provider takes the changed entity's id from is its id.
            let is_id = plan.provider.webhooks.iter().any(|hooks| {
                hooks
                    .entities
                    .iter()
                    .any(|e| e.entity_type == *entity_type && e.id_is_state_field(field))
            });
            Some(Value::String(if is_id {
                "{{change.entity_id}}".to_owned()
            } else {
                format!("{{{{change.after.{field}}}}}")
            }))
        }
        _ => None,
    }
}

fn value_of(b: &Builder<'_>, hint: &InputHint, expr: &str, kind: Option<&str>) -> Option<Value> {
    let plan = b.plan;
    let action = plan.action;
    let (name, arg) = expr.split_once(':').unwrap_or((expr, ""));
    match name {
        "role" => role_value(b, arg),
        "trigger_id" => b
            .trigger_sources()
            .find(|s| matches!(&s.role, Role::Id(k) if k == arg))
            .map(|s| Value::String(s.template())),
        "step_id" => step_id(b, arg),
        "step_field" => step_field(b, arg),
        "amount_units" => b
            .trigger_sources()
            .find(|s| s.role == Role::Amount && !s.words.iter().any(|w| w == "cents"))
            .map(|s| Value::String(s.template())),
        "title" => text(b.title()),
        "body" => text(b.body()),
        "document_text" => text(b.document_text()),
        "sender" => action
            .email_after(&["from", "as", "sender"])
            .map(Value::String),
        "channel" => action.channel().map(Value::String),
        "email" => action.email_after_any().map(Value::String),
        "quoted" => action.quoted(cue_named(arg)?).map(Value::String),
        "template_alias" => template_named(b)
            .filter(|t| !is_number(t))
            .map(Value::String),
        "template_id" => template_named(b)
            .filter(|t| is_number(t))
            .and_then(|t| t.parse::<i64>().ok())
            .map(|n| json!(n)),
        "name_before" => name_before(b, &arg.split(',').collect::<Vec<_>>()).map(Value::String),
        "name_after" => name_after(b, &arg.split(',').collect::<Vec<_>>()).map(Value::String),
        "prefixed" => action
            .words
            .iter()
            .find(|w| w.len() > arg.len() + 2 && w.starts_with(arg))
            .map(|w| Value::String(w.clone())),
        "named_field" => b.named_fields().last().map(|s| Value::String(s.template())),
        "fields_object" => {
            let model: Map<String, Value> = b
                .listed(&[])
                .iter()
                .map(|s| (s.name.replace('.', "_"), Value::String(s.template())))
                .collect();
            Some(Value::Object(model))
        }
        "fields_row" => {
            // The fields the words name, in the order said ("the order id, customer name
            // and total"), else the trigger's fields worth listing.
            let named = b.named_fields();
            let fields = if named.len() >= 2 {
                named
            } else {
                b.listed(&[])
            };
            let row: Vec<Value> = fields.iter().map(|s| Value::String(s.template())).collect();
            Some(json!([row]))
        }
        "enum_in_words" => {
            let root = &plan.op.input_schema;
            let target = schema::at_path(root, root, &split(&hint.path))?;
            let joined = action.words.join("");
            target
                .get("enum")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(Value::as_str)
                .find(|v| joined.contains(&v.to_lowercase()))
                .map(|v| json!(v))
        }
        "uuid" => action.literals.iter().find_map(|l| match l {
            Literal::Uuid(id, before) if arg.is_empty() || before == arg => {
                Some(Value::String(id.clone()))
            }
            _ => None,
        }),
        "status_value" => status_value(action, plan.original).map(Value::String),
        "value_after" => value_after(action, plan.original, arg).map(Value::String),
        "a1_range" => action.literals.iter().find_map(|l| match l {
            Literal::Range(r) => Some(Value::String(r.clone())),
            _ => None,
        }),
        "url" => action.literals.iter().find_map(|l| match l {
            Literal::Url(u) => Some(Value::String(u.clone())),
            _ => None,
        }),
        "table" => {
            // Long keys also match written apart or together ("appointment scheduled").
            let joined = action.words.join("");
            hint.table
                .iter()
                .find(|(words, _)| {
                    has_words(b, words)
                        || (words.len() >= 8 && joined.contains(&words.replace(' ', "")))
                })
                .map(|(_, v)| v.clone())
        }
        "number_after" => {
            let words = &action.words;
            let pos = words.iter().position(|w| w == arg)?;
            words
                .get(pos + 1)
                .filter(|w| is_number(w))
                .map(|w| Value::String(w.clone()))
        }
        "kind" => kind.map(|k| json!(k)),
        "event" => Some(json!(plan.label.1)),
        "same" => value_at(b.mapping(), &arg.split('.').collect::<Vec<_>>()).cloned(),
        _ => None,
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// A template the words name: quoted, after "alias", or the word before "template"
/// (not an article, nor the integration's or provider's own name).
fn template_named(b: &Builder<'_>) -> Option<String> {
    let action = b.plan.action;
    if let Some(t) = action.quoted(Cue::Template) {
        return Some(t);
    }
    let words = &action.words;
    // "alias welcome-v2", but not "the renewal-thanks template (alias) using ...".
    if let Some(pos) = words.iter().position(|w| w == "alias")
        && let Some(next) = words.get(pos + 1).filter(|n| {
            !plain_word(b, n)
                && !matches!(
                    n.as_str(),
                    "using" | "via" | "through" | "with" | "to" | "in" | "from"
                )
        })
    {
        return Some(next.clone());
    }
    let pos = words.iter().position(|w| w == "template")?;
    let before = pos.checked_sub(1).and_then(|p| words.get(p));
    let ordinary = |w: &String| {
        crate::lexicon::lexicon().is_determiner(w) || matches!(w.as_str(), "email" | "with" | "the")
    };
    if let Some(before) = before.filter(|w| !own_name(b, w) && !ordinary(w)) {
        return Some(before.clone());
    }
    // "the mailgun template order-shipped": a name written as one after the word.
    words
        .get(pos + 1)
        .filter(|w| w.contains(['-', '_']) || w.chars().any(|c| c.is_ascii_digit()))
        .filter(|w| !plain_word(b, w))
        .cloned()
}

/// Whether a word is the integration's name or a word of its provider's.
fn own_name(b: &Builder<'_>, word: &str) -> bool {
    b.plan.integration.name.as_str() == word
        || b.plan
            .provider
            .aliases
            .iter()
            .any(|a| a.split(' ').any(|w| w.eq_ignore_ascii_case(word)))
        || b.plan
            .provider
            .display_name
            .split(' ')
            .any(|w| w.eq_ignore_ascii_case(word))
}

fn plain_word(b: &Builder<'_>, word: &str) -> bool {
    let lexicon = crate::lexicon::lexicon();
    lexicon.is_determiner(word)
        || lexicon.is_ordinary_capital(word)
        || lexicon.is_compile_stop_word(word)
        || own_name(b, word)
        || matches!(
            word,
            "new" | "same" | "first" | "next" | "right" | "spreadsheet" | "sheet" | "default"
        )
}

/// The name written right before one of these words: "the Orders tab" → `Orders`, "the
/// Front Desk calendar" → `Front Desk` (capitalized words run together).
fn name_before(b: &Builder<'_>, nouns: &[&str]) -> Option<String> {
    let words = &b.plan.action.words;
    let original = b.plan.original;
    let pos = words.iter().position(|w| nouns.contains(&w.as_str()))?;
    // "the clinic calendar" with an integration named clinic-calendar: the integration.
    let integration = squash(b.plan.integration.name.as_str());
    if pos > 0 && squash(&format!("{}{}", words[pos - 1], words[pos])) == integration {
        return None;
    }
    let mut start = pos;
    while start > 0 {
        let w = &words[start - 1];
        let written = original.get(start - 1)?;
        // A number within a name counts as capitalized ("Physio Room 2").
        let capital = written
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit());
        // A capitalized word is part of the name ("the Clinic IT team", "our Patient
        // Feedback database") unless it is an article or the tool's own name; a
        // lowercase one only right before the noun, and only if it is no plain word.
        let stop = if capital {
            crate::lexicon::lexicon().is_determiner(w) || own_name(b, w) || start == 1 && pos > 1
        } else {
            start < pos || plain_word(b, w)
        };
        if stop {
            break;
        }
        start -= 1;
        if !capital {
            break;
        }
    }
    if start == pos {
        return name_called(b, pos);
    }
    let name = &original[start..pos];
    Some(as_written(&b.plan.action.text, name).unwrap_or_else(|| name.join(" ")))
}

/// The name a noun is given after it, capitalized: "the Notion database called Leads
/// Pipeline".
fn name_called(b: &Builder<'_>, pos: usize) -> Option<String> {
    let words = &b.plan.action.words;
    let original = b.plan.original;
    if !words
        .get(pos + 1)
        .is_some_and(|w| matches!(w.as_str(), "called" | "named"))
    {
        return None;
    }
    let name: Vec<String> = original[(pos + 2).min(original.len())..]
        .iter()
        .take_while(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        })
        .cloned()
        .collect();
    (!name.is_empty())
        .then(|| as_written(&b.plan.action.text, &name).unwrap_or_else(|| name.join(" ")))
}

/// A name's words as the text writes them, with an abbreviation's period ("Dr. Okafor",
/// "St. Mary") and the brackets around them ("the [PATIENT] placeholder"): the first
/// place they stand in a row with only spaces and periods between them.
fn as_written(text: &str, name: &[String]) -> Option<String> {
    let (first, rest) = name.split_first()?;
    text.match_indices(first.as_str()).find_map(|(start, _)| {
        let boundary = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let mut end = start + first.len();
        for word in rest {
            let gap = text[end..].len() - text[end..].trim_start_matches([' ', '.']).len();
            if gap == 0 || !text[end + gap..].starts_with(word.as_str()) {
                return None;
            }
            end += gap + word.len();
        }
        let written = &text[start..end];
        let brackets = [('[', ']'), ('{', '}'), ('<', '>')]
            .into_iter()
            .find(|(open, close)| {
                text[..start].ends_with(*open) && text[end..].starts_with(*close)
            });
        boundary.then(|| match brackets {
            Some((open, close)) => format!("{open}{written}{close}"),
            None => written.to_owned(),
        })
    })
}

/// The name written right after one of these words: "team ENG", "the team Platform".
fn name_after(b: &Builder<'_>, nouns: &[&str]) -> Option<String> {
    let words = &b.plan.action.words;
    let original = b.plan.original;
    // Each place one of the nouns stands ("by the external id field Web_Email__c": not
    // "by the", but "field Web_Email__c").
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| nouns.contains(&w.as_str()))
        .find_map(|(pos, _)| {
            let written = original.get(pos + 1)?;
            let capital = written.chars().next().is_some_and(char::is_uppercase);
            let next = words.get(pos + 1)?;
            (capital && !plain_word(b, next)).then(|| {
                as_written(&b.plan.action.text, std::slice::from_ref(written))
                    .unwrap_or_else(|| written.clone())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every expression name [`value_of`] and [`act`] know.
    const EXPRESSIONS: &[&str] = &[
        "role",
        "trigger_id",
        "step_id",
        "step_field",
        "amount_units",
        "title",
        "body",
        "document_text",
        "sender",
        "email",
        "channel",
        "quoted",
        "template_alias",
        "template_id",
        "name_before",
        "name_after",
        "a1_range",
        "url",
        "prefixed",
        "named_field",
        "fields_object",
        "fields_row",
        "enum_in_words",
        "uuid",
        "status_value",
        "value_after",
        "table",
        "number_after",
        "kind",
        "event",
        "same",
        "fill",
        "fill_id",
    ];

    fn expressions(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => {
                let mut rest = text.as_str();
                while let Some(open) = rest.find('{') {
                    let Some(close) = rest[open..].find('}') else {
                        out.push(format!("unclosed in {text}"));
                        return;
                    };
                    out.extend(rest[open + 1..open + close].split('|').map(str::to_owned));
                    rest = &rest[open + close + 1..];
                }
            }
            Value::Object(m) => m.values().for_each(|v| expressions(v, out)),
            Value::Array(a) => a.iter().for_each(|v| expressions(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_hint_in_the_catalog_names_a_known_expression_and_an_input_the_operation_has() {
        let catalog = crate::catalog::catalog().expect("catalog");
        let mut checked = 0;
        for provider in catalog.providers() {
            for op in &provider.operations {
                let Some(hints) = &op.compile else { continue };
                let inputs: Vec<&String> = op
                    .input_schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().collect())
                    .unwrap_or_default();
                if let Some(kind) = hints.kind.as_ref().and_then(|k| k.input.as_ref()) {
                    assert!(
                        inputs.contains(&kind),
                        "{}.{}: kind input {kind}",
                        provider.id,
                        op.id
                    );
                }
                for hint in hints.inputs.iter().chain(&hints.after) {
                    let first = hint.path.split('.').next().unwrap_or_default().to_owned();
                    assert!(
                        inputs.contains(&&first),
                        "{}.{}: {} is not an input",
                        provider.id,
                        op.id,
                        hint.path
                    );
                    if let Some((kind, _)) = crate::catalog::named_target(&hint.value) {
                        assert!(
                            provider.lookups.contains_key(kind),
                            "{}.{}: no lookup {kind}",
                            provider.id,
                            op.id
                        );
                    }
                    let mut found = Vec::new();
                    expressions(&hint.value, &mut found);
                    for expr in found {
                        let name = expr.split(['!', ':']).next().unwrap_or_default().trim();
                        assert!(
                            EXPRESSIONS.contains(&name),
                            "{}.{}: unknown expression {expr:?}",
                            provider.id,
                            op.id
                        );
                        if name == "role" || name == "fill" {
                            let role = expr.split(':').nth(1).unwrap_or_default();
                            let role = role.split('!').next().unwrap_or_default();
                            assert!(
                                role_named(role).is_some(),
                                "{}.{}: role {role}",
                                provider.id,
                                op.id
                            );
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 40, "{checked} hints");
    }
}
