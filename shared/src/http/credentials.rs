//! Changing an integration and reading its audit trail: rotating credentials
//! (`PUT .../credentials`), updating config (`PATCH`), and `GET .../audit`.
//!
//! A change is written with the audit record that names it, in one transaction, and
//! only if the integration is still at the revision that was read: two concurrent
//! changes never silently overwrite each other. Runs that start after a rotation use
//! the new version; a run already in flight picks it up at its next step (each step
//! opens the credentials current when it executes).

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::integrations::{publish, vault_error};
use super::{ApiError, ApiJson, AppState, FieldError, auth};
use crate::catalog::{
    Provider, check_config_keeping, check_credentials, custom, required_credentials,
};
use crate::domain::{
    AuditPurpose, AuditRecord, Integration, IntegrationChanged, IntegrationName, IntegrationView,
    ProjectId, keys,
};
use crate::ports::{Condition, Item, Key, Query, StoreError, Write};
use crate::vault;

/// Loads an integration of the project, or 404.
pub(super) async fn load(
    state: &AppState,
    project: &ProjectId,
    name: &str,
) -> Result<Integration, ApiError> {
    let name = IntegrationName::parse(name)?;
    let item = state
        .deps
        .store
        .get(&Key::new(keys::project(project), keys::integration(&name)))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("the project has no integration named {name}"))
        })?;
    Ok(item.parse()?)
}

/// The provider an integration is built on (see [`crate::catalog::provider_for`]).
pub(super) fn provider_of(
    name: &str,
    provider: &str,
    config: &Map<String, Value>,
) -> Result<std::borrow::Cow<'static, Provider>, ApiError> {
    crate::catalog::provider_for(name, provider, config).map_err(|e| match e {
        crate::catalog::ProviderLookupError::Declaration(problems) => {
            ApiError::Invalid(problems.into_iter().map(FieldError::from).collect())
        }
        other => ApiError::Internal(format!("stored integration: {other}")),
    })
}

/// Writes the changed integration (conditional on the revision read) with its audit
/// record, in one transaction.
async fn save(
    state: &AppState,
    project: &ProjectId,
    before: &Integration,
    after: &Integration,
    audit: vault::PendingAudit,
) -> Result<(), ApiError> {
    let item = Item::of(
        Key::new(keys::project(project), keys::integration(&after.name)),
        after,
    )?;
    let guard = Condition::FieldEquals {
        field: "revision".into(),
        value: json!(before.revision),
    };
    state
        .deps
        .store
        .transact(vec![Write::Put(item, guard), audit.write()])
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                detail: "the integration changed while this request was handled; read it again and retry".into(),
                extra: None,
            },
            other => other.into(),
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    credentials: Map<String, Value>,
}

pub async fn rotate(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Rotation>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let before = load(&state, &project.id, &name).await?;
    let provider = provider_of(before.name.as_str(), &before.provider, &before.config)?;
    let config = if before.provider == custom::ID {
        Map::new()
    } else {
        before.config.clone()
    };
    let credentials =
        check_credentials(&provider, &body.credentials, &config).map_err(|problems| {
            ApiError::Invalid(problems.into_iter().map(FieldError::from).collect())
        })?;
    let version = before.credentials.version + 1;
    let envelope = vault::seal(
        state.deps.keys.as_ref(),
        &project.id,
        &before.name,
        version,
        &credentials,
    )
    .await
    .map_err(vault_error)?;
    drop(credentials);
    let mut after = before.clone();
    after.credentials = envelope;
    after.updated_at = state.deps.clock.now();
    after.revision += 1;
    after.needs_attention = None;
    let audit = vault::audit_record(
        &state.deps,
        &project.id,
        &after.name,
        version,
        AuditPurpose::CredentialsStored,
        json!({"request": "PUT credentials", "previous_version": before.credentials.version}),
        "rotated".into(),
    );
    save(&state, &project.id, &before, &after, audit).await?;
    publish(
        &state,
        &IntegrationChanged {
            project: project.id.clone(),
            integration: after.name.clone(),
            change: crate::domain::IntegrationChange::CredentialsRotated,
            credential_version: Some(version),
        },
    )
    .await;
    tracing::info!(project = %project.id, integration = %after.name, version, "credentials rotated");
    Ok(Json(IntegrationView::from(&after)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    config: Map<String, Value>,
}

/// Merges the given config keys into the integration's config (`null` removes a key),
/// checks the result like a new integration's, and refuses a change that would need
/// credentials the integration does not have (rotate them first).
pub async fn update_config(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<ConfigChange>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let before = load(&state, &project.id, &name).await?;
    let mut merged = before.config.clone();
    for (key, value) in body.config {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    let (provider, config) = if before.provider == custom::ID {
        let provider = provider_of(before.name.as_str(), custom::ID, &merged)?;
        (provider, merged)
    } else {
        let provider = provider_of(before.name.as_str(), &before.provider, &before.config)?;
        // Required fields the stored config never had (it predates them) may stay unset.
        let unset_before: Vec<String> = provider
            .config
            .iter()
            .filter(|f| before.config.get(&f.name).is_none_or(Value::is_null))
            .map(|f| f.name.clone())
            .collect();
        let config =
            check_config_keeping(&provider, &merged, &unset_before).map_err(|problems| {
                ApiError::Invalid(problems.into_iter().map(FieldError::from).collect())
            })?;
        (provider, config)
    };
    let check_against = if before.provider == custom::ID {
        Map::new()
    } else {
        config.clone()
    };
    let missing: Vec<FieldError> = required_credentials(&provider, &check_against)
        .into_iter()
        .filter(|f| !before.credentials.fields.contains(f))
        .map(|f| FieldError {
            field: format!("credentials.{f}"),
            message: "this config needs a credential the integration does not have; rotate the credentials (PUT .../credentials) first".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Invalid(missing));
    }
    let mut after = before.clone();
    after.config = config;
    after.updated_at = state.deps.clock.now();
    after.revision += 1;
    let audit = vault::audit_record(
        &state.deps,
        &project.id,
        &after.name,
        after.credentials.version,
        AuditPurpose::CredentialsStored,
        json!({"request": "PATCH config"}),
        "config updated".into(),
    );
    save(&state, &project.id, &before, &after, audit).await?;
    publish(
        &state,
        &IntegrationChanged {
            project: project.id.clone(),
            integration: after.name.clone(),
            change: crate::domain::IntegrationChange::ConfigUpdated,
            credential_version: Some(after.credentials.version),
        },
    )
    .await;
    Ok(Json(IntegrationView::from(&after)))
}

#[derive(Deserialize)]
pub struct AuditParams {
    limit: Option<usize>,
    after: Option<String>,
}

/// The audit trail, newest first, a page at a time (`next` goes into `after`).
pub async fn audit(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    params: Result<UrlQuery<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let UrlQuery(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    // Cursors are opaque and URL-safe: the base64url of the last record's sort key.
    let after = match &params.after {
        Some(cursor) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|sk| sk.len() <= 100 && !sk.contains('\0'))
                .ok_or_else(|| ApiError::invalid("after", "is not a cursor this API gave"))?,
        ),
        None => None,
    };
    let mut query = Query::prefix(keys::audit(&project.id, &name), "");
    query.descending = true;
    query.limit = limit;
    query.after = after;
    let page = state.deps.store.query(&query).await?;
    let records: Vec<AuditRecord> = page
        .items
        .iter()
        .map(|i| i.parse())
        .collect::<Result<_, _>>()?;
    let next = page
        .next
        .map(|sk| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk));
    Ok(Json(
        json!({"integration": name, "records": records, "next": next}),
    ))
}
