//! Changing an integration and reading its audit trail: rotating credentials
//! (`PUT .../credentials`), updating config (`PATCH`), and `GET .../audit`. The work is
//! in [`crate::aggregates::integrations::credentials`].

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::integrations::credentials;
use crate::domain::{IntegrationName, IntegrationView};

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
    let name = IntegrationName::parse(&name)?;
    let after = credentials::rotate(&state.deps, &project.id, &name, &body.credentials).await?;
    Ok(Json(IntegrationView::from(&after)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    config: Map<String, Value>,
    /// The credentials again, required when the change moves where they are sent.
    #[serde(default)]
    credentials: Option<Map<String, Value>>,
}

pub async fn update_config(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<ConfigChange>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let after = credentials::update_config(
        &state.deps,
        &project.id,
        &name,
        body.config,
        body.credentials.as_ref(),
    )
    .await?;
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
    let page = credentials::audit_page(
        &state.deps,
        &project.id,
        &name,
        params.limit.unwrap_or(50),
        params.after.as_deref(),
    )
    .await?;
    Ok(Json(
        json!({"integration": name, "records": page.records, "next": page.next}),
    ))
}
