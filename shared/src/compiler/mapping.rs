//! Builds an input mapping from the words and the sources: who receives the message,
//! the names, dates and amounts, the ids of the things acted on, and a subject and body
//! where the words imply them.
//!
//! Most inputs are filled by role: an input named `To` of an e-mail provider wants an
//! e-mail address, `firstname` a first name, `start.dateTime` a start time. Operations
//! whose inputs have a structure a name cannot tell (SendGrid's personalizations, a
//! FHIR resource, a Notion title property, Salesforce fields) carry `compile` hints in
//! their provider file, applied first by [`super::shape`]; no provider is named here.

use serde_json::{Map, Value, json};

use super::schema::{self, Kind};
use super::sources::{Origin, Role, Source};
use super::text::{Cue, Literal, name_words, squash, stem};
use super::{Problems, ProjectIntegration};
use crate::catalog::{Category, Operation, Provider};
use crate::domain::Trigger;

/// What the action part of the instruction says.
pub struct Action {
    /// Lowercase words, in order.
    pub words: Vec<String>,
    pub literals: Vec<Literal>,
    /// Positions in `words` of the words written as owners ("the visit's").
    pub owners: std::collections::BTreeSet<usize>,
    /// The action's text as written, with its punctuation ("the Dr. Okafor calendar").
    pub text: String,
}

impl Action {
    pub fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word || stem(w) == word)
    }

    pub(super) fn has_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.has(w))
    }

    pub(super) fn quoted(&self, cue: Cue) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Quoted(c, text) if *c == cue => Some(text.clone()),
            _ => None,
        })
    }

    pub(super) fn email_after(&self, cues: &[&str]) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Email(address, before) if cues.contains(&before.as_str()) => {
                Some(address.clone())
            }
            _ => None,
        })
    }

    /// The first email address written in the words.
    pub(super) fn email_after_any(&self) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Email(address, _) => Some(address.clone()),
            _ => None,
        })
    }

    fn money(&self) -> Option<(f64, Option<String>)> {
        self.literals.iter().find_map(|l| match l {
            Literal::Money(amount, currency) => Some((*amount, currency.clone())),
            _ => None,
        })
    }

    pub(super) fn channel(&self) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Channel(c) => Some(c.clone()),
            _ => None,
        })
    }

    /// The word right after or before `word` ("team ENG", "the ENG team"), as written.
    fn neighbour_of(&self, word: &str, original: &[String]) -> Option<String> {
        let pos = self.words.iter().position(|w| w == word)?;
        let skip = |w: &str| matches!(w, "the" | "a" | "an" | "our" | "for" | "in" | "to");
        let after = original.get(pos + 1).filter(|w| !skip(&w.to_lowercase()));
        let before = pos
            .checked_sub(1)
            .and_then(|p| original.get(p))
            .filter(|w| !skip(&w.to_lowercase()));
        let looks_like_key = |w: &&String| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && w.len() >= 2
        };
        after
            .filter(looks_like_key)
            .or(before.filter(looks_like_key))
            .cloned()
    }
}

/// Everything the generator reads.
pub struct Plan<'a> {
    pub integration: &'a ProjectIntegration,
    pub provider: &'a Provider,
    pub op: &'a Operation,
    pub trigger: &'a Trigger,
    /// The trigger's sources (entity fields or the change), then earlier steps' outputs.
    pub sources: &'a [Source],
    pub action: &'a Action,
    /// The action's words as written (for team keys such as "ENG").
    pub original: &'a [String],
    /// (label, event): "intake form", "submitted".
    pub label: (String, String),
}

enum Slot {
    Role(Role),
    Body,
    Title,
    Sender,
    Channel,
    Skip,
}

const SKIPPED: &[&str] = &[
    "cc",
    "bcc",
    "replyto",
    "reply_to",
    "htmlbody",
    "html",
    "amphtml",
    "tag",
    "headers",
    "metadata",
    "attachments",
    "individualname",
    "businessname",
    "shipping",
    "invoicesettings",
    "tax",
    "taxiddata",
    "testclock",
    "expand",
    "statuscallback",
    "messagingservicesid",
    "mediaurl",
    "contentsid",
    "contentvariables",
    "avatar",
    "customattributes",
    "externalid",
    "ownerid",
    "signedupat",
    "lastseenat",
    "templateid",
    "templatealias",
    "idproperty",
    "hubspotownerid",
    "timezone",
    "sendupdates",
    "conferencedata",
    "location",
    "colorid",
    "recurrence",
    "reminders",
    "id",
    "threadts",
    "username",
    "iconemoji",
    "iconurl",
    "icon",
    "cover",
    "children",
    "labelids",
    "assigneeid",
    "stateid",
    "parentid",
    "projectid",
    "cycleid",
    "subscriberids",
    "delegateid",
    "templateid",
    "sortorder",
    "estimate",
    "duedate",
    "closedate",
];

fn slot_kind(path: &[String], leaf_schema: &Value, root: &Value, provider: &Provider) -> Slot {
    let leaf = path.last().map(String::as_str).unwrap_or_default();
    let squashed = squash(leaf);
    let messaging = matches!(
        provider.category,
        Category::Email | Category::SmsVoice | Category::Chat | Category::Support
    );
    if leaf.contains(':') {
        // Mailgun's o:/t:/h: options: only what the words set.
        return Slot::Skip;
    }
    if path.iter().any(|p| squash(p) == "from") {
        return if squash(leaf) == "name" {
            Slot::Skip
        } else {
            Slot::Sender
        };
    }
    if path
        .iter()
        .any(|p| matches!(squash(p).as_str(), "cc" | "bcc" | "replyto" | "replytolist"))
    {
        return Slot::Skip;
    }
    // Inside an optional structure the words never ask for (a shipping address...).
    if path[..path.len().saturating_sub(1)]
        .iter()
        .any(|p| SKIPPED.contains(&squash(p).as_str()) || squash(p) == "address")
    {
        return Slot::Skip;
    }
    match squashed.as_str() {
        "to" | "recipient" | "recipients" => {
            return Slot::Role(if provider.category == Category::SmsVoice {
                Role::Phone
            } else {
                Role::Email
            });
        }
        "textbody" | "text" | "body" | "message" | "content" | "value" if messaging => {
            return Slot::Body;
        }
        "subject" | "summary" | "title" | "dealname" => return Slot::Title,
        "channel" => return Slot::Channel,
        "customer" | "paymentintent" | "charge" | "paymentmethod" => {
            return Slot::Role(Role::Id(squashed));
        }
        _ => {}
    }
    // A plain "id" is the thing the operation acts on; ids of other things are named.
    if squashed == "id" && path.len() == 1 {
        return Slot::Role(Role::Id(String::new()));
    }
    if SKIPPED.contains(&squashed.as_str()) {
        return Slot::Skip;
    }
    let kind = schema::kind(root, leaf_schema);
    let words: Vec<String> = path.iter().flat_map(|p| name_words(p)).collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    if matches!(kind, Kind::String(_)) {
        if has("start") {
            return Slot::Role(Role::Start);
        }
        if has("end") {
            return Slot::Role(Role::End);
        }
    }
    Slot::Role(super::sources::role_of(&name_words(leaf), &kind))
}

/// The role an input at this path wants, for saying what would fill it.
pub fn expected_role(path: &[String], root: &Value, provider: &Provider) -> Option<Role> {
    let leaf = schema::at_path(root, root, path)?;
    match slot_kind(path, leaf, root, provider) {
        Slot::Role(role) => Some(role),
        Slot::Sender => Some(Role::Email),
        _ => None,
    }
}

