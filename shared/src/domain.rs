//! Domain values: identifiers checked at parse time, and the records the store keeps.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a value from outside was refused; names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    /// The field at fault, as the client named it (`name`, `project`...).
    pub field: String,
    /// What is wrong with it, in words the client can act on.
    pub message: String,
}

impl InvalidValue {
    /// A refusal of `field`, saying why.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Identifiers become parts of store keys (`P#{project}`, `I#{integration}`...), so
/// they are restricted to characters that can never forge a key separator (`#`) or
/// escape a URL path segment.
fn check_identifier(field: &str, value: &str, max: usize) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(InvalidValue::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !first_ok || !rest_ok {
        return Err(InvalidValue::new(
            field,
            "use lowercase letters, digits, '-' and '_', starting with a letter or digit",
        ));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks a value from outside: 1 to the type's maximum of lowercase ASCII
            /// letters, digits, `-` and `_`, starting with a letter or digit.
            ///
            /// # Errors
            /// [`InvalidValue`] naming the field, for a value that breaks those rules.
            pub fn parse(value: &str) -> Result<Self, InvalidValue> {
                check_identifier($field, value, $max)?;
                Ok(Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// A project's id, as it appears in `/projects/{project}`.
    ProjectId, "project", 64
);
identifier!(
    /// An integration's name, unique within its project ("clinic-mail", "postmark").
    IntegrationName, "integration", 64
);
identifier!(
    /// A workflow's id within its project ("patient-intake").
    WorkflowId, "workflow", 64
);
identifier!(
    /// A run's id; runs are listed newest first, so ids are time-ordered (UUIDv7).
    RunId, "run", 64
);

/// A request's id as it goes into audit records: the id API Gateway gave the request,
/// or one a proxy or the caller sent (`x-amzn-requestid`, `x-request-id`). Those
/// headers come from outside, so only 1 to [`RequestId::MAX_LEN`] characters of
/// `[A-Za-z0-9._:=-]` are kept (`=` for API Gateway's base64 ids); anything else is
/// replaced by an id made here ([`RequestId::generated`]), never stored as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// The longest id kept.
    pub const MAX_LEN: usize = 128;

    /// Checks an id from outside.
    ///
    /// # Errors
    /// [`InvalidValue`] (`request_id`) when it is empty, longer than
    /// [`RequestId::MAX_LEN`], or has a character outside `[A-Za-z0-9._:=-]`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(InvalidValue::new(
                "request_id",
                format!("must be 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'=' | b'-'))
        {
            return Err(InvalidValue::new(
                "request_id",
                "use letters, digits, '.', '_', ':', '=' and '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A fresh id (UUIDv7), for a request that brought no usable one.
    pub fn generated() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The first of `candidates` that parses, else a fresh one.
    pub fn first_valid<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Self {
        candidates
            .into_iter()
            .find_map(|c| Self::parse(c).ok())
            .unwrap_or_else(Self::generated)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name from the catalog (a provider's or an operation's id): text with its own type,
/// so a provider id is never passed where an operation id belongs. Checked against the
/// catalog where it comes from outside (creating an integration, compiling a step).
macro_rules! catalog_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

catalog_name!(
    /// A provider's catalog id (`postmark`, `hubspot`, `custom_http`...).
    ProviderId
);

catalog_name!(
    /// An operation's id within its provider (`send_email`, `create_contact`...).
    OperationId
);

/// A project: the unit that owns integrations, workflows and their credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project's id, the partition of everything it owns.
    pub id: ProjectId,
    /// The display name (see [`Project::check_name`]).
    pub name: String,
    /// When the project was created.
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the project's API token, hex. The token itself is shown once.
    pub token_sha256: String,
}

impl Project {
    /// The display name a person gave the project: trimmed, 1 to 100 characters, no
    /// control characters.
    pub fn check_name(raw: &str) -> Result<String, InvalidValue> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidValue::new("name", "must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(InvalidValue::new("name", "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(name.to_owned())
    }
}

/// The stored form of a project API token: SHA-256, hex. Only this is kept.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A credential, as the store keeps it: only ciphertext and the wrapped data key that
/// opens it. See [`crate::vault`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialEnvelope {
    /// Incremented on every rotation; bound into the ciphertext.
    pub version: u32,
    /// What the encryption context binds besides project, integration and version: 1
    /// (envelopes sealed before destinations were bound) or 2, which adds the origins
    /// the credentials may be sent to (see [`crate::vault::Origins`]).
    #[serde(default = "legacy_context")]
    pub context: u32,
    /// The key service's id of the key that wrapped the data key.
    pub key_id: String,
    /// The data key, wrapped by the key service under the encryption context; base64.
    pub wrapped_key: String,
    /// AES-256-GCM nonce; base64.
    pub nonce: String,
    /// AES-256-GCM ciphertext of the credential fields (JSON object); base64.
    pub ciphertext: String,
    /// Which credential fields are set (names only), so metadata can say so without
    /// decrypting anything.
    pub fields: Vec<String>,
}

fn legacy_context() -> u32 {
    1
}

/// An integration: a named outbound connection of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// The integration's name within its project.
    pub name: IntegrationName,
    /// The catalog provider it connects to.
    pub provider: ProviderId,
    /// The provider's non-secret settings, as the catalog declares them (a subdomain, a
    /// region...); empty when the provider takes none.
    #[serde(default)]
    pub config: serde_json::Map<String, Value>,
    /// The sealed credentials.
    pub credentials: CredentialEnvelope,
    /// When the integration was created.
    pub created_at: DateTime<Utc>,
    /// When its config or credentials last changed.
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; writes are conditional on it, so two concurrent
    /// changes cannot silently overwrite each other.
    #[serde(default)]
    pub revision: u64,
    /// Set when the provider refused a token refresh: a person must re-authorize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_attention: Option<String>,
    /// Whether agents may call its operations live through the project's MCP server
    /// (off by default: agents get the sandbox). Set through its own audited route.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_live: bool,
    /// When the OAuth access token in the envelope expires (not a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// What the API shows of an integration: never a secret, only which fields are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationView {
    /// The integration's name within its project.
    pub name: IntegrationName,
    /// The catalog provider it connects to.
    pub provider: ProviderId,
    /// The provider's non-secret settings.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Map<String, Value>,
    /// The names of the credential fields that are set; never their values.
    pub credential_fields: Vec<String>,
    /// The version of the stored credentials (1 when created; each rotation or token
    /// refresh adds one).
    pub credential_version: u32,
    /// When the integration was created.
    pub created_at: DateTime<Utc>,
    /// When its config or credentials last changed.
    pub updated_at: DateTime<Utc>,
    /// Why a person must re-authorize (the provider refused a token refresh); `None`
    /// while the integration works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_attention: Option<String>,
    /// Whether agents may call it live through the project's MCP server (`PUT
    /// .../agent-access`); agents always get the sandbox.
    #[serde(default)]
    pub agent_live: bool,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        Self {
            name: i.name.clone(),
            provider: i.provider.clone(),
            config: i.config.clone(),
            credential_fields: i.credentials.fields.clone(),
            credential_version: i.credentials.version,
            created_at: i.created_at,
            updated_at: i.updated_at,
            needs_attention: i.needs_attention.clone(),
            agent_live: i.agent_live,
        }
    }
}

/// What starts a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A studio entity event, such as an intake form being submitted.
    Entity {
        /// The studio entity (`intake_form`...), matched without regard to case.
        entity: String,
        /// What happened to it (`submitted`...), matched without regard to case.
        event: String,
    },
    /// A data change on an integration-cached entity, such as a Linear issue moving to Done.
    DataChange {
        /// The integration whose cached entity changes.
        integration: IntegrationName,
        /// The entity type, as the provider's catalog names it (`issue`, `contact`...).
        entity_type: String,
        /// The kind of change that starts the workflow.
        change: Change,
        /// Conditions the changed entity must meet, all of them; empty for every
        /// change.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conditions: Vec<FieldCondition>,
    },
}

/// A condition on the changed entity ("status is Done").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldCondition {
    /// The field of the changed entity's state.
    pub field: String,
    /// The value it must have (JSON equality).
    pub equals: Value,
}

/// How an entity changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The entity is new.
    Created,
    /// An existing entity changed.
    Updated,
    /// The entity was removed.
    Deleted,
}

impl Change {
    /// The name as serialized and shown (`created`, `updated`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// A workflow: its trigger and its steps, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workflow {
    /// The workflow's id within its project.
    pub id: WorkflowId,
    /// What starts it, as its compiled steps declare; `None` when none is set.
    pub trigger: Option<Trigger>,
    /// The numbers of its compiled steps, ascending; a run executes them in this order.
    pub steps: Vec<u32>,
    /// When a step was last compiled or removed.
    pub updated_at: DateTime<Utc>,
}

/// A compiled step: which integration and operation, how its input is built, and
/// what it returns. Never holds a credential.
///
/// `input_mapping` values are JSON values; strings may hold templates:
/// - `{{entity.<field>}}`: a field of the triggering entity event's payload;
/// - `{{change.entity_id}}`, `{{change.after.<field>}}`, `{{change.before.<field>}}`:
///   the data change that triggered the run;
/// - `{{steps.<n>.output.<field>[.<field>...]}}`: a field of an earlier step's output.
///
/// A string that is exactly one template takes the referenced value with its JSON type;
/// otherwise templates are interpolated as text ("Hello {{entity.patient_name}}").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepContract {
    /// The workflow the step belongs to.
    pub workflow: WorkflowId,
    /// The step's number within the workflow, from 1.
    pub step: u32,
    /// The workflow's trigger, which the mapping's `entity` and `change` templates
    /// read.
    pub trigger: Trigger,
    /// The integration whose credentials and provider the step uses.
    pub integration: IntegrationName,
    /// The provider of that integration, when the step was compiled.
    pub provider: ProviderId,
    /// The provider operation the step calls.
    pub operation: OperationId,
    /// Whether the step sends a request to the provider (every compiled operation
    /// does).
    pub outbound: bool,
    /// JSON Schema of the trigger payload the mapping reads.
    pub input_schema: Value,
    /// The operation's input fields, each a JSON value or template (see above).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input_mapping: serde_json::Map<String, Value>,
    /// JSON Schema of the operation's response: what later steps may reference, and
    /// what a sandbox mock is made from.
    pub output_schema: Value,
    /// When the integration the step was compiled against was created: the step runs
    /// only on that integration, never on one re-created under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_created_at: Option<DateTime<Utc>>,
}

/// A workflow's subscription to an integration's data changes, stored at
/// `T#{integration}#{entity}#{change}#{workflow}` so that the subscriptions a data
/// change wakes are one prefix query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerSubscription {
    /// The workflow the change starts.
    pub workflow: WorkflowId,
    /// The integration whose data changes it watches.
    pub integration: IntegrationName,
    /// The entity type it watches (`issue`, `contact`...).
    pub entity_type: String,
    /// The kind of change it watches.
    pub change: Change,
    /// Conditions the changed entity must meet, all of them; empty for every change.
    #[serde(default)]
    pub conditions: Vec<FieldCondition>,
}

