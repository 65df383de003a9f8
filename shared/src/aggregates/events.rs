//! Webhook events: what the receiver keeps of provider deliveries.
//!
//! - **Dedupe markers**, one per provider event id, in the integration's own dedupe
//!   partition `H#{project}#{integration}`, expiring after [`DEDUPE_TTL_SECS`];
//! - **Mailgun tokens** seen (Mailgun signs a token that must not be replayed), in the
//!   same partition;
//! - the **pending Notion handshakes** (each token sealed, with when and where from it
//!   came; at most [`MAX_NOTION_HANDSHAKES`]), in the same partition;
//! - **cached entities** (`E#{integration}#{entity}#{id}`, in the project partition):
//!   each entity's last known state, from which a change's `before` and changed fields
//!   are derived.
//!
//! - **pending changes** (`X#pending-changes`, a partition of its own across projects):
//!   each recorded change until execute-step has handled it, so a change acknowledged
//!   to the provider is not lost when the process dies before handling it (the local
//!   binary publishes them again at start; a provider's retry publishes one again that
//!   stayed pending a minute). Handling is idempotent (one run per provider event and
//!   workflow), so a change published twice starts nothing twice.
//!
//! The receiver ([`crate::webhooks`]) writes a marker, its entity, its pending change
//! and its audit record in one transaction, with the keys this module gives.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

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
    /// The partition (of its own, across projects) of the changes recorded and not yet
    /// handled.
    pub const PENDING_CHANGES: &str = "X#pending-changes";
    /// A pending change's sort key in [`PENDING_CHANGES`].
    pub fn pending_change(p: &ProjectId, i: &IntegrationName, event: &str) -> String {
        format!("{p}#{i}#{event}")
    }
    /// The sort key of the sealed Notion verification token in the dedupe partition
    /// (the receiver's own items there start with `#`; event ids never do).
    pub const NOTION_TOKEN_SK: &str = "#notion-verification-token";
}

/// The dedupe marker of a provider event (its id made key-safe by the receiver).
pub(crate) fn marker_key(project: &ProjectId, integration: &IntegrationName, event: &str) -> Key {
    Key::new(keys::webhook_dedupe(project, integration), event)
}

/// A recorded change's pending entry (the event id made key-safe by the receiver).
pub(crate) fn pending_change_key(
    project: &ProjectId,
    integration: &IntegrationName,
    event: &str,
) -> Key {
    Key::new(
        keys::PENDING_CHANGES,
        keys::pending_change(project, integration, event),
    )
}

/// A change recorded and not yet handled, as kept.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingChange {
    /// When it was recorded (seconds since the epoch).
    pub recorded_at: i64,
    /// The change, as published.
    pub change: crate::domain::DataChanged,
}

/// A pending change's write, for the receiver's transaction; it expires with the
/// dedupe window, so one never handled does not stay forever.
///
/// # Errors
/// `Invalid` when the change does not serialize.
pub(crate) fn pending_change_write(
    key: Key,
    change: &crate::domain::DataChanged,
    now: i64,
) -> Result<Write, StoreError> {
    let pending = PendingChangeRef {
        recorded_at: now,
        change,
    };
    Ok(Write::PutRaw(
        crate::ports::RawItem::of(key, &pending)?.expiring(now + DEDUPE_TTL_SECS),
        Condition::Always,
    ))
}

#[derive(Serialize)]
struct PendingChangeRef<'a> {
    recorded_at: i64,
    change: &'a crate::domain::DataChanged,
}

/// A pending change, if the event has one.
///
/// # Errors
/// The store's.
pub(crate) async fn pending_change(
    deps: &Deps,
    key: &Key,
) -> Result<Option<PendingChange>, StoreError> {
    crate::ports::get_as(deps.store.as_ref(), key).await
}

/// Every change recorded and not yet handled, across projects, oldest first by key
/// order within a project.
///
/// # Errors
/// The store's.
pub async fn pending_changes(deps: &Deps) -> Result<Vec<PendingChange>, StoreError> {
    let query = crate::ports::Query::prefix(keys::PENDING_CHANGES, "");
    crate::ports::query_all(deps.store.as_ref(), query)
        .await?
        .iter()
        .map(|item| item.parse())
        .collect()
}

