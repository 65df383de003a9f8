//! An integration's blast radius (add-integration): the workflows and steps that use
//! it, and deleting it only when none do. The work is in
//! [`crate::aggregates::integrations::dependents`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    Conflict, DependentsView, Internal, Invalid, NotFound, Unauthorized, Unavailable,
};
use super::{ApiError, AppState, auth};
use crate::aggregates::integrations::dependents;
use crate::domain::IntegrationName;

/// The workflows and steps that use an integration.
///
/// `GET /projects/{project}/integrations/{name}/dependents`: grouped by workflow, in
/// order.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/integrations/{name}/dependents",
    operation_id = "listDependents",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    responses(
        (status = 200, description = "The workflows and steps that use the integration", body = DependentsView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// Deletes an integration, unless a step uses it.
///
/// `DELETE /projects/{project}/integrations/{name}`: 409 listing the dependents while any
/// step uses it; otherwise deleted (its sealed credentials with it) and announced.
#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/projects/{project}/integrations/{name}",
    operation_id = "deleteIntegration",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    responses(
        (status = 204, description = "Deleted, with its sealed credentials"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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
