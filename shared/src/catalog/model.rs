//! The shape of a provider file. Unknown keys are refused, so a typo in a provider
//! file fails the catalog test instead of being ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::Change;

/// One provider of the catalog, as its file `shared/providers/<id>.yaml` declares it (or
/// as built from a Custom HTTP declaration): how calls reach and authenticate to its API,
/// the values a user gives, its operations and its webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Stable id, also the file name: `postmark`, `google_sheets`, `custom_http`.
    pub id: crate::domain::ProviderId,
    /// The name shown to people and used in messages (`Google Sheets`); must not be empty.
    pub display_name: String,
    /// The kind of tool it is (`email`, `crm`, `sms_voice`...).
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
    /// How every request is authenticated (`auth.scheme` in the file).
    pub auth: Auth,
    /// The values a user gives that are sealed in the integration's credential envelope
    /// (API keys, OAuth client and tokens, webhook secrets); read by `{credentials.x}`
    /// placeholders.
    #[serde(default)]
    pub credentials: Vec<Field>,
    /// The settings a user gives for an integration (a base URL, a domain, a default
    /// sender), stored in the clear; read by `{config.x}` placeholders. No name is shared
    /// with a credential field.
    #[serde(default)]
    pub config: Vec<Field>,
    /// A cheap call that proves the credentials work.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// Named targets a step may name instead of an id ("the ENG team"): how the runtime
    /// finds the id, by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lookups: BTreeMap<String, Lookup>,
    /// The calls a step can make: at least one, each id declared once.
    pub operations: Vec<Operation>,
    /// The operation meant when the words name the provider and say little more ("slack
    /// #billing with the invoice number"): the one thing people nearly always want from
    /// it. Only taken when no other operation of it fits the words better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_operation: Option<String>,
    /// How the provider's webhook deliveries are verified and read; `None` when it sends
    /// none (a delivery for it is then answered as not found).
    #[serde(default)]
    pub webhooks: Option<Webhooks>,
}

/// The kind of tool a provider is (`category:` in the file, snake_case). The compiler
/// writes a message for the messaging kinds (email, sms_voice, chat, support), and offers
/// a project's integrations of the same kind when the words name a provider it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Sending email (Postmark, SendGrid, Mailgun).
    Email,
    /// Contacts, companies and deals (HubSpot, Salesforce).
    Crm,
    /// Charges, customers and refunds (Stripe).
    Payments,
    /// Documents and pages (Google Docs, Notion).
    Documents,
    /// Spreadsheets and their rows (Google Sheets).
    Spreadsheets,
    /// Calendars and their events (Google Calendar).
    Calendar,
    /// Issues, teams and projects (Linear).
    ProjectManagement,
    /// Messages in team chat channels (Slack).
    Chat,
    /// Text messages and calls (Twilio): a message's recipient is a phone number.
    SmsVoice,
    /// Customer support conversations (Intercom).
    Support,
    /// Electronic health records, over FHIR.
    Ehr,
    /// An API the user declared through Custom HTTP; no catalog file has it.
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
        /// The header's name (`Authorization`, `X-Postmark-Server-Token`); not empty.
        header: String,
        /// The header's value, a template that must use a `{credentials.x}` placeholder.
        value: String,
    },
    /// HTTP basic auth.
    Basic {
        /// The user name, a template (`api` for Mailgun, `{credentials.account_sid}`).
        username: String,
        /// The password, a template (`{credentials.api_key}`).
        password: String,
    },
    /// A query parameter carrying a credential.
    Query {
        /// The query parameter's name; not empty.
        param: String,
        /// The parameter's value, a template (`{credentials.api_key}`).
        value: String,
    },
    /// OAuth 2.0 with a refresh token; the access token goes in `Authorization: Bearer`.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The page where a user grants consent, a template over `{config.x}`
        /// (Salesforce's `https://{config.login_host}/...`); the runtime itself only
        /// calls `token_url`.
        authorize_url: String,
        /// The token endpoint the refresh token is exchanged at, a template over
        /// `{config.x}`. Needs credential fields `client_id`, `client_secret` and
        /// `refresh_token`.
        token_url: String,
        /// The scopes consent is asked for, shown in the describe prompt; empty by default.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// SMART on FHIR backend services: a client-credentials grant with a signed JWT
    /// client assertion (private key), the token as `Authorization: Bearer`.
    SmartBackendServices {
        /// The token endpoint, a template over `{config.x}` (FHIR's `{config.token_url}`).
        /// Needs credential fields `client_id` and `private_key`.
        token_url: String,
        /// The scopes asked for, sent space-separated as `scope` (`system/*.read`); none
        /// by default, and then no `scope` is sent.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// One of several schemes, chosen by a config field's value (FHIR servers, Custom HTTP).
    Choice {
        /// The config field whose value picks the option (`auth_type`); its `enum` lists
        /// exactly the options' names, and its default applies when it is unset.
        config_field: String,
        /// The scheme for each value of that field.
        options: BTreeMap<String, Auth>,
    },
    /// No authentication: requests carry no credential.
    None,
}

