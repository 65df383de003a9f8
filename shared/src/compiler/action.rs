//! What the action's words ask for, beyond the operations' phrases: words that name a
//! field or describe a tool rather than say what to do, and the rules that refine the
//! operation the phrases chose (the step's verb, a thing no operation keeps, an edit
//! of what an earlier step made). The words themselves are the lexicon's.

use std::collections::BTreeSet;

use super::ProjectIntegration;
use super::text::{self, Literal};
use crate::catalog::Operation;
use crate::domain::StepContract;

/// "using the customer's email": a field of something, not a thing to do; its words
/// leave the words that tell what the request says. So does its owner's name where the
/// trigger has the field under both ("the customer's email" is `customer_email`),
/// unless the words say it otherwise too.
pub(super) fn drop_field_words(said: &mut BTreeSet<String>, action_text: &str, fields: &[&str]) {
    let lexicon = crate::lexicon::lexicon();
    let tokens: Vec<String> = action_text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    for (i, pair) in tokens.windows(2).enumerate() {
        let Some(owner) = pair[0]
            .strip_suffix("'s")
            .or_else(|| pair[0].strip_suffix('\''))
        else {
            continue;
        };
        said.remove(lexicon.canonical(&pair[1]));
        said.remove(&pair[1]);
        let field = text::squash(&format!("{owner}{}", pair[1]));
        let otherwise = tokens
            .iter()
            .enumerate()
            .any(|(j, t)| j != i && text::stem(t) == text::stem(owner));
        if fields.iter().any(|f| text::squash(f) == field) && !otherwise {
            said.remove(&text::stem(owner));
        }
    }
}

/// The words to match operations on, less what only looks like an action ("with Email
/// set to ...", "the phone number", "the texting integration", "get a row added"), and
/// with what a literal says ("Schedule!A1:D50" asks for a range).
pub(super) fn adjust_op_words(
    op_words: &mut BTreeSet<String>,
    plain: &[String],
    literals: &[Literal],
) {
    // "with Email set to the form's email": a field's value, not an update, unless
    // the step leads with it.
    {
        let lexicon = crate::lexicon::lexicon();
        let lead = plain
            .iter()
            .position(|w| !lexicon.lead_ins.iter().any(|l| l == w))
            .unwrap_or(0);
        let updates: Vec<usize> = plain
            .iter()
            .enumerate()
            .filter(|(_, w)| lexicon.canonical(w) == "update")
            .map(|(i, _)| i)
            .collect();
        let assignment =
            |i: &usize| *i != lead && plain.get(i + 1).is_some_and(|n| n == "to" || n == "as");
        if !updates.is_empty() && updates.iter().all(assignment) {
            op_words.remove("update");
        }
        // "at the phone number on the customer": a thing, not a call.
        let in_noun_phrase: std::collections::BTreeSet<usize> = lexicon
            .noun_phrases
            .iter()
            .flat_map(|p| crate::lexicon::phrase_positions(p, plain))
            .collect();
        // "on their phone", "at the member_phone": the phone is a thing too, unless it
        // is the step's verb ("phone the patient", "use clinic-sms to phone them").
        let lead = plain
            .iter()
            .position(|w| !lexicon.lead_ins.iter().any(|l| l == w));
        let verb_at = |i: usize| Some(i) == lead || (i > 0 && plain[i - 1] == "to");
        let calls: Vec<(usize, bool)> = plain
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let parts: Vec<&str> = w.split(['_', '-']).collect();
                let call = parts.iter().find(|p| lexicon.canonical(p) == "call")?;
                let thing = in_noun_phrase.contains(&i)
                    || parts.len() > 1
                    || (matches!(*call, "phone" | "phones") && !verb_at(i));
                Some((i, thing))
            })
            .collect();
        if !calls.is_empty() && calls.iter().all(|(_, thing)| *thing) {
            op_words.remove("call");
        }
    }
    // "the texting integration clinic-sms": words that describe a tool say nothing of
    // what to do. "have the sheet get a new row added": "get" is no read before a
    // participle of what is done.
    {
        let lexicon = crate::lexicon::lexicon();
        let describing: Vec<usize> = plain
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                *i > 0 && matches!(w.as_str(), "integration" | "connection" | "thing" | "tool")
            })
            .map(|(i, _)| i - 1)
            .collect();
        for i in describing {
            let canonical = lexicon.canonical(&plain[i]).to_owned();
            let elsewhere = plain
                .iter()
                .enumerate()
                .any(|(j, w)| j != i && lexicon.canonical(w) == canonical);
            if !elsewhere {
                op_words.remove(&canonical);
                op_words.remove(&plain[i]);
            }
        }
        if let Some(g) = plain.iter().position(|w| w == "get") {
            let done_after = plain[g + 1..]
                .iter()
                .take(5)
                .any(|w| w.ends_with("ed") && lexicon.canonical(w) != "get" && w.len() > 4);
            if done_after
                && plain
                    .iter()
                    .filter(|w| lexicon.canonical(w) == "get")
                    .count()
                    == 1
            {
                op_words.remove("get");
            }
        }
    }
    literal_words(op_words, literals);
}

