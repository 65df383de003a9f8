//! The trigger clause: "when the intake form is submitted" (a studio entity event) or
//! "when a Linear issue moves to Done" (a data change an integration's webhooks report,
//! with a condition on the changed entity).

use std::collections::BTreeSet;

use serde_json::Value;

use super::index::{Index, WebhookEntity, entity_synonyms};
use super::refs::{self, Mentions};
use super::text::{plain_words, words};
use super::{Problems, ProjectIntegration};
use crate::domain::{Change, FieldCondition, IntegrationName, Trigger};

/// The event a clause's words say, and the index of the word after it: an event word
/// of the lexicon (the earliest; one right before a form noun is part of the form's
/// name, "the signup form"), a participle after "is"/"gets", then any verb after the
/// subject read by rule ("a shipment leaves" → left), a bare verb after "is" ("is
/// start"), then "new".
/// "someone posts", "somebody comments on": a determiner a verb follows.
fn is_someone(word: &str) -> bool {
    matches!(word, "someone" | "somebody" | "anyone" | "anybody")
}

fn event_in(words: &[String]) -> Option<(String, usize)> {
    let lexicon = crate::lexicon::lexicon();
    let mut best: Option<(usize, String, usize)> = None;
    for (parts, event) in &lexicon.event_surfaces {
        for start in 0..words.len() {
            let end = start + parts.len();
            if words[start..].len() >= parts.len()
                && parts.iter().zip(&words[start..]).all(|(p, w)| p == w)
                && !words.get(end).is_some_and(|w| lexicon.is_form_noun(w))
                && best
                    .as_ref()
                    .is_none_or(|(s, _, e)| start < *s || (start == *s && end > *e))
            {
                best = Some((start, event.clone(), end));
            }
        }
    }
    // "a signup comes in": an event word said as the subject's noun ("a signup") gives
    // way to an event said after it.
    if let Some((start, _, end)) = best.clone() {
        let word = &words[start];
        let noun = start > 0
            && end == start + 1
            && !word.ends_with('s')
            && !word.ends_with("ed")
            && matches!(
                words[start - 1].as_str(),
                "a" | "an" | "the" | "new" | "each" | "every" | "any"
            );
        if noun {
            let later = lexicon
                .event_surfaces
                .iter()
                .filter_map(|(parts, event)| {
                    (end..words.len())
                        .find(|&s| {
                            words[s..].len() >= parts.len()
                                && parts.iter().zip(&words[s..]).all(|(p, w)| p == w)
                        })
                        .map(|s| (s, event.clone(), s + parts.len()))
                })
                .min_by_key(|(s, _, e)| (*s, usize::MAX - e));
            if let Some(later) = later {
                best = Some(later);
            }
        }
    }
    // "a signup is created": the participle after a helping verb says the event, before
    // a noun that is also an event word.
    if let Some((start, _, _)) = &best {
        for i in (start + 1)..words.len() {
            if !lexicon.is_auxiliary(&words[i - 1]) {
                continue;
            }
            if let Some((_, event)) = lexicon
                .event_surfaces
                .iter()
                .find(|(parts, _)| parts.len() == 1 && parts[0] == words[i])
            {
                return Some((event.clone(), i + 1));
            }
            if let Some(event) = lexicon.misspelt_participle(&words[i]) {
                return Some((event.to_owned(), i + 1));
            }
        }
    }
    if let Some((_, event, end)) = best {
        return Some((event, end));
    }
    // "a singup is creatd": a misspelt participle after a helping verb.
    for i in 1..words.len() {
        if lexicon.is_auxiliary(&words[i - 1])
            && let Some(event) = lexicon.misspelt_participle(&words[i])
        {
            return Some((event.to_owned(), i + 1));
        }
    }
    // A misspelt event word ("sumbitted", "recieved").
    for (i, w) in words.iter().enumerate() {
        if let Some(event) = lexicon.misspelt_event(w) {
            return Some((event.to_owned(), i + 1));
        }
    }
    // "is/was/gets/has <verb>ed": the participle itself.
    for i in 1..words.len() {
        if lexicon.is_auxiliary(&words[i - 1]) && words[i].ends_with("ed") && words[i].len() > 4 {
            return Some((words[i].clone(), i + 1));
        }
    }
    // "a member renews", "a shipment leaves the warehouse": the first word after the
    // subject that reads as a verb.
    for i in 1..words.len() {
        let before = &words[i - 1];
        // "someone posts a message": after someone, a verb.
        if (lexicon.is_determiner(before) && !is_someone(before))
            || lexicon.is_determiner(&words[i])
            || lexicon.is_auxiliary(&words[i])
            || before == "new"
        {
            continue;
        }
        if !(words[i].ends_with('s') || words[i].ends_with("ed")) {
            continue;
        }
        let particle = words.get(i + 1).filter(|w| lexicon.is_particle(w));
        if let Some(event) = lexicon.event_of_verb(&words[i], particle.map(String::as_str)) {
            let end = i + 1 + usize::from(particle.is_some());
            return Some((event, end));
        }
    }
    // "when visit is start": a helping verb before the bare verb of an event the
    // lexicon knows.
    for i in 1..words.len() {
        if lexicon.is_auxiliary(&words[i - 1])
            && words[i].len() > 3
            && !words[i].ends_with('s')
            && let Some(event) = lexicon.event_of_verb(&format!("{}s", words[i]), None)
            && lexicon.event_surfaces.iter().any(|(_, e)| *e == event)
        {
            return Some((event, i + 1));
        }
    }
    if let Some(i) = words.iter().position(|w| w == "new") {
        return Some(("created".into(), i + 1));
    }
    None
}