/// A dependency edge: step `step` of `workflow` uses `integration`. Stored at
/// `D#{integration}#{workflow}#{nn}`; an integration's dependents are one prefix query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyEdge {
    /// The integration the step uses.
    pub integration: IntegrationName,
    /// The workflow the step belongs to.
    pub workflow: WorkflowId,
    /// The step's number within the workflow.
    pub step: u32,
    /// The operation the step calls (`trigger:<entity>.<change>` on the edge of a
    /// watched integration).
    pub operation: OperationId,
    /// Whether the step calls out to the provider (side effects or not, it leaves).
    pub outbound: bool,
    /// When the integration was created, as the step was compiled against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_created_at: Option<DateTime<Utc>>,
}

/// Whether a step may reach the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// No outbound call: the edge records what it would have sent.
    Sandbox,
    /// Requests are sent to the provider with the integration's credentials.
    Live,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Steps remain to be executed.
    Running,
    /// Every step ran.
    Succeeded,
    /// A step failed; the steps after it did not run.
    Failed,
}

/// What started a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunSource {
    /// A workflow's trigger: an entity event, a data change, or the API.
    #[default]
    Workflow,
    /// An agent's tool call through the project's MCP server.
    Agent,
}

impl RunSource {
    /// The name the API shows and `?source=` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RunSource::Workflow => "workflow",
            RunSource::Agent => "agent",
        }
    }
}

