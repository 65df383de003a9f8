//! Notion's handshake: the first, unsigned POST of a new webhook subscription, which
//! carries the `verification_token` the user pastes back into Notion.
//!
//! Being unsigned, a handshake can come from anyone who knows the webhook URL. So no
//! handshake replaces another: while the integration has no
//! `webhook_verification_token`, each one is kept (its token sealed, with when it
//! arrived and the address it came from), up to
//! [`MAX_NOTION_HANDSHAKES`](crate::aggregates::events::MAX_NOTION_HANDSHAKES). Past
//! that they are dropped: answered as a kept one is (the sender learns nothing from the
//! answer), not stored, logged. The reveal shows every kept one and warns when there
//! is more than one, and says when the list is full (a later one, Notion's perhaps,
//! may have been dropped); revealing clears the list.

use std::net::IpAddr;

use serde_json::Value;

use super::{
    NOTION_SEALED_FIELD, NOTION_TOKEN_CREDENTIAL, NOTION_TOKEN_VERSION, Outcome, WebhookError,
};
use crate::aggregates::events::{self, NotionHandshake};
use crate::domain::{Integration, ProjectId};
use crate::ports::{Deps, StoreError};
use crate::vault::{self, Credentials, VaultError};

/// How many times a handshake is added again when another write got in between.
const RETRIES: usize = 4;

/// Notion's handshake: an unsigned JSON object carrying only `verification_token`.
pub(super) fn handshake_token(body: &[u8]) -> Option<String> {
    let doc: serde_json::Map<String, Value> = serde_json::from_slice(body).ok()?;
    if doc.len() != 1 {
        return None;
    }
    match doc.get("verification_token") {
        Some(Value::String(token)) if !token.is_empty() && token.len() <= 512 => {
            Some(token.clone())
        }
        _ => None,
    }
}

/// Keeps a handshake's token, sealed, beside the others pending (see the module
/// documentation). The token is sealed only when there is room for it.
pub(super) async fn keep_handshake(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    token: String,
    source: Option<IpAddr>,
) -> Result<Outcome, WebhookError> {
    let name = &integration.name;
    if integration
        .credentials
        .fields
        .iter()
        .any(|f| f == NOTION_TOKEN_CREDENTIAL)
    {
        tracing::warn!(%project, integration = %name, source = ?source,
            "Notion handshake received while a verification token is already set; not kept (rotate the credential to change it)");
        return Ok(Outcome::HandshakeReceived);
    }
    let received_at = deps.clock.now();
    let mut envelope = None;
    for _ in 0..RETRIES {
        let pending = events::pending_notion_handshakes(deps, project, name).await?;
        if pending
            .as_ref()
            .is_some_and(events::PendingHandshakes::full)
        {
            tracing::warn!(%project, integration = %name, source = ?source,
                "Notion handshake dropped: {} are already waiting for the user's review",
                events::MAX_NOTION_HANDSHAKES);
            return Ok(Outcome::HandshakeReceived);
        }
        let sealed = match envelope.take() {
            Some(sealed) => sealed,
            None => seal(deps, project, integration, &token).await?,
        };
        let handshake = NotionHandshake {
            envelope: sealed,
            received_at,
            source,
        };
        match events::add_notion_handshake(deps, project, name, pending.as_ref(), handshake.clone())
            .await
        {
            Ok(()) => {
                let kept = pending.map_or(1, |p| p.handshakes.len() + 1);
                tracing::info!(%project, integration = %name, source = ?source, kept,
                    "Notion handshake received and sealed; the user reviews it with the reveal");
                return Ok(Outcome::HandshakeReceived);
            }
            Err(StoreError::ConditionFailed { .. }) => envelope = Some(handshake.envelope),
            Err(other) => return Err(other.into()),
        }
    }
    Err(WebhookError::Unavailable(
        "Notion handshakes kept changing while this one was kept".into(),
    ))
}

async fn seal(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    token: &str,
) -> Result<crate::domain::CredentialEnvelope, WebhookError> {
    let mut sealed = Credentials::new();
    sealed.insert(NOTION_SEALED_FIELD, token);
    vault::seal(
        deps.keys.as_ref(),
        project,
        &integration.name,
        NOTION_TOKEN_VERSION,
        &sealed,
    )
    .await
    .map_err(|e| match e {
        VaultError::Key(crate::ports::KeyError::Unavailable(why)) => WebhookError::Unavailable(why),
        other => WebhookError::Internal(other.to_string()),
    })
}
