//! The shape of a provider file. Unknown keys are refused, so a typo in a provider
//! file fails the catalog test instead of being ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::Change;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Stable id, also the file name: `postmark`, `google_sheets`, `custom_http`.
    pub id: crate::domain::ProviderId,
    pub display_name: String,
    pub category: Category,
    /// One sentence: what the provider is.
    pub description: String,
    /// Where the schemas come from: spec file and version, or the public API reference.
    pub source: String,
    /// Names and nicknames people use for it ("sfdc", "gcal", "send grid").
    #[serde(default)]
    pub aliases: Vec<String>,
    /// What people want from it, in their words ("text our patients", "take card payments").
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Base URL of the API; may use `{config.x}` placeholders.
    pub base_url: String,
    /// Headers sent on every call (`Notion-Version`, `Stripe-Version`...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub auth: Auth,
    #[serde(default)]
    pub credentials: Vec<Field>,
    #[serde(default)]
    pub config: Vec<Field>,
    /// A cheap call that proves the credentials work.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// Named targets a step may name instead of an id ("the ENG team"): how the runtime
    /// finds the id, by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lookups: BTreeMap<String, Lookup>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub webhooks: Option<Webhooks>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Email,
    Crm,
    Payments,
    Documents,
    Spreadsheets,
    Calendar,
    ProjectManagement,
    Chat,
    SmsVoice,
    Support,
    Ehr,
    Custom,
}

/// How a request is authenticated. Values are templates over `{credentials.x}` and
/// `{config.x}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// A header carrying a credential: `X-Postmark-Server-Token: {credentials.server_token}`,
    /// `Authorization: Bearer {credentials.api_key}`.
    Header {
        header: String,
        value: String,
    },
    /// HTTP basic auth.
    Basic {
        username: String,
        password: String,
    },
    /// A query parameter carrying a credential.
    Query {
        param: String,
        value: String,
    },
    /// OAuth 2.0 with a refresh token; the access token goes in `Authorization: Bearer`.
    #[serde(rename = "oauth2")]
    OAuth2 {
        authorize_url: String,
        token_url: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// SMART on FHIR backend services: a client-credentials grant with a signed JWT
    /// client assertion (private key), the token as `Authorization: Bearer`.
    SmartBackendServices {
        token_url: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// One of several schemes, chosen by a config field's value (FHIR servers, Custom HTTP).
    Choice {
        config_field: String,
        options: BTreeMap<String, Auth>,
    },
    None,
}

/// A credential or config field the user is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub secret: bool,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub format: Option<Format>,
    /// Allowed values, when the field is a choice.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default)]
    pub default: Option<String>,
    /// The value must start with one of these (`sk_`, `rk_` for Stripe keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub max_length: Option<usize>,
    /// The field applies only when these config fields have these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub help: Option<String>,
    /// An example value, never a real secret.
    #[serde(default)]
    pub example: Option<String>,
    /// A regular expression the whole value must match (checked at create and update,
    /// shown in the describe prompt so a form can check it first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The operations that cannot run without this config value (they take it as a
    /// default). A step on one of them is refused at compile time while it is unset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needed_for: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Text,
    Email,
    /// An absolute `https://` URL (`http://` is refused: credentials would travel in clear).
    Url,
    Hostname,
    Uuid,
    /// E.164 phone number: `+` and up to 15 digits.
    Phone,
    /// A PEM-encoded key or certificate.
    Pem,
    /// Several values separated by spaces or commas (OAuth scopes).
    List,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub method: HttpMethod,
    pub path: String,
    /// Status codes that mean the credentials work.
    #[serde(default = "ok_statuses")]
    pub expect_status: Vec<u16>,
}