/// A run of a workflow, or of one operation an agent called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    /// The run's id (time-ordered).
    pub id: RunId,
    /// The workflow run; `None` for an agent's tool call, which runs one operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowId>,
    /// What started it: a workflow's trigger (`workflow`) or an agent's tool call
    /// through the project's MCP server (`agent`).
    #[serde(default)]
    pub source: RunSource,
    /// The MCP tool an agent called (`clinic-mail.send_email`), in place of a workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Sandbox or live, for every step of the run.
    pub mode: RunMode,
    /// Where the run stands.
    pub status: RunStatus,
    /// What started it (a `runtime::RunTrigger` as JSON: `kind` `entity` with the
    /// entity, event and payload, or `data_change` with the verified provider change):
    /// the payload the steps' mappings read.
    pub trigger: Value,
    /// When the run was started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while it runs.
    pub finished_at: Option<DateTime<Utc>>,
}

/// What one step did, as the trace shows it (credentials masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepTrace {
    /// The run the step belongs to.
    pub run: RunId,
    /// The step's number within the workflow.
    pub step: u32,
    /// The integration the step used.
    pub integration: IntegrationName,
    /// The operation the step called.
    pub operation: OperationId,
    /// `would_have_sent` in sandbox, `sent` live, `failed` when it could not be done.
    pub effect: StepEffect,
    /// The request as built (method, URL, headers, body; credentials masked); `None`
    /// when the step failed before building it.
    pub request: Option<Value>,
    /// The provider's answer (status, body; in sandbox a mock marked as such); `None`
    /// when nothing answered.
    pub response: Option<Value>,
    /// Why the step failed, masked; `None` when it did not.
    pub error: Option<String>,
    /// When the step started.
    pub started_at: DateTime<Utc>,
    /// When the step ended.
    pub finished_at: DateTime<Utc>,
    /// Named targets looked up before the call ("the ENG team" → its id): each lookup's
    /// request (masked), its id, and whether it was sent, mocked or cached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<Value>,
    /// The changed entity read from the provider that reported it, when its webhook
    /// carried only its id and the step maps more (`runtime::fetch`): the read's
    /// request (masked), and whether it was sent, mocked or cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<Value>,
}