/// A credential or config field the user is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The key of the value, in letters, digits and `_` (`server_token`), as
    /// `{credentials.x}` and `{config.x}` placeholders name it.
    pub name: String,
    /// What a form calls the field (`Server API token`); not empty.
    pub label: String,
    /// Whether the value is secret: the prompt marks it so a form can hide it, and no
    /// error message repeats it. False by default.
    #[serde(default)]
    pub secret: bool,
    /// Whether a value must be given (where the field applies). True by default; a field
    /// with a default is never required.
    #[serde(default = "yes")]
    pub required: bool,
    /// The form the value must have; `None` takes any text.
    #[serde(default)]
    pub format: Option<Format>,
    /// Allowed values, when the field is a choice.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The value a config field takes when none is given (one of `enum`, when both are
    /// set); `None` for no default.
    #[serde(default)]
    pub default: Option<String>,
    /// The value must start with one of these (`sk_`, `rk_` for Stripe keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// The fewest characters the value may have; `None` for no lower limit.
    #[serde(default)]
    pub min_length: Option<usize>,
    /// The most characters the value may have; `None` for no upper limit.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// The field applies only when these config fields have these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<BTreeMap<String, String>>,
    /// A hint shown under the field: where to find the value, or what it changes.
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

/// The form a field's value must have (`format:` in the file, snake_case), checked when
/// an integration is created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Any text: the same as no format.
    Text,
    /// An email address: one `@`, a dotted domain, no spaces.
    Email,
    /// An absolute `https://` URL (`http://` is refused: credentials would travel in clear).
    Url,
    /// A DNS host name with at least one dot (`mg.example.com`), no scheme or port.
    Hostname,
    /// A UUID (`8-4-4-4-12` hex digits).
    Uuid,
    /// E.164 phone number: `+` and up to 15 digits.
    Phone,
    /// A PEM-encoded key or certificate.
    Pem,
    /// Several values separated by spaces or commas (OAuth scopes).
    List,
}

/// The connection check: one cheap, read-only request whose status says whether the
/// credentials work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The request's method (`GET` in every catalog file).
    pub method: HttpMethod,
    /// The path after the base URL, query string included; may use `{config.x}` and
    /// `{credentials.x}` placeholders, not `{input.x}`.
    pub path: String,
    /// Status codes that mean the credentials work.
    #[serde(default = "ok_statuses")]
    pub expect_status: Vec<u16>,
    /// A failure the provider reports inside an expected status (Slack answers a bad
    /// token 200 with `"ok": false`), read as an operation's `error_when` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_when: Option<ErrorRule>,
}

fn ok_statuses() -> Vec<u16> {
    vec![200]
}