/// Where the event phrase of a leading clause ends (a byte offset into `body`), for
/// clauses without a comma: "When the intake form is submitted send ...".
pub fn event_end(body: &str) -> Option<usize> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for raw in body.split(' ') {
        let w = raw
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !w.is_empty() {
            spans.push((w, offset + raw.len()));
        }
        offset += raw.len() + 1;
    }
    let list: Vec<String> = spans.iter().map(|(w, _)| w.clone()).collect();
    let (_, end) = event_in(&list)?;
    // Keep "to Done" with "moves" for conditions: a status of up to three words, to a
    // step's verb or the end of the clause ("moves to in review post its title").
    // ("comes in to clinic-api" is no status: only a change of state keeps its "to".)
    let mut end_word = end;
    let status_change = end
        .checked_sub(1)
        .is_some_and(|e| crate::lexicon::lexicon().is_status_verb(&list[e]));
    if status_change && list.get(end).is_some_and(|w| w == "to" || w == "as") {
        let lexicon = crate::lexicon::lexicon();
        end_word = (end + 2).min(list.len());
        while end_word < list.len()
            && end_word < end + 4
            && !lexicon.step_verbs.iter().any(|v| *v == list[end_word])
            && !body_word_ends_clause(&spans, end_word - 1, body)
            && !matches!(
                list[end_word].as_str(),
                "on" | "and" | "then" | "via" | "using" | "with"
            )
        {
            end_word += 1;
        }
    }
    spans.get(end_word.checked_sub(1)?).map(|(_, e)| *e)
}

/// Whether the word at `i` of the spans ends its clause (a comma or stop after it).
fn body_word_ends_clause(spans: &[(String, usize)], i: usize, body: &str) -> bool {
    spans
        .get(i)
        .and_then(|(_, end)| body[..*end].chars().last())
        .is_some_and(|c| matches!(c, ',' | ';' | '.' | ':'))
}

