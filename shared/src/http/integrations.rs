//! Integration routes (add-integration). Reads are served now; describe, create,
//! config updates, rotation, deletion, dependents and the audit trail answer 501 until
//! the catalog, vault and compiler land.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::domain::{Integration, IntegrationName, IntegrationView, keys};
use crate::ports::{Key, Query};

pub async fn list(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let mut query = Query::prefix(keys::project(&project.id), keys::INTEGRATION_PREFIX);
    let mut integrations = Vec::new();
    loop {
        let page = state.deps.store.query(&query).await?;
        for item in &page.items {
            let integration: Integration = item.parse()?;
            integrations.push(IntegrationView::from(&integration));
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
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

async fn later(
    state: &AppState,
    caller: &auth::Caller,
    project: &str,
    what: &str,
) -> Result<Json<Value>, ApiError> {
    auth::authorize(&state.deps, caller, project).await?;
    Err(ApiError::not_implemented(what))
}

pub async fn describe(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    later(
        &state,
        &caller,
        &project,
        "describing a connection in plain words",
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    later(&state, &caller, &project, "creating an integration").await
}

pub async fn update_config(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, _name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    later(
        &state,
        &caller,
        &project,
        "updating an integration's config",
    )
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, _name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    later(&state, &caller, &project, "deleting an integration").await
}

pub async fn rotate(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, _name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    later(&state, &caller, &project, "rotating credentials").await
}

pub async fn dependents(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, _name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    later(
        &state,
        &caller,
        &project,
        "listing an integration's dependents",
    )
    .await
}

pub async fn audit(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, _name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    later(&state, &caller, &project, "reading the audit trail").await
}
