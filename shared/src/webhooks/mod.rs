//! Ingest-webhook: provider deliveries in, verified and deduplicated data changes out.
//!
//! A delivery to `POST /hooks/{project}/{integration}` goes through, in order:
//!
//! 1. the target: the integration item, if its provider sends webhooks. An unknown
//!    project or integration, or one whose provider sends none, is refused exactly as a
//!    forged delivery is (401, the same body, after a decoy signature check, no sooner
//!    than [`REFUSAL_FLOOR`] after arrival): an answer does not tell a stranger which
//!    integrations exist;
//! 2. the signature, on the raw bytes, with the provider's own scheme ([`verify`]) and
//!    the integration's webhook secret. Refusals that need no secret come first
//!    ([`precheck`]). The secret is opened through [`webhook_credentials`] (the one
//!    place it is decrypted, audited as `webhook_verification` before it is used) and
//!    kept in memory for at most [`KEY_TTL_SECS`] ([`Guard`]): a burst of deliveries,
//!    forged or not, costs one decryption and one audit record, and one summary record
//!    when the key is dropped. Every refusal is counted per webhook URL; past
//!    [`GuardSettings::failures_per_minute`] refusals are answered 429 with
//!    `Retry-After`, and no key is opened for them. No secret set means 401: a provider
//!    whose webhooks are signed is never accepted unsigned. Nothing is parsed before
//!    this step, except what the scheme itself reads (Twilio's form fields, Mailgun's
//!    signature object);
//! 3. the events ([`events`]): the body (JSON or form fields) or the headers, split
//!    when the provider batches; each gets the provider's event id;
//! 4. per event, one store transaction: the dedupe marker
//!    (`H#{project}#{integration}` / event id, `NotExists`, expiring after
//!    [`DEDUPE_TTL_SECS`]) and the cached entity (`E#{integration}#{entity}#{id}` in
//!    the project, conditional on the revision read), so concurrent duplicates yield
//!    one change and concurrent changes to one entity are applied one after the other;
//! 5. `DataChanged` for each recorded change, published on the bus. If publishing
//!    fails, the transactions are undone and the answer is 503, so the provider's
//!    retry finds nothing recorded and no event is lost.
//!
//! Two handshakes are answered: Slack's `url_verification` (after verification) and
//! Notion's first, unsigned POST carrying the subscription's `verification_token`
//! ([`notion`]). Those tokens are the one unverified thing ever stored: each sealed by
//! the vault under the integration's context (envelope version 0), under
//! `H#{project}#{integration}` / `#notion-verification-token`, for a week, at most
//! five, only while the integration has no `webhook_verification_token`, and never
//! used as a key: the user reviews them once
//! (`POST /projects/{project}/integrations/{name}/webhook-verification-token`, which
//! deletes them as it reveals them; see `http::verification_token`), pastes Notion's
//! into Notion, and sets it as the integration's `webhook_verification_token`.

mod events;
mod guard;
mod notion;
pub mod signing;
mod verify;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub use events::{
    Draft, Ignored, Unreadable, before_and_changed, draft, event_id, key_safe, read, split,
};
pub use guard::{
    Counted, FAILED_VERIFICATIONS_PER_MINUTE, Guard, GuardSettings, KEY_TTL_SECS, KeyIdentity,
    MAX_COUNTERS, MAX_OPEN_KEYS, OpenedKey, REFUSAL_FLOOR, ReleaseReason, ReleasedKey,
};
pub use verify::{Rejected, Signed, Verified, hubspot_uri, precheck, twilio_signed_text, verify};

use crate::aggregates::events as kept;
use crate::catalog::{Provider, SignatureScheme, Webhooks};
use crate::domain::{
    AuditOutcome, AuditPurpose, Change, DataChanged, Integration, IntegrationName, ProjectId,
    RequestId,
};
use crate::ports::{BusEvent, Condition, Deps, Item, Key, RawItem, StoreError, Write, json_len};
use crate::vault::{self, Credentials, VaultError};

pub use crate::domain::DEDUPE_TTL_SECS;

/// How many times an entity write is retried when another event for the same entity
/// got in between the read and the write.
const ENTITY_RETRIES: usize = 8;

/// A cached state larger than this is not kept (a DynamoDB item holds 400 KB); the
/// change is still published, with the state left out.
const MAX_STATE_BYTES: usize = 256 * 1024;