/// What a role is, in words.
pub fn role_words(role: &Role) -> Option<&'static str> {
    Some(match role {
        Role::Email => "an e-mail address",
        Role::Phone => "a phone number",
        Role::FullName => "a name",
        Role::FirstName => "a first name",
        Role::LastName => "a last name",
        Role::Start => "a start time",
        Role::End => "an end time",
        Role::BirthDate => "a birth date",
        Role::Amount => "an amount",
        Role::Currency => "a currency",
        Role::Company => "a company",
        Role::Id(kind) if !kind.is_empty() => return None,
        Role::Id(_) => "an id",
        _ => return None,
    })
}

/// Sets a value at a dotted path, creating objects and arrays on the way.
pub fn set(map: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert((*first).to_owned(), value);
        return;
    }
    let entry = map.entry((*first).to_owned()).or_insert_with(|| {
        if rest[0].parse::<usize>().is_ok() {
            json!([])
        } else {
            json!({})
        }
    });
    set_in(entry, rest, value);
}

fn set_in(target: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    let fresh = || -> Value {
        match rest.first() {
            Some(next) if next.parse::<usize>().is_ok() => json!([]),
            Some(_) => json!({}),
            None => Value::Null,
        }
    };
    if let Ok(i) = first.parse::<usize>() {
        if let Value::Array(items) = target {
            while items.len() <= i {
                items.push(fresh());
            }
            set_in(&mut items[i], rest, value);
        }
    } else if let Value::Object(map) = target {
        let entry = map.entry((*first).to_owned()).or_insert_with(fresh);
        set_in(entry, rest, value);
    }
}

pub(super) fn is_set(map: &Map<String, Value>, path: &[String]) -> bool {
    let mut current: Option<&Value> = None;
    for (i, part) in path.iter().enumerate() {
        let next = if i == 0 {
            map.get(part)
        } else {
            match current {
                Some(Value::Object(m)) => m.get(part),
                Some(Value::Array(a)) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }
        };
        // An array is set unless the path goes on into one of its items
        // (`contacts.0.first_name` beside `contacts.0.email`).
        let into_item = path.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok());
        match next {
            Some(v) if !(v.is_object() || (v.is_array() && into_item)) => return true,
            Some(v) => current = Some(v),
            None => return false,
        }
    }
    true
}

/// Which of several candidate sources the words mean.
pub enum Pick<'a> {
    One(&'a Source),
    None,
    Ambiguous(Vec<&'a Source>),
}

/// Picks among candidates: a unique one; the one whose owner words ("patient" of
/// `patient_email`) the action names; the one sharing the hint's owner words.
pub fn pick<'a>(candidates: Vec<&'a Source>, action: &Action, hint: Option<&Source>) -> Pick<'a> {
    match candidates.len() {
        0 => return Pick::None,
        1 => return Pick::One(candidates[0]),
        _ => {}
    }
    let score = |s: &Source| -> f64 {
        let owner = s.owner_words();
        let said = owner.iter().filter(|w| action.has(w)).count() as f64;
        let shared = hint
            .map(|h| {
                let theirs = h.owner_words();
                if owner.is_empty() && theirs.is_empty() {
                    0.5
                } else {
                    owner.iter().filter(|w| theirs.contains(w)).count() as f64 * 0.5
                }
            })
            .unwrap_or(0.0);
        said + shared
    };
    let mut scored: Vec<(f64, &Source)> = candidates.iter().map(|s| (score(s), *s)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    if scored[0].0 > 0.0 && scored[0].0 > scored[1].0 {
        return Pick::One(scored[0].1);
    }
    Pick::Ambiguous(candidates)
}

/// Whether a source fits a slot's schema (types, and date formats for times).
fn fits_slot(source: &Source, target: &Value, root: &Value, slot_words: &[String]) -> bool {
    let types = schema::types(root, target);
    if !schema::fits(&source.kind, &types) {
        return false;
    }
    // Minor units only into integer-only amounts (Stripe), never into HubSpot's.
    if source.words.iter().any(|w| w == "cents") && !(types.len() == 1 && types[0] == "integer") {
        return false;
    }
    let target_format = schema::resolve(root, target)
        .get("format")
        .and_then(Value::as_str);
    let source_format = match &source.kind {
        Kind::String(f) => f.as_deref(),
        _ => None,
    };
    match target_format {
        Some("date") => return source_format == Some("date"),
        Some("date-time") => return source_format == Some("date-time"),
        Some("email") => return source_format == Some("email") || source.role == Role::Email,
        _ => {}
    }
    if slot_words.iter().any(|w| w == "time")
        && matches!(source.role, Role::Start | Role::End | Role::DateTime)
    {
        return source_format == Some("date-time");
    }
    true
}

/// Whether an optional input is worth filling by role: a recipient's address, a name,
/// a start time; not any input that merely ends in "email", "name" or "at"
/// (`instructions_email`, `ip_pool_name`, `SendAt`).
fn optional_ok(role: &Role, leaf: &str) -> bool {
    match role {
        Role::Email => matches!(
            leaf,
            "email" | "to" | "recipient" | "receiptemail" | "emailaddress"
        ),
        Role::Phone => matches!(leaf, "phone" | "to" | "phonenumber"),
        Role::FullName => matches!(leaf, "name" | "fullname" | "displayname"),
        Role::Amount => leaf == "amount",
        Role::FirstName
        | Role::LastName
        | Role::Company
        | Role::Title
        | Role::Text
        | Role::Start
        | Role::End
        | Role::BirthDate
        | Role::Currency
        | Role::Id(_) => true,
        Role::DateTime | Role::Date | Role::Url | Role::Status | Role::Other => false,
    }
}

fn role_accepts(slot: &Role, source: &Role) -> bool {
    match (slot, source) {
        (Role::Start, Role::Start | Role::DateTime | Role::Date) => true,
        (Role::DateTime, Role::DateTime | Role::Start) => true,
        (a, b) => a == b,
    }
}

pub(super) struct Builder<'a> {
    pub(super) plan: &'a Plan<'a>,
    mapping: Map<String, Value>,
    problems: Problems,
    /// The recipient chosen, for greeting by the matching name.
    recipient: Option<&'a Source>,
}

impl<'a> Builder<'a> {
    pub(super) fn mapping(&self) -> &Map<String, Value> {
        &self.mapping
    }

    pub(super) fn trigger_sources(&self) -> impl Iterator<Item = &'a Source> + use<'a> {
        triggered(self.plan.sources)
    }