/// Why a credential was decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditPurpose {
    /// Opened to send a live step's request.
    StepExecution,
    /// Opened to verify a webhook delivery's signature with the integration's secret.
    WebhookVerification,
    /// Opened for the provider's verification request, which checks that the
    /// credentials work.
    VerificationCall,
    /// Opened to refresh an OAuth access token.
    TokenRefresh,
    /// Credentials stored (created or rotated): sealed, not decrypted.
    CredentialsStored,
    /// The verification token a provider sent in its webhook handshake (Notion's),
    /// decrypted once and shown to the user, who pastes it into the provider.
    VerificationTokenRevealed,
    /// A changed entity read from the provider that reported it (its webhook carried
    /// only the id), for a step that maps its fields.
    ChangeFetch,
    /// Whether agents may call the integration live changed (not decrypted).
    AgentAccess,
}

/// One use of a credential. Append only: no API changes or removes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// The record's id (time-ordered, unique).
    pub id: String,
    /// The project that owns the credential.
    pub project: ProjectId,
    /// The integration whose credential was used.
    pub integration: IntegrationName,
    /// The version of the credentials used (or stored).
    pub credential_version: u32,
    /// Why the credential was used.
    pub purpose: AuditPurpose,
    /// The workflow, step and run, or the API request, that caused it.
    pub cause: Value,
    /// When it was used.
    pub at: DateTime<Utc>,
    /// How the use ended: `decrypted`, `decrypted; <note>`, `failed: <why>`, `rotated`,
    /// `config updated`, `revealed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub outcome: AuditOutcome,
}