/// `before` and `after` are left out of a DataChanged larger than this (EventBridge
/// takes 256 KB per entry); the changed fields and ids still go out.
const MAX_EVENT_BYTES: usize = 200 * 1024;

/// How often held keys past their time are dropped (and their summaries written) when
/// no delivery comes to do it.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The sort key of the sealed Notion verification token in the dedupe partition (the
/// receiver's own items there start with `#`; event ids never do, see [`key_safe`]).
pub use crate::aggregates::events::keys::NOTION_TOKEN_SK;

/// The credential the user sets the revealed token as. While the integration has it,
/// no handshake token is kept (and none can be revealed).
pub const NOTION_TOKEN_CREDENTIAL: &str = "webhook_verification_token";

/// The field of the sealed envelope that holds the handshake's token.
pub const NOTION_SEALED_FIELD: &str = "verification_token";

/// The version the handshake's token is sealed under. No credential version of an
/// integration is ever 0, so this envelope can never be mistaken for (or opened as)
/// the integration's credentials, nor they for it.
pub const NOTION_TOKEN_VERSION: u32 = 0;

/// A delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The project id from the path, not yet checked (an unknown one is refused as a
    /// forged delivery is).
    pub project: String,
    /// The integration name from the path, not yet checked.
    pub integration: String,
    /// The HTTP method, upper case (some schemes sign it).
    pub method: String,
    /// The URL the provider called, as the provider wrote it (Twilio and HubSpot sign
    /// it): scheme and host as forwarded, path and query as received.
    pub url: String,
    /// The request's headers, as received.
    pub headers: HeaderMap,
    /// The raw body, exactly as received: signatures are over these bytes.
    pub body: Bytes,
    /// The request's id, for the audit record of the secret's decryption.
    pub request_id: RequestId,
    /// The address the request came from, when the server knows it (kept with a
    /// Notion handshake).
    pub source: Option<IpAddr>,
}

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Verified; each event recorded as a change, recognised as a duplicate, or ignored
    /// (no entity mapping for its type).
    Recorded {
        /// Events the delivery carried.
        events: usize,
        /// Events recorded as data changes (and published as `DataChanged`).
        changes: usize,
        /// Events already recorded by an earlier delivery.
        duplicates: usize,
        /// Events with no entity mapping for their type, or older than the cached
        /// state.
        ignored: usize,
    },
    /// Slack's url_verification: the challenge to echo.
    Challenge {
        /// The `challenge` value of Slack's request, answered as it came.
        challenge: String,
    },
    /// Notion's verification-token handshake.
    HandshakeReceived,
}

/// Why a delivery was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The delivery does not verify (signature, timestamp or secret), or there is no
    /// such webhook endpoint (answered alike). The reason is for the log only.
    #[error("{0}")]
    Unauthorized(#[from] Rejected),
    /// Refused past the limit of failed verifications for this webhook URL; failures
    /// are counted afresh after `retry_after_secs`.
    #[error("too many failed verifications for this webhook URL ({why})")]
    Limited {
        /// Seconds until the next window.
        retry_after_secs: u64,
        /// What was wrong with this delivery, for the log only.
        why: Rejected,
    },
    /// Verified, but the body does not read as the provider's events.
    #[error("{0}")]
    Unreadable(String),
    /// A dependency (store, key service, bus) did not answer; the provider's retry may
    /// succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or stored data that does not read.
    #[error("{0}")]
    Internal(String),
}

impl WebhookError {
    /// Whether this is a refusal (401 or 429), answered no sooner than the floor.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            WebhookError::Unauthorized(_) | WebhookError::Limited { .. }
        )
    }
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => WebhookError::Unavailable(why),
            other => WebhookError::Internal(other.to_string()),
        }
    }
}

impl From<Unreadable> for WebhookError {
    fn from(e: Unreadable) -> Self {
        WebhookError::Unreadable(e.0)
    }
}

/// The one place a webhook secret is decrypted: through the vault's audited open, with
/// purpose `webhook_verification` and the request as the cause. The audit record is
/// written before the credentials are handed out (none written, none handed out), and
/// says they are kept in memory for [`KEY_TTL_SECS`].
pub async fn webhook_credentials(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    request_id: &RequestId,
) -> Result<Credentials, WebhookError> {
    let cause = json!({"webhook_request": request_id, "kept_in_memory_secs": KEY_TTL_SECS});
    vault::open_for(
        deps,
        project,
        integration,
        AuditPurpose::WebhookVerification,
        cause,
    )
    .await
    .map_err(|e| match e {
        VaultError::Key(crate::ports::KeyError::Unavailable(why))
        | VaultError::AuditUnavailable(why) => WebhookError::Unavailable(why),
        other => WebhookError::Internal(other.to_string()),
    })
}

