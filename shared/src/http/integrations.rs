//! Integration routes (add-integration): describe, create, list and read (config
//! changes, rotation and the audit trail are in credentials.rs; deletion and
//! dependents in dependents.rs).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiJson, AppState, FieldError, auth};
use crate::catalog::{check_values, custom};
use crate::domain::{
    Integration, IntegrationChanged, IntegrationName, IntegrationView, ProjectId, keys,
};
use crate::ports::{BusEvent, Condition, Item, Key, KeyError, Query, StoreError, query_all};
use crate::vault;

pub async fn list(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let query = Query::prefix(keys::project(&project.id), keys::INTEGRATION_PREFIX);
    let mut integrations = Vec::new();
    for item in query_all(state.deps.store.as_ref(), query).await? {
        let integration: Integration = item.parse()?;
        integrations.push(IntegrationView::from(&integration));
    }
    Ok(Json(json!({ "integrations": integrations })))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let item = state
        .deps
        .store
        .get(&Key::new(
            keys::project(&project.id),
            keys::integration(&name),
        ))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("the project has no integration named {name}"))
        })?;
    let integration: Integration = item.parse()?;
    Ok(Json(IntegrationView::from(&integration)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeRequest {
    text: String,
}

pub async fn describe(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<DescribeRequest>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    if body.text.trim().is_empty() {
        return Err(ApiError::invalid(
            "text",
            "describe the connection in a few words",
        ));
    }
    if body.text.chars().count() > 2000 {
        return Err(ApiError::invalid("text", "must be at most 2000 characters"));
    }
    let mut described =
        crate::describe::describe(&body.text).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Suggest a name the project does not use yet.
    if let Some(name) = described.suggested_name.take() {
        described.suggested_name = Some(free_name(&state, &project.id, &name).await?);
    }
    serde_json::to_value(described)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn free_name(
    state: &AppState,
    project: &ProjectId,
    wanted: &str,
) -> Result<String, ApiError> {
    for n in 1..=50 {
        let candidate = if n == 1 {
            wanted.to_owned()
        } else {
            format!("{wanted}-{n}")
        };
        let Ok(name) = IntegrationName::parse(&candidate) else {
            return Ok(wanted.to_owned());
        };
        let key = Key::new(keys::project(project), keys::integration(&name));
        if state.deps.store.get(&key).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(wanted.to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    name: String,
    provider: String,
    #[serde(default)]
    credentials: Map<String, Value>,
    #[serde(default)]
    config: Map<String, Value>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<NewIntegration>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let mut problems: Vec<FieldError> = Vec::new();
    let name = match IntegrationName::parse(&body.name) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.push(FieldError {
                field: "name".into(),
                message: e.message,
            });
            None
        }
    };
    let catalog = crate::catalog::catalog().map_err(|e| ApiError::Internal(e.to_string()))?;
    let checked = if body.provider == custom::ID {
        let display = name.as_ref().map(|n| n.to_string()).unwrap_or_default();
        custom::build(&display, &body.config).and_then(|provider| {
            check_values(&provider, &body.credentials, &Map::new())
                .map(|(c, _)| (c, body.config.clone()))
        })
    } else {
        match catalog.get(&body.provider) {
            Some(provider) => check_values(provider, &body.credentials, &body.config),
            None => {
                let known: Vec<&str> = catalog
                    .providers()
                    .map(|p| p.id.as_str())
                    .chain([custom::ID])
                    .collect();
                problems.push(FieldError {
                    field: "provider".into(),
                    message: format!("unknown provider; use one of {}", known.join(", ")),
                });
                Err(vec![])
            }
        }
    };
    let (credentials, config) = match checked {
        Ok(ok) => ok,
        Err(invalid) => {
            problems.extend(invalid.into_iter().map(FieldError::from));
            return Err(ApiError::Invalid(problems));
        }
    };
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Invalid(problems));
    };
    let deps = &state.deps;
    let envelope = vault::seal(deps.keys.as_ref(), &project.id, &name, 1, &credentials)
        .await
        .map_err(vault_error)?;
    drop(credentials);
    let now = deps.clock.now();
    let integration = Integration {
        name: name.clone(),
        provider: body.provider.clone(),
        config,
        credentials: envelope,
        created_at: now,
        updated_at: now,
        revision: 0,
        needs_attention: None,
        token_expires_at: None,
    };
    let item = Item::of(
        Key::new(keys::project(&project.id), keys::integration(&name)),
        &integration,
    )?;
    deps.store
        .put(item, Condition::NotExists)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                detail: format!("the project already has an integration named {name}"),
                extra: None,
            },
            other => other.into(),
        })?;
    let changed = IntegrationChanged {
        project: project.id.clone(),
        integration: name.clone(),
        change: crate::domain::IntegrationChange::Created,
        credential_version: Some(1),
    };
    publish(&state, &changed).await;
    tracing::info!(project = %project.id, integration = %name, provider = %integration.provider, "integration created");
    Ok((
        StatusCode::CREATED,
        Json(IntegrationView::from(&integration)),
    ))
}

pub(super) fn vault_error(e: vault::VaultError) -> ApiError {
    match e {
        vault::VaultError::Key(KeyError::Unavailable(why)) => ApiError::Unavailable(why),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Publishes an IntegrationChanged event. The change is already stored; a bus that
/// does not answer is logged, not turned into a failed request the client would retry.
pub(super) async fn publish(state: &AppState, changed: &IntegrationChanged) {
    match BusEvent::of(IntegrationChanged::DETAIL_TYPE, changed) {
        Ok(event) => {
            if let Err(error) = state.deps.bus.publish(vec![event]).await {
                tracing::error!(%error, integration = %changed.integration, "IntegrationChanged not published");
            }
        }
        Err(error) => tracing::error!(%error, "IntegrationChanged not serializable"),
    }
}