/// What a step did (or, for a duplicate delivery, did not do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepEffect {
    /// Live: the request was sent.
    Sent,
    /// Sandbox: the request was built and shown, not sent.
    WouldHaveSent,
    /// It could not be done (the trace's `error` says why).
    Failed,
    /// A duplicate delivery, or a run that had ended: nothing was done.
    Skipped,
}

impl StepEffect {
    /// The name the API and the events show.
    pub fn as_str(self) -> &'static str {
        match self {
            StepEffect::Sent => "sent",
            StepEffect::WouldHaveSent => "would_have_sent",
            StepEffect::Failed => "failed",
            StepEffect::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StepEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for StepEffect {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for StepEffect {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// An effect named in code (`"sent".into()`). A name that is not one of the four is a
/// bug in the caller and reads as `failed`, never as something that happened.
impl From<&str> for StepEffect {
    fn from(name: &str) -> Self {
        match name {
            "sent" => StepEffect::Sent,
            "would_have_sent" => StepEffect::WouldHaveSent,
            "skipped" => StepEffect::Skipped,
            _ => StepEffect::Failed,
        }
    }
}

/// How a credential use ended, as its audit record says. Stored and shown as text
/// (`decrypted`, `failed: <why>`, `rotated`...), so records written before a variant
/// existed still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// The credentials were decrypted for the use.
    Decrypted,
    /// Decrypted, with what became of the use (`decrypted; <note>`).
    DecryptedNoting(String),
    /// The use failed (`failed: <why>`, the reason masked).
    Failed(String),
    /// New credentials were stored (`rotated`).
    Rotated,
    /// The config changed; the credentials did not (`config updated`).
    ConfigUpdated,
    /// A pending Notion verification token was shown once and removed (`revealed`).
    Revealed,
    /// A new OAuth access token was stored (`refreshed`).
    Refreshed,
    /// Agents' live calls were allowed or refused (`agent live calls allowed`,
    /// `agent live calls refused`).
    AgentLive(bool),
    /// A webhook verification key kept in memory was dropped (expired or evicted):
    /// how many deliveries it verified, and how many of those failed
    /// (`released: served N, failed M`).
    Released {
        /// Verifications it served, passed or failed.
        served: u64,
        /// Of those, the ones that failed.
        failed: u64,
    },
    /// An outcome this version does not name, kept as written.
    Other(String),
}

impl AuditOutcome {
    /// The same outcome with a note after it (`decrypted; <note>`).
    pub fn noting(self, note: &str) -> Self {
        match self {
            AuditOutcome::Decrypted => AuditOutcome::DecryptedNoting(note.to_owned()),
            other => AuditOutcome::Other(format!("{other}; {note}")),
        }
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditOutcome::Decrypted => f.write_str("decrypted"),
            AuditOutcome::DecryptedNoting(note) => write!(f, "decrypted; {note}"),
            AuditOutcome::Failed(why) => write!(f, "failed: {why}"),
            AuditOutcome::Rotated => f.write_str("rotated"),
            AuditOutcome::ConfigUpdated => f.write_str("config updated"),
            AuditOutcome::Revealed => f.write_str("revealed"),
            AuditOutcome::Refreshed => f.write_str("refreshed"),
            AuditOutcome::AgentLive(true) => f.write_str("agent live calls allowed"),
            AuditOutcome::AgentLive(false) => f.write_str("agent live calls refused"),
            AuditOutcome::Released { served, failed } => {
                write!(f, "released: served {served}, failed {failed}")
            }
            AuditOutcome::Other(text) => f.write_str(text),
        }
    }
}

impl From<&str> for AuditOutcome {
    fn from(text: &str) -> Self {
        match text {
            "decrypted" => AuditOutcome::Decrypted,
            "rotated" => AuditOutcome::Rotated,
            "config updated" => AuditOutcome::ConfigUpdated,
            "revealed" => AuditOutcome::Revealed,
            "refreshed" => AuditOutcome::Refreshed,
            "agent live calls allowed" => AuditOutcome::AgentLive(true),
            "agent live calls refused" => AuditOutcome::AgentLive(false),
            _ => {
                if let Some(note) = text.strip_prefix("decrypted; ") {
                    AuditOutcome::DecryptedNoting(note.to_owned())
                } else if let Some(why) = text.strip_prefix("failed: ") {
                    AuditOutcome::Failed(why.to_owned())
                } else if let Some(released) = released(text) {
                    released
                } else {
                    AuditOutcome::Other(text.to_owned())
                }
            }
        }
    }
}

/// `released: served N, failed M`, read back.
fn released(text: &str) -> Option<AuditOutcome> {
    let (served, failed) = text
        .strip_prefix("released: served ")?
        .split_once(", failed ")?;
    Some(AuditOutcome::Released {
        served: served.parse().ok()?,
        failed: failed.parse().ok()?,
    })
}

impl Serialize for AuditOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AuditOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(AuditOutcome::from(text.as_str()))
    }
}