fn ok_statuses() -> Vec<u16> {
    vec![200]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// How the request body is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `application/json` (or the content type the operation's headers name).
    Json,
    /// `application/x-www-form-urlencoded`; nested objects in bracket notation
    /// (`metadata[key]=value`), as Stripe and Twilio expect.
    Form,
    /// A GraphQL POST: `{"query": <graphql>, "variables": <input>}`.
    Graphql,
    /// No body (GET, DELETE).
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Stable id used in contracts: `send_email`, `create_customer`.
    pub id: crate::domain::OperationId,
    pub name: String,
    pub description: String,
    /// Words that ask for it ("send an email", "email the patient").
    #[serde(default)]
    pub phrases: Vec<String>,
    pub method: HttpMethod,
    /// Path after the base URL; `{input.x}`, `{config.x}` and `{credentials.x}` placeholders.
    pub path: String,
    /// Query parameters (templates).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Extra headers for this operation (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub encoding: Encoding,
    /// The GraphQL document, when `encoding` is `graphql`.
    #[serde(default)]
    pub graphql: Option<String>,
    /// The input property sent as the body; by default the whole input, less the
    /// properties used in the path and query.
    #[serde(default)]
    pub body_field: Option<String>,
    /// Inputs filled from templates when the input lacks them: a property
    /// (`From: "{config.from_address}"`), a dotted path into an object the input has
    /// (`input.teamId: "{config.team_id}"`), or a whole object
    /// (`from: {email: "{config.from_address}"}`).
    #[serde(default)]
    pub defaults: BTreeMap<String, DefaultValue>,
    /// Inputs that are statements of a query language: a value a template puts inside
    /// one is quoted as that language's string literals require (`q: soql_string`), so
    /// a field's value cannot change the statement.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quote: BTreeMap<String, Quoting>,
    /// JSON Schema (draft 2020-12) of the input, from the provider's API definition.
    pub input_schema: Value,
    /// JSON Schema of a successful response; open to extra fields.
    pub response_schema: Value,
    /// Whether the call changes anything at the provider.
    pub side_effects: bool,
    /// The provider's idempotency header, if it has one (`Idempotency-Key`).
    #[serde(default)]
    pub idempotency_header: Option<String>,
    #[serde(default)]
    pub rate_limit_headers: Vec<String>,
    /// A 2xx answer that is still a failure (Slack's `"ok": false`, GraphQL `errors`).
    #[serde(default)]
    pub error_when: Option<ErrorRule>,
    /// The entity the operation acts on (`contact`, `issue`), for data changes.
    #[serde(default)]
    pub entity: Option<String>,
    /// How the compiler fills inputs whose structure their names cannot tell
    /// (SendGrid's personalizations, a Notion title property, a FHIR resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileHints>,
    pub sample_input: Value,
    pub sample_response: Value,
}

/// The compiler's shaping of an operation's inputs, as data (read by
/// `compiler::shape`). Each hint puts a template at an input path, unless the path is
/// already set: the first hint that applies to a path wins, so alternatives are listed
/// in order. A template is JSON whose strings may hold fill expressions in braces
/// (`"{role:email}"`, `"{title}"`, `"Patient/{trigger_id:patient}"`); a key whose
/// expression finds nothing is left out, and so is an object none of whose expressions
/// found anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileHints {
    /// A kind of thing the words choose (Salesforce's sObject, a FHIR resource type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindChoice>,
    /// The hints build the input whole: no input is filled by its name afterwards.
    #[serde(default)]
    pub whole: bool,
    #[serde(default)]
    pub inputs: Vec<InputHint>,
    /// Hints applied after inputs are filled by their names (an end time from the start).
    #[serde(default)]
    pub after: Vec<InputHint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindChoice {
    /// The input the chosen kind is written to, when the words choose one.
    #[serde(default)]
    pub input: Option<String>,
    /// A word (or its plural) → the kind it means.
    pub words: BTreeMap<String, String>,
    /// The kind when no word chooses one (for `when_kind`); not written to `input`.
    #[serde(default)]
    pub default: Option<String>,
    /// Without a kind from the words, the operation's inputs are left unfilled.
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputHint {
    /// A dotted path into the input (`personalizations.0.to.0.email`).
    pub path: String,
    pub value: Value,
    /// Applies only when the action's words have one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_words: Vec<String>,
    /// Applies only when the action's words have none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless_words: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_kind: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless_kind: Vec<String>,
    /// Applies only when the trigger's event is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_event: Vec<String>,
    /// Applies only when none of these paths is set yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless_set: Vec<String>,
    /// For `{fill:...}` and `{fill_id:...}`: an ambiguous or missing value is a problem.
    #[serde(default)]
    pub required: bool,
    /// Words (one or two) → the value `{table}` gives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub table: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// JSON pointer into the response body.
    pub pointer: String,
    /// The value that means failure; without it, the pointer's presence does.
    #[serde(default)]
    pub equals: Option<Value>,
    /// JSON pointer to the provider's error message.
    #[serde(default)]
    pub message: Option<String>,
}

/// How the provider's webhooks are verified and turned into data changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub signature: SignatureScheme,
    /// The header carrying the signature, where there is one.
    #[serde(default)]
    pub header: Option<String>,
    /// The header carrying the signed timestamp, where separate.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// How old a signed timestamp may be.
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    /// The credential field(s) holding the webhook secret or verification key.
    #[serde(default)]
    pub secret_fields: Vec<String>,
    /// JSON pointer to the provider's event id (for deduplication).
    pub event_id: String,
    /// JSON pointer to the event type.
    #[serde(default)]
    pub event_type: Option<String>,
    /// JSON pointer to when the event happened (seconds or milliseconds since the
    /// epoch, or RFC 3339), to keep an event delivered late from overwriting the newer
    /// state an earlier delivery cached. Providers do not promise delivery order.
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default)]
    pub entities: Vec<EntityMapping>,
    /// A sample delivery body, as the provider documents it.
    #[serde(default)]
    pub sample_event: Option<Value>,
    /// A header carrying the provider's id of the delivery, preferred to `event_id` when
    /// present (Twilio's `I-Twilio-Idempotency-Token`, Linear's `Linear-Delivery`).
    #[serde(default)]
    pub event_id_header: Option<String>,
    /// More pointers whose values are joined to `event_id`'s to make the dedupe key, when
    /// the id alone repeats across distinct events (Postmark's MessageID across record
    /// types, Twilio's MessageSid across status callbacks). Missing ones are skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_id_with: Vec<String>,
    /// The body is a JSON array of events (HubSpot, SendGrid): every pointer is read in
    /// each element, and each element is deduplicated and applied on its own.
    #[serde(default)]
    pub batch: bool,
    /// Where the event is read from: the body (JSON, or form fields by content type), or
    /// the request headers (Google Calendar's notifications have an empty body).
    #[serde(default)]
    pub payload: Payload,
    /// With `payload: headers`, the prefix of the headers that make up the event; their
    /// names are lower-cased (pointers such as `/x-goog-resource-id`). The signature
    /// header is never part of it.
    #[serde(default)]
    pub header_prefix: Option<String>,
    /// A config field naming the signature header instead of `header` (FHIR's
    /// `subscription_header`, which the Subscription declares).
    #[serde(default)]
    pub header_config: Option<String>,
    /// How an `hmac_sha256` signature is written (Custom HTTP).
    #[serde(default)]
    pub hmac: Option<HmacFormat>,
}

