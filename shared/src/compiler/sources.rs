//! What a step's input can be mapped from: the trigger entity's fields
//! (`{{entity.x}}`), the data change (`{{change.after.x}}`, `{{change.entity_id}}`) and
//! earlier steps' outputs (`{{steps.n.output.x}}`), each with its type and the role its
//! name suggests (an e-mail address, a first name, a start time, an id...).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::schema::{self, Kind};
use super::text::{name_words, squash};

/// The field types a trigger entity declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Any text (`string`, or `text`).
    String,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A date and time, RFC 3339 (`datetime`, `date-time` or `date_time`).
    Datetime,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// Any number.
    Number,
    /// A whole number (`integer` or `int`).
    Integer,
    /// True or false (`boolean` or `bool`).
    Boolean,
    /// A URL (`url` or `uri`).
    Url,
}

/// The type names a request may give an entity's fields, as the error for an unknown
/// one lists them (aliases such as `text` and `int` are accepted too).
pub const FIELD_TYPES: &str = "string, email, phone, datetime, date, number, integer, boolean, url";

impl FieldType {
    /// A type from its name, in any case, aliases included; `None` for an unknown name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "string" | "text" => FieldType::String,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "datetime" | "date-time" | "date_time" => FieldType::Datetime,
            "date" => FieldType::Date,
            "number" => FieldType::Number,
            "integer" | "int" => FieldType::Integer,
            "boolean" | "bool" => FieldType::Boolean,
            "url" | "uri" => FieldType::Url,
            _ => return None,
        })
    }

    /// The JSON Schema of a field of this type (what a contract's input schema holds).
    pub fn schema(self) -> Value {
        match self {
            FieldType::String => json!({"type": "string"}),
            FieldType::Email => json!({"type": "string", "format": "email"}),
            FieldType::Phone => json!({"type": "string", "format": "phone"}),
            FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
            FieldType::Date => json!({"type": "string", "format": "date"}),
            FieldType::Number => json!({"type": "number"}),
            FieldType::Integer => json!({"type": "integer"}),
            FieldType::Boolean => json!({"type": "boolean"}),
            FieldType::Url => json!({"type": "string", "format": "uri"}),
        }
    }

    /// Reads a field type back from its schema (later steps recover the trigger
    /// entity's fields from step 1's input schema).
    pub fn from_schema(schema: &Value) -> Option<Self> {
        let t = schema.get("type")?.as_str()?;
        let format = schema.get("format").and_then(Value::as_str);
        Some(match (t, format) {
            ("string", None) => FieldType::String,
            ("string", Some("email")) => FieldType::Email,
            ("string", Some("phone")) => FieldType::Phone,
            ("string", Some("date-time")) => FieldType::Datetime,
            ("string", Some("date")) => FieldType::Date,
            ("string", Some("uri")) => FieldType::Url,
            ("number", _) => FieldType::Number,
            ("integer", _) => FieldType::Integer,
            ("boolean", _) => FieldType::Boolean,
            _ => return None,
        })
    }

    /// The compiler's kind of a value of this type, which mapping matches against
    /// inputs.
    pub fn kind(self) -> Kind {
        match self {
            FieldType::String => Kind::String(None),
            FieldType::Email => Kind::String(Some("email".into())),
            FieldType::Phone => Kind::String(Some("phone".into())),
            FieldType::Datetime => Kind::String(Some("date-time".into())),
            FieldType::Date => Kind::String(Some("date".into())),
            FieldType::Url => Kind::String(Some("uri".into())),
            FieldType::Number => Kind::Number,
            FieldType::Integer => Kind::Integer,
            FieldType::Boolean => Kind::Boolean,
        }
    }
}

/// What a field or an input is, judging by its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Email,
    Phone,
    FullName,
    FirstName,
    LastName,
    Title,
    /// Free text: description, notes, comments, a message.
    Text,
    Start,
    End,
    BirthDate,
    DateTime,
    Date,
    Amount,
    Currency,
    Company,
    Url,
    Status,
    /// An identifier of a thing of this kind (`patient`, `customer`, `""` when unsaid).
    Id(String),
    Other,
}