/// A verified provider event turned into a change of an integration-cached entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataChanged {
    /// The project whose integration reported the change.
    pub project: ProjectId,
    /// The integration that received the webhook.
    pub integration: IntegrationName,
    /// The changed entity's type, as the provider's catalog names it (`issue`...).
    pub entity_type: String,
    /// The provider's id of the changed entity.
    pub entity_id: String,
    /// Created, updated or deleted.
    pub change: Change,
    /// The names of the top-level fields that changed: those the provider gave previous
    /// values for, else the difference between the cached state and `after` (every
    /// field of `after` when nothing was cached).
    #[serde(default)]
    pub changed_fields: Vec<String>,
    /// The entity's state before the change, from the cache (with the provider's
    /// previous values laid over); `null` when nothing was cached or the event was too
    /// large for the bus.
    #[serde(default)]
    pub before: Value,
    /// The entity's state the event reports; `null` when the event was too large for
    /// the bus.
    #[serde(default)]
    pub after: Value,
    /// The provider's id of the delivery's event, which deduplicates retries.
    pub provider_event_id: String,
}

/// A studio entity event (a form submitted...) that may start a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTriggered {
    /// The project whose workflows it may start.
    pub project: ProjectId,
    /// Only this workflow; `None` for every workflow of the project that the entity
    /// event triggers.
    #[serde(default)]
    pub workflow: Option<WorkflowId>,
    /// The studio entity (`intake_form`...), matched without regard to case.
    pub entity: String,
    /// What happened to it (`submitted`...), matched without regard to case.
    pub event: String,
    /// The entity's fields, which the steps' `{{entity.<field>}}` templates read.
    #[serde(default)]
    pub payload: Value,
    /// Live unless the studio asks for a sandbox run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RunMode>,
}

