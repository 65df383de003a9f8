//! Integrations: a project's named outbound connections, with their sealed
//! credentials and audit trail.
//!
//! - **Sealed** in [`crate::vault`] (`seal`), **stored** here (the integration item,
//!   [`create`], [`credentials::rotate`]), **opened** in [`crate::vault`] (`open_for`,
//!   which writes the audit record first).
//! - A change is written with the audit record that names it, in one transaction, and
//!   only if the integration is still at the revision that was read.
//! - Every change is announced as one `IntegrationChanged` event.

pub mod credentials;
pub mod dependents;
pub mod verification_token;

use serde_json::{Map, Value};

use super::projects::keys::project as partition;
use super::{Error, FieldError};
use crate::catalog::{Provider, check_values, custom};
use crate::domain::{
    Integration, IntegrationChange, IntegrationChanged, IntegrationName, ProjectId,
};
use crate::ports::{BusEvent, Condition, Deps, Item, Key, Query, StoreError, Write, query_all};
use crate::vault;

/// The integrations' keys: the item, its refresh lock, its audit partition.
pub mod keys {
    use chrono::{DateTime, Utc};

    use crate::domain::{IntegrationName, ProjectId};

    /// An integration's item (its sealed credentials inside), in the project partition.
    pub fn integration(i: &IntegrationName) -> String {
        format!("I#{i}")
    }
    /// The prefix of every integration item of a project.
    pub const INTEGRATION_PREFIX: &str = "I#";
    /// The lock item that makes one OAuth refresh at a time per integration.
    pub fn refresh_lock(i: &IntegrationName) -> String {
        format!("L#{i}#refresh")
    }
    /// An integration's audit partition (its own partition, not the project's).
    pub fn audit(p: &ProjectId, i: &IntegrationName) -> String {
        format!("A#{p}#{i}")
    }
    /// Audit sort keys: a fixed-width UTC timestamp, then the record id, so sort order
    /// is time order.
    pub fn audit_entry(at: &DateTime<Utc>, id: &str) -> String {
        use chrono::{Datelike, Timelike};
        // `%Y-%m-%dT%H:%M:%S%.6fZ`, written field by field: a strftime pattern is parsed
        // again on every call, and one audit record is written per credential use.
        let nanos = at.nanosecond();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z#{id}",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            // A leap second reads as :60, as chrono's %S writes it.
            at.second() + nanos / 1_000_000_000,
            (nanos % 1_000_000_000) / 1_000,
        )
    }
}

/// The key of an integration's item, for callers that write it in their own
/// transaction (an OAuth refresh storing its token).
pub(crate) fn item_key(project: &ProjectId, name: &IntegrationName) -> Key {
    Key::new(partition(project), keys::integration(name))
}

/// The key of an integration's refresh lock (expiring; one refresh at a time).
pub(crate) fn refresh_lock_key(project: &ProjectId, name: &IntegrationName) -> Key {
    Key::new(partition(project), keys::refresh_lock(name))
}

/// The key of one audit record.
pub(crate) fn audit_key(
    project: &ProjectId,
    name: &IntegrationName,
    at: &chrono::DateTime<chrono::Utc>,
    id: &str,
) -> Key {
    Key::new(keys::audit(project, name), keys::audit_entry(at, id))
}

/// A transaction's check that the integration still exists, as the one created at
/// `created_at` (not one re-created under its name meanwhile).
pub(crate) fn bound_check(
    project: &ProjectId,
    name: &IntegrationName,
    created_at: &chrono::DateTime<chrono::Utc>,
) -> Write {
    Write::Check(
        item_key(project, name),
        Condition::FieldEquals {
            field: "created_at".into(),
            value: serde_json::to_value(created_at).unwrap_or(Value::Null),
        },
    )
}