/// The role of a name (its words) with its kind: the lexicon's `field_roles`, then ids.
pub fn role_of(words: &[String], kind: &Kind) -> Role {
    let lexicon = crate::lexicon::lexicon();
    let format = match kind {
        Kind::String(f) => f.as_deref(),
        _ => None,
    };
    if let Some(rule) = lexicon.field_roles.iter().find(|r| r.fits(words, format))
        && let Some(role) = role_named(&rule.role)
    {
        return role;
    }
    let joined: String = words.concat();
    let last = words.last().map(String::as_str).unwrap_or_default();
    if last == "id" {
        let prefix: String = words[..words.len() - 1].concat();
        return Role::Id(prefix);
    }
    if lexicon.identifier_words.iter().any(|w| w == last) {
        return Role::Id("identifier".into());
    }
    if joined.ends_with("id") && joined.len() > 2 && !matches!(kind, Kind::Object { .. }) {
        return Role::Id(joined.trim_end_matches("id").to_owned());
    }
    Role::Other
}

/// A role by its name in the lexicon (`first_name`, `date_time`...).
pub fn role_named(name: &str) -> Option<Role> {
    Some(match name {
        "email" => Role::Email,
        "phone" => Role::Phone,
        "full_name" => Role::FullName,
        "first_name" => Role::FirstName,
        "last_name" => Role::LastName,
        "title" => Role::Title,
        "text" => Role::Text,
        "start" => Role::Start,
        "end" => Role::End,
        "birth_date" => Role::BirthDate,
        "date_time" => Role::DateTime,
        "date" => Role::Date,
        "amount" => Role::Amount,
        "currency" => Role::Currency,
        "company" => Role::Company,
        "url" => Role::Url,
        "status" => Role::Status,
        _ => return None,
    })
}

/// Where a source's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Entity,
    Change,
    /// An earlier step, with its integration, provider and the entity its operation acts
    /// on; the kind it made or changed, lowercase (a FHIR resource type, a Salesforce
    /// sObject);
    /// `echoes` when the step changed a thing it did not make, so an id it returns is
    /// the one the thing already had.
    Step {
        step: u32,
        integration: String,
        provider: String,
        entity: Option<String>,
        kind: Option<String>,
        echoes: bool,
    },
}

/// One value a mapping can reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The reference inside `{{ }}`: `entity.patient_email`.
    pub reference: String,
    /// The field's own name or path (`patient_email`, `state.name`, `MessageID`).
    pub name: String,
    pub words: Vec<String>,
    pub kind: Kind,
    pub role: Role,
    pub origin: Origin,
}

impl Source {
    pub fn new(reference: String, name: &str, kind: Kind, origin: Origin) -> Self {
        let words = name_words(name);
        let role = role_of(&words, &kind);
        Self {
            reference,
            name: name.to_owned(),
            words,
            kind,
            role,
            origin,
        }
    }

    pub fn template(&self) -> String {
        format!("{{{{{}}}}}", self.reference)
    }

    /// The words of the name that are not its role word: `patient` of `patient_email`.
    pub fn owner_words(&self) -> Vec<&str> {
        self.words
            .iter()
            .map(String::as_str)
            .filter(|w| {
                !matches!(
                    *w,
                    "email"
                        | "name"
                        | "phone"
                        | "id"
                        | "at"
                        | "first"
                        | "last"
                        | "full"
                        | "address"
                        | "number"
                )
            })
            .collect()
    }

    pub fn squashed(&self) -> String {
        squash(self.name.rsplit('.').next().unwrap_or(&self.name))
    }

    /// A label for text: `Appointment at`; a field inside a container of properties
    /// is labelled by its own name (`properties.dealname` → `Dealname`).
    pub fn label(&self) -> String {
        let container = self.name.split_once('.').is_some_and(|(first, _)| {
            matches!(
                first,
                "properties" | "fields" | "data" | "attributes" | "metadata"
            )
        });
        let skip = usize::from(container && self.words.len() > 1);
        let words: Vec<&str> = self.words.iter().skip(skip).map(String::as_str).collect();
        let mut label = words.join(" ");
        if let Some(first) = label.get(0..1) {
            label = first.to_uppercase() + &label[1..];
        }
        label
    }
}