/// What the literals say of the operation: a range written in A1 notation, several, one
/// cell, an image's web address.
fn literal_words(op_words: &mut BTreeSet<String>, literals: &[Literal]) {
    // A range written in A1 notation ("Schedule!A1:D50") says a range is meant; two or
    // more ("Invoices!A:A and Totals!B2"), several.
    let ranges = literals
        .iter()
        .filter(|l| matches!(l, text::Literal::Range(_)))
        .count();
    if ranges > 0 {
        op_words.insert("range".to_owned());
    }
    if ranges > 1 {
        op_words.insert("several".to_owned());
    }
    // "our logo from https://clinic.example/logo.png": a web address of an image.
    let image = |url: &str| {
        let path = url.split(['?', '#']).next().unwrap_or(url).to_lowercase();
        [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]
            .iter()
            .any(|e| path.ends_with(e))
    };
    if literals
        .iter()
        .any(|l| matches!(l, text::Literal::Url(u) if image(u)))
    {
        op_words.insert("image".to_owned());
    }
    // "Status!B2" is one cell: written over, not appended after.
    if literals
        .iter()
        .any(|l| matches!(l, text::Literal::Range(r) if is_one_cell(r)))
    {
        op_words.insert("cell".to_owned());
    }
}

/// Whether a range in A1 notation is one cell (`Status!B2`, `C7`), not a span.
fn is_one_cell(range: &str) -> bool {
    let cell = range.rsplit('!').next().unwrap_or(range);
    let letters = cell.chars().take_while(char::is_ascii_alphabetic).count();
    let digits = &cell[letters..];
    letters > 0 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// What a step's verb does, and what an operation does by the verb its id leads with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// get, fetch, retrieve, read, look up, check, search, find, query.
    Read,
    /// list.
    List,
    /// create, add, send, post, place, upsert, reply ("insert" and "append" are left
    /// out: they add to something that exists).
    Make,
    /// update, edit, change, set, patch, replace.
    Change,
    /// delete, remove, cancel, end, clear.
    Remove,
}

impl ActionKind {
    /// The kind of a verb (after the lexicon's synonyms), if it is one of these.
    fn of(word: &str) -> Option<Self> {
        let lexicon = crate::lexicon::lexicon();
        Some(match lexicon.canonical(word) {
            // Reading one thing and finding it are told apart by what the words
            // give ("by MRN" searches), not by the verb.
            "get" | "retrieve" | "read" | "lookup" | "check" | "search" | "query" => Self::Read,
            "list" => Self::List,
            "create" | "send" | "message" | "place" | "upsert" | "generate" | "issue" | "start"
            | "open" => Self::Make,
            "update" | "patch" | "replace" | "rename" => Self::Change,
            "delete" | "cancel" | "end" | "clear" => Self::Remove,
            _ => return None,
        })
    }

    fn reads(self) -> bool {
        matches!(self, Self::Read | Self::List)
    }
}

/// What the step's verb does ("Next, fetch that contact ..." reads): its first word after
/// lead-ins such as "then", when that is an action verb the words to match still hold
/// ("have the sheet get a row added" asks for no read).
pub(super) fn leading_action(
    verb_words: &[String],
    op_words: &BTreeSet<String>,
) -> Option<ActionKind> {
    let lexicon = crate::lexicon::lexicon();
    let mut rest = verb_words
        .iter()
        .skip_while(|w| lexicon.lead_ins.iter().any(|l| l == *w));
    let mut verb = rest.next()?;
    // "use billing to refund ...": the verb after "to".
    if verb == "use" || verb == "using" {
        verb = rest.skip_while(|w| *w != "to").nth(1)?;
    }
    // "take the address off the list" removes it.
    if verb == "take" && verb_words.iter().any(|w| w == "off") {
        return Some(ActionKind::Remove);
    }
    // Only the step's own first word: "show the message history" is no message sent.
    (op_words.contains(lexicon.canonical(verb)) || op_words.contains(verb))
        .then(|| ActionKind::of(verb))
        .flatten()
}

