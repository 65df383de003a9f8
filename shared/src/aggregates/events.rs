//! Webhook events: what the receiver keeps of provider deliveries.
//!
//! - **Dedupe markers**, one per provider event id, in the integration's own dedupe
//!   partition `H#{project}#{integration}`, expiring after [`DEDUPE_TTL_SECS`];
//! - **Mailgun tokens** seen (Mailgun signs a token that must not be replayed), in the
//!   same partition;
//! - the **pending Notion verification token** (sealed), in the same partition;
//! - **cached entities** (`E#{integration}#{entity}#{id}`, in the project partition):
//!   each entity's last known state, from which a change's `before` and changed fields
//!   are derived.
//!
//! The receiver ([`crate::webhooks`]) writes a marker, its entity and its audit record
//! in one transaction, with the keys this module gives.

use serde_json::{Value, json};

use super::projects::keys::project as partition;
use crate::domain::{CredentialEnvelope, DEDUPE_TTL_SECS, IntegrationName, ProjectId};
use crate::ports::{Condition, Deps, Item, Key, StoreError, Write};

/// The webhook events' keys.
pub mod keys {
    use crate::domain::{IntegrationName, ProjectId};

    /// A cached entity, in the project partition.
    pub fn entity(i: &IntegrationName, entity: &str, id: &str) -> String {
        format!("E#{i}#{entity}#{id}")
    }
    /// The partition of an integration's dedupe markers, Mailgun tokens and pending
    /// Notion token.
    pub fn webhook_dedupe(p: &ProjectId, i: &IntegrationName) -> String {
        format!("H#{p}#{i}")
    }
    /// A Mailgun signature token seen (under the webhook dedupe partition): each is
    /// accepted once.
    pub fn mailgun_token(token: &str) -> String {
        format!("#mailgun-token#{token}")
    }
    /// The sort key of the sealed Notion verification token in the dedupe partition
    /// (the receiver's own items there start with `#`; event ids never do).
    pub const NOTION_TOKEN_SK: &str = "#notion-verification-token";
}

/// The dedupe marker of a provider event (its id made key-safe by the receiver).
pub(crate) fn marker_key(project: &ProjectId, integration: &IntegrationName, event: &str) -> Key {
    Key::new(keys::webhook_dedupe(project, integration), event)
}

/// The marker of a Mailgun token seen (the token made key-safe by the receiver).
pub(crate) fn mailgun_token_key(
    project: &ProjectId,
    integration: &IntegrationName,
    token: &str,
) -> Key {
    Key::new(
        keys::webhook_dedupe(project, integration),
        keys::mailgun_token(token),
    )
}

/// A cached entity's key.
pub(crate) fn entity_key(
    project: &ProjectId,
    integration: &IntegrationName,
    entity_type: &str,
    id: &str,
) -> Key {
    Key::new(
        partition(project),
        keys::entity(integration, entity_type, id),
    )
}

fn notion_token_key(project: &ProjectId, integration: &IntegrationName) -> Key {
    Key::new(
        keys::webhook_dedupe(project, integration),
        keys::NOTION_TOKEN_SK,
    )
}

/// Keeps a Notion handshake's token (sealed) until the user reveals it, for as long as
/// dedupe markers live. A later handshake replaces it.
///
/// # Errors
/// The store's.
pub async fn keep_notion_token(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    envelope: &CredentialEnvelope,
) -> Result<(), StoreError> {
    let now = deps.clock.now();
    let item = Item::new(
        notion_token_key(project, integration),
        json!({"envelope": envelope, "received_at": now}),
    )
    .expiring(now.timestamp() + DEDUPE_TTL_SECS);
    deps.store.put(item, Condition::Always).await
}

/// A pending Notion verification token, as stored.
pub struct PendingToken {
    /// The sealed token.
    pub envelope: CredentialEnvelope,
    /// When Notion sent it.
    pub received_at: Value,
    /// The envelope as stored, for the condition that it is still the one read.
    stored_envelope: Value,
}

/// The pending Notion verification token, if one is waiting.
///
/// # Errors
/// The store's; `Corrupt` when the stored envelope does not read.
pub async fn pending_notion_token(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
) -> Result<Option<PendingToken>, StoreError> {
    let Some(item) = deps
        .store
        .get(&notion_token_key(project, integration))
        .await?
    else {
        return Ok(None);
    };
    let stored_envelope = item.doc.get("envelope").cloned().unwrap_or(Value::Null);
    let envelope = serde_json::from_value(stored_envelope.clone()).map_err(|e| {
        StoreError::Corrupt(format!(
            "the pending Notion verification token of {project}/{integration} has no readable envelope: {e}"
        ))
    })?;
    Ok(Some(PendingToken {
        envelope,
        received_at: item.doc.get("received_at").cloned().unwrap_or(Value::Null),
        stored_envelope,
    }))
}

/// Removes the pending token, only if it is still the one read, in one transaction
/// with `with` (the reveal's audit record, at index 1).
///
/// # Errors
/// `ConditionFailed { index: Some(0) }` when it was revealed or replaced meanwhile; the
/// store's.
pub async fn take_notion_token(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    pending: &PendingToken,
    with: Write,
) -> Result<(), StoreError> {
    deps.store
        .transact(vec![
            Write::Delete(
                notion_token_key(project, integration),
                Condition::FieldEquals {
                    field: "envelope".into(),
                    value: pending.stored_envelope.clone(),
                },
            ),
            with,
        ])
        .await
}