/// Writes the summary record of every held key dropped since the last call (see
/// [`Guard`]). A record that cannot be written is logged, with its counts.
pub async fn write_released(deps: &Deps) {
    for released in deps.webhook_guard.take_released() {
        let opened_at = chrono::DateTime::from_timestamp(released.opened_at, 0);
        let cause = json!({"verification_key": {
            "opened_at": opened_at,
            "released": released.reason,
        }});
        let record = vault::audit_record(
            deps,
            &released.project,
            &released.integration,
            released.credential_version,
            AuditPurpose::WebhookVerification,
            cause,
            AuditOutcome::Released {
                served: released.served,
                failed: released.failed,
            },
        );
        if let Err(error) = record.write_alone(deps).await {
            tracing::error!(project = %released.project, integration = %released.integration,
                served = released.served, failed = released.failed, %error,
                "the summary record of a dropped webhook verification key could not be written");
        }
    }
}

/// Drops held keys past their time every [`SWEEP_EVERY`] and writes their summaries,
/// so a key is wiped on time even when no delivery comes. Started with the first key
/// held; runs as long as the runtime does (the process; on Lambda, a frozen container
/// sweeps when it thaws).
fn start_sweeper(deps: &Deps) {
    if !deps.webhook_guard.start_sweeper_once() {
        return;
    }
    let deps = deps.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            deps.webhook_guard.sweep(deps.clock.now().timestamp());
            write_released(&deps).await;
        }
    });
}

/// The provider an integration is of (see [`crate::catalog::provider_for`]).
fn provider_of(integration: &Integration) -> Result<Cow<'static, Provider>, WebhookError> {
    crate::catalog::provider_for(
        integration.name.as_str(),
        &integration.provider,
        &integration.config,
    )
    .map_err(|e| WebhookError::Internal(format!("stored integration: {e}")))
}

/// The header the signature (or the shared secret) arrives in.
fn signature_header(hooks: &Webhooks, integration: &Integration) -> Option<String> {
    let configured = hooks
        .header_config
        .as_ref()
        .and_then(|field| integration.config.get(field))
        .and_then(Value::as_str)
        .filter(|h| !h.trim().is_empty())
        .map(|h| h.trim().to_owned());
    let default = match hooks.signature {
        SignatureScheme::StripeV1 => Some("Stripe-Signature"),
        SignatureScheme::SlackV0 => Some("X-Slack-Signature"),
        SignatureScheme::Twilio => Some("X-Twilio-Signature"),
        SignatureScheme::HubspotV3 => Some("X-HubSpot-Signature-v3"),
        SignatureScheme::SendgridEcdsa => Some("X-Twilio-Email-Event-Webhook-Signature"),
        SignatureScheme::Linear => Some("Linear-Signature"),
        SignatureScheme::Notion => Some("X-Notion-Signature"),
        SignatureScheme::HubSignatureSha1 => Some("X-Hub-Signature"),
        SignatureScheme::MailgunBody => None,
        SignatureScheme::BasicAuth => Some("Authorization"),
        SignatureScheme::HeaderSecret => Some("Authorization"),
        SignatureScheme::HmacSha256 => Some("X-Signature"),
    };
    configured
        .or_else(|| hooks.header.clone())
        .or_else(|| default.map(str::to_owned))
}

/// Verifies a delivery and records what it says. See the module documentation.
///
/// A refusal (401 or 429) is returned no sooner than the guard's refusal floor after
/// this was called, whatever it cost to decide.
pub async fn ingest(deps: &Deps, delivery: Delivery) -> Result<Outcome, WebhookError> {
    let arrived = tokio::time::Instant::now();
    let result = receive(deps, &delivery).await;
    write_released(deps).await;
    if result.as_ref().is_err_and(WebhookError::is_refusal) {
        tokio::time::sleep_until(arrived + deps.webhook_guard.settings().refusal_floor).await;
    }
    result
}