/// The method of a request, in upper case in the files (`GET`, `POST`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// A read; with `DELETE`, the only method that may send no body (encoding `none`).
    Get,
    /// A create or an action; the only method a GraphQL operation may use.
    Post,
    /// A replacement of a whole resource (FHIR's update).
    Put,
    /// A change of some fields of a resource.
    Patch,
    /// A removal; with `GET`, the only method that may send no body.
    Delete,
}

impl HttpMethod {
    /// The method as written on the wire (`"GET"`).
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

/// One call a step can make: the HTTP request as templates, the input and response
/// schemas, and what the compiler and the sandbox need to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Stable id used in contracts: `send_email`, `create_customer`.
    pub id: crate::domain::OperationId,
    /// A short title (`Create customer`), also matched against a step's words.
    pub name: String,
    /// What the call does, in a sentence or two; a step's words may be matched against it.
    pub description: String,
    /// Words that ask for it ("send an email", "email the patient").
    #[serde(default)]
    pub phrases: Vec<String>,
    /// The request's method; `POST` for GraphQL.
    pub method: HttpMethod,
    /// Path after the base URL; `{input.x}`, `{config.x}` and `{credentials.x}` placeholders.
    pub path: String,
    /// Query parameters (templates).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Extra headers for this operation (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How the body is sent: `json`, `form`, `graphql` (with a `graphql` document) or
    /// `none` (only with GET and DELETE).
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
    /// The HTTP status of a success, as the provider documents it (201 for most
    /// creates, 202 for SendGrid's send, 204 for Salesforce's update); 200 by default.
    /// Sandbox mocks answer with it.
    #[serde(default = "ok_status")]
    pub success_status: u16,
    /// The provider answers a success with no body (SendGrid's 202, Salesforce's 204):
    /// a sandbox mock has none either, and later steps can map no output of it.
    #[serde(default)]
    pub empty_response: bool,
    /// Where the input and response schemas come from: the spec file in the team's
    /// provider-specs folder and its operation, or the public reference's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_source: Option<String>,
    /// Whether the call changes anything at the provider.
    pub side_effects: bool,
    /// Whether it deletes or cancels something where its method does not say so (a
    /// DELETE always does): Twilio's end call, Sheets' clear. Agents' tools carry it
    /// as `destructiveHint`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destructive: bool,
    /// The provider's idempotency header, if it has one (`Idempotency-Key`).
    #[serde(default)]
    pub idempotency_header: Option<String>,
    /// Response headers in which the provider reports its rate limits or throttling
    /// (`X-RateLimit-Remaining`, `Retry-After`, `Sforce-Limit-Info`); empty by default.
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
    /// An input as the provider documents it, valid against `input_schema` (the catalog
    /// test checks it); sandbox mocks echo nothing for a key it has and a step's input
    /// lacks.
    pub sample_input: Value,
    /// An answer to `sample_input`, valid against `response_schema`; sandbox mocks take
    /// their shapes and plausible values from it.
    pub sample_response: Value,
    /// Sample answers chosen by the value of one input, for an operation whose answer
    /// takes another shape per value (a FHIR read answers an Encounter or a Patient by
    /// `resource_type`); a value without one falls back to `sample_response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_responses_by: Option<SamplesByInput>,
}

/// Sample answers keyed by the value of one input property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesByInput {
    /// The top-level input property whose value chooses the sample.
    pub input: String,
    /// A sample answer per value, each valid against `response_schema`.
    pub samples: BTreeMap<String, Value>,
}

impl Operation {
    /// The sample answer a mock of `input` takes its shapes from: the one for the input's
    /// value in `sample_responses_by`, else `sample_response`.
    pub fn sample_response_for(&self, input: &Value) -> &Value {
        self.sample_responses_by
            .as_ref()
            .and_then(|by| by.samples.get(input.get(&by.input)?.as_str()?))
            .unwrap_or(&self.sample_response)
    }
}

fn ok_status() -> u16 {
    200
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
    /// Hints applied before inputs are filled by their names.
    #[serde(default)]
    pub inputs: Vec<InputHint>,
    /// Hints applied after inputs are filled by their names (an end time from the start).
    #[serde(default)]
    pub after: Vec<InputHint>,
}

