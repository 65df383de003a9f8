//! Notion's webhook verification token: the handshakes received, shown to the user
//! once.
//!
//! Notion sends the token when a webhook subscription is created, unsigned, to
//! `/hooks/...`; the receiver keeps each handshake sealed, with when it arrived and the
//! address it came from, up to five ([`crate::aggregates::events`]). Since anyone who
//! knows the URL can send one, the user sees them all: exactly one is normal; more
//! than one means someone else sent one too, and the answer says so. The user pastes
//! Notion's token into Notion's Verify dialog and then sets it as the integration's
//! `webhook_verification_token`. Reading them is a write: the pending item is deleted
//! in the same transaction that appends the audit record of the reveal, so they are
//! shown at most once, and never without a record of who asked.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Error, load, provider_of};
use crate::aggregates::events::{self, MAX_NOTION_HANDSHAKES, NotionHandshake, PendingHandshakes};
use crate::catalog::SignatureScheme;
use crate::domain::{
    AuditOutcome, AuditPurpose, DEDUPE_TTL_SECS, Integration, IntegrationName, ProjectId, RequestId,
};
use crate::ports::{Deps, StoreError};
use crate::vault;
use crate::webhooks::{NOTION_SEALED_FIELD, NOTION_TOKEN_CREDENTIAL, NOTION_TOKEN_VERSION};

/// Who asked for a reveal, for its audit record.
pub struct Asker {
    /// The request's id (API Gateway's, or a checked one from a header, or one made
    /// up).
    pub request_id: RequestId,
    /// The caller: the JWT's subject on AWS, `"project API token"` locally.
    pub caller: Value,
}

/// One revealed handshake. Its decrypted token (registered with the redactor) lives as
/// long as this value, so a log line that carried the token would show `[redacted]`.
pub struct RevealedHandshake {
    sealed: vault::Credentials,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The address it came from, when the server could tell.
    pub source: Option<IpAddr>,
}

impl RevealedHandshake {
    /// The token it carried.
    pub fn token(&self) -> Option<&SecretString> {
        self.sealed.get(NOTION_SEALED_FIELD)
    }
}

/// The revealed handshakes, oldest first, and what the user does with them.
pub struct Revealed {
    /// Every handshake kept, oldest first.
    pub handshakes: Vec<RevealedHandshake>,
    /// When more than one was kept: that only one can be Notion's, and how to tell.
    pub warning: Option<String>,
    /// What the user does next.
    pub next: String,
}

/// Reveals the pending Notion handshakes, once.
///
/// **This is the one response of the API that deliberately carries a secret.** Every
/// other route shows only which credential fields are set. The exception is bounded:
///
/// - the tokens are ones sent to the public webhook URL, unsigned; one becomes a
///   signing key only when the user sets it as `webhook_verification_token` (after
///   which this route answers 409);
/// - they are decrypted only after the caller is authorized for the project, and only
///   once: the pending item is deleted, conditional on it still being the one that was
///   decrypted (no handshake came meanwhile), in the same transaction as the audit
///   record ([`AuditPurpose::VerificationTokenRevealed`], no token in it: when and
///   where from each came). If that record cannot be written, nothing is deleted and
///   nothing is shown (fail closed); of two concurrent reveals, one gets the tokens
///   and the other a 404;
/// - while they are in hand they are registered with the redactor (the sealed
///   credentials' registration), so a log line that carried one would show
///   `[redacted]`; they go into no log, error, event, trace or audit record;
/// - the answer says `Cache-Control: no-store`.
///
/// Order: authorize, load the integration (404 unknown, 404 not Notion, 409 token
/// already set), read the pending item (404 when none: never received, already
/// revealed, or expired), decrypt each (a failure is audited and answered 5xx with
/// nothing deleted), commit the delete and the audit record, then answer 200.
pub async fn reveal(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    asker: Asker,
) -> Result<Revealed, Error> {
    let integration = notion_without_token(deps, project, name).await?;
    let pending = events::pending_notion_handshakes(deps, project, &integration.name)
        .await?
        .filter(|p| !p.handshakes.is_empty())
        .ok_or_else(|| nothing_pending(project, &integration))?;
    let arrivals: Vec<Value> = pending
        .handshakes
        .iter()
        .map(|h| json!({"received_at": h.received_at, "source": h.source}))
        .collect();
    let cause = json!({
        "request": "POST webhook-verification-token",
        "request_id": asker.request_id,
        "caller": asker.caller,
        "handshakes": arrivals,
    });
    let mut handshakes = Vec::with_capacity(pending.handshakes.len());
    for handshake in &pending.handshakes {
        handshakes.push(decrypt(deps, project, &integration, handshake, &cause).await?);
    }
    // One transaction: the pending item goes (only if it is still the one decrypted: a
    // concurrent reveal or a newer handshake makes this fail) and the audit record is
    // appended. No record, no reveal.
    let audit = vault::audit_record(
        deps,
        project,
        &integration.name,
        NOTION_TOKEN_VERSION,
        AuditPurpose::VerificationTokenRevealed,
        cause,
        AuditOutcome::Revealed,
    );
    events::take_notion_handshakes(deps, project, &integration.name, &pending, audit.write())
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { index: Some(1) } => {
                Error::Internal("the reveal's audit record id was already taken".into())
            }
            StoreError::ConditionFailed { .. } => nothing_pending(project, &integration),
            other => other.into(),
        })?;
    tracing::info!(project = %project, integration = %integration.name, handshakes = handshakes.len(),
        "Notion handshake tokens revealed to the user and removed; they are not kept anywhere now");
    Ok(Revealed {
        warning: warning(&handshakes, &pending),
        handshakes,
        next: next_steps(project, &integration),
    })
}

