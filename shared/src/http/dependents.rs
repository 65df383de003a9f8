//! An integration's blast radius (add-integration): the workflows and steps that use
//! it, and deleting it only when none do. The work is in
//! [`crate::aggregates::integrations::dependents`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::aggregates::integrations::dependents;
use crate::domain::IntegrationName;

/// `GET /projects/{project}/integrations/{name}/dependents`.
pub async fn dependents(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let workflows = dependents::dependents(&state.deps, &project.id, &name).await?;
    Ok(Json(json!({"integration": name, "workflows": workflows})))
}

/// `DELETE /projects/{project}/integrations/{name}`: 409 listing the dependents while any
/// step uses it; otherwise deleted (its sealed credentials with it) and announced.
pub async fn delete(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    dependents::delete(&state.deps, &project.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
