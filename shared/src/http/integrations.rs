//! Integration routes (add-integration): describe, create, list and read. The work is
//! in [`crate::aggregates::integrations`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::integrations::{self, NewIntegration};
use crate::domain::{IntegrationName, IntegrationView};

pub async fn list(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let integrations: Vec<IntegrationView> = integrations::list(&state.deps, &project.id)
        .await?
        .iter()
        .map(IntegrationView::from)
        .collect();
    Ok(Json(json!({ "integrations": integrations })))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let integration = integrations::load(&state.deps, &project.id, &name).await?;
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
    let described = integrations::describe(&state.deps, &project.id, &body.text).await?;
    serde_json::to_value(described)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn create(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<NewIntegration>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let integration = integrations::create(&state.deps, &project.id, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(IntegrationView::from(&integration)),
    ))
}