/// A webhook URL that names an integration whose provider sends webhooks.
struct Target {
    project: ProjectId,
    integration: Integration,
    provider: Cow<'static, Provider>,
}

/// The integration the delivery's URL names, if it exists and its provider sends
/// webhooks. An integration exists only inside an existing project: one read answers
/// both.
async fn target(deps: &Deps, delivery: &Delivery) -> Result<Option<Target>, WebhookError> {
    let (Ok(project), Ok(name)) = (
        ProjectId::parse(&delivery.project),
        IntegrationName::parse(&delivery.integration),
    ) else {
        return Ok(None);
    };
    let Some(integration) = crate::aggregates::integrations::get(deps, &project, &name).await?
    else {
        return Ok(None);
    };
    let provider = provider_of(&integration)?;
    Ok(provider.webhooks.is_some().then_some(Target {
        project,
        integration,
        provider,
    }))
}

/// Where a delivery's refusals are counted, and when.
struct Refusals<'a> {
    guard: &'a Guard,
    counter: u64,
    now: i64,
    delivery: &'a Delivery,
}

impl Refusals<'_> {
    /// Counts a refusal and answers it: 401 within the limit, 429 past it.
    fn refuse(&self, why: Rejected) -> WebhookError {
        let (project, integration) = (&self.delivery.project, &self.delivery.integration);
        match &why {
            Rejected::UnknownTarget => {
                tracing::debug!(?project, ?integration, reason = %why, "webhook delivery refused");
            }
            _ => tracing::warn!(%project, %integration, reason = %why, "webhook delivery refused"),
        }
        match self.guard.count_failure(self.counter, self.now) {
            Counted::Unauthorized => WebhookError::Unauthorized(why),
            Counted::Limited { retry_after_secs } => WebhookError::Limited {
                retry_after_secs,
                why,
            },
        }
    }
}

/// [`ingest`] but for the refusal floor and the summaries of dropped keys.
async fn receive(deps: &Deps, delivery: &Delivery) -> Result<Outcome, WebhookError> {
    let started = Instant::now();
    let guard = deps.webhook_guard.as_ref();
    let now = deps.clock.now().timestamp();
    guard.sweep(now);
    let counter = guard.counter(&delivery.project, &delivery.integration);
    let refusals = Refusals {
        guard,
        counter,
        now,
        delivery,
    };
    let limited = guard.limited(counter, now);
    let Some(target) = target(deps, delivery).await? else {
        guard.decoy_check(&delivery.body);
        return Err(refusals.refuse(Rejected::UnknownTarget));
    };
    let (project, integration) = (&target.project, &target.integration);
    let hooks = target
        .provider
        .webhooks
        .as_ref()
        .ok_or_else(|| WebhookError::Internal("a webhook target without webhooks".into()))?;
    let header = signature_header(hooks, integration);

    if hooks.signature == SignatureScheme::Notion
        && header
            .as_deref()
            .is_some_and(|h| !delivery.headers.contains_key(h))
        && let Some(token) = notion::handshake_token(&delivery.body)
    {
        return notion::keep_handshake(deps, project, integration, token, delivery.source).await;
    }

    // Refusals that need no secret come first: no decryption (and no audit record) is
    // spent on a delivery that carries no signature at all.
    let Some(field) = hooks
        .secret_fields
        .iter()
        .find(|f| integration.credentials.fields.contains(f))
    else {
        return Err(refusals.refuse(Rejected::NoSecret(hooks.secret_fields.join(", "))));
    };
    let signed = Signed {
        method: &delivery.method,
        url: &delivery.url,
        headers: &delivery.headers,
        body: &delivery.body,
        now,
    };
    precheck(hooks, header.as_deref(), &signed, DEDUPE_TTL_SECS)
        .map_err(|why| refusals.refuse(why))?;

    let Some(key) =
        verification_key(deps, &target, &delivery.request_id, &refusals, limited).await?
    else {
        return Err(refusals.refuse(Rejected::Unchecked));
    };
    let Some(secret) = key.credentials().get(field) else {
        return Err(refusals.refuse(Rejected::NoSecret(field.clone())));
    };
    let verified = verify(
        hooks,
        header.as_deref(),
        secret.expose_secret(),
        &signed,
        DEDUPE_TTL_SECS,
    );
    key.count(verified.is_ok());
    drop(key);
    let verified = verified.map_err(|why| refusals.refuse(why))?;
    let at = Recording {
        deps,
        project,
        integration: &integration.name,
        now,
    };
    match record_all(&at, hooks, header.as_deref(), delivery, verified, started).await {
        Err(WebhookError::Unauthorized(why)) => Err(refusals.refuse(why)),
        other => other,
    }
}