/// The integration, if the project has it.
///
/// # Errors
/// The store's (`Unavailable`, or `Internal` for an unreadable item).
pub async fn get(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Option<Integration>, StoreError> {
    crate::ports::get_as(deps.store.as_ref(), &item_key(project, name)).await
}

/// The integration, or `NotFound`.
///
/// # Errors
/// `NotFound` when the project has no such integration; the store's otherwise.
pub async fn load(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Integration, Error> {
    get(deps, project, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the project has no integration named {name}")))
}

/// Every integration of the project, in name order.
///
/// # Errors
/// The store's.
pub async fn list(deps: &Deps, project: &ProjectId) -> Result<Vec<Integration>, Error> {
    all_as(deps, project).await
}

/// Every integration item of the project, read as `T` (in name order).
async fn all_as<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    project: &ProjectId,
) -> Result<Vec<T>, Error> {
    let query = Query::prefix(partition(project), keys::INTEGRATION_PREFIX);
    let items = query_all(deps.store.as_ref(), query).await?;
    Ok(items
        .iter()
        .map(|item| item.parse())
        .collect::<Result<_, _>>()?)
}

/// What the compiler reads of an integration: name, provider and config. The
/// credential envelope is not even deserialized.
#[derive(serde::Deserialize)]
pub struct Meta {
    /// The integration's name.
    pub name: IntegrationName,
    /// Its provider's catalog id (or `custom_http`).
    pub provider: String,
    /// Its config.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// When it was created: what a compiled step binds to.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Every integration's name, provider and config.
///
/// # Errors
/// The store's.
pub async fn list_meta(deps: &Deps, project: &ProjectId) -> Result<Vec<Meta>, Error> {
    all_as(deps, project).await
}

/// Plain words → the provider to connect and the prompt for its credentials, with a
/// suggested name the project does not use yet.
///
/// # Errors
/// `Invalid` for empty or over-long text; `Internal` if the catalog does not load.
pub async fn describe(
    deps: &Deps,
    project: &ProjectId,
    text: &str,
) -> Result<crate::describe::Described, Error> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "text",
            "describe the connection in a few words",
        ));
    }
    if text.chars().count() > 2000 {
        return Err(Error::invalid("text", "must be at most 2000 characters"));
    }
    let mut described =
        crate::describe::describe(text).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(name) = described.suggested_name.take() {
        described.suggested_name = Some(free_name(deps, project, &name).await?);
    }
    Ok(described)
}

/// `wanted`, or `wanted-2`, `wanted-3`… : the first name the project does not use.
async fn free_name(deps: &Deps, project: &ProjectId, wanted: &str) -> Result<String, Error> {
    for n in 1..=50 {
        let candidate = if n == 1 {
            wanted.to_owned()
        } else {
            format!("{wanted}-{n}")
        };
        let Ok(name) = IntegrationName::parse(&candidate) else {
            return Ok(wanted.to_owned());
        };
        if deps.store.get(&item_key(project, &name)).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(wanted.to_owned())
}

/// A new integration as the caller asks for it.
#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    /// Its name in the project.
    pub name: String,
    /// The provider's catalog id, or `custom_http`.
    pub provider: String,
    /// The credentials the provider's prompt asks for (sealed, never stored as given).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credentials: Map<String, Value>,
    /// The provider's config (or, for Custom HTTP, the declaration).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Map<String, Value>,
}

/// Checks, seals and stores a new integration, and announces it.
///
/// # Errors
/// `Invalid` listing every bad field (name, provider, credentials, config); `Conflict`
/// when the name is taken; `Unavailable` when the key service or store does not answer.
pub async fn create(
    deps: &Deps,
    project: &ProjectId,
    new: NewIntegration,
) -> Result<Integration, Error> {
    let mut problems = Vec::new();
    let name = match IntegrationName::parse(&new.name) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.push(FieldError::at("name", e.message));
            None
        }
    };
    let display = name.as_ref().map(|n| n.to_string()).unwrap_or_default();
    let (credentials, config, origins) = match checked(&display, &new) {
        Ok(ok) => ok,
        Err(Error::Invalid(more)) => {
            problems.extend(more);
            return Err(Error::Invalid(problems));
        }
        Err(other) => return Err(other),
    };
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        return Err(Error::Invalid(problems));
    };
    let envelope = vault::seal_bound(
        deps.keys.as_ref(),
        project,
        &name,
        1,
        &credentials,
        &origins,
    )
    .await?;
    drop(credentials);
    let now = deps.clock.now();
    let integration = Integration {
        name: name.clone(),
        provider: new.provider.as_str().into(),
        config,
        credentials: envelope,
        created_at: now,
        updated_at: now,
        revision: 0,
        needs_attention: None,
        agent_live: false,
        token_expires_at: None,
    };
    let item = Item::of(item_key(project, &name), &integration)?;
    deps.store
        .put(item, Condition::NotExists)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => Error::conflict(format!(
                "the project already has an integration named {name}"
            )),
            other => other.into(),
        })?;
    announce(deps, project, &name, IntegrationChange::Created, Some(1)).await;
    tracing::info!(project = %project, integration = %name, provider = %integration.provider, "integration created");
    Ok(integration)
}