/// The change was handled: its pending entry goes (relaxed: if the deletion is lost,
/// the change is handled again, which starts nothing twice).
///
/// # Errors
/// The store's.
pub async fn change_handled(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    provider_event_id: &str,
) -> Result<(), StoreError> {
    let key = pending_change_key(project, integration, provider_event_id);
    deps.store
        .transact_relaxed(vec![Write::Delete(key, Condition::Always)])
        .await
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

/// The most Notion handshakes kept while the integration has no verification token:
/// the handshake is unsigned, so anyone who knows the webhook URL can send one, and
/// the user must see every one that came, not only the last. Further ones are dropped
/// (see [`crate::webhooks`]).
pub const MAX_NOTION_HANDSHAKES: usize = 5;

/// One Notion handshake as kept: its token sealed, when it came and where from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotionHandshake {
    /// The sealed token (envelope version 0 of the integration's context).
    pub envelope: CredentialEnvelope,
    /// When it arrived (the injected clock).
    pub received_at: DateTime<Utc>,
    /// The address it came from: the connection's peer locally, API Gateway's source
    /// IP on AWS; none when the server could not tell.
    #[serde(default)]
    pub source: Option<IpAddr>,
}

/// The Notion handshakes waiting for the user's reveal, as read.
pub struct PendingHandshakes {
    /// Oldest first.
    pub handshakes: Vec<NotionHandshake>,
    revision: u64,
    /// What the item must still be for a write based on this read to go through.
    unchanged: Condition,
}

impl PendingHandshakes {
    /// Whether no more are kept ([`MAX_NOTION_HANDSHAKES`]).
    pub fn full(&self) -> bool {
        self.handshakes.len() >= MAX_NOTION_HANDSHAKES
    }
}

/// The item as stored: the handshakes, oldest first, and a revision each write bumps.
#[derive(Serialize, Deserialize)]
struct StoredHandshakes {
    handshakes: Vec<NotionHandshake>,
    revision: u64,
}

/// Adds a handshake to those pending, only if they are still as `read` (none when
/// `read` is `None`). The item expires a week after the last handshake.
///
/// # Errors
/// `ConditionFailed` when another handshake or a reveal got in between (read again);
/// the store's.
pub async fn add_notion_handshake(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    read: Option<&PendingHandshakes>,
    handshake: NotionHandshake,
) -> Result<(), StoreError> {
    let (mut handshakes, revision, condition) = match read {
        Some(read) => (
            read.handshakes.clone(),
            read.revision + 1,
            read.unchanged.clone(),
        ),
        None => (Vec::new(), 1, Condition::NotExists),
    };
    let expires = handshake.received_at.timestamp() + DEDUPE_TTL_SECS;
    handshakes.push(handshake);
    let item = Item::of(
        notion_token_key(project, integration),
        &StoredHandshakes {
            handshakes,
            revision,
        },
    )?
    .expiring(expires);
    deps.store.put(item, condition).await
}

/// The Notion handshakes waiting for a reveal, if any. An item written before several
/// were kept (one `envelope` and its `received_at`) reads as one handshake.
///
/// # Errors
/// The store's; `Corrupt` when the stored item does not read.
pub async fn pending_notion_handshakes(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
) -> Result<Option<PendingHandshakes>, StoreError> {
    let Some(item) = deps
        .store
        .get(&notion_token_key(project, integration))
        .await?
    else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| {
        StoreError::Corrupt(format!(
            "the pending Notion handshakes of {project}/{integration} do not read: {e}"
        ))
    };
    let pending = if let Some(envelope) = item.doc.get("envelope") {
        let one: NotionHandshake = serde_json::from_value(item.doc.clone()).map_err(corrupt)?;
        PendingHandshakes {
            handshakes: vec![one],
            revision: 0,
            unchanged: Condition::FieldEquals {
                field: "envelope".into(),
                value: envelope.clone(),
            },
        }
    } else {
        let stored: StoredHandshakes = serde_json::from_value(item.doc).map_err(corrupt)?;
        PendingHandshakes {
            handshakes: stored.handshakes,
            revision: stored.revision,
            unchanged: Condition::FieldEquals {
                field: "revision".into(),
                value: json!(stored.revision),
            },
        }
    };
    Ok(Some(pending))
}

/// Removes the pending handshakes, only if they are still the ones read, in one
/// transaction with `with` (the reveal's audit record, at index 1).
///
/// # Errors
/// `ConditionFailed { index: Some(0) }` when they were revealed, or another came,
/// meanwhile; the store's.
pub async fn take_notion_handshakes(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    pending: &PendingHandshakes,
    with: Write,
) -> Result<(), StoreError> {
    deps.store
        .transact(vec![
            Write::Delete(
                notion_token_key(project, integration),
                pending.unchanged.clone(),
            ),
            with,
        ])
        .await
}