/// The integration's verification key: the one held, else opened (audited, then held
/// for [`KEY_TTL_SECS`]), one opening at a time per integration. `None` past the limit
/// of failed verifications, once the window's one opening has been used: no secret is
/// decrypted for a URL under attack, while a key held keeps verifying the provider's
/// deliveries.
async fn verification_key(
    deps: &Deps,
    target: &Target,
    request_id: &RequestId,
    refusals: &Refusals<'_>,
    limited: bool,
) -> Result<Option<Arc<OpenedKey>>, WebhookError> {
    let (guard, now) = (refusals.guard, refusals.now);
    let (project, integration) = (&target.project, &target.integration);
    let identity = KeyIdentity::of(&integration.credentials);
    if let Some(key) = guard.key(project, &integration.name, &identity, now) {
        return Ok(Some(key));
    }
    if limited && !guard.take_refill(refusals.counter, now) {
        return Ok(None);
    }
    let _opening = guard.opening(project, &integration.name).await;
    if let Some(key) = guard.key(project, &integration.name, &identity, now) {
        return Ok(Some(key));
    }
    let credentials = webhook_credentials(deps, project, integration, request_id).await?;
    let key = guard.keep(project, &integration.name, identity, credentials, now);
    start_sweeper(deps);
    Ok(Some(key))
}

/// Where verified events are recorded: the project's integration, at a time.
struct Recording<'a> {
    deps: &'a Deps,
    project: &'a ProjectId,
    integration: &'a IntegrationName,
    /// Seconds since the epoch.
    now: i64,
}

/// The verified part of [`ingest`]: reads the events and records each.
async fn record_all(
    at: &Recording<'_>,
    hooks: &Webhooks,
    header: Option<&str>,
    delivery: &Delivery,
    verified: Verified,
    started: Instant,
) -> Result<Outcome, WebhookError> {
    let (deps, project, name) = (at.deps, at.project, at.integration);
    let doc = read(hooks, &delivery.headers, &delivery.body, header)?;
    if hooks.signature == SignatureScheme::SlackV0
        && doc.get("type").and_then(Value::as_str) == Some("url_verification")
    {
        let challenge = doc
            .get("challenge")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                WebhookError::Unreadable("url_verification without a challenge".into())
            })?;
        return Ok(Outcome::Challenge {
            challenge: challenge.to_owned(),
        });
    }
    let batch = hooks.batch;
    let list = split(hooks, doc)?;
    let (mut changes, mut duplicates, mut ignored) = (Vec::new(), 0, 0);
    let mut republished = Vec::new();
    let mut undo = Vec::new();
    let total = list.len();
    for event in list {
        let id = event_id(hooks, &delivery.headers, &event, batch);
        match draft(hooks, event) {
            Err(why) => {
                ignored += 1;
                tracing::debug!(%project, integration = %name, event = %id, reason = %why, "webhook event ignored");
            }
            Ok(draft) => {
                let recorded = record(at, &id, draft, verified.token.as_deref()).await;
                match recorded {
                    Ok(Recorded::Change(recorded)) => {
                        let (change, written) = *recorded;
                        changes.push(change);
                        undo.push(written);
                    }
                    Ok(Recorded::Duplicate) => duplicates += 1,
                    Ok(Recorded::Republish(stuck)) => {
                        duplicates += 1;
                        tracing::warn!(%project, integration = %name, event = %id,
                            "a change left pending by an earlier delivery is published again");
                        republished.push(*stuck);
                    }
                    Ok(Recorded::Stale) => {
                        ignored += 1;
                        tracing::debug!(%project, integration = %name, event = %id,
                            "webhook event older than the cached state; not applied");
                    }
                    Err(e) => {
                        undo_all(deps, undo).await;
                        return Err(e);
                    }
                }
            }
        }
    }
    let recorded = changes.len();
    if !changes.is_empty() || !republished.is_empty() {
        let events: Result<Vec<BusEvent>, _> = changes
            .into_iter()
            .chain(republished)
            .map(data_changed_event)
            .collect();
        let published = match events {
            Ok(events) => deps.bus.publish(events).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = published {
            tracing::error!(%project, integration = %name, %error, "DataChanged not published; the delivery is undone for the provider to retry");
            undo_all(deps, undo).await;
            return Err(WebhookError::Unavailable(format!(
                "the event bus did not take the change: {error}"
            )));
        }
    }
    tracing::debug!(%project, integration = %name, events = total, changes = recorded,
        duplicates, ignored, micros = started.elapsed().as_micros() as u64, "webhook delivery recorded");
    Ok(Outcome::Recorded {
        events: total,
        changes: recorded,
        duplicates,
        ignored,
    })
}