/// How well an operation agrees with the step's verb: 1 when it does what the verb
/// says (or either is not known), almost as well for another kind of read ("look the
/// patient up by MRN" searches), and much less for another kind of action ("fetch
/// that contact" is no create).
pub(super) fn agreement(action: Option<ActionKind>, op: &Operation) -> f64 {
    let first = op.id.split('_').next().unwrap_or_default();
    match (action, ActionKind::of(first)) {
        (Some(a), Some(b)) if a == b => 1.0,
        (Some(a), Some(b)) if a.reads() && b.reads() => 0.97,
        (Some(_), Some(_)) => 0.6,
        _ => 1.0,
    }
}

/// The operation the words ask of the chosen integration, after the phrases chose `op`:
/// the step's verb picks the one operation whose name starts with it or that does it
/// ("create it in clinic-api", "text that customer ..."); "into that same doc" edits
/// what an earlier step of the integration made; and a thing made or a verb that no
/// operation offers is refused on `operation` ("start a monthly subscription", "delete
/// the contact" where nothing deletes).
pub(super) fn refine(
    chosen: &ProjectIntegration,
    op: usize,
    plain: &[String],
    verb_words: &[String],
    earlier: &[StepContract],
    integrations: &[ProjectIntegration],
) -> Result<usize, (&'static str, String)> {
    let mut op = op;
    // "create it in clinic-api ...": the step's verb picks the one operation of the
    // integration whose name starts with it.
    {
        let lexicon = crate::lexicon::lexicon();
        if let Some(verb) = verb_words
            .iter()
            .find(|w| !lexicon.lead_ins.iter().any(|l| l == *w))
            .map(|w| lexicon.canonical(w).to_owned())
            // (Reading is not one thing: "pull all Observations" searches.)
            .filter(|v| !matches!(v.as_str(), "get" | "search" | "list"))
        {
            let ops = &chosen.adapter().operations;
            // By the verb its id leads with, or its name for a verb steps seldom open
            // with ("resubscribe" picks "Resubscribe an address"; "call" and "insert"
            // lead names that are no calls or inserts).
            let rare = !lexicon.step_verbs.contains(&verb);
            let does = |o: &Operation| {
                let by_id = o.id.split('_').next().unwrap_or_default();
                let name = o.name.to_lowercase();
                let by_name = name.split(' ').next().unwrap_or_default();
                lexicon.canonical(by_id) == verb || (rare && lexicon.canonical(by_name) == verb)
            };
            let doing: Vec<usize> = (0..ops.len()).filter(|o| does(&ops[*o])).collect();
            if let [only] = doing.as_slice()
                && !does(&ops[op])
            {
                op = *only;
            }
        }
    }
    // "put the description into that same doc": what an earlier step of this
    // integration made is changed, not made again.
    {
        let back = !crate::lexicon::lexicon()
            .back_reference_positions(plain)
            .is_empty();
        let ops = &chosen.adapter().operations;
        let made = ops[op].entity.clone();
        let earlier_made = earlier.iter().any(|c| {
            c.integration == chosen.name
                && ops
                    .iter()
                    .find(|o| o.id == c.operation)
                    .is_some_and(|o| o.side_effects && o.entity == made)
        });
        let is_create = |o: &Operation| o.id.starts_with("create");
        if back && earlier_made && is_create(&ops[op]) {
            let updates: Vec<usize> = (0..ops.len())
                .filter(|o| ops[*o].id.starts_with("update") && ops[*o].entity == made)
                .collect();
            if let [only] = updates.as_slice() {
                op = *only;
            }
        }
    }
    // "read that Lead record back": one thing an earlier step of this integration made
    // is read by its id, not searched for.
    op = read_what_was_made(chosen, op, plain, verb_words, earlier);
    op = searched(chosen, op, verb_words);
    // "start a monthly subscription" where no operation keeps subscriptions; "create a
    // Slack channel" where no operation makes one.
    if let Some((thing, group, made)) = crate::lexicon::lexicon().leading_object(verb_words) {
        let says = |op: &Operation| {
            if made {
                op_makes(op, group)
            } else {
                op_says(op, group, true)
            }
        };
        // The one operation that makes or changes it, where the phrases chose another
        // ("add a comment to the conversation": the reply that comments).
        let ops = &chosen.adapter().operations;
        let doing: Vec<usize> = (0..ops.len())
            .filter(|o| ops[*o].side_effects && says(&ops[*o]))
            .collect();
        match doing.as_slice() {
            _ if says(&ops[op]) => {}
            [only] => op = *only,
            _ => {
                let why = format!("has no operation for a {thing}");
                return Err(refusal(chosen, &why, integrations_with(integrations, says)));
            }
        }
    }
    if let Some((verb, group)) = crate::lexicon::lexicon().leading_verb(verb_words) {
        let says = |op: &Operation| op_says(op, group, false);
        if !chosen.adapter().operations.iter().any(says) {
            let why = format!("cannot {verb}");
            return Err(refusal(chosen, &why, integrations_with(integrations, says)));
        }
        // "text that customer at the phone number ...": the step's verb picks the one
        // operation of the integration that does it.
        let ops = &chosen.adapter().operations;
        let doing: Vec<usize> = (0..ops.len()).filter(|o| says(&ops[*o])).collect();
        if let [only] = doing.as_slice()
            && !says(&ops[op])
        {
            op = *only;
        }
    }
    Ok(op)
}

