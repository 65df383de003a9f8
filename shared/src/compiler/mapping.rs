//! Builds an input mapping from the words and the sources: who receives the message,
//! the names, dates and amounts, the ids of the things acted on, and a subject and body
//! where the words imply them.
//!
//! Most inputs are filled by role: an input named `To` of an e-mail provider wants an
//! e-mail address, `firstname` a first name, `start.dateTime` a start time. Operations
//! whose inputs have a structure a name cannot tell (SendGrid's personalizations, a
//! FHIR resource, a Notion title property, Salesforce fields) have a shaper here.

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
}

impl Action {
    pub fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word || stem(w) == word)
    }

    fn has_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.has(w))
    }

    fn quoted(&self, cue: Cue) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Quoted(c, text) if *c == cue => Some(text.clone()),
            _ => None,
        })
    }

    fn email_after(&self, cues: &[&str]) -> Option<String> {
        self.literals.iter().find_map(|l| match l {
            Literal::Email(address, before) if cues.contains(&before.as_str()) => {
                Some(address.clone())
            }
            _ => None,
        })
    }

    fn money(&self) -> Option<(f64, Option<String>)> {
        self.literals.iter().find_map(|l| match l {
            Literal::Money(amount, currency) => Some((*amount, currency.clone())),
            _ => None,
        })
    }

    fn channel(&self) -> Option<String> {
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

fn is_set(map: &Map<String, Value>, path: &[String]) -> bool {
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
        match next {
            Some(v) if !v.is_object() => return true,
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

struct Builder<'a> {
    plan: &'a Plan<'a>,
    mapping: Map<String, Value>,
    problems: Problems,
    /// The recipient chosen, for greeting by the matching name.
    recipient: Option<&'a Source>,
}

impl<'a> Builder<'a> {
    fn trigger_sources(&self) -> impl Iterator<Item = &'a Source> + use<'a> {
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
    fn fill_role(
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
        if let Some(s) = self.trigger_sources().find(|s| {
            s.squashed() == leaf && s.kind != Kind::Any && fits_slot(s, target, root, &slot_words)
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
        if matches!(role, Role::Currency) {
            if let Some((_, Some(currency))) = self.plan.action.money() {
                self.put(path, json!(currency));
                return true;
            }
        }
        if matches!(role, Role::Email) {
            if let Some(address) = self
                .plan
                .action
                .email_after(&["to", "email", "cc", "notify"])
            {
                self.put(path, json!(address));
                return true;
            }
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

    /// The id of the thing an input names: the changed entity, an earlier step's
    /// result, an id field of the trigger, or an id written in the words.
    fn fill_id(&mut self, path: &[String], kind: &str, required: bool) -> bool {
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
        // 2. An earlier step of the same provider that made such a thing.
        let from_step = plan.sources.iter().rev().find(|s| match &s.origin {
            Origin::Step {
                provider, entity, ..
            } => {
                *provider == plan.provider.id
                    && s.name == "id"
                    && entity.as_deref().is_some_and(same)
            }
            _ => false,
        });
        if let Some(s) = from_step {
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

    fn put(&mut self, path: &[String], value: Value) {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        set(&mut self.mapping, &parts, value);
    }

    fn put_str(&mut self, path: &str, value: Value) {
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
    fn listed(&self, exclude: &[&Source]) -> Vec<&'a Source> {
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
                    if let Some(s) = self.trigger_sources().find(|s| {
                        s.name == *name && !exclude.iter().any(|e| e.reference == s.reference)
                    }) {
                        out.push(s);
                    }
                    if out.len() >= 5 {
                        break;
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
    fn record_title(&self) -> String {
        if let Some(s) = self.trigger_sources().find(|s| s.role == Role::Title) {
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

    /// The text of a message, in the style of its channel.
    fn body(&self) -> String {
        if let Some(text) = self
            .plan
            .action
            .quoted(Cue::Body)
            .or_else(|| self.plan.action.quoted(Cue::Other))
        {
            return text;
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
    fn document_text(&self) -> String {
        if let Some(text) = self.plan.action.quoted(Cue::Body) {
            return text;
        }
        let (label, event) = &self.plan.label;
        let lines = self.lines(&[], "\n");
        format!("{}\n{lines}\n", capitalize(&format!("{label} {event}")))
    }

    fn title(&self) -> String {
        if let Some(t) = self.plan.action.quoted(Cue::Title) {
            return t;
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
    for step in steps {
        // Only a step the words point at: by its integration's or provider's name, or
        // as "step n".
        let pointed = plan.sources.iter().any(|s| match &s.origin {
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
            .filter(|s| {
                s.words
                    .iter()
                    .any(|w| !super::text::STOPWORDS.contains(&w.as_str()))
            })
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
    shape(&mut b);
    if plan.provider.id == "fhir" {
        // The shaper builds FHIR inputs whole: a resource is not a bag of named fields.
        after(&mut b);
        return (b.mapping, b.problems);
    }
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
    after(&mut b);
    (b.mapping, b.problems)
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

// ---------------------------------------------------------------------------------
// Shapers: operations whose input has a structure names alone cannot tell.
// ---------------------------------------------------------------------------------

fn shape(b: &mut Builder) {
    let provider = b.plan.provider.id.as_str();
    let op = b.plan.op.id.as_str();
    match (provider, op) {
        ("sendgrid", "send_email") => {
            let root = &b.plan.op.input_schema;
            let target = schema::at_path(
                root,
                root,
                &[
                    "personalizations".into(),
                    "0".into(),
                    "to".into(),
                    "0".into(),
                    "email".into(),
                ],
            )
            .cloned()
            .unwrap_or(json!({"type": "string"}));
            b.fill_role(
                &[
                    "personalizations".into(),
                    "0".into(),
                    "to".into(),
                    "0".into(),
                    "email".into(),
                ],
                &Role::Email,
                &target,
                root,
                true,
            );
            if let Some(from) = b.plan.action.email_after(&["from", "as", "sender"]) {
                b.put_str("from.email", json!(from));
            }
            let subject = b.title();
            b.put_str("subject", json!(subject));
            let body = b.body();
            b.put_str("content", json!([{"type": "text/plain", "value": body}]));
        }
        ("postmark", "send_email_with_template") => {
            let template = b.plan.action.quoted(Cue::Template).or_else(|| {
                let pos = b.plan.action.words.iter().position(|w| w == "template")?;
                let before = b.plan.action.words.get(pos.checked_sub(1)?)?;
                (!matches!(
                    before.as_str(),
                    "the" | "a" | "an" | "our" | "email" | "with"
                ))
                .then(|| before.clone())
            });
            match template {
                Some(t) if t.chars().all(|c| c.is_ascii_digit()) => {
                    b.put_str("TemplateId", json!(t.parse::<i64>().unwrap_or_default()))
                }
                Some(t) => b.put_str("TemplateAlias", json!(t)),
                None => {}
            }
            let model: Map<String, Value> = b
                .listed(&[])
                .iter()
                .map(|s| (s.name.replace('.', "_"), Value::String(s.template())))
                .collect();
            b.put_str("TemplateModel", Value::Object(model));
        }
        ("hubspot", "create_deal") => {
            let joined = b.plan.action.words.join("");
            for stage in [
                "appointmentscheduled",
                "qualifiedtobuy",
                "presentationscheduled",
                "decisionmakerboughtin",
                "contractsent",
                "closedwon",
                "closedlost",
            ] {
                if joined.contains(stage) {
                    b.put_str("properties.dealstage", json!(stage));
                    break;
                }
            }
            let title = b.title();
            b.put_str("properties.dealname", json!(title));
        }
        ("salesforce", "create_record" | "update_record") => salesforce(b),
        ("notion", "create_page") => {
            if let Some((key, id)) = notion_parent(b.plan.action) {
                b.put_str(&format!("parent.{key}"), json!(id));
            }
            let title = b.title();
            b.put_str(
                "properties",
                json!({"Name": {"title": [{"text": {"content": title}}]}}),
            );
        }
        ("notion", "update_page") => {
            let action = b.plan.action;
            if action.has_any(&["archive", "trash", "delete", "remove"]) {
                b.put_str("in_trash", json!(true));
            } else if let Some(value) = status_value(action, b.plan.original) {
                b.put_str("properties", json!({"Status": {"status": {"name": value}}}));
            }
        }
        ("notion", "query_data_source") => {
            if let Some((_, id)) = notion_parent(b.plan.action) {
                b.put_str("data_source_id", json!(id));
            }
        }
        ("google_sheets", "append_values") => {
            let range = b
                .plan
                .action
                .quoted(Cue::Range)
                .unwrap_or_else(|| "A1".to_owned());
            b.put_str("range", json!(range));
            let row: Vec<Value> = b
                .listed(&[])
                .iter()
                .map(|s| Value::String(s.template()))
                .collect();
            b.put_str("values", json!([row]));
        }
        ("google_sheets", "get_values") => {
            let range = b
                .plan
                .action
                .quoted(Cue::Range)
                .unwrap_or_else(|| "A1:Z1000".to_owned());
            b.put_str("range", json!(range));
        }
        ("google_docs", "update_document") => {
            let text = b.document_text();
            b.put_str(
                "requests",
                json!([{"insertText": {"endOfSegmentLocation": {}, "text": text}}]),
            );
        }
        ("google_calendar", "create_event")
            if b.plan
                .action
                .has_any(&["invite", "attendee", "attendees", "guest", "guests"]) =>
        {
            let root = &b.plan.op.input_schema;
            let target = json!({"type": "string", "format": "email"});
            b.fill_role(
                &["attendees".into(), "0".into(), "email".into()],
                &Role::Email,
                &target,
                root,
                false,
            );
        }
        ("linear", "create_issue" | "update_issue") => {
            if let Some(priority) = priority(b.plan.action) {
                b.put_str("input.priority", json!(priority));
            }
        }
        ("twilio", "place_call") => {
            let root = &b.plan.op.input_schema;
            b.fill_role(
                &["To".into()],
                &Role::Phone,
                &json!({"type": "string"}),
                root,
                true,
            );
            let text = b.body();
            b.put_str(
                "Twiml",
                json!(format!(
                    "<Response><Say>{}</Say></Response>",
                    xml_escape(&text)
                )),
            );
        }
        ("intercom", "create_contact") => {
            if b.plan.action.has("user") {
                b.put_str("role", json!("user"));
            } else if b.plan.action.has("lead") && b.plan.action.words.iter().any(|w| w == "as") {
                b.put_str("role", json!("lead"));
            }
        }
        ("intercom", "create_conversation") => {
            b.put_str("from.type", json!("user"));
            b.fill_id(&["from".into(), "id".into()], "contact", true);
        }
        ("intercom", "send_message") => {
            let email = b.plan.action.has("email");
            b.put_str(
                "message_type",
                json!(if email { "email" } else { "in_app" }),
            );
            if email {
                let subject = b.title();
                b.put_str("subject", json!(subject));
                b.put_str("template", json!("plain"));
            }
            let body = b.body();
            b.put_str("body", json!(body));
            b.put_str("from.type", json!("admin"));
            if let Some(admin) = b
                .plan
                .action
                .words
                .iter()
                .position(|w| w == "admin")
                .and_then(|p| b.plan.action.words.get(p + 1))
                .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
            {
                b.put_str("from.id", json!(admin));
            }
            b.put_str("to.type", json!("user"));
            b.fill_id(&["to".into(), "id".into()], "contact", true);
        }
        ("fhir", _) => fhir(b),
        _ => {}
    }
}

/// Finishing touches once the generic pass is done.
fn after(b: &mut Builder) {
    if (b.plan.provider.id.as_str(), b.plan.op.id.as_str()) == ("google_calendar", "create_event") {
        // No end time among the fields: the event ends when it starts (edit the contract
        // to give it a length).
        for key in ["dateTime", "date"] {
            let start = b.mapping.get("start").and_then(|s| s.get(key)).cloned();
            let end_set = b
                .mapping
                .get("end")
                .is_some_and(|e| e.get("date").is_some() || e.get("dateTime").is_some());
            if let (Some(start), false) = (start, end_set) {
                b.put_str(&format!("end.{key}"), start);
            }
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn priority(action: &Action) -> Option<i64> {
    if action.has_any(&["urgent", "critical", "asap"]) {
        Some(1)
    } else if action
        .words
        .windows(2)
        .any(|w| w[0] == "high" && w[1] == "priority")
        || action.has("high-priority")
    {
        Some(2)
    } else if action
        .words
        .windows(2)
        .any(|w| w[0] == "medium" && w[1] == "priority")
    {
        Some(3)
    } else if action
        .words
        .windows(2)
        .any(|w| w[0] == "low" && w[1] == "priority")
        || action.has("low-priority")
    {
        Some(4)
    } else {
        None
    }
}

/// "set the status to Done", "mark it as In Progress": the value, as written.
fn status_value(action: &Action, original: &[String]) -> Option<String> {
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

fn notion_parent(action: &Action) -> Option<(&'static str, String)> {
    action.literals.iter().find_map(|l| match l {
        Literal::Uuid(id, before) if before == "page" => Some(("page_id", id.clone())),
        Literal::Uuid(id, _) => Some(("data_source_id", id.clone())),
        _ => None,
    })
}

const SOBJECTS: &[(&str, &str)] = &[
    ("lead", "Lead"),
    ("contact", "Contact"),
    ("account", "Account"),
    ("opportunity", "Opportunity"),
    ("deal", "Opportunity"),
    ("case", "Case"),
    ("ticket", "Case"),
    ("task", "Task"),
];

fn salesforce(b: &mut Builder) {
    let sobject = b.plan.action.words.iter().find_map(|w| {
        SOBJECTS
            .iter()
            .find(|(k, _)| *k == w.as_str() || format!("{k}s") == *w)
            .map(|(_, v)| *v)
    });
    if let Some(sobject) = sobject {
        b.put_str("sobject", json!(sobject));
    }
    let mut fields = Map::new();
    let source = |role: Role| b.trigger_sources().find(|s| s.role == role);
    let email = match pick(
        b.trigger_sources()
            .filter(|s| s.role == Role::Email)
            .collect(),
        b.plan.action,
        None,
    ) {
        Pick::One(s) => Some(s),
        _ => None,
    };
    let put = |fields: &mut Map<String, Value>, key: &str, s: Option<&Source>| {
        if let Some(s) = s {
            fields.insert(key.to_owned(), Value::String(s.template()));
        }
    };
    let last = source(Role::LastName).or_else(|| source(Role::FullName));
    match sobject.unwrap_or("Lead") {
        "Lead" | "Contact" => {
            put(&mut fields, "FirstName", source(Role::FirstName));
            put(&mut fields, "LastName", last);
            put(&mut fields, "Email", email);
            put(&mut fields, "Phone", source(Role::Phone));
            if sobject == Some("Lead") {
                put(&mut fields, "Company", source(Role::Company));
            }
            put(&mut fields, "Description", source(Role::Text));
        }
        "Account" => {
            put(
                &mut fields,
                "Name",
                source(Role::Company).or_else(|| source(Role::FullName)),
            );
            put(&mut fields, "Phone", source(Role::Phone));
        }
        "Case" => {
            let subject = b.title();
            fields.insert("Subject".into(), json!(subject));
            put(&mut fields, "SuppliedEmail", email);
            put(&mut fields, "SuppliedName", source(Role::FullName));
            put(&mut fields, "SuppliedPhone", source(Role::Phone));
            let text = b.document_text();
            fields.insert("Description".into(), json!(text));
        }
        "Opportunity" => {
            let name = b.title();
            fields.insert("Name".into(), json!(name));
            put(
                &mut fields,
                "Amount",
                source(Role::Amount).filter(|s| !s.words.iter().any(|w| w == "cents")),
            );
            if let Some(stage) = b.plan.action.quoted(Cue::Other) {
                fields.insert("StageName".into(), json!(stage));
            }
        }
        _ => {
            let subject = b.title();
            fields.insert("Subject".into(), json!(subject));
        }
    }
    b.put_str("fields", Value::Object(fields));
}

const RESOURCES: &[(&str, &str)] = &[
    ("encounter", "Encounter"),
    ("admit", "Encounter"),
    ("admission", "Encounter"),
    ("visit", "Encounter"),
    ("appointment", "Appointment"),
    ("observation", "Observation"),
    ("vitals", "Observation"),
    ("vital", "Observation"),
    ("lab", "Observation"),
    ("diagnosis", "Condition"),
    ("condition", "Condition"),
    ("medication", "MedicationRequest"),
    ("prescription", "MedicationRequest"),
    ("practitioner", "Practitioner"),
    ("doctor", "Practitioner"),
    ("patient", "Patient"),
];

fn fhir(b: &mut Builder) {
    let action = b.plan.action;
    let resource = action.words.iter().find_map(|w| {
        RESOURCES
            .iter()
            .find(|(k, _)| *k == w.as_str() || format!("{k}s") == *w)
            .map(|(_, v)| *v)
    });
    let op = b.plan.op.id.clone();
    let Some(resource) = resource else {
        return;
    };
    b.put_str("resource_type", json!(resource));
    let id_of = |b: &Builder, kind: &str| -> Option<String> {
        b.trigger_sources()
            .find(|s| matches!(&s.role, Role::Id(k) if k == kind))
            .map(Source::template)
    };
    match op.as_str() {
        "read_resource" | "update_resource" => {
            let kind = resource.to_lowercase();
            b.fill_id(&["id".into()], &kind, true);
        }
        "search_resources" => {
            // Search by what the words say ("by MRN", "by name and birth date"); else by
            // the most specific id the trigger has.
            let by_id = action.has_any(&["mrn", "identifier", "id"]);
            let by_name = action.has("name");
            let by_birth = action.has_any(&["birth", "birthdate", "dob", "birthday"]);
            let source = |role: Role| {
                b.trigger_sources()
                    .find(|s| s.role == role)
                    .map(Source::template)
            };
            let mut params: Vec<(&str, Option<String>)> = Vec::new();
            if by_id || !(by_name || by_birth) {
                params.push(("identifier", id_of(b, "identifier")));
            }
            if by_name {
                params.push(("family", source(Role::LastName)));
                params.push(("given", source(Role::FirstName)));
                if source(Role::LastName).is_none() {
                    params.push(("name", source(Role::FullName)));
                }
            }
            if by_birth {
                params.push(("birthdate", source(Role::BirthDate)));
            }
            if resource != "Patient" {
                params.push(("patient", id_of(b, "patient")));
            }
            for (param, value) in params {
                if let Some(value) = value {
                    b.put_str(param, json!(value));
                }
            }
        }
        "create_resource" => {
            let source = |role: Role| {
                b.trigger_sources()
                    .find(|s| s.role == role)
                    .map(Source::template)
            };
            let patient_ref =
                id_of(b, "patient").map(|id| json!({"reference": format!("Patient/{id}")}));
            let start = source(Role::Start).or_else(|| source(Role::DateTime));
            let mut r = Map::new();
            r.insert("resourceType".into(), json!(resource));
            match resource {
                "Patient" | "Practitioner" => {
                    let mut name = Map::new();
                    if let Some(f) = source(Role::FullName) {
                        name.insert("text".into(), json!(f));
                    }
                    if let Some(f) = source(Role::LastName) {
                        name.insert("family".into(), json!(f));
                    }
                    if let Some(g) = source(Role::FirstName) {
                        name.insert("given".into(), json!([g]));
                    }
                    if !name.is_empty() {
                        r.insert("name".into(), json!([name]));
                    }
                    let mut telecom = Vec::new();
                    if let Some(e) = source(Role::Email) {
                        telecom.push(json!({"system": "email", "value": e}));
                    }
                    if let Some(p) = source(Role::Phone) {
                        telecom.push(json!({"system": "phone", "value": p}));
                    }
                    if !telecom.is_empty() {
                        r.insert("telecom".into(), json!(telecom));
                    }
                    if let Some(d) = source(Role::BirthDate) {
                        r.insert("birthDate".into(), json!(d));
                    }
                    if let Some(mrn) = id_of(b, "identifier") {
                        r.insert("identifier".into(), json!([{"value": mrn}]));
                    }
                }
                "Encounter" => {
                    let admitted = action.has_any(&["admit", "admitted", "inpatient"]);
                    let status = if b.plan.label.1 == "completed" || action.has("finished") {
                        "finished"
                    } else if admitted
                        || matches!(
                            b.plan.label.1.as_str(),
                            "started" | "checked_in" | "arrived"
                        )
                    {
                        "in-progress"
                    } else {
                        "planned"
                    };
                    r.insert("status".into(), json!(status));
                    let (code, display) = if admitted {
                        ("IMP", "inpatient encounter")
                    } else {
                        ("AMB", "ambulatory")
                    };
                    r.insert("class".into(), json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display}));
                    if let Some(p) = patient_ref.clone() {
                        r.insert("subject".into(), p);
                    }
                    if let Some(s) = start.clone() {
                        r.insert("period".into(), json!({"start": s}));
                    }
                    if let Some(reason) = source(Role::Text) {
                        r.insert("reasonCode".into(), json!([{"text": reason}]));
                    }
                }
                "Appointment" => {
                    r.insert("status".into(), json!("booked"));
                    if let Some(s) = start.clone() {
                        r.insert("start".into(), json!(s));
                    }
                    if let Some(e) = source(Role::End) {
                        r.insert("end".into(), json!(e));
                    }
                    if let Some(reason) = source(Role::Text) {
                        r.insert("description".into(), json!(reason));
                    }
                    let actor = patient_ref
                        .clone()
                        .or_else(|| source(Role::FullName).map(|n| json!({"display": n})));
                    if let Some(actor) = actor {
                        r.insert(
                            "participant".into(),
                            json!([{"actor": actor, "status": "accepted"}]),
                        );
                    }
                }
                "Observation" | "Condition" | "MedicationRequest" => {
                    if let Some(p) = patient_ref.clone() {
                        r.insert("subject".into(), p);
                    }
                    let code_text = action
                        .quoted(Cue::Other)
                        .or_else(|| action.quoted(Cue::Title))
                        .or_else(|| source(Role::Text));
                    match resource {
                        "Observation" => {
                            r.insert("status".into(), json!("final"));
                            if let Some(t) = code_text {
                                r.insert("code".into(), json!({"text": t}));
                            }
                            if let Some(s) = start.clone() {
                                r.insert("effectiveDateTime".into(), json!(s));
                            }
                        }
                        "Condition" => {
                            if let Some(t) = code_text {
                                r.insert("code".into(), json!({"text": t}));
                            }
                        }
                        _ => {
                            r.insert("status".into(), json!("active"));
                            r.insert("intent".into(), json!("order"));
                            if let Some(t) = code_text {
                                r.insert("medicationCodeableConcept".into(), json!({"text": t}));
                            }
                        }
                    }
                }
                _ => {}
            }
            b.put_str("resource", Value::Object(r));
        }
        _ => {}
    }
}