/// How a step's words choose the kind of thing an operation acts on (Salesforce's
/// sObject, a FHIR resource type), which hints then test with `when_kind` and
/// `unless_kind`.
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
    /// A word written with this ending right before a record noun names a kind of the
    /// user's own, as written (Salesforce's custom objects: "the Order__c record").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_suffix: Option<String>,
}

/// One compile hint: a template to put at an input path, and the conditions under which
/// it applies (every one given must hold).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputHint {
    /// A dotted path into the input (`personalizations.0.to.0.email`).
    pub path: String,
    /// The template put at the path (see [`CompileHints`]), or a whole `{fill:<role>}` or
    /// `{fill_id:<kind>}` that fills the path itself.
    pub value: Value,
    /// Applies only when the action's words have one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_words: Vec<String>,
    /// Applies only when the action's words have none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless_words: Vec<String>,
    /// Applies only when the kind in force (chosen by the words, else the choice's
    /// default) is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_kind: Vec<String>,
    /// Applies only when the kind in force is none of these.
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

/// When a 2xx answer is a failure after all: what at a JSON pointer of the body means
/// failure, and where the provider's message is.
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
    /// How deliveries are signed, and so verified (`stripe_v1`, `header_secret`...).
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
    /// How event types map to entity changes (the first mapping that lists the type
    /// applies); an event no mapping lists is acknowledged and ignored. Empty by default.
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
    /// The default: the request body, as JSON, or as form fields when the content type
    /// is form-urlencoded.
    #[default]
    Body,
    /// The request headers whose names start with `header_prefix`.
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

/// How a declared HMAC digest is written in its header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestEncoding {
    /// Hexadecimal digits, upper or lower case (the default).
    #[default]
    Hex,
    /// Standard base64, with padding.
    Base64,
}

/// How a provider signs its webhook deliveries (`signature:` in the file, snake_case);
/// each scheme has its own verification.
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
    /// The entity the events change (`customer`, `issue`, `patient`): changes are cached,
    /// and workflows triggered, under this name.
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
    /// The JSON Schema of the state, where no operation of the provider answers with the
    /// entity and the sample event is of another one (Linear's comments): the fields a
    /// step may map from the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_schema: Option<serde_json::Value>,
}

impl EntityMapping {
    /// Whether the changed entity's id is its state's `field` (a dotted path): Stripe's
    /// `/data/object/id` in the state `/data/object`, so `{{change.after.id}}` and
    /// `{{change.entity_id}}` name one value.
    pub fn id_is_state_field(&self, field: &str) -> bool {
        self.id == format!("{}/{}", self.state, field.replace('.', "/"))
    }
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
    /// The same change for every mapped event (`change: updated`).
    Fixed(Change),
    /// The change each event names, read as created, updated or deleted from words such
    /// as `create`, `update`, `remove` (an event with another word makes no change).
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
    /// The read-only operation of the same provider that reads the entity (`get_contact`).
    pub operation: crate::domain::OperationId,
    /// The operation's input (`{contactId: "{id}"}`); empty by default.
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
    /// One template (`From: "{config.from_address}"`); not applied when its placeholder
    /// has no value.
    Template(String),
    /// An object of templates by key (`from: {type: admin, id: "{config.admin_id}"}`).
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
    /// The read-only operation that lists the candidates (Linear's `list_teams`).
    pub operation: crate::domain::OperationId,
    /// The operation's input; `"{name}"` in a string is the name looked for.
    #[serde(default)]
    pub input: Map<String, Value>,
    /// JSON pointer to the list of candidates in the answer (`/data/teams/nodes`).
    pub items: String,
    /// JSON pointers, in an item, to the names compared with the one looked for
    /// (`match: [/key, /name]`); any one that matches chooses the item.
    #[serde(rename = "match")]
    pub match_fields: Vec<String>,
    /// JSON pointer, in the chosen item, to its id.
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