/// The credentials and config of a new integration, checked against its provider.
/// The checked credentials and config, and the origins the credentials may go to.
fn checked(
    display: &str,
    new: &NewIntegration,
) -> Result<(vault::Credentials, Map<String, Value>, vault::Origins), Error> {
    let catalog = crate::catalog::catalog().map_err(|e| Error::Internal(e.to_string()))?;
    if new.provider == custom::ID {
        return custom::build_checked(display, &new.config)
            .and_then(|provider| {
                check_values(&provider, &new.credentials, &Map::new()).map(|(c, _)| {
                    let origins = vault::Origins::of(&provider, &new.config);
                    (c, new.config.clone(), origins)
                })
            })
            .map_err(Error::fields);
    }
    match catalog.get(&new.provider) {
        Some(provider) => check_values(provider, &new.credentials, &new.config)
            .map(|(c, config)| {
                let origins = vault::Origins::of(provider, &config);
                (c, config, origins)
            })
            .map_err(Error::fields),
        None => {
            let known: Vec<&str> = catalog
                .providers()
                .map(|p| p.id.as_str())
                .chain([custom::ID])
                .collect();
            Err(Error::invalid(
                "provider",
                format!("unknown provider; use one of {}", known.join(", ")),
            ))
        }
    }
}

/// The provider an integration is built on (see [`crate::catalog::provider_for`]).
///
/// # Errors
/// `Invalid` when a Custom HTTP declaration no longer builds; `Internal` otherwise.
pub fn provider_of(
    name: &str,
    provider: &str,
    config: &Map<String, Value>,
) -> Result<std::borrow::Cow<'static, Provider>, Error> {
    crate::catalog::provider_for(name, provider, config).map_err(|e| match e {
        crate::catalog::ProviderLookupError::Declaration(problems) => Error::fields(problems),
        other => Error::Internal(format!("stored integration: {other}")),
    })
}

/// Publishes an IntegrationChanged event. The change is already stored; a bus that
/// does not answer is logged, not turned into a failed request the client would retry.
async fn announce(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    change: IntegrationChange,
    credential_version: Option<u32>,
) {
    let changed = IntegrationChanged {
        project: project.clone(),
        integration: name.clone(),
        change,
        credential_version,
    };
    match BusEvent::of(IntegrationChanged::DETAIL_TYPE, &changed) {
        Ok(event) => {
            if let Err(error) = deps.bus.publish(vec![event]).await {
                tracing::error!(%error, integration = %changed.integration, "IntegrationChanged not published");
            }
        }
        Err(error) => tracing::error!(%error, "IntegrationChanged not serializable"),
    }
}

/// Writes the changed integration (conditional on the revision read) with its audit
/// record, in one transaction.
async fn save(
    deps: &Deps,
    project: &ProjectId,
    before: &Integration,
    after: &Integration,
    audit: vault::PendingAudit,
) -> Result<(), Error> {
    let item = Item::of(item_key(project, &after.name), after)?;
    let guard = Condition::FieldEquals {
        field: "revision".into(),
        value: serde_json::json!(before.revision),
    };
    deps.store
        .transact(vec![Write::Put(item, guard), audit.write()])
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => Error::conflict(
                "the integration changed while this request was handled; read it again and retry",
            ),
            other => other.into(),
        })
}