fn pascal(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A trigger read from words.
pub struct ParsedTrigger {
    pub trigger: Trigger,
}

/// Parses a trigger clause. `entity_name` is the name of the entity the request
/// describes, if any; it wins over a name read from the words.
pub fn parse(
    clause: &str,
    entity_name: Option<&str>,
    integrations: &[ProjectIntegration],
    index: &Index,
    known: &BTreeSet<String>,
    problems: &mut Problems,
) -> Option<ParsedTrigger> {
    let all = plain_words(clause);
    // Drop the cue ("when", "as soon as"...).
    let skip = crate::lexicon::lexicon()
        .trigger_cues
        .leading
        .iter()
        .map(|c| c.split(' ').collect::<Vec<_>>())
        .filter(|c| {
            c.len() <= all.len()
                && c.iter().zip(&all).enumerate().all(|(k, (a, b))| {
                    a == b || (k == 0 && b.len() >= 3 && strsim::damerau_levenshtein(a, b) == 1)
                })
        })
        .map(|c| c.len())
        .max()
        .unwrap_or(0);
    // A cue may say the event itself ("upon receipt of a referral"): the cue's words
    // count when the rest says none.
    let cue_words: Vec<String> = all.iter().take(skip).cloned().collect();
    let clause_words: Vec<String> = all.into_iter().skip(skip).collect();
    let split: Vec<String> = words(clause).into_iter().collect();
    let original: Vec<String> = clause
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let mentions = refs::mentions(&clause_words, &original, integrations, index, known);
    let event = event_in(&clause_words)
        .or_else(|| event_in(&cue_words).map(|(event, _)| (event, clause_words.len())));

    // "When a Zendesk ticket is updated": with no entity of the project's own, a thing
    // of a product the catalog lacks could only start the workflow by that product's
    // webhook.
    if entity_name.is_none() && mentions.is_empty() {
        let lexicon = crate::lexicon::lexicon();
        if let Some((name, _)) =
            (0..original.len()).find_map(|pos| lexicon.other_product_at(&original, pos))
        {
            problems.push(
                "integration",
                format!(
                    "the project has no integration named {name}, so nothing from it can start a workflow; closest names: {}",
                    refs::closest(&name, integrations).join(", ")
                ),
            );
            return None;
        }
    }
    let names_change = !mentions.is_empty()
        || (entity_name.is_none()
            && watched_entity_without_name(&split, integrations, index).is_some());
    if names_change {
        return data_change(
            &clause_words,
            &split,
            &mentions,
            event,
            integrations,
            index,
            problems,
        );
    }
    let Some((event, end)) = event else {
        problems.push(
            "instruction",
            "say what starts the workflow, such as \"when the intake form is submitted\"",
        );
        return None;
    };
    let entity = match entity_name {
        Some(name) => name.to_owned(),
        None => {
            // The words between the cue and the verb: "the intake form is submitted".
            let verb_start = clause_words[..end.saturating_sub(1)]
                .iter()
                .position(|w| {
                    matches!(
                        w.as_str(),
                        "is" | "are" | "was" | "were" | "gets" | "get" | "has" | "have"
                    )
                })
                .unwrap_or(end.saturating_sub(1));
            let noun: Vec<String> = clause_words[..verb_start]
                .iter()
                .filter(|w| !crate::lexicon::lexicon().is_determiner(w))
                .map(|w| w.trim_end_matches("'s").to_owned())
                .collect();
            if noun.is_empty() {
                problems.push(
                    "entity",
                    "name the entity that starts the workflow (entity.name and its fields), e.g. {\"name\": \"IntakeForm\", \"fields\": {...}}",
                );
                return None;
            }
            pascal(&noun)
        }
    };
    Some(ParsedTrigger {
        trigger: Trigger::Entity { entity, event },
    })
}

/// "When a payment succeeds" with no provider named: the one project integration whose
/// webhooks report such an entity.
fn watched_entity_without_name(
    split: &[String],
    integrations: &[ProjectIntegration],
    index: &Index,
) -> Option<(usize, String)> {
    let mut found = Vec::new();
    for (i, integration) in integrations.iter().enumerate() {
        for entity in index
            .webhooks
            .get(&integration.provider)
            .into_iter()
            .flatten()
        {
            if entity_synonyms(&entity.entity_type)
                .iter()
                .take(2)
                .any(|s| split.iter().any(|w| w == s))
            {
                found.push((i, entity.entity_type.clone()));
            }
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

fn entity_in<'a>(split: &[String], entities: &'a [WebhookEntity]) -> Option<&'a WebhookEntity> {
    if entities.len() == 1 {
        return entities.first();
    }
    // The earliest word that names one of the entity types.
    let mut best: Option<(usize, &WebhookEntity)> = None;
    for entity in entities {
        for (pos, w) in split.iter().enumerate() {
            let names = entity_synonyms(&entity.entity_type);
            // A misspelt name of five letters or more counts, after every right one
            // ("isssue").
            let misspelt = w.len() >= 5
                && names
                    .iter()
                    .any(|n| n.len() >= 5 && strsim::damerau_levenshtein(n, w) == 1);
            if w == &entity.entity_type || names.contains(w) || misspelt {
                let exact = w == &entity.entity_type || names.first() == Some(w);
                let rank = if exact {
                    pos
                } else if misspelt && !names.contains(w) {
                    pos + 2000
                } else {
                    pos + 1000
                };
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, entity));
                }
            }
        }
    }
    best.map(|(_, e)| e)
}