/// DataChanged as a bus event, its before and after states moved into the detail
/// rather than copied.
fn data_changed_event(mut change: DataChanged) -> Result<BusEvent, crate::ports::BusError> {
    let before = std::mem::take(&mut change.before);
    let after = std::mem::take(&mut change.after);
    let mut event = BusEvent::of(DataChanged::DETAIL_TYPE, &change)?;
    if let Value::Object(detail) = &mut event.detail {
        detail.insert("before".into(), before);
        detail.insert("after".into(), after);
    }
    Ok(event)
}

/// What one event's transaction wrote, to undo it if the change cannot be published.
struct Written {
    marker: Key,
    token: Option<Key>,
    entity: Key,
    pending: Key,
    /// The entity's document as it was stored before (none if there was none).
    previous: Option<Box<RawValue>>,
    revision: u64,
}

/// A dedupe marker: when the event came, what it was about, and the change it made (or
/// `stale`: older than the cached state, recorded as seen and not applied).
#[derive(Serialize)]
struct Marker<'a> {
    received_at: &'a str,
    event_type: &'a str,
    entity: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: Option<bool>,
}

/// A cached entity as stored: its last known state (left out past
/// [`MAX_STATE_BYTES`]), and what [`record`] decides on next time.
#[derive(Serialize)]
struct EntityDoc<'a> {
    integration: &'a IntegrationName,
    entity_type: &'a str,
    id: &'a str,
    state: &'a Value,
    state_too_large: bool,
    deleted: bool,
    revision: u64,
    provider_event_id: &'a str,
    updated_at: &'a str,
    event_time: Option<i64>,
}

/// The cached entity as [`record`] reads it: what it decides on, and the state, read
/// straight from the stored text.
#[derive(Deserialize)]
struct Cached {
    #[serde(default)]
    state: Value,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    event_time: Option<i64>,
}

/// The condition a cached entity's write holds to: none was there, or the revision
/// read is still the one stored (optimistic concurrency).
fn revision_condition(existed: bool, revision: u64) -> Condition {
    if existed {
        Condition::FieldEquals {
            field: "revision".into(),
            value: json!(revision - 1),
        }
    } else {
        Condition::NotExists
    }
}