    fn by_role(
        &self,
        role: &Role,
        target: &Value,
        root: &Value,
        slot_words: &[String],
    ) -> Vec<&'a Source> {
        let of = |from_steps: bool| -> Vec<&'a Source> {
            self.plan
                .sources
                .iter()
                .filter(|s| matches!(s.origin, Origin::Step { .. }) == from_steps)
                .filter(|s| {
                    s.kind != Kind::Any
                        && role_accepts(role, &s.role)
                        && fits_slot(s, target, root, slot_words)
                })
                .filter(|s| s.reference != "change.entity_id")
                .collect()
        };
        let mut found = of(false);
        // An earlier step's output the words point at ("the email address returned by
        // step 1") over the trigger's fields, unless the words name one of those by its
        // owner ("the referring doctor" for `doctor_email`).
        let pointed: Vec<&'a Source> = mentioned_outputs(self.plan)
            .into_iter()
            .filter(|s| {
                s.kind != Kind::Any
                    && role_accepts(role, &s.role)
                    && fits_slot(s, target, root, slot_words)
            })
            .collect();
        let owner_said = found
            .iter()
            .any(|s| s.owner_words().iter().any(|w| self.plan.action.has(w)));
        // "from step 1", said outright, points whatever else the words name.
        let words = &self.plan.action.words;
        let step_named = words
            .windows(2)
            .any(|w| w[0] == "step" && w[1].parse::<u32>().is_ok());
        if !pointed.is_empty() && (!owner_said || step_named) {
            return pointed;
        }
        if found.is_empty() {
            found = of(true);
        }
        // A start time: the field that says "start" wins over other times.
        if matches!(role, Role::Start) && found.iter().any(|s| s.role == Role::Start) {
            found.retain(|s| s.role == Role::Start);
        }
        found
    }

    /// Fills a slot from a source of its role; ambiguity on a required input is a problem.
    pub(super) fn fill_role(
        &mut self,
        path: &[String],
        role: &Role,
        target: &Value,
        root: &Value,
        required: bool,
    ) -> bool {
        let slot_words: Vec<String> = path.iter().flat_map(|p| name_words(p)).collect();
        // The same name wins outright (`patient_email` into `patient_email`).
        let leaf = squash(path.last().map(String::as_str).unwrap_or_default());
        // A phone number written out is the one to text or call.
        // (So is an address written after "to": the recipient, whatever the trigger has.)
        if required && let Some(value) = self.written(role) {
            self.put(path, value);
            return true;
        }
        // A nested field ("assignee.id", "parent.page_id") is not an id input by its
        // last name alone.
        // (A field of several types, such as Stripe's expandable `customer`, fits a
        // text input of its own name.)
        let text_slot = schema::types(root, target) == ["string"];
        if let Some(s) = self.trigger_sources().find(|s| {
            s.squashed() == leaf
                && (!leaf.ends_with("id") || !s.name.contains('.'))
                && (s.kind != Kind::Any || text_slot)
                && fits_slot(s, target, root, &slot_words)
        }) {
            self.put(path, Value::String(s.template()));
            if s.role == Role::Email && self.recipient.is_none() {
                self.recipient = Some(s);
            }
            return true;
        }
        if matches!(role, Role::Other | Role::Status) || (!required && !optional_ok(role, &leaf)) {
            return false;
        }
        if let Role::Id(kind) = role {
            return self.fill_id(path, kind, required);
        }
        if matches!(role, Role::Amount) {
            let types = schema::types(root, target);
            if let Some((amount, _)) = self.plan.action.money() {
                let value = if types.len() == 1 && types[0] == "integer" {
                    json!((amount * 100.0).round() as i64)
                } else {
                    json!(amount)
                };
                self.put(path, value);
                return true;
            }
            if !required
                && !self
                    .plan
                    .action
                    .has_any(&["amount", "total", "price", "sum", "cost"])
            {
                return false;
            }
        }
        if matches!(role, Role::Currency)
            && let Some((_, Some(currency))) = self.plan.action.money()
        {
            self.put(path, json!(currency));
            return true;
        }
        if let Some(value) = self.written(role).filter(|_| matches!(role, Role::Email)) {
            self.put(path, value);
            return true;
        }
        let candidates = self.by_role(role, target, root, &slot_words);
        let hint = self.recipient;
        match pick(candidates, self.plan.action, hint) {
            Pick::One(s) => {
                self.put(path, Value::String(s.template()));
                if s.role == Role::Email && self.recipient.is_none() {
                    self.recipient = Some(s);
                }
                true
            }
            Pick::None => false,
            Pick::Ambiguous(all) => {
                if required || matches!(role, Role::Email | Role::Phone) && self.recipient.is_none()
                {
                    self.problems.push(
                        format!("input_mapping.{}", path.join(".")),
                        format!(
                            "ambiguous: it could be {}; say which in the instruction (\"to the {}\") or map it",
                            all.iter().map(|s| s.template()).collect::<Vec<_>>().join(" or "),
                            all[0].owner_words().first().copied().unwrap_or("recipient")
                        ),
                    );
                }
                false
            }
        }
    }

    /// A recipient written out in the words: a phone number, or an address after "to".
    fn written(&self, role: &Role) -> Option<Value> {
        let action = self.plan.action;
        match role {
            Role::Phone => action.literals.iter().find_map(|l| match l {
                Literal::Phone(n) => Some(json!(n)),
                _ => None,
            }),
            Role::Email => action
                .email_after(&["to", "email", "cc", "notify", "at"])
                .map(|a| json!(a)),
            _ => None,
        }
    }

    /// The output of an earlier step of the same provider that holds the id of the
    /// thing of `kind` (`same` tells an entity name of that kind): one it made, or the
    /// first item it found (`records.0.Id`). An item's id is `id`, or named as the input
    /// is (Twilio's `sid` for `Sid`); a later change only echoes the id, so the step
    /// that made the thing names it.
    fn earlier_id(
        &self,
        path: &[String],
        kind: &str,
        same: &dyn Fn(&str) -> bool,
    ) -> Option<&'a Source> {
        let plan = self.plan;
        let own = path.last().map(|p| squash(p)).unwrap_or_default();
        let first_item_id = |name: &str| {
            name.rsplit_once(".0.").is_some_and(|(list, field)| {
                !list.contains('.') && (squash(field) == "id" || squash(field) == own)
            })
        };
        // (Of the same entity, or of the kind the step chose: "that Appointment" a
        // FHIR step created.)
        let fits = |s: &&Source| match &s.origin {
            Origin::Step {
                provider,
                entity,
                kind: chosen,
                ..
            } => {
                *provider == plan.provider.id
                    && (s.name == "id"
                        || squash(&s.name) == format!("{kind}id")
                        || first_item_id(&s.name))
                    && (entity.as_deref().is_some_and(same)
                        || chosen.as_deref().is_some_and(|c| c == kind)
                        || s.name != "id")
            }
            _ => false,
        };
        let echoes = |s: &Source| matches!(s.origin, Origin::Step { echoes: true, .. });
        plan.sources.iter().rev().find(fits).map(|latest| {
            plan.sources
                .iter()
                .rev()
                .filter(fits)
                .find(|s| echoes(latest) && !echoes(s) && s.name == latest.name)
                .unwrap_or(latest)
        })
    }

    /// The id of the thing an input names: the changed entity, an earlier step's
    /// result, an id field of the trigger, or an id written in the words.
    pub(super) fn fill_id(&mut self, path: &[String], kind: &str, required: bool) -> bool {
        let plan = self.plan;
        let kind = if kind.is_empty() {
            plan.op
                .entity
                .clone()
                .map(|e| squash(&e))
                .unwrap_or_default()
        } else {
            kind.to_owned()
        };
        let same = |a: &str| {
            !a.is_empty()
                && (squash(a) == kind || kind.ends_with(&squash(a)) || squash(a).ends_with(&kind))
        };
        // 1. The changed entity itself.
        if let Trigger::DataChange {
            integration,
            entity_type,
            ..
        } = plan.trigger
        {
            let same_integration = *integration == plan.integration.name;
            if same_integration && (same(entity_type) || kind.is_empty()) {
                self.put(path, json!("{{change.entity_id}}"));
                return true;
            }
        }
        // 2. An earlier step of the same provider that made such a thing, or found it
        //    (the first record a query returned: `records.0.Id`).
        if let Some(s) = self.earlier_id(path, &kind, &same) {
            self.put(path, Value::String(s.template()));
            return true;
        }
        // 3. An id field of the trigger.
        let ids: Vec<&Source> = self
            .trigger_sources()
            .filter(|s| s.reference != "change.entity_id")
            .filter(|s| match &s.role {
                Role::Id(k) => same(k) || (kind.is_empty() && required),
                _ => false,
            })
            .collect();
        match pick(ids, plan.action, None) {
            Pick::One(s) => {
                self.put(path, Value::String(s.template()));
                return true;
            }
            Pick::Ambiguous(all) if required => {
                let narrowed: Vec<&Source> = all
                    .into_iter()
                    .filter(|s| s.owner_words().iter().any(|w| plan.action.has(w)))
                    .collect();
                if narrowed.len() == 1 {
                    self.put(path, Value::String(narrowed[0].template()));
                    return true;
                }
            }
            _ => {}
        }
        // 4. Written out: a UUID after a word naming the thing, an issue key, a doc id.
        for literal in &plan.action.literals {
            let value = match literal {
                Literal::Uuid(id, before)
                    if same(before)
                        || (kind == "datasource"
                            && matches!(before.as_str(), "database" | "db" | "source")) =>
                {
                    Some(id.clone())
                }
                Literal::Key(key) if kind == "issue" || kind.is_empty() => Some(key.clone()),
                Literal::LongId(id) if matches!(kind.as_str(), "document" | "spreadsheet") => {
                    Some(id.clone())
                }
                _ => None,
            };
            if let Some(value) = value {
                self.put(path, json!(value));
                return true;
            }
        }
        if kind == "team" {
            if let Some(team) = plan.action.neighbour_of("team", plan.original) {
                self.put(path, json!(team));
                return true;
            }
            if let Some(Literal::Uuid(id, _)) = plan
                .action
                .literals
                .iter()
                .find(|l| matches!(l, Literal::Uuid(..)))
            {
                self.put(path, json!(id));
                return true;
            }
        }
        false
    }

    pub(super) fn put(&mut self, path: &[String], value: Value) {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        set(&mut self.mapping, &parts, value);
    }

    pub(super) fn put_str(&mut self, path: &str, value: Value) {
        let parts: Vec<&str> = path.split('.').collect();
        set(&mut self.mapping, &parts, value);
    }

    /// The recipient's own name, to greet them by ("Hello {{entity.patient_name}}").
    fn greeting(&self) -> Option<&'a Source> {
        let names: Vec<&'a Source> = self
            .trigger_sources()
            .filter(|s| matches!(s.role, Role::FullName | Role::FirstName))
            .collect();
        let first_names: Vec<&'a Source> = names
            .iter()
            .copied()
            .filter(|s| s.role == Role::FirstName)
            .collect();
        let pool = if first_names.is_empty() {
            names
        } else {
            first_names
        };
        match pick(pool, self.plan.action, self.recipient) {
            Pick::One(s) => Some(s),
            _ => None,
        }
    }

    /// Fields worth listing in a message: the trigger's, less the recipient and the
    /// greeting; for a data change, its telling fields; plus earlier steps' outputs the
    /// words mention.
    pub(super) fn listed(&self, exclude: &[&Source]) -> Vec<&'a Source> {
        let plan = self.plan;
        let mut out: Vec<&'a Source> = Vec::new();
        match plan.trigger {
            Trigger::Entity { .. } => {
                out.extend(
                    self.trigger_sources()
                        .filter(|s| !exclude.iter().any(|e| e.reference == s.reference)),
                );
            }
            Trigger::DataChange { .. } => {
                const TELLING: &[&str] = &[
                    "title",
                    "name",
                    "identifier",
                    "subject",
                    "email",
                    "receipt_email",
                    "amount",
                    "currency",
                    "status",
                    "state.name",
                    "url",
                    "body",
                    "text",
                ];
                for name in TELLING {
                    // A value that is an object (a FHIR subject) does not fit in a line.
                    if let Some(s) = self.trigger_sources().find(|s| {
                        s.name == *name
                            && !matches!(s.kind, Kind::Object { .. } | Kind::Array)
                            && !exclude.iter().any(|e| e.reference == s.reference)
                    }) {
                        out.push(s);
                    }
                    if out.len() >= 5 {
                        break;
                    }
                }
                // The fields the words name ("include the deal name" → dealname).
                let words = &plan.action.words;
                let said: Vec<String> = words
                    .iter()
                    .cloned()
                    .chain(words.windows(2).map(|w| w.concat()))
                    .collect();
                for s in self.trigger_sources() {
                    let last = squash(s.name.rsplit('.').next().unwrap_or(&s.name));
                    if last.len() >= 4
                        && said.contains(&last)
                        && !matches!(s.kind, Kind::Object { .. } | Kind::Array)
                        && !out.iter().any(|o| o.reference == s.reference)
                        && !exclude.iter().any(|e| e.reference == s.reference)
                    {
                        out.insert(0, s);
                    }
                }
                if out.is_empty() {
                    out.extend(
                        plan.sources
                            .iter()
                            .filter(|s| s.reference == "change.entity_id"),
                    );
                }
            }
        }
        out.extend(mentioned_outputs(plan));
        out
    }

    fn purpose(&self) -> Option<&'static str> {
        const PURPOSES: &[(&str, &str)] = &[
            ("confirmation", "confirmation"),
            ("confirm", "confirmation"),
            ("welcome", "welcome"),
            ("reminder", "reminder"),
            ("remind", "reminder"),
            ("thank", "thanks"),
            ("thanks", "thanks"),
            ("thank-you", "thanks"),
            ("receipt", "receipt"),
            ("follow", "follow-up"),
            ("follow-up", "follow-up"),
            ("survey", "survey"),
        ];
        PURPOSES
            .iter()
            .find(|(w, _)| self.plan.action.words.iter().any(|x| x == w))
            .map(|(_, p)| *p)
    }

    fn sentence(&self) -> String {
        let (label, event) = &self.plan.label;
        match self.purpose() {
            Some("confirmation") => format!("This confirms that your {label} was {event}."),
            Some("welcome") => "Welcome, and thank you for choosing us.".to_owned(),
            Some("reminder") => format!("This is a reminder about your {label}."),
            Some("thanks") => format!("Thank you: your {label} was {event}."),
            Some("receipt") => format!("Here is the receipt for your {label}."),
            Some("follow-up") => format!("We are following up on your {label}."),
            Some("survey") => "We would love to hear how it went.".to_owned(),
            _ => format!("Your {label} was {event}."),
        }
    }

    fn subject(&self) -> String {
        let (label, event) = &self.plan.label;
        match self.purpose() {
            Some("confirmation") => format!("Your {label} is confirmed"),
            Some("welcome") => "Welcome".to_owned(),
            Some("reminder") => format!("Reminder: your {label}"),
            Some("thanks") => "Thank you".to_owned(),
            Some("receipt") => "Your receipt".to_owned(),
            Some("follow-up") => format!("Following up on your {label}"),
            Some("survey") => "How did it go?".to_owned(),
            _ => capitalize(&format!("{label} {event}")),
        }
    }

    /// A title for a record (document, event, issue, page, deal): a title field if the
    /// trigger has one, else the label and a name.
    /// "set <field> to <value>": the input of that name (or a field of an open object
    /// of fields, Salesforce's `fields`) gets the value as written.
    fn set_named_values(&mut self) {
        let words = &self.plan.action.words;
        let original = self.plan.original;
        let lexicon = crate::lexicon::lexicon();
        for (i, w) in words.iter().enumerate() {
            if !matches!(w.as_str(), "set" | "change" | "mark") {
                continue;
            }
            let Some(to) = words[i + 1..]
                .iter()
                .take(5)
                .position(|x| x == "to")
                .map(|p| i + 1 + p)
            else {
                continue;
            };
            let field: Vec<&String> = words[i + 1..to]
                .iter()
                .filter(|x| !lexicon.is_determiner(x))
                .collect();
            let written: Vec<&String> = original[i + 1..to]
                .iter()
                .filter(|x| !lexicon.is_determiner(&x.to_lowercase()))
                .collect();
            let value: Vec<&str> = original[to + 1..]
                .iter()
                .map(String::as_str)
                .take_while(|x| {
                    !matches!(
                        x.to_lowercase().as_str(),
                        "and" | "then" | "in" | "on" | "with" | "via" | "using" | "for" | "when"
                    )
                })
                .collect();
            if field.is_empty() || field.len() > 3 || value.is_empty() {
                continue;
            }
            let name = squash(&field.iter().map(|s| s.as_str()).collect::<String>());
            let value = value.join(" ");
            let one = match written.as_slice() {
                [one] => Some((*one).clone()),
                _ => None,
            };
            if self.set_named(&name, one.as_ref(), &value) {
                break;
            }
        }
        // `role "lead"`, `dealstage "appointmentscheduled"`: a quoted value right after
        // an input's name.
        let named: Vec<(String, String)> = self
            .plan
            .action
            .literals
            .iter()
            .filter_map(|l| match l {
                Literal::Named(name, value) => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect();
        for (name, value) in named {
            let squashed = squash(&name.to_lowercase());
            let root = &self.plan.op.input_schema;
            let mut leaves = Vec::new();
            let mut open = Vec::new();
            named_leaves(root, root, &mut Vec::new(), 0, &mut leaves, &mut open);
            // Only an input's own name here: an object open to any field takes a value
            // after "set ... to", not after any word.
            if leaves
                .iter()
                .any(|(p, _, _)| p.last().is_some_and(|l| squash(l) == squashed))
            {
                self.set_named(&squashed, None, &value);
            } else if !open.is_empty() && name.chars().next().is_some_and(char::is_uppercase) {
                // An API field name as written ("Status") in an object open to fields.
                self.set_named(&squashed, Some(&name), &value);
            }
        }
    }

    /// Sets the input named `name` (squashed) to a value written in the words, typed as
    /// the input is; else, with `written` (one word as written), the field of that name
    /// in an object open to fields. True when something was set, or the name was an
    /// input's.
    fn set_named(&mut self, name: &str, written: Option<&String>, value: &str) -> bool {
        {
            let root = &self.plan.op.input_schema;
            let mut leaves = Vec::new();
            let mut open = Vec::new();
            named_leaves(root, root, &mut Vec::new(), 0, &mut leaves, &mut open);
            if let Some((path, leaf, _)) = leaves.iter().find(|(p, _, _)| {
                p.last().is_some_and(|l| squash(l) == name) && !is_set(&self.mapping, p)
            }) {
                // Only a value of the input's type: "urgent" is no priority number.
                let typed = match schema::kind(root, leaf) {
                    Kind::Integer => value.parse::<i64>().ok().map(|n| json!(n)),
                    Kind::Number => value.parse::<f64>().ok().map(|n| json!(n)),
                    Kind::Boolean => None,
                    _ => match leaf.get("enum").and_then(Value::as_array) {
                        Some(choices) => choices
                            .iter()
                            .find(|c| c.as_str().is_some_and(|c| c.eq_ignore_ascii_case(value)))
                            .cloned(),
                        None => Some(json!(value)),
                    },
                };
                if let Some(typed) = typed {
                    let path = path.clone();
                    self.put(&path, typed);
                }
                return true;
            }
            // An object of fields by API name: the name as written ("LeadSource").
            if let (Some(parent), Some(one)) = (open.first(), written) {
                let mut path = parent.clone();
                path.push(one.clone());
                if !is_set(&self.mapping, &path) {
                    self.put(&path, json!(value));
                }
                return true;
            }
        }
        false
    }

    /// The trigger's fields the words name whole ("the customer name", "the referral
    /// notes", "the appointment time"), in the order they are said.
    pub(super) fn named_fields(&self) -> Vec<&'a Source> {
        let words = &self.plan.action.words;
        let mut found: Vec<(usize, &'a Source)> = Vec::new();
        for s in self.trigger_sources() {
            if matches!(s.kind, Kind::Object { .. } | Kind::Array) || s.words.is_empty() {
                continue;
            }
            // Each word of the name, or the name said as the owner's ("patient's email").
            let own: Vec<&str> = s.words.iter().map(String::as_str).collect();
            let at = words.windows(own.len()).position(|w| {
                w.iter()
                    .zip(&own)
                    .all(|(a, b)| a == b || stem(a) == stem(b))
            });
            // A one-word name must be said as a field, not as the entity ("notes").
            let at = at.or_else(|| {
                (own.len() == 2)
                    .then(|| {
                        words
                            .iter()
                            .position(|w| w == own[1] && own[1] != "name" && own[1] != "id")
                            .filter(|p| *p > 0 && words[p - 1] == own[0])
                    })
                    .flatten()
            });
            // A name run together said as two words ("the deal name" for a change's
            // `properties.dealname`).
            let at = at.or_else(|| {
                let last = s.name.rsplit('.').next().map(squash)?;
                (last.len() >= 6 && !last.contains('_'))
                    .then(|| words.windows(2).position(|w| squash(&w.concat()) == last))
                    .flatten()
            });
            if let Some(at) = at {
                found.push((at, s));
            }
        }
        // A longer name said where a shorter one is ("customer name" over "name").
        found.sort_by_key(|(at, s)| (*at, usize::MAX - s.words.len()));
        let mut out: Vec<&'a Source> = Vec::new();
        let mut covered = 0;
        for (at, s) in found {
            if at < covered {
                continue;
            }
            covered = at + s.words.len();
            out.push(s);
        }
        out
    }

    /// A field the words make the title: "titled with the visit reason", "the message
    /// text as the title", "the reason in the title", "their company as the deal name".
    fn named_title(&self) -> Option<&'a Source> {
        const TITLE_WORDS: &[&str] = &["title", "name", "subject", "summary", "heading"];
        let words = &self.plan.action.words;
        let filler = |w: &str| {
            crate::lexicon::lexicon().is_determiner(w)
                || matches!(w, "with" | "by" | "as" | "it" | "after")
        };
        let mut windows: Vec<Vec<&str>> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            // "whose dealname contains the order_id", "whose title is ...".
            let title_like =
                w.ends_with("title") || w.ends_with("name") || TITLE_WORDS.contains(&w.as_str());
            // "the subject should include the order id": a modal before the verb.
            let modal = title_like
                && w != "title"
                && words
                    .get(i + 1)
                    .is_some_and(|n| matches!(n.as_str(), "should" | "must" | "will"))
                && words
                    .get(i + 2)
                    .is_some_and(|n| matches!(n.as_str(), "include" | "contain" | "have" | "show"));
            if modal {
                windows.push(
                    words[i + 3..]
                        .iter()
                        .map(String::as_str)
                        .skip_while(|w| filler(w))
                        .take(4)
                        .collect(),
                );
            }
            if w == "titled"
                || (w == "named" && words.get(i + 1).is_some_and(|n| n == "after"))
                || (title_like
                    && w != "title"
                    && words.get(i + 1).is_some_and(|n| {
                        matches!(n.as_str(), "contains" | "includes" | "has" | "is")
                    }))
                || (w == "title"
                    && words
                        .get(i + 1)
                        .is_some_and(|n| matches!(n.as_str(), "it" | "with" | "is")))
            {
                windows.push(
                    words[i + 1..]
                        .iter()
                        .map(String::as_str)
                        .skip_while(|w| filler(w))
                        .take(4)
                        .collect(),
                );
            }
            // "X as the (deal) title", "X in the title".
            if matches!(w.as_str(), "as" | "in")
                && words[i + 1..]
                    .iter()
                    .take(3)
                    .any(|x| TITLE_WORDS.contains(&x.as_str()))
                && words.get(i + 1).is_some_and(|x| {
                    crate::lexicon::lexicon().is_determiner(x) || TITLE_WORDS.contains(&x.as_str())
                })
            {
                windows.push(
                    words[i.saturating_sub(4)..i]
                        .iter()
                        .map(String::as_str)
                        .filter(|w| !filler(w))
                        .collect(),
                );
            }
        }
        self.field_in_windows(windows)
    }

    /// The field a title's fixed text is followed by: "called 'Packing slip' followed by
    /// the order id".
    fn field_followed_by(&self) -> Option<&'a Source> {
        let words = &self.plan.action.words;
        let at = words
            .windows(2)
            .position(|w| w[0] == "followed" && w[1] == "by")?;
        let window: Vec<&str> = words[at + 2..]
            .iter()
            .map(String::as_str)
            .skip_while(|w| crate::lexicon::lexicon().is_determiner(w))
            .take(4)
            .collect();
        self.field_in_windows(vec![window])
    }

    /// The field said right after the one literal of the words, `quoted`, with
    /// "and", "plus" or "followed by": "post 'Shipped:' and the issue title". (The
    /// literal stands blanked in the action's text: a run of spaces.)
    fn field_after_quote(&self, quoted: &str) -> Option<&'a Source> {
        let action = &self.plan.action;
        let only_quote = action.literals.iter().all(|l| match l {
            Literal::Quoted(_, t) | Literal::Named(_, t) => t == quoted,
            _ => false,
        });
        if !only_quote {
            return None;
        }
        let gap = action.text.find("   ")?;
        let rest: Vec<String> = super::text::plain_words(action.text[gap..].trim_start());
        let skip = match rest.first().map(String::as_str) {
            Some("and" | "plus") => 1,
            Some("followed") if rest.get(1).is_some_and(|w| w == "by") => 2,
            _ => return None,
        };
        let window: Vec<&str> = rest[skip..]
            .iter()
            .map(String::as_str)
            .skip_while(|w| crate::lexicon::lexicon().is_determiner(w))
            .take(4)
            .collect();
        self.field_in_windows(vec![window])
    }

    /// The field the words put in an input by its name: "put the severity in the
    /// description", "the customer id as the external id" (its name said after "as
    /// the", or "in the" after a verb of putting, with the field named in the four
    /// words before).
    fn field_put_in(&self, path: &[String]) -> Option<&'a Source> {
        let name = super::text::name_words(path.last()?);
        let words = &self.plan.action.words;
        let at = words.windows(name.len() + 2).position(|w| {
            matches!(w[0].as_str(), "in" | "as") && w[1] == "the" && w[2..] == name[..]
        })?;
        let before = &words[at.saturating_sub(4)..at];
        // "in the" only after a verb of putting ("for the amount in the currency" is
        // no such thing).
        let put = before
            .iter()
            .any(|w| matches!(w.as_str(), "put" | "write" | "place" | "include"));
        if words[at] == "in" && !put {
            return None;
        }
        let window: Vec<&str> = before
            .iter()
            .map(String::as_str)
            .filter(|w| !crate::lexicon::lexicon().is_determiner(w))
            .collect();
        self.field_in_windows(vec![window])
    }

    /// The scalar field best named by one of the windows of words: the trigger's
    /// fields first, then an earlier step's outputs the words point at.
    fn field_in_windows(&self, windows: Vec<Vec<&str>>) -> Option<&'a Source> {
        let scalar = |s: &&Source| !matches!(s.kind, Kind::Object { .. } | Kind::Array);
        // A field written by its name ("the order_id") counts word by word.
        let windows: Vec<Vec<&str>> = windows
            .into_iter()
            .map(|w| w.into_iter().flat_map(|x| x.split('_')).collect())
            .collect();
        // The trigger's fields, else an earlier step's output the words point at ("the
        // referral id from step 1 in the title").
        let pointed = mentioned_outputs(self.plan);
        let pools: [Vec<&'a Source>; 2] = [self.trigger_sources().collect(), pointed];
        let best_in = |window: &Vec<&str>, pool: &[&'a Source]| -> Option<&'a Source> {
            pool.iter()
                .copied()
                .filter(scalar)
                .map(|s| {
                    let own: Vec<&str> = s.words.iter().map(String::as_str).collect();
                    // A name run together said as two words ("the deal name" for
                    // `properties.dealname`) is the whole name said.
                    let last = s.name.rsplit('.').next().map(squash).unwrap_or_default();
                    let run_together = last.len() >= 6
                        && window.windows(2).any(|pair| squash(&pair.concat()) == last);
                    if run_together {
                        return (own.len(), own.len(), s);
                    }
                    let hits = own.iter().filter(|w| window.contains(w)).count();
                    (hits, own.len(), s)
                })
                .filter(|(hits, len, _)| *hits > 0 && (*hits == *len || *hits >= 2))
                // A top-level field over a nested one of the same name ("text" over
                // "message.text"), then the most words said.
                .max_by_key(|(hits, len, s)| {
                    (
                        *hits == *len,
                        !s.name.contains('.'),
                        *hits,
                        usize::MAX - len,
                    )
                })
                .map(|(_, _, s)| s)
        };
        pools
            .iter()
            .find_map(|pool| windows.iter().find_map(|window| best_in(window, pool)))
    }

    fn record_title(&self) -> String {
        if let Some(s) = self.trigger_sources().find(|s| s.role == Role::Title) {
            return s.template();
        }
        // A record made "with the customer's comments": the field the words name.
        if let Some(s) = self
            .named_fields()
            .into_iter()
            .find(|s| matches!(s.kind, Kind::String(None)) && s.role != Role::Email)
        {
            return s.template();
        }
        let (label, event) = &self.plan.label;
        let name = self
            .trigger_sources()
            .find(|s| matches!(s.role, Role::FullName | Role::Company))
            .or_else(|| {
                self.trigger_sources()
                    .find(|s| matches!(s.role, Role::Email))
            });
        match name {
            Some(s) => format!("{}: {}", capitalize(label), s.template()),
            None => capitalize(&format!("{label} {event}")),
        }
    }

    fn lines(&self, exclude: &[&Source], separator: &str) -> String {
        self.listed(exclude)
            .iter()
            .map(|s| format!("{}: {}", s.label(), s.template()))
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// The field the words give as the message's text: "with the bug description as
    /// the body", "the notes as the message".
    fn field_as_body(&self) -> Option<&'a Source> {
        let words = &self.plan.action.words;
        let at = words.windows(3).position(|w| {
            w[0] == "as"
                && w[1] == "the"
                && matches!(w[2].as_str(), "body" | "text" | "message" | "content")
        })?;
        // The field named last before "as", ending right before it.
        self.named_fields().into_iter().rev().find(|s| {
            let own: Vec<&str> = s.words.iter().map(String::as_str).collect();
            at >= own.len()
                && words[at - own.len()..at]
                    .iter()
                    .zip(&own)
                    .all(|(a, b)| a == b || stem(a) == stem(b))
        })
    }

    /// The text of a message, in the style of its channel.
    pub(super) fn body(&self) -> String {
        if let Some(text) = self
            .plan
            .action
            .quoted(Cue::Body)
            .or_else(|| self.plan.action.quoted(Cue::Other))
        {
            return match self.field_after_quote(&text) {
                Some(s) => format!("{text} {}", s.template()),
                None => text,
            };
        }
        if let Some(field) = self.field_as_body() {
            return field.template();
        }
        let (label, event) = &self.plan.label;
        let greeting = self.greeting();
        let mut exclude: Vec<&Source> = Vec::new();
        exclude.extend(self.recipient);
        exclude.extend(greeting);
        match self.plan.provider.category {
            Category::Email | Category::Support => {
                let hello = greeting
                    .map(|g| format!("Hello {},\n\n", g.template()))
                    .unwrap_or_else(|| "Hello,\n\n".into());
                let lines = self.lines(&exclude, "\n");
                let details = if lines.is_empty() {
                    String::new()
                } else {
                    format!("\n\n{lines}")
                };
                format!("{hello}{}{details}", self.sentence())
            }
            Category::SmsVoice => {
                // A text is short: the times and amounts, not every field.
                let lines = self
                    .listed(&exclude)
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.role,
                            Role::Start | Role::DateTime | Role::Date | Role::Title | Role::Amount
                        )
                    })
                    .take(3)
                    .map(|s| format!("{}: {}", s.label(), s.template()))
                    .collect::<Vec<_>>()
                    .join(". ");
                let details = if lines.is_empty() {
                    String::new()
                } else {
                    format!(" {lines}.")
                };
                match greeting {
                    Some(g) => format!(
                        "Hi {}, {}{details}",
                        g.template(),
                        lowercase_first(&self.sentence())
                    ),
                    None => format!("{}{details}", self.sentence()),
                }
            }
            _ => {
                let lines = self.lines(&[], ", ");
                if lines.is_empty() {
                    capitalize(&format!("{label} {event}"))
                } else {
                    format!("{}: {lines}", capitalize(&format!("{label} {event}")))
                }
            }
        }
    }

    /// Text for a document or a record's description: one field per line.
    pub(super) fn document_text(&self) -> String {
        if let Some(text) = self.plan.action.quoted(Cue::Body) {
            return text;
        }
        // "write the customer name into the doc": the fields the words name, alone.
        let named = self.named_fields();
        if !named.is_empty() {
            return named
                .iter()
                .map(|s| s.template())
                .collect::<Vec<_>>()
                .join("\n");
        }
        let (label, event) = &self.plan.label;
        let lines = self.lines(&[], "\n");
        format!("{}\n{lines}\n", capitalize(&format!("{label} {event}")))
    }

    /// A title, with a tag the words say it starts with in front ("update its title
    /// so it starts with [WONTFIX]").
    pub(super) fn title(&self) -> String {
        let title = self.title_text();
        match self.title_prefix() {
            Some(tag) if !title.starts_with(&tag) => format!("{tag} {title}"),
            _ => title,
        }
    }

    /// The tag written right after "starts with", "begins with" or "prefixed with": a
    /// word in brackets or in capitals ("[WONTFIX]", "URGENT").
    fn title_prefix(&self) -> Option<String> {
        let text = &self.plan.action.text;
        let lower = text.to_ascii_lowercase();
        let at = [
            "starts with ",
            "start with ",
            "begins with ",
            "begin with ",
            "prefixed with ",
            "prefixed by ",
        ]
        .iter()
        .find_map(|cue| lower.find(cue).map(|i| i + cue.len()))?;
        let tag = text[at..]
            .split_whitespace()
            .next()?
            .trim_end_matches([',', '.', ';', ':']);
        let bracketed = tag.starts_with('[') && tag.ends_with(']') && tag.len() > 2;
        let capitals = tag.len() >= 2
            && tag
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_');
        (text[at..].starts_with(tag) && (bracketed || capitals)).then(|| tag.to_owned())
    }

    fn title_text(&self) -> String {
        if let Some(t) = self.plan.action.quoted(Cue::Title) {
            return match self.field_followed_by() {
                Some(s) => format!("{t} {}", s.template()),
                None => t,
            };
        }
        if let Some(s) = self.named_title() {
            return s.template();
        }
        match self.plan.provider.category {
            Category::Email | Category::Support | Category::SmsVoice | Category::Chat => {
                self.subject()
            }
            _ => self.record_title(),
        }
    }
}