/// The integration whose data change the words watch: the one named (or whose entity
/// is named) that reports changes at all. `None` when `problems` says why not (none
/// named has webhooks, or two fit).
fn watched_integration(
    split: &[String],
    mentions: &Mentions,
    integrations: &[ProjectIntegration],
    index: &Index,
    problems: &mut Problems,
) -> Option<usize> {
    let mut candidates = mentions.candidates(integrations);
    if candidates.is_empty() {
        if let Some((provider, _)) = mentions.providers.first() {
            let display = crate::catalog::catalog()
                .ok()
                .and_then(|c| c.get(provider))
                .map(|p| p.display_name.clone())
                .unwrap_or_else(|| provider.clone());
            problems.push(
                "trigger",
                format!(
                    "the project has no {display} integration to watch; add one first{}",
                    list_suffix(
                        "the project's integrations",
                        integrations.iter().map(|i| i.name.to_string())
                    )
                ),
            );
            return None;
        }
        if let Some((i, _)) = watched_entity_without_name(split, integrations, index) {
            candidates.push(i);
        }
    }
    // Integrations that report data changes at all.
    let reporting: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| {
            index
                .webhooks
                .get(&integrations[*i].provider)
                .is_some_and(|w| !w.is_empty())
        })
        .collect();
    Some(match reporting.as_slice() {
        [one] => *one,
        [] => {
            let named: Vec<String> = candidates
                .iter()
                .map(|i| integrations[*i].name.to_string())
                .collect();
            let can: Vec<String> = integrations
                .iter()
                .filter(|i| {
                    index
                        .webhooks
                        .get(&i.provider)
                        .is_some_and(|w| !w.is_empty())
                })
                .map(|i| i.name.to_string())
                .collect();
            problems.push(
                "trigger",
                format!(
                    "{} reports no data changes (no webhooks), so it cannot start a workflow{}",
                    named.join(", "),
                    list_suffix("integrations that can", can)
                ),
            );
            return None;
        }
        many => {
            // Two named: the one whose entity the words name; otherwise ambiguous.
            let with_entity: Vec<usize> = many
                .iter()
                .copied()
                .filter(|i| {
                    let entities = &index.webhooks[&integrations[*i].provider];
                    entities.len() > 1 && entity_in(split, entities).is_some()
                        || entities.iter().any(|e| {
                            split
                                .iter()
                                .any(|w| entity_synonyms(&e.entity_type).iter().any(|s| s == w))
                        })
                })
                .collect();
            if with_entity.len() == 1 {
                with_entity[0]
            } else {
                problems.push(
                    "trigger",
                    format!(
                        "ambiguous: the words could mean any of {}; name the integration",
                        many.iter()
                            .map(|i| integrations[*i].name.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return None;
            }
        }
    })
}

fn data_change(
    clause_words: &[String],
    split: &[String],
    mentions: &Mentions,
    event: Option<(String, usize)>,
    integrations: &[ProjectIntegration],
    index: &Index,
    problems: &mut Problems,
) -> Option<ParsedTrigger> {
    let chosen = watched_integration(split, mentions, integrations, index, problems)?;
    let integration = &integrations[chosen];
    let entities = &index.webhooks[&integration.provider];
    // "someone comments on an issue": the entity the verb names is the one made.
    let commented = split.windows(2).enumerate().find_map(|(p, w)| {
        let verb = p > 0
            && (!crate::lexicon::lexicon().is_determiner(&split[p - 1])
                || is_someone(&split[p - 1]));
        (verb && w[1] == "on")
            .then(|| {
                entities.iter().find(|e| {
                    e.entity_type != w[0] && entity_synonyms(&e.entity_type).contains(&w[0])
                })
            })
            .flatten()
    });
    let Some(entity) = commented.or_else(|| entity_in(split, entities)) else {
        problems.push(
            "trigger",
            format!(
                "say which {} entity to watch: {}",
                integration.adapter().display_name,
                entities
                    .iter()
                    .map(|e| e.entity_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    };
    let event_name = event.as_ref().map(|(e, _)| e.as_str()).unwrap_or("updated");
    let means = |change: &str| {
        crate::lexicon::lexicon()
            .data_changes
            .get(change)
            .is_some_and(|events| events.iter().any(|e| e == event_name))
    };
    let mut change = if commented.is_some() || means("created") {
        Change::Created
    } else if means("deleted") {
        Change::Deleted
    } else {
        Change::Updated
    };
    if !entity.supports(change) {
        if entity.changes.len() == 1 {
            change = match entity.changes.iter().next().copied() {
                Some("created") => Change::Created,
                Some("deleted") => Change::Deleted,
                _ => Change::Updated,
            };
        } else {
            problems.push(
                "trigger",
                format!(
                    "{} reports {} {}, not {}",
                    integration.adapter().display_name,
                    entity.entity_type,
                    entity
                        .changes
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" or "),
                    change.as_str()
                ),
            );
            return None;
        }
    }
    let conditions = conditions(clause_words, event_name, entity);
    let name = match IntegrationName::parse(integration.name.as_str()) {
        Ok(name) => name,
        Err(e) => {
            problems.push("trigger", e.message);
            return None;
        }
    };
    Some(ParsedTrigger {
        trigger: Trigger::DataChange {
            integration: name,
            entity_type: entity.entity_type.clone(),
            change,
            conditions,
        },
    })
}

/// The field holding an entity's status: Linear's `state.name`, Stripe's `status`.
fn status_field(entity: &WebhookEntity) -> String {
    for candidate in ["state.name", "status", "state"] {
        if entity.fields.iter().any(|(p, _)| p == candidate) {
            return candidate.to_owned();
        }
    }
    "status".to_owned()
}

fn conditions(words: &[String], event: &str, entity: &WebhookEntity) -> Vec<FieldCondition> {
    // "moves to Done", "is marked as In Progress", "changes to paid", "becomes closed".
    for (i, w) in words.iter().enumerate() {
        let cue = (crate::lexicon::lexicon().is_status_verb(w) && w != "updated")
            || (w == "status" && words.get(i + 1).is_some_and(|n| n == "is"));
        if !cue {
            continue;
        }
        let mut j = i + 1;
        while words
            .get(j)
            .is_some_and(|x| matches!(x.as_str(), "to" | "as" | "is" | "into"))
        {
            j += 1;
        }
        // The value runs to a preposition, but may start with one ("In Progress").
        let value: Vec<&str> = words[j.min(words.len())..]
            .iter()
            .map(String::as_str)
            .enumerate()
            .take_while(|(k, x)| {
                *k == 0 || !matches!(*x, "in" | "on" | "and" | "then" | "at" | "by")
            })
            .map(|(_, x)| x)
            .collect();
        // "its status is updated (bounces, ...)": the event, not a status value; "moved
        // to Canceled" is a status, whatever else the word says.
        let is_event = w == "status"
            && value.first().is_some_and(|v| {
                crate::lexicon::lexicon()
                    .event_surfaces
                    .iter()
                    .any(|(surface, _)| surface.len() == 1 && surface[0] == *v)
            });
        if value.is_empty() || is_event || j == i + 1 && !matches!(w.as_str(), "becomes" | "marked")
        {
            continue;
        }
        return vec![FieldCondition {
            field: status_field(entity),
            equals: Value::String(title_case(&value)),
        }];
    }
    let status_value = match (event, entity.entity_type.as_str()) {
        ("succeeded", _) => Some("succeeded"),
        ("cancelled", "payment_intent") => Some("canceled"),
        ("failed", "payment_intent") => Some("requires_payment_method"),
        _ => None,
    };
    if let Some(v) = status_value
        && entity.fields.iter().any(|(p, _)| p == "status")
    {
        return vec![FieldCondition {
            field: "status".into(),
            equals: Value::String(v.into()),
        }];
    }
    // "when a Linear issue is canceled": an event the lexicon knows that is no creation,
    // edit or removal is the state reached, where states go by name (`state.name`),
    // as written.
    let lexicon = crate::lexicon::lexicon();
    let plain_change = ["created", "updated", "deleted"].iter().any(|c| {
        *c == event
            || lexicon
                .data_changes
                .get(*c)
                .is_some_and(|events| events.iter().any(|e| e == event))
    });
    let named_states = entity.fields.iter().any(|(p, _)| p == "state.name");
    if !plain_change && named_states && lexicon.events.contains_key(event) {
        let written = words.iter().find(|w| {
            lexicon
                .event_surfaces
                .iter()
                .any(|(surface, e)| e == event && surface.len() == 1 && surface[0] == **w)
        });
        if let Some(written) = written {
            return vec![FieldCondition {
                field: "state.name".into(),
                equals: Value::String(title_case(&[written.as_str()])),
            }];
        }
    }
    Vec::new()
}

/// Status names as people capitalize them in tools ("Done", "In Progress").
fn title_case(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn list_suffix(label: &str, items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        String::new()
    } else {
        format!("; {label}: {}", items.join(", "))
    }
}

/// A label for a trigger in generated text: "intake form", "Linear issue".
pub fn label(trigger: &Trigger, integrations: &[ProjectIntegration]) -> (String, String) {
    match trigger {
        Trigger::Entity { entity, event } => {
            let words = super::text::name_words(entity).join(" ");
            (words, event.replace('_', " "))
        }
        Trigger::DataChange {
            integration,
            entity_type,
            change,
            ..
        } => {
            let provider = integrations
                .iter()
                .find(|i| i.name == *integration)
                .map(|i| i.adapter().display_name.clone())
                .unwrap_or_else(|| integration.to_string());
            (
                format!("{provider} {}", entity_type.replace('_', " ")),
                change.as_str().to_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        plain_words(text)
    }

    #[test]
    fn events_are_read_from_verbs() {
        assert_eq!(
            event_in(&w("the intake form is submitted")).map(|e| e.0),
            Some("submitted".into())
        );
        assert_eq!(
            event_in(&w("someone signs up")).map(|e| e.0),
            Some("signed_up".into())
        );
        assert_eq!(
            event_in(&w("a referral comes in")).map(|e| e.0),
            Some("received".into())
        );
        assert_eq!(
            event_in(&w("intake form submission")).map(|e| e.0),
            Some("submitted".into())
        );
        assert_eq!(
            event_in(&w("the claim is escalated")).map(|e| e.0),
            Some("escalated".into())
        );
    }

    #[test]
    fn event_end_finds_where_a_clause_without_comma_stops() {
        let body = "when the intake form is submitted send an email";
        let end = event_end(body).expect("end");
        assert_eq!(&body[..end], "when the intake form is submitted");
    }
}