/// Where a webhook's event is read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    #[default]
    Body,
    Headers,
}

/// The shape of a user-declared HMAC-SHA256 signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacFormat {
    /// `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: DigestEncoding,
    /// Text before the digest in the header (`sha256=`).
    #[serde(default)]
    pub prefix: String,
    /// What is signed: `{body}`, or with the timestamp header's value, such as
    /// `{timestamp}.{body}`. Only these two placeholders exist.
    #[serde(default = "body_only")]
    pub signed: String,
}

fn body_only() -> String {
    "{body}".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// `Stripe-Signature: t=...,v1=...`: HMAC-SHA256 over `t.body`.
    StripeV1,
    /// `X-Slack-Signature: v0=...` over `v0:timestamp:body`.
    SlackV0,
    /// `X-Twilio-Signature`: HMAC-SHA1 over URL and sorted form parameters.
    Twilio,
    /// `X-HubSpot-Signature-v3`: HMAC-SHA256 over method, URI, body and timestamp.
    HubspotV3,
    /// SendGrid signed event webhook: ECDSA P-256 over timestamp + body.
    SendgridEcdsa,
    /// `Linear-Signature`: HMAC-SHA256 hex of the body, with `webhookTimestamp`.
    Linear,
    /// `X-Notion-Signature: sha256=...`, after the verification-token handshake.
    Notion,
    /// `X-Hub-Signature: sha1=...` (Intercom).
    HubSignatureSha1,
    /// Mailgun: `signature.timestamp`, `token` and `signature` in the body.
    MailgunBody,
    /// Basic auth credentials embedded in the webhook URL (Postmark).
    BasicAuth,
    /// A shared secret in a header the subscription declares (FHIR Subscription).
    HeaderSecret,
    /// HMAC-SHA256 the user declares (Custom HTTP).
    HmacSha256,
}

/// How values are quoted inside a query statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quoting {
    /// Inside a SOQL string literal (`'...'`): backslash, quotes and control characters
    /// are escaped with a backslash, as Salesforce's "Quoted String Escape Sequences"
    /// say.
    SoqlString,
}

impl Quoting {
    /// The text as it must be written inside the literal.
    pub fn quote(self, text: &str) -> String {
        match self {
            Quoting::SoqlString => {
                let mut out = String::with_capacity(text.len() + 8);
                for c in text.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        '"' => out.push_str("\\\""),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        other => out.push(other),
                    }
                }
                out
            }
        }
    }
}