/// Execute-step asking itself to run the next step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRequested {
    /// The run's project.
    pub project: ProjectId,
    /// The run to advance.
    pub run: RunId,
    /// The run's workflow.
    pub workflow: WorkflowId,
    /// The step to execute next.
    pub step: u32,
    /// The run's mode, sandbox or live.
    pub mode: RunMode,
}

/// A change to an integration, for anyone listening. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationChanged {
    /// The integration's project.
    pub project: ProjectId,
    /// The integration that changed.
    pub integration: IntegrationName,
    /// What happened to it.
    pub change: IntegrationChange,
    /// The version of its credentials after the change (the deleted one's, for a
    /// deletion).
    pub credential_version: Option<u32>,
}

/// What happened to an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationChange {
    /// The integration was created (credentials version 1).
    Created,
    /// Its non-secret config changed; the credentials did not.
    ConfigUpdated,
    /// New credentials were stored under a new version.
    CredentialsRotated,
    /// The integration was deleted.
    Deleted,
}

/// The bus detail-type of each event the product publishes, spelled once.
pub mod detail_types {
    /// A verified provider data change ([`super::DataChanged`]).
    pub const DATA_CHANGED: &str = "DataChanged";
    /// A studio entity event that may start workflows ([`super::WorkflowTriggered`]).
    pub const WORKFLOW_TRIGGERED: &str = "WorkflowTriggered";
    /// Execute-step asking itself for the next step ([`super::StepRequested`]).
    pub const STEP_REQUESTED: &str = "StepRequested";
    /// An integration created, changed, rotated or deleted ([`super::IntegrationChanged`]).
    pub const INTEGRATION_CHANGED: &str = "IntegrationChanged";
    /// A step ran (its trace is stored), for observers.
    pub const STEP_COMPLETED: &str = "StepCompleted";
    /// A run ended, for observers.
    pub const RUN_COMPLETED: &str = "RunCompleted";
}

impl DataChanged {
    /// The bus detail-type of this event.
    pub const DETAIL_TYPE: &'static str = detail_types::DATA_CHANGED;
}

impl WorkflowTriggered {
    /// The bus detail-type of this event.
    pub const DETAIL_TYPE: &'static str = detail_types::WORKFLOW_TRIGGERED;
}

impl StepRequested {
    /// The bus detail-type of this event.
    pub const DETAIL_TYPE: &'static str = detail_types::STEP_REQUESTED;
}

impl IntegrationChanged {
    /// The bus detail-type of this event.
    pub const DETAIL_TYPE: &'static str = detail_types::INTEGRATION_CHANGED;
}

/// How long a dedupe marker lives. Providers retry for up to three days (Stripe,
/// HubSpot); a week covers every retry schedule in the catalog, and signed timestamps
/// without a documented window (SendGrid, Mailgun) must be younger than this, so a
/// replay either meets its marker or is too old.
pub const DEDUPE_TTL_SECS: i64 = 7 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_refuse_key_separators_and_path_characters() {
        for bad in ["", "a#b", "A", "a/b", "a b", "-a", "é", &"x".repeat(65)] {
            assert!(ProjectId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["clinic", "clinic-mail", "p_1", "0a"] {
            assert_eq!(
                ProjectId::parse(good).map(|p| p.to_string()),
                Ok(good.to_owned())
            );
        }
    }

    #[test]
    fn identifiers_are_checked_when_deserialized() {
        let bad: Result<WorkflowId, _> = serde_json::from_str("\"W#x\"");
        assert!(bad.is_err());
    }

    #[test]
    fn project_names_are_trimmed_and_bounded() {
        assert_eq!(Project::check_name("  Clinic "), Ok("Clinic".to_owned()));
        assert!(Project::check_name("   ").is_err());
        assert!(Project::check_name("a\u{0}b").is_err());
        assert!(Project::check_name(&"n".repeat(101)).is_err());
    }
}