/// The sources of an earlier step's output, from its output schema (the entity, kind
/// and `echoes`: see [`Origin::Step`]).
pub fn step_sources(
    step: u32,
    integration: &str,
    provider: &str,
    (entity, kind_chosen, echoes): (Option<&str>, Option<&str>, bool),
    output: &Value,
) -> Vec<Source> {
    // A list the step returns offers its first item's fields ("the Id returned by the
    // query" → `records.0.Id`), in the role of the item's field.
    let mut fields: Vec<(String, &Value, Option<String>)> = schema::flatten(output, output, 2)
        .into_iter()
        .map(|(path, s)| (path, s, None))
        .collect();
    let lists: Vec<(String, &Value)> = fields
        .iter()
        .filter(|(path, _, _)| !path.contains('.'))
        .filter_map(|(path, s, _)| {
            let items = schema::resolve(output, s).get("items")?;
            Some((path.clone(), items))
        })
        .collect();
    for (path, items) in lists {
        for (field, s) in schema::flatten(output, items, 1) {
            fields.push((format!("{path}.0.{field}"), s, Some(field)));
        }
    }
    fields
        .into_iter()
        .map(|(path, s, item_field)| {
            let kind = schema::kind(output, s);
            let mut source = Source::new(
                format!("steps.{step}.output.{path}"),
                &path,
                kind.clone(),
                Origin::Step {
                    step,
                    integration: integration.to_owned(),
                    provider: provider.to_owned(),
                    entity: entity.map(str::to_owned),
                    kind: kind_chosen.map(str::to_lowercase),
                    echoes,
                },
            );
            if let Some(field) = item_field {
                source.role = role_of(&name_words(&field), &kind);
            }
            source
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_role_the_lexicon_names_is_a_role() {
        for rule in &crate::lexicon::lexicon().field_roles {
            assert!(
                role_named(&rule.role).is_some(),
                "unknown role {}",
                rule.role
            );
        }
        let words = |s: &str| s.split('_').map(str::to_owned).collect::<Vec<_>>();
        let text = Kind::String(None);
        assert_eq!(role_of(&words("patient_email"), &text), Role::Email);
        assert_eq!(role_of(&words("first_name"), &text), Role::FirstName);
        assert_eq!(
            role_of(&words("starts_at"), &Kind::String(Some("date-time".into()))),
            Role::Start
        );
        assert_eq!(
            role_of(&words("date_of_birth"), &Kind::String(Some("date".into()))),
            Role::BirthDate
        );
        assert_eq!(
            role_of(&words("renews_at"), &Kind::String(Some("date".into()))),
            Role::Date
        );
        assert_eq!(role_of(&words("mrn"), &text), Role::Id("identifier".into()));
        assert_eq!(
            role_of(&words("patient_id"), &text),
            Role::Id("patient".into())
        );
    }

    use super::*;

    fn role(name: &str, t: FieldType) -> Role {
        role_of(&name_words(name), &t.kind())
    }

    #[test]
    fn names_say_what_a_field_is() {
        assert_eq!(role("patient_email", FieldType::Email), Role::Email);
        assert_eq!(role("patient_phone", FieldType::Phone), Role::Phone);
        assert_eq!(role("first_name", FieldType::String), Role::FirstName);
        assert_eq!(role("lastname", FieldType::String), Role::LastName);
        assert_eq!(role("patient_name", FieldType::String), Role::FullName);
        assert_eq!(role("appointment_at", FieldType::Datetime), Role::DateTime);
        assert_eq!(role("starts_at", FieldType::Datetime), Role::Start);
        assert_eq!(role("ends_at", FieldType::Datetime), Role::End);
        assert_eq!(role("date_of_birth", FieldType::Date), Role::BirthDate);
        assert_eq!(role("amount_cents", FieldType::Integer), Role::Amount);
        assert_eq!(
            role("payment_intent_id", FieldType::String),
            Role::Id("paymentintent".into())
        );
        assert_eq!(
            role("MessageID", FieldType::String),
            Role::Id("message".into())
        );
        assert_eq!(role("notes", FieldType::String), Role::Text);
        assert_eq!(role("company", FieldType::String), Role::Company);
    }

    #[test]
    fn field_types_round_trip_through_their_schema() {
        for t in [
            FieldType::String,
            FieldType::Email,
            FieldType::Phone,
            FieldType::Datetime,
            FieldType::Date,
            FieldType::Number,
            FieldType::Integer,
            FieldType::Boolean,
            FieldType::Url,
        ] {
            assert_eq!(FieldType::from_schema(&t.schema()), Some(t));
        }
    }
}