/// How a provider event maps to a change of an integration-cached entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityMapping {
    /// Event types this mapping applies to (`customer.updated`, `Issue`).
    pub event_types: Vec<String>,
    pub entity_type: String,
    /// JSON pointer to the entity's id.
    pub id: String,
    /// The change every mapped event makes, or where each event says which.
    pub change: ChangeSource,
    /// JSON pointer to the entity's state after the change.
    pub state: String,
    /// JSON pointer to the changed fields' previous values, when the provider sends them.
    #[serde(default)]
    pub previous: Option<String>,
    /// JSON pointer to a list of the changed fields' names, when the provider sends the
    /// names without the values (Notion's `updated_properties`).
    #[serde(default)]
    pub changed: Option<String>,
    /// The provider sends only the entity's id (HubSpot): a step that maps a field the
    /// event lacks has the entity read with this operation first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<EntityFetch>,
}

/// Which change an entity mapping's events make: always the same one (`change: updated`),
/// or the one each event names at a JSON pointer (`change: {from: /action}`: Linear's
/// `action` is `create`, `update` or `remove`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a change is created, updated, deleted or {from: <JSON pointer>}"
)]
pub enum ChangeSource {
    Fixed(Change),
    FromPayload {
        /// JSON pointer to the provider's word for the change.
        from: String,
    },
}

/// How a changed entity is read when its webhook carries only its id: a read-only
/// operation of the same provider, its input (`"{id}"` in a string is the entity's id),
/// and where the id sits in the answer (the sandbox's mock answer carries it there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityFetch {
    pub operation: crate::domain::OperationId,
    #[serde(default)]
    pub input: Map<String, Value>,
    /// JSON pointer to the id in the answer.
    pub id: String,
}

/// An operation's default for one input: a template, or an object of templates. An
/// object's entries whose placeholders have no value are left out, and an object left
/// with no filled placeholder is not applied (a constant alone, such as Intercom's
/// `type: admin`, is no sender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DefaultValue {
    Template(String),
    Object(BTreeMap<String, String>),
}

impl DefaultValue {
    /// Every template in it, with the object key it fills (None for a plain template).
    pub fn templates(&self) -> Vec<(Option<&str>, &str)> {
        match self {
            Self::Template(t) => vec![(None, t.as_str())],
            Self::Object(m) => m
                .iter()
                .map(|(k, t)| (Some(k.as_str()), t.as_str()))
                .collect(),
        }
    }
}

/// The path segments of a default's key (`input.teamId` → `["input", "teamId"]`).
pub fn default_path(key: &str) -> Vec<&str> {
    key.split('.').collect()
}

/// The value at a path of nested objects.
pub fn value_at<'v>(object: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut current = object.get(*first)?;
    for segment in rest {
        current = current.as_object()?.get(*segment)?;
    }
    Some(current)
}

/// Sets the value at a path, making the objects on the way; a path through a value
/// that is not an object is left alone (the schema check reports the input).
pub fn insert_at(object: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for segment in parents {
        let next = current
            .entry((*segment).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        match next.as_object_mut() {
            Some(o) => current = o,
            None => return,
        }
    }
    current.insert((*last).to_owned(), value);
}

/// How a named target is found: a read-only operation of the provider, the list in its
/// answer, the fields a name is compared with (case and surrounding space ignored), and
/// the field that is the id. JSON pointers, relative to the answer and to each item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub operation: crate::domain::OperationId,
    /// The operation's input; `"{name}"` in a string is the name looked for.
    #[serde(default)]
    pub input: Map<String, Value>,
    pub items: String,
    #[serde(rename = "match")]
    pub match_fields: Vec<String>,
    pub id: String,
}

/// An id standing in for a named target's until a run looks it up: the input is
/// checked against its schema with it (a UUID's form, which fits any id field).
pub const NAMED_TARGET_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";

/// A named target in a contract's input mapping: `{"lookup": "team", "name": "ENG"}`.
pub fn named_target(value: &Value) -> Option<(&str, &str)> {
    let object = value.as_object()?;
    if object.len() != 2 {
        return None;
    }
    Some((
        object.get("lookup")?.as_str()?,
        object.get("name")?.as_str()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_a_fixed_one_or_a_pointer_to_read_it_from() {
        let read =
            |yaml: &str| serde_norway::from_str::<ChangeSource>(yaml).map_err(|e| e.to_string());
        assert_eq!(read("updated"), Ok(ChangeSource::Fixed(Change::Updated)));
        assert_eq!(
            read("{from: /action}"),
            Ok(ChangeSource::FromPayload {
                from: "/action".into()
            })
        );
        for refused in [
            "from:/action",
            "removed",
            "{from: /action, to: /x}",
            "{pointer: /action}",
        ] {
            let error = read(refused).expect_err(refused);
            assert!(
                error.contains("created, updated, deleted or {from:"),
                "{refused}: {error}"
            );
        }
    }
}