/// The warning shown when more than one handshake was kept.
fn warning(handshakes: &[RevealedHandshake], pending: &PendingHandshakes) -> Option<String> {
    if handshakes.len() < 2 {
        return None;
    }
    let mut tokens: Vec<&str> = handshakes
        .iter()
        .filter_map(|h| h.token().map(|t| t.expose_secret()))
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    let distinct = tokens.len();
    let mut text = if distinct == 1 {
        format!(
            "{} handshakes arrived and all carry the same token (a retry, most likely). \
             Still check that their arrival times match when you created the subscription in Notion.",
            handshakes.len()
        )
    } else {
        format!(
            "{} handshakes arrived, with {distinct} different tokens: anyone who knows the webhook URL can send one, \
             and only one of them is Notion's. Do not paste a token you cannot tell is Notion's. \
             Compare each token with the one Notion shows for the subscription, each arrival time with when you \
             created the subscription, and each source address with Notion's. If you cannot tell, use none of them: \
             delete the subscription in Notion, create it again, and reveal again (this reveal has cleared them all).",
            handshakes.len()
        )
    };
    if pending.full() {
        text.push_str(&format!(
            " The list was full ({MAX_NOTION_HANDSHAKES} are kept): any handshake after these was dropped, \
             so Notion's may not be among them."
        ));
    }
    Some(text)
}

/// The integration, if it is a Notion integration that has no verification token set
/// yet (404 otherwise, or 409 when the token is set).
async fn notion_without_token(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Integration, Error> {
    let integration = load(deps, project, name).await?;
    let provider = provider_of(
        integration.name.as_str(),
        &integration.provider,
        &integration.config,
    )?;
    let notion = provider
        .webhooks
        .as_ref()
        .is_some_and(|h| h.signature == SignatureScheme::Notion);
    if !notion {
        return Err(Error::NotFound(format!(
            "{} is a {} integration; only Notion integrations receive a webhook verification token",
            integration.name, provider.display_name
        )));
    }
    if integration
        .credentials
        .fields
        .iter()
        .any(|f| f == NOTION_TOKEN_CREDENTIAL)
    {
        return Err(Error::conflict(format!(
            "{name} already has a {NOTION_TOKEN_CREDENTIAL}, so Notion's handshake tokens are not kept for it. \
             To rotate it: PUT /projects/{project}/integrations/{name}/credentials without {NOTION_TOKEN_CREDENTIAL}, \
             delete and recreate the webhook subscription in Notion (it sends a new token to /hooks/{project}/{name}), \
             then POST this route again and PUT the new token as {NOTION_TOKEN_CREDENTIAL}",
            name = integration.name,
        )));
    }
    Ok(integration)
}

/// Decrypts one pending handshake's token. If the envelope does not open, nothing is
/// deleted; the failure is audited like every failed decryption (as `vault::open_for`
/// does).
async fn decrypt(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    handshake: &NotionHandshake,
    cause: &Value,
) -> Result<RevealedHandshake, Error> {
    let envelope = &handshake.envelope;
    if envelope.version != NOTION_TOKEN_VERSION {
        return Err(Error::Internal(format!(
            "a pending Notion handshake of {project}/{} is sealed as version {}, not {NOTION_TOKEN_VERSION}",
            integration.name, envelope.version
        )));
    }
    let error = match vault::open(deps.keys.as_ref(), project, &integration.name, envelope).await {
        Ok(sealed) if sealed.get(NOTION_SEALED_FIELD).is_some() => {
            return Ok(RevealedHandshake {
                sealed,
                received_at: handshake.received_at,
                source: handshake.source,
            });
        }
        Ok(_) => {
            return Err(Error::Internal(format!(
                "a pending Notion handshake of {project}/{} holds no {NOTION_SEALED_FIELD}",
                integration.name
            )));
        }
        Err(error) => error,
    };
    let record = vault::audit_record(
        deps,
        project,
        &integration.name,
        envelope.version,
        AuditPurpose::VerificationTokenRevealed,
        cause.clone(),
        AuditOutcome::Failed(error.to_string()),
    );
    if let Err(audit_error) = record.write_alone(deps).await {
        tracing::error!(project = %project, integration = %integration.name, %audit_error,
            "the failed decryption of a Notion verification token could not be audited");
    }
    Err(error.into())
}

fn nothing_pending(project: &ProjectId, integration: &Integration) -> Error {
    let name = &integration.name;
    Error::NotFound(format!(
        "no Notion verification token is waiting for {name}: none has been received at /hooks/{project}/{name}, \
         it was already revealed (it is shown once), or it expired (it is kept {} days). \
         Create the webhook subscription in Notion with that URL (or delete and recreate it) and try again",
        DEDUPE_TTL_SECS / (24 * 3600)
    ))
}

/// What the user does with the token. A credentials PUT replaces the whole set, so the
/// example names every field the integration has now, plus the new one.
fn next_steps(project: &ProjectId, integration: &Integration) -> String {
    let name = &integration.name;
    let mut fields: Vec<String> = integration
        .credentials
        .fields
        .iter()
        .map(|f| format!("\"{f}\": \"<your current {f}>\""))
        .collect();
    fields.push(format!(
        "\"{NOTION_TOKEN_CREDENTIAL}\": \"<this verification_token>\""
    ));
    format!(
        "These tokens are shown only this once. 1) Paste Notion's verification_token into Notion: your integration's settings, \
         Webhooks tab, Verify. 2) Set it on this integration so Notion's signed events are accepted: \
         PUT /projects/{project}/integrations/{name}/credentials with {{\"credentials\": {{{}}}}} \
         (the PUT replaces every credential, so send the current ones again). \
         Until then every Notion event is refused with 401.",
        fields.join(", ")
    )
}