/// A late delivery of an older event: its marker is recorded (a retry stays a
/// duplicate), and nothing else.
async fn record_stale(deps: &Deps, marker: Write) -> Result<Recorded, WebhookError> {
    match deps.store.transact(vec![marker]).await {
        Ok(()) => Ok(Recorded::Stale),
        // The marker is the one write: a failed condition is its, whether or not the
        // store names the index.
        Err(StoreError::ConditionFailed {
            index: Some(0) | None,
        }) => Ok(Recorded::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Why the event's transaction refused write `i` (past the marker and the entity): a
/// signature token already used, else a bug.
fn refused_write(i: usize, token_index: Option<usize>) -> WebhookError {
    if Some(i) == token_index {
        WebhookError::Unauthorized(Rejected::Malformed(
            "signature token (already used for another event)".into(),
        ))
    } else {
        WebhookError::Internal(format!("write {i} of the event's transaction refused"))
    }
}

/// A change as the bus can carry it: one too large for an entry leaves out its states.
fn fitted_change(mut change: DataChanged) -> DataChanged {
    let size = json_len(&change);
    if size > MAX_EVENT_BYTES {
        tracing::warn!(project = %change.project, integration = %change.integration,
            event = %change.provider_event_id, size,
            "DataChanged too large for the bus; before and after left out");
        change.before = Value::Null;
        change.after = Value::Null;
    }
    change
}

impl Cached {
    /// The cached entity's last event time, its revision (0 when there is none) and its
    /// state (none when deleted or not kept).
    fn read(
        stored: Option<&RawValue>,
        key: &Key,
    ) -> Result<(Option<i64>, u64, Option<Value>), StoreError> {
        let cached: Option<Cached> = stored
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|e| {
                StoreError::Corrupt(format!("cached entity {}/{}: {e}", key.pk, key.sk))
            })?;
        Ok(match cached {
            None => (None, 0, None),
            Some(c) => (
                c.event_time,
                c.revision,
                (!c.deleted && !c.state.is_null()).then_some(c.state),
            ),
        })
    }
}

/// A cached entity's item. A deleted entity is kept as long as runs are (its tombstone
/// still orders late deliveries), then expires; a live one stays: it is the state that
/// data-change triggers compare against.
fn entity_item(key: &Key, doc: &EntityDoc<'_>, now: i64) -> Result<RawItem, StoreError> {
    let item = RawItem::of(key.clone(), doc)?;
    Ok(if doc.deleted {
        item.expiring(now + crate::aggregates::runs::retention_secs())
    } else {
        item
    })
}

enum Recorded {
    Change(Box<(DataChanged, Written)>),
    Duplicate,
    /// A duplicate of an event whose change stayed pending past
    /// [`REPUBLISH_AFTER_SECS`]: the process that recorded it died before it was
    /// published or handled, so it is published again.
    Republish(Box<DataChanged>),
    /// Older than the cached state: recorded as seen, not applied.
    Stale,
}

async fn record(
    at: &Recording<'_>,
    event_id: &str,
    draft: Draft,
    token: Option<&str>,
) -> Result<Recorded, WebhookError> {
    let (deps, project, integration, now) = (at.deps, at.project, at.integration, at.now);
    let marker = kept::marker_key(project, integration, event_id);
    let token_key = token.map(|t| kept::mailgun_token_key(project, integration, &key_safe(t)));
    let entity = kept::entity_key(project, integration, &draft.entity_type, &draft.entity_id);
    let pending = kept::pending_change_key(project, integration, event_id);
    let expires = now + DEDUPE_TTL_SECS;
    // As a DateTime serializes, formatted once for the marker and the entity.
    let at = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    // The dedupe marker: written only if absent, expiring with the dedupe window.
    let marker_write = |change: Option<Change>| -> Result<Write, StoreError> {
        let doc = Marker {
            received_at: &at,
            event_type: &draft.event_type,
            entity: &entity.sk,
            change,
            stale: change.is_none().then_some(true),
        };
        Ok(Write::PutRaw(
            RawItem::of(marker.clone(), &doc)?.expiring(expires),
            Condition::NotExists,
        ))
    };
    for _ in 0..ENTITY_RETRIES {
        let previous = deps.store.get_json(&entity).await?;
        let (cached_time, cached_revision, cached) = Cached::read(previous.as_deref(), &entity)?;
        // A late delivery of an older event leaves the newer cached state alone: its
        // marker is recorded (a retry stays a duplicate), nothing else.
        if let (Some(happened), Some(newest)) = (draft.event_time, cached_time)
            && happened < newest
        {
            return record_stale(deps, marker_write(None)?).await;
        }
        let (before, changed_fields) = before_and_changed(&draft, cached);
        let revision = cached_revision + 1;
        let state_fits = json_len(&draft.after) <= MAX_STATE_BYTES;
        let entity_doc = EntityDoc {
            integration,
            entity_type: &draft.entity_type,
            id: &draft.entity_id,
            state: if state_fits {
                &draft.after
            } else {
                &Value::Null
            },
            state_too_large: !state_fits,
            deleted: draft.change == Change::Deleted,
            revision,
            provider_event_id: event_id,
            updated_at: &at,
            event_time: draft.event_time.or(cached_time),
        };
        let entity_condition = revision_condition(previous.is_some(), revision);
        let change = fitted_change(DataChanged {
            project: project.clone(),
            integration: integration.clone(),
            entity_type: draft.entity_type.clone(),
            entity_id: draft.entity_id.clone(),
            change: draft.change,
            changed_fields,
            before,
            after: draft.after.clone(),
            provider_event_id: event_id.to_owned(),
        });
        let mut writes = vec![
            marker_write(Some(draft.change))?,
            Write::PutRaw(entity_item(&entity, &entity_doc, now)?, entity_condition),
            kept::pending_change_write(pending.clone(), &change, now)?,
        ];
        if let Some(key) = &token_key {
            writes.push(Write::Put(
                Item::new(key.clone(), json!({"event": event_id})).expiring(expires),
                Condition::NotExists,
            ));
        }
        let token_index = token_key.as_ref().map(|_| 3);
        match deps.store.transact(writes).await {
            Ok(()) => {
                let written = Written {
                    marker,
                    token: token_key,
                    entity,
                    pending,
                    previous,
                    revision,
                };
                return Ok(Recorded::Change(Box::new((change, written))));
            }
            Err(StoreError::ConditionFailed { index: Some(0) }) => {
                return duplicate(deps, &pending, now).await;
            }
            Err(StoreError::ConditionFailed { index: Some(1) }) => continue,
            Err(StoreError::ConditionFailed { index: Some(i) }) => {
                return Err(refused_write(i, token_index));
            }
            Err(StoreError::ConditionFailed { index: None }) => {
                if deps.store.get(&marker).await?.is_some() {
                    return duplicate(deps, &pending, now).await;
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(WebhookError::Unavailable(format!(
        "{} {} kept changing while this event was applied",
        draft.entity_type, draft.entity_id
    )))
}

/// Publishes again every change recorded and not yet handled: what a process that died
/// (a SIGKILL, a crash) had acknowledged to providers and not handled. The local binary
/// calls it at start, once its bus delivers; handling is idempotent, so a change that
/// was in fact handled (its pending entry's deletion lost) starts nothing twice.
///
/// # Errors
/// The store's, or the bus's.
pub async fn publish_pending(deps: &Deps) -> Result<usize, WebhookError> {
    let pending = kept::pending_changes(deps).await?;
    let count = pending.len();
    // In bus-sized batches, as the bus takes them.
    let events: Vec<BusEvent> = pending
        .into_iter()
        .map(|p| data_changed_event(p.change))
        .collect::<Result<_, _>>()
        .map_err(|e| WebhookError::Internal(e.to_string()))?;
    for batch in events.chunks(10) {
        deps.bus
            .publish(batch.to_vec())
            .await
            .map_err(|e| WebhookError::Unavailable(e.to_string()))?;
    }
    Ok(count)
}

/// A change pending longer than this when its event comes again is published again.
const REPUBLISH_AFTER_SECS: i64 = 60;

/// A delivery of an event already recorded: a duplicate, unless its change has stayed
/// pending (unhandled) for [`REPUBLISH_AFTER_SECS`].
async fn duplicate(deps: &Deps, pending: &Key, now: i64) -> Result<Recorded, WebhookError> {
    Ok(match kept::pending_change(deps, pending).await? {
        Some(stuck) if stuck.recorded_at + REPUBLISH_AFTER_SECS <= now => {
            Recorded::Republish(Box::new(stuck.change))
        }
        _ => Recorded::Duplicate,
    })
}

/// Undoes recorded events (newest first) so the provider's retry records them afresh.
/// The entity is put back only if nothing changed it since; the marker always goes.
async fn undo_all(deps: &Deps, written: Vec<Written>) {
    for w in written.into_iter().rev() {
        let guard = Condition::FieldEquals {
            field: "revision".into(),
            value: json!(w.revision),
        };
        let restore = match w.previous {
            // Put back as the text it was read as (an entity never expires).
            Some(json) => Write::PutRaw(
                RawItem {
                    key: w.entity.clone(),
                    json,
                    expires_at: None,
                },
                guard,
            ),
            None => Write::Delete(w.entity.clone(), guard),
        };
        let mut writes = vec![
            Write::Delete(w.marker.clone(), Condition::Always),
            restore,
            Write::Delete(w.pending.clone(), Condition::Always),
        ];
        if let Some(token) = &w.token {
            writes.push(Write::Delete(token.clone(), Condition::Always));
        }
        if deps.store.transact(writes).await.is_err() {
            let mut fallback = vec![
                Write::Delete(w.marker.clone(), Condition::Always),
                Write::Delete(w.pending.clone(), Condition::Always),
            ];
            if let Some(token) = w.token {
                fallback.push(Write::Delete(token, Condition::Always));
            }
            if let Err(error) = deps.store.transact(fallback).await {
                tracing::error!(marker = %w.marker.sk, %error, "a webhook dedupe marker could not be undone; the provider's retry will be taken as a duplicate");
            }
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