/// The trigger's own sources (entity fields, the change), not earlier steps' outputs.
fn triggered(sources: &[Source]) -> impl Iterator<Item = &Source> {
    sources
        .iter()
        .filter(|s| matches!(s.origin, Origin::Entity | Origin::Change))
}

fn lowercase_first(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn capitalize(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Earlier steps' outputs the words mention ("the Postmark message id" → MessageID):
/// per step, the fields whose words all appear, the most specific ones.
pub fn mentioned_outputs<'a>(plan: &Plan<'a>) -> Vec<&'a Source> {
    let mut out = Vec::new();
    let mut steps: Vec<u32> = plan
        .sources
        .iter()
        .filter_map(|s| match s.origin {
            Origin::Step { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    steps.dedup();
    let said: Vec<String> = plan.action.words.iter().map(|w| squash(w)).collect();
    let joined: Vec<String> = plan
        .action
        .words
        .windows(2)
        .map(|w| squash(&w.concat()))
        .collect();
    let names = |n: &str| {
        let n = squash(n);
        !n.is_empty() && (said.contains(&n) || joined.contains(&n))
    };
    let last = steps.iter().copied().max();
    let lexicon = crate::lexicon::lexicon();
    let back = !lexicon
        .back_reference_positions(&plan.action.words)
        .is_empty();
    for step in steps {
        // Only a step the words point at: by its integration's or provider's name, as
        // "step n", or the last one as "the previous step", "created earlier".
        let pointed = (back && Some(step) == last)
            || plan.sources.iter().any(|s| match &s.origin {
                Origin::Step {
                    step: n,
                    integration,
                    provider,
                    ..
                } if *n == step => {
                    let display = crate::catalog::catalog()
                        .ok()
                        .and_then(|c| c.get(provider))
                        .map(|p| p.display_name.clone())
                        .unwrap_or_default();
                    names(integration)
                        || names(provider)
                        || names(&display)
                        || names(&format!("step{step}"))
                }
                _ => false,
            });
        if !pointed {
            continue;
        }
        let fields: Vec<&'a Source> = plan
            .sources
            .iter()
            .filter(|s| matches!(s.origin, Origin::Step { step: n, .. } if n == step))
            .filter(|s| !s.name.contains('.'))
            .filter(|s| s.words.iter().any(|w| !super::text::is_stop_word(w)))
            .filter(|s| s.words.iter().all(|w| plan.action.has(w)))
            .collect();
        let most = fields.iter().map(|s| s.words.len()).max().unwrap_or(0);
        out.extend(fields.into_iter().filter(|s| s.words.len() == most));
    }
    out
}

/// Builds the mapping; problems are ambiguities found on the way (missing inputs are
/// found by the check that follows).
pub fn generate(plan: &Plan) -> (Map<String, Value>, Problems) {
    let mut b = Builder {
        plan,
        mapping: Map::new(),
        problems: Problems::default(),
        recipient: None,
    };
    // The catalog's hints first (a FHIR resource is built whole by them).
    if super::shape::shape(&mut b) {
        super::shape::after(&mut b);
        return (b.mapping, b.problems);
    }
    // "set its lifecycle stage to customer", "set StageName to Closed Won".
    b.set_named_values();
    let root = &plan.op.input_schema;
    let mut slots = Vec::new();
    walk(root, root, &mut Vec::new(), true, 0, &mut slots);
    // Recipients first, so names and greetings can follow them.
    slots.sort_by_key(|(path, s, _)| {
        let kind = slot_kind(path, s, root, plan.provider);
        !matches!(kind, Slot::Role(Role::Email) | Slot::Role(Role::Phone))
    });
    let defaults: Vec<&String> = plan.op.defaults.keys().collect();
    for (path, leaf, required) in slots {
        if is_set(&b.mapping, &path) {
            continue;
        }
        let kind = slot_kind(&path, leaf, root, plan.provider);
        let has_default = path.len() == 1 && defaults.contains(&&path[0]);
        // "put the severity in the description": the field the words put in it.
        if let Some(s) = b.field_put_in(&path) {
            b.put(&path, json!(s.template()));
            continue;
        }
        match kind {
            Slot::Skip => {}
            Slot::Sender => {
                if let Some(address) = plan.action.email_after(&["from", "as", "sender"]) {
                    b.put(&path, json!(address));
                }
            }
            Slot::Channel => {
                if let Some(channel) = plan.action.channel() {
                    b.put(&path, json!(channel));
                }
            }
            Slot::Title => {
                let title = b.title();
                b.put(&path, json!(title));
            }
            Slot::Body => {
                let body = b.body();
                b.put(&path, json!(body));
            }
            Slot::Role(role) => {
                if has_default && !matches!(role, Role::Id(_)) {
                    continue;
                }
                if has_default {
                    // An id the integration's config already sets (a calendar, a sheet):
                    // only words that name another one override it.
                    if plan
                        .action
                        .literals
                        .iter()
                        .any(|l| matches!(l, Literal::LongId(_) | Literal::Uuid(..)))
                    {
                        let kind_name = match &role {
                            Role::Id(k) => k.clone(),
                            _ => String::new(),
                        };
                        b.fill_id(&path, &kind_name, false);
                    }
                    continue;
                }
                let filled = b.fill_role(&path, &role, leaf, root, required);
                if !filled && required && matches!(role, Role::Text) {
                    let text = b.document_text();
                    b.put(&path, json!(text));
                }
                if !filled
                    && matches!(role, Role::Text)
                    && !required
                    && plan.provider.category == Category::ProjectManagement
                {
                    let text = b.document_text();
                    b.put(&path, json!(text));
                }
            }
        }
    }
    keep_one_alternative(&mut b.mapping, plan);
    super::shape::after(&mut b);
    (b.mapping, b.problems)
}

/// An object whose schema allows exactly one of several alternatives (`oneOf`: a
/// calendar time is a `date` or a `dateTime`) keeps one when the fields filled more:
/// the alternative whose declared format fits the type of the field that filled it (a
/// date field fills `date`), else the first.
fn keep_one_alternative(mapping: &mut Map<String, Value>, plan: &Plan) {
    let root = &plan.op.input_schema;
    let mut parents: Vec<Vec<String>> = Vec::new();
    collect_objects(mapping, &mut Vec::new(), &mut parents);
    for parent in parents {
        let Some(node) = schema::at_path(root, root, &parent) else {
            continue;
        };
        let is_one_of = schema::resolve(root, node).get("oneOf").is_some();
        let alternatives = schema::alternatives(root, node);
        let path_of = |name: &String| {
            let mut p = parent.clone();
            p.push(name.clone());
            p
        };
        let satisfied: Vec<&Vec<String>> = alternatives
            .iter()
            .filter(|alt| alt.iter().all(|n| is_set(mapping, &path_of(n))))
            .collect();
        if !is_one_of || satisfied.len() < 2 {
            continue;
        }
        let fits = |alt: &&Vec<String>| {
            alt.iter().all(|name| {
                let path = path_of(name);
                let declared = schema::at_path(root, root, &path)
                    .and_then(|s| s.get("format"))
                    .and_then(Value::as_str);
                let source = value_of(mapping, &path)
                    .and_then(Value::as_str)
                    .and_then(|v| plan.sources.iter().find(|s| s.template() == v));
                let source_format = match source.map(|s| &s.kind) {
                    Some(Kind::String(f)) => f.as_deref(),
                    _ => None,
                };
                (declared == Some("date")) == (source_format == Some("date"))
            })
        };
        let keep = satisfied
            .iter()
            .copied()
            .find(fits)
            .unwrap_or(satisfied[0])
            .clone();
        for alt in &alternatives {
            for name in alt.iter().filter(|n| !keep.contains(n)) {
                remove_at(mapping, &path_of(name));
            }
        }
    }
}

/// Paths of the objects inside a mapping.
fn collect_objects(map: &Map<String, Value>, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (name, value) in map {
        if let Value::Object(inner) = value {
            prefix.push(name.clone());
            out.push(prefix.clone());
            collect_objects(inner, prefix, out);
            prefix.pop();
        }
    }
}

fn value_of<'m>(map: &'m Map<String, Value>, path: &[String]) -> Option<&'m Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(map.get(first)?, |v, part| v.get(part))
}

fn remove_at(map: &mut Map<String, Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = map;
    for part in parents {
        match current.get_mut(part) {
            Some(Value::Object(inner)) => current = inner,
            _ => return,
        }
    }
    current.remove(last);
}

/// Every leaf input, required or not (for a field the words name), and the objects
/// open to fields by name (no declared properties).
fn named_leaves<'s>(
    root: &'s Value,
    node: &'s Value,
    prefix: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<(Vec<String>, &'s Value, bool)>,
    open: &mut Vec<Vec<String>>,
) {
    let node = schema::resolve(root, node);
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, s) in properties {
        let resolved = schema::resolve(root, s);
        prefix.push(name.clone());
        let declared = resolved
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if declared && depth < 3 {
            named_leaves(root, resolved, prefix, depth + 1, out, open);
        } else if resolved.get("type").and_then(Value::as_str) == Some("object") {
            open.push(prefix.clone());
        } else {
            out.push((prefix.clone(), resolved, false));
        }
        prefix.pop();
    }
}