/// The one operation that searches for the kind of thing `op` reads by id, when the step
/// says "search" or "query" ("search Intercom for the contact with the customer's
/// email"); else `op`. ("Find" and "look up" stay reads of either kind.)
fn searched(chosen: &ProjectIntegration, op: usize, verb_words: &[String]) -> usize {
    let lexicon = crate::lexicon::lexicon();
    let ops = &chosen.adapter().operations;
    let first = |o: &Operation| o.id.split('_').next().unwrap_or_default().to_owned();
    let asked = verb_words
        .iter()
        .find(|w| !lexicon.lead_ins.iter().any(|l| l == *w))
        .is_some_and(|v| matches!(v.as_str(), "search" | "query"));
    if !asked || lexicon.canonical(&first(&ops[op])) != "get" || ops[op].entity.is_none() {
        return op;
    }
    let searches: Vec<usize> = (0..ops.len())
        .filter(|o| matches!(first(&ops[*o]).as_str(), "search" | "query"))
        .filter(|o| ops[*o].entity == ops[op].entity)
        .collect();
    match searches.as_slice() {
        [only] => *only,
        _ => op,
    }
}

/// The one operation that reads a single thing of what an earlier step of the chosen
/// integration made, when the step's verb reads one ("read", "fetch", "get") but `op`
/// reads many (a query, search or list) and the words point at that thing ("that Lead
/// record", "the same contact"); else `op`.
fn read_what_was_made(
    chosen: &ProjectIntegration,
    op: usize,
    plain: &[String],
    verb_words: &[String],
    earlier: &[StepContract],
) -> usize {
    let lexicon = crate::lexicon::lexicon();
    let ops = &chosen.adapter().operations;
    let first = |o: &Operation| {
        lexicon
            .canonical(o.id.split('_').next().unwrap_or_default())
            .to_owned()
    };
    let reads_one = verb_words
        .iter()
        .find(|w| !lexicon.lead_ins.iter().any(|l| l == *w))
        .is_some_and(|v| lexicon.canonical(v) == "get");
    if !reads_one || !matches!(first(&ops[op]).as_str(), "search" | "query" | "list") {
        return op;
    }
    let made: Vec<&Operation> = earlier
        .iter()
        .filter(|c| c.integration == chosen.name)
        .filter_map(|c| ops.iter().find(|o| o.id == c.operation && o.side_effects))
        .collect();
    // "that Lead record", "that Lead": the entity, a word people use for it, or a kind
    // the operation that made it chooses (Salesforce's sObject).
    let pointed = |made: &Operation| {
        let Some(entity) = made.entity.as_deref() else {
            return false;
        };
        let words = super::index::entity_synonyms(entity);
        let kinds = made.compile.as_ref().and_then(|c| c.kind.as_ref());
        plain.iter().enumerate().any(|(i, w)| {
            matches!(w.as_str(), "that" | "this" | "same")
                && plain.iter().skip(i + 1).take(2).any(|n| {
                    n == entity
                        || words.iter().any(|s| s == n)
                        || kinds.is_some_and(|k| k.words.contains_key(n.as_str()))
                })
        })
    };
    let Some(entity) = made
        .into_iter()
        .find(|o| pointed(o))
        .and_then(|o| o.entity.as_deref())
    else {
        return op;
    };
    let reads: Vec<usize> = (0..ops.len())
        .filter(|o| first(&ops[*o]) == "get" && ops[*o].entity.as_deref() == Some(entity))
        .collect();
    // Several reads (by id, by external id): the plain one, `get_<entity>`.
    let plain_read = format!("get_{entity}");
    match reads.as_slice() {
        [only] => *only,
        _ => reads
            .iter()
            .copied()
            .find(|o| ops[*o].id == plain_read)
            .unwrap_or(op),
    }
}

