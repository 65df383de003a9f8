//! `POST /projects/{project}/integrations/{name}/webhook-verification-token`: shows the
//! user, once, the verification token Notion sent when the webhook subscription was
//! created, so they can paste it into Notion's Verify dialog and then set it as the
//! integration's `webhook_verification_token`.
//!
//! The token arrives unsigned at `/hooks/...` and is kept sealed by the receiver (see
//! [`crate::webhooks`]). Reading it is a write: the pending item is deleted in the same
//! transaction that appends the audit record of the reveal, so a token is shown at most
//! once, and never without a record of who asked. It is a POST for that reason (a GET
//! must not change anything, and caches and prefetchers replay GETs).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::credentials::{load, provider_of};
use super::integrations::vault_error;
use super::{ApiError, AppState, auth};
use crate::catalog::SignatureScheme;
use crate::domain::{AuditPurpose, CredentialEnvelope, Integration, ProjectId, keys};
use crate::ports::{Condition, Key, StoreError, Write};
use crate::vault;
use crate::webhooks::{
    DEDUPE_TTL_SECS, NOTION_SEALED_FIELD, NOTION_TOKEN_CREDENTIAL, NOTION_TOKEN_SK,
    NOTION_TOKEN_VERSION,
};

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
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let integration = load(&state, &project.id, &name).await?;
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
        return Err(ApiError::NotFound(format!(
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
        return Err(ApiError::Conflict {
            detail: format!(
                "{name} already has a {NOTION_TOKEN_CREDENTIAL}, so Notion's handshake tokens are not kept for it. \
                 To rotate it: PUT /projects/{project}/integrations/{name}/credentials without {NOTION_TOKEN_CREDENTIAL}, \
                 delete and recreate the webhook subscription in Notion (it sends a new token to /hooks/{project}/{name}), \
                 then POST this route again and PUT the new token as {NOTION_TOKEN_CREDENTIAL}",
                name = integration.name,
                project = project.id,
            ),
            extra: None,
        });
    }

    let key = Key::new(
        keys::webhook_dedupe(&project.id, &integration.name),
        NOTION_TOKEN_SK,
    );
    let pending = state
        .deps
        .store
        .get(&key)
        .await?
        .ok_or_else(|| nothing_pending(&project.id, &integration))?;
    let stored_envelope = pending.doc.get("envelope").cloned().unwrap_or(Value::Null);
    let envelope: CredentialEnvelope =
        serde_json::from_value(stored_envelope.clone()).map_err(|e| {
            ApiError::Internal(format!(
                "the pending Notion verification token of {}/{} has no readable envelope: {e}",
                project.id, integration.name
            ))
        })?;
    if envelope.version != NOTION_TOKEN_VERSION {
        return Err(ApiError::Internal(format!(
            "the pending Notion verification token of {}/{} is sealed as version {}, not {NOTION_TOKEN_VERSION}",
            project.id, integration.name, envelope.version
        )));
    }
    let received_at = pending
        .doc
        .get("received_at")
        .cloned()
        .unwrap_or(Value::Null);
    let cause = json!({
        "request": "POST webhook-verification-token",
        "request_id": super::hooks::request_id(&headers),
        "caller": caller_of(&caller),
        "received_at": received_at,
    });

    // Decrypt first: if the envelope does not open, nothing is deleted. The failure is
    // audited like every failed decryption (as vault::open_for does).
    let sealed = match vault::open(
        state.deps.keys.as_ref(),
        &project.id,
        &integration.name,
        &envelope,
    )
    .await
    {
        Ok(sealed) => sealed,
        Err(error) => {
            let record = vault::audit_record(
                &state.deps,
                &project.id,
                &integration.name,
                envelope.version,
                AuditPurpose::VerificationTokenRevealed,
                cause,
                format!("failed: {error}"),
            );
            if let Err(audit_error) = record.write_alone(&state.deps).await {
                tracing::error!(project = %project.id, integration = %integration.name, %audit_error,
                    "the failed decryption of a Notion verification token could not be audited");
            }
            return Err(vault_error(error));
        }
    };
    let token = sealed.get(NOTION_SEALED_FIELD).ok_or_else(|| {
        ApiError::Internal(format!(
            "the pending Notion verification token of {}/{} holds no {NOTION_SEALED_FIELD}",
            project.id, integration.name
        ))
    })?;

    // One transaction: the pending item goes (only if it is still the one decrypted: a
    // concurrent reveal or a newer handshake makes this fail) and the audit record is
    // appended. No record, no reveal.
    let audit = vault::audit_record(
        &state.deps,
        &project.id,
        &integration.name,
        envelope.version,
        AuditPurpose::VerificationTokenRevealed,
        cause,
        "revealed".into(),
    );
    state
        .deps
        .store
        .transact(vec![
            Write::Delete(
                key,
                Condition::FieldEquals {
                    field: "envelope".into(),
                    value: stored_envelope,
                },
            ),
            audit.write(),
        ])
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { index: Some(1) } => {
                ApiError::Internal("the reveal's audit record id was already taken".into())
            }
            StoreError::ConditionFailed { .. } => nothing_pending(&project.id, &integration),
            other => other.into(),
        })?;
    tracing::info!(project = %project.id, integration = %integration.name,
        "Notion verification token revealed to the user and removed; it is not kept anywhere now");

    let body = json!({
        "verification_token": token.expose_secret(),
        "received_at": received_at,
        "next": next_steps(&project.id, &integration),
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `sealed` (and its redactor registration) lives until here, past the response's
    // construction.
    drop(sealed);
    Ok(response)
}

fn nothing_pending(project: &ProjectId, integration: &Integration) -> ApiError {
    let name = &integration.name;
    ApiError::NotFound(format!(
        "no Notion verification token is waiting for {name}: none has been received at /hooks/{project}/{name}, \
         it was already revealed (it is shown once), or it expired (it is kept {} days). \
         Create the webhook subscription in Notion with that URL (or delete and recreate it) and try again",
        DEDUPE_TTL_SECS / (24 * 3600)
    ))
}

/// Who asked, for the audit record: the JWT's subject on AWS, the project token locally.
fn caller_of(caller: &auth::Caller) -> Value {
    match caller {
        auth::Caller::Jwt { subject, .. } => json!({"jwt_subject": subject}),
        auth::Caller::Token(_) => json!("project API token"),
        auth::Caller::Anonymous => Value::Null,
    }
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