/// Leaf inputs: (path, schema, required). Inputs inside an optional structure are left
/// out: filling a part of one (a shipping phone) would make the rest of it required.
fn walk<'s>(
    root: &'s Value,
    node: &'s Value,
    prefix: &mut Vec<String>,
    required: bool,
    depth: usize,
    out: &mut Vec<(Vec<String>, &'s Value, bool)>,
) {
    let node = schema::resolve(root, node);
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    let names = schema::required(node);
    for (name, s) in properties {
        let resolved = schema::resolve(root, s);
        let is_required = required && names.contains(name);
        prefix.push(name.clone());
        let nested = resolved
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if nested && depth < 3 {
            if is_required {
                walk(root, resolved, prefix, is_required, depth + 1, out);
            }
        } else {
            out.push((prefix.clone(), resolved, is_required));
        }
        prefix.pop();
    }
}

/// "set the status to Done", "mark it as In Progress": the value, as written.
pub(super) fn status_value(action: &Action, original: &[String]) -> Option<String> {
    let words = &action.words;
    let pos = words
        .iter()
        .position(|w| matches!(w.as_str(), "to" | "as"))?;
    let cue = words[..pos].iter().any(|w| {
        matches!(
            w.as_str(),
            "set" | "mark" | "move" | "change" | "status" | "update"
        )
    });
    if !cue {
        return None;
    }
    let value: Vec<&str> = original
        .iter()
        .skip(pos + 1)
        .map(String::as_str)
        .take_while(|w| {
            !matches!(
                w.to_lowercase().as_str(),
                "in" | "on" | "with" | "and" | "then" | "via" | "using"
            )
        })
        .collect();
    (!value.is_empty()).then(|| {
        value
            .iter()
            .map(|w| capitalize(w))
            .collect::<Vec<_>>()
            .join(" ")
    })
}