/// Whether an operation makes a thing of a group's words: it has side effects and names
/// the thing as its entity, as the last word of its id or as a kind it chooses
/// (Salesforce's sObject), singular or plural.
fn op_makes(op: &Operation, group: &[String]) -> bool {
    let last = op.id.rsplit('_').next().unwrap_or_default();
    let kinds = op
        .compile
        .as_ref()
        .and_then(|c| c.kind.as_ref())
        .map(|k| k.words.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    op.side_effects
        && std::iter::once(last)
            .chain(op.entity.as_deref())
            .chain(kinds)
            .any(|w| group.iter().any(|g| g == w))
}

/// Whether an operation says one of a group's words: in its id, name and phrases, and
/// with `described`, its description.
fn op_says(op: &Operation, group: &[String], described: bool) -> bool {
    std::iter::once(op.id.replace('_', " "))
        .chain(std::iter::once(op.name.to_lowercase()))
        .chain(described.then(|| op.description.to_lowercase()))
        .chain(op.phrases.iter().map(|p| p.to_lowercase()))
        .any(|t| {
            t.split(|c: char| !c.is_alphanumeric())
                .any(|w| group.iter().any(|g| g == w))
        })
}

/// The project's integrations with an operation that does what `says` asks.
fn integrations_with(
    integrations: &[ProjectIntegration],
    says: impl Fn(&Operation) -> bool,
) -> Vec<String> {
    integrations
        .iter()
        .filter(|i| i.adapter().operations.iter().any(&says))
        .map(|i| i.name.to_string())
        .collect()
}

/// "using the visit's patient id": the trigger's own name, said as the owner of a value,
/// says where the value comes from, not what to do; its words leave the words to match
/// operations on (unless said otherwise too: "the bug's title" in "create a Linear
/// issue" still asks for an issue).
pub(super) fn drop_owner_name(op_words: &mut BTreeSet<String>, action_text: &str, name: &str) {
    for word in text::name_words(name) {
        // Only when the word says nothing else: "the bug's title" in "create
        // a Linear issue" still leaves "issue" asked for.
        let lower = action_text.to_lowercase();
        let stem = text::stem(&word);
        let tokens: Vec<&str> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|t| !t.is_empty())
            .collect();
        let possessive = tokens.iter().any(|t| *t == format!("{word}'s"));
        let otherwise = tokens
            .iter()
            .any(|t| !t.ends_with("'s") && text::stem(t) == stem);
        if possessive && !otherwise {
            op_words.remove(&stem);
        }
    }
}

/// The integration of the step before, when the words point back at it ("into the
/// document created earlier").
pub(super) fn pointed_back(
    plain: &[String],
    earlier: &[StepContract],
    integrations: &[ProjectIntegration],
) -> Option<usize> {
    let last = earlier.iter().max_by_key(|c| c.step)?;
    let previous = integrations
        .iter()
        .position(|i| i.name == last.integration)?;
    // "that text", "this call": what the step before made or read, by its entity's
    // word or one people use for it.
    let made = integrations[previous]
        .adapter()
        .operations
        .iter()
        .find(|o| o.id == last.operation)
        .and_then(|o| o.entity.as_deref());
    let names_made = made.is_some_and(|entity| {
        let words = super::index::entity_synonyms(entity);
        plain.windows(2).any(|w| {
            matches!(w[0].as_str(), "that" | "this")
                && (w[1] == entity || words.iter().any(|s| *s == w[1]))
        })
    });
    let back = names_made
        || !crate::lexicon::lexicon()
            .back_reference_positions(plain)
            .is_empty();
    back.then_some(previous)
}

/// A step refused on `operation`: what the chosen integration cannot do, what it
/// offers, and which of the project's integrations can.
fn refusal(chosen: &ProjectIntegration, why: &str, can: Vec<String>) -> (&'static str, String) {
    (
        "operation",
        format!(
            "{} {why}; it offers {}{}",
            chosen.name,
            super::op_list(chosen.adapter()),
            super::trigger::list_suffix("the project's integrations that can", can)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::is_one_cell;

    #[test]
    fn a_range_of_one_cell_is_told_from_a_span() {
        assert!(is_one_cell("Status!B2"));
        assert!(is_one_cell("C7"));
        assert!(!is_one_cell("Orders!A:E"));
        assert!(!is_one_cell("Summary!A1:B20"));
        assert!(!is_one_cell("Orders"));
    }
}
