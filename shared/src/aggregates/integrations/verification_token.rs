//! Notion's webhook verification token: shown to the user, once.
//!
//! Notion sends the token when a webhook subscription is created, unsigned, to
//! `/hooks/...`; the receiver keeps it sealed ([`crate::aggregates::events`]). The user
//! pastes it into Notion's Verify dialog and then sets it as the integration's
//! `webhook_verification_token`. Reading it is a write: the pending item is deleted in
//! the same transaction that appends the audit record of the reveal, so a token is
//! shown at most once, and never without a record of who asked.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Error, load, provider_of};
use crate::aggregates::events::{self, PendingToken};
use crate::catalog::SignatureScheme;
use crate::domain::{
    AuditOutcome, AuditPurpose, DEDUPE_TTL_SECS, Integration, IntegrationName, ProjectId,
};
use crate::ports::{Deps, StoreError};
use crate::vault;
use crate::webhooks::{NOTION_SEALED_FIELD, NOTION_TOKEN_CREDENTIAL, NOTION_TOKEN_VERSION};

/// Who asked for a reveal, for its audit record.
pub struct Asker {
    /// The request's id (API Gateway's, or one made up).
    pub request_id: String,
    /// The caller: the JWT's subject on AWS, `"project API token"` locally.
    pub caller: Value,
}

/// A revealed token. The decrypted credentials (registered with the redactor) live as
/// long as this value, so a log line that carried the token would show `[redacted]`.
pub struct Revealed {
    sealed: vault::Credentials,
    /// When Notion sent it.
    pub received_at: Value,
    /// What the user does with it next.
    pub next: String,
}

impl Revealed {
    /// The token itself.
    pub fn token(&self) -> Option<&SecretString> {
        self.sealed.get(NOTION_SEALED_FIELD)
    }
}

/// Reveals the pending Notion verification token, once.
///
/// **This is the one response of the API that deliberately carries a secret.** Every
/// other route shows only which credential fields are set. The exception is bounded:
///
/// - the token is one Notion itself sent to the public webhook URL, unsigned; it
///   becomes a signing key only when the user sets it as `webhook_verification_token`
///   (after which this route answers 409);
/// - it is decrypted only after the caller is authorized for the project, and only
///   once: the pending item is deleted, conditional on it still being the one that was
///   decrypted, in the same transaction as the audit record
///   ([`AuditPurpose::VerificationTokenRevealed`], no token in it). If that record
///   cannot be written, nothing is deleted and nothing is shown (fail closed); of two
///   concurrent reveals, one gets the token and the other a 404;
/// - while it is in hand it is registered with the redactor (the sealed credentials'
///   registration), so a log line that carried it would show `[redacted]`; it goes into
///   no log, error, event, trace or audit record;
/// - the answer says `Cache-Control: no-store`.
///
/// Order: authorize, load the integration (404 unknown, 404 not Notion, 409 token
/// already set), read the pending item (404 when none: never received, already
/// revealed, or expired), decrypt (a failure is audited and answered 5xx with nothing
/// deleted), commit the delete and the audit record, then answer 200.
pub async fn reveal(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    asker: Asker,
) -> Result<Revealed, Error> {
    let integration = notion_without_token(deps, project, name).await?;
    let pending = events::pending_notion_token(deps, project, &integration.name)
        .await?
        .ok_or_else(|| nothing_pending(project, &integration))?;
    if pending.envelope.version != NOTION_TOKEN_VERSION {
        return Err(Error::Internal(format!(
            "the pending Notion verification token of {project}/{} is sealed as version {}, not {NOTION_TOKEN_VERSION}",
            integration.name, pending.envelope.version
        )));
    }
    let cause = json!({
        "request": "POST webhook-verification-token",
        "request_id": asker.request_id,
        "caller": asker.caller,
        "received_at": pending.received_at,
    });
    let sealed = decrypt(deps, project, &integration, &pending, &cause).await?;
    if sealed.get(NOTION_SEALED_FIELD).is_none() {
        return Err(Error::Internal(format!(
            "the pending Notion verification token of {project}/{} holds no {NOTION_SEALED_FIELD}",
            integration.name
        )));
    }
    // One transaction: the pending item goes (only if it is still the one decrypted: a
    // concurrent reveal or a newer handshake makes this fail) and the audit record is
    // appended. No record, no reveal.
    let audit = vault::audit_record(
        deps,
        project,
        &integration.name,
        pending.envelope.version,
        AuditPurpose::VerificationTokenRevealed,
        cause,
        AuditOutcome::Revealed,
    );
    events::take_notion_token(deps, project, &integration.name, &pending, audit.write())
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { index: Some(1) } => {
                Error::Internal("the reveal's audit record id was already taken".into())
            }
            StoreError::ConditionFailed { .. } => nothing_pending(project, &integration),
            other => other.into(),
        })?;
    tracing::info!(project = %project, integration = %integration.name,
        "Notion verification token revealed to the user and removed; it is not kept anywhere now");
    Ok(Revealed {
        sealed,
        received_at: pending.received_at.clone(),
        next: next_steps(project, &integration),
    })
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

/// Decrypts the pending token. If the envelope does not open, nothing is deleted; the
/// failure is audited like every failed decryption (as `vault::open_for` does).
async fn decrypt(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    pending: &PendingToken,
    cause: &Value,
) -> Result<vault::Credentials, Error> {
    match vault::open(
        deps.keys.as_ref(),
        project,
        &integration.name,
        &pending.envelope,
    )
    .await
    {
        Ok(sealed) => Ok(sealed),
        Err(error) => {
            let record = vault::audit_record(
                deps,
                project,
                &integration.name,
                pending.envelope.version,
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
    }
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
        "This token is shown only this once. 1) Paste verification_token into Notion: your integration's settings, \
         Webhooks tab, Verify. 2) Set it on this integration so Notion's signed events are accepted: \
         PUT /projects/{project}/integrations/{name}/credentials with {{\"credentials\": {{{}}}}} \
         (the PUT replaces every credential, so send the current ones again). \
         Until then every Notion event is refused with 401.",
        fields.join(", ")
    )
}
