//! Integration routes (add-integration): describe, create, list and read. The work is
//! in [`crate::aggregates::integrations`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    BadRequest, Conflict, IntegrationList, Internal, Invalid, NotFound, PayloadTooLarge,
    Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::integrations::{self, NewIntegration};
#[cfg(feature = "openapi")]
use crate::describe::Described;
use crate::domain::{IntegrationName, IntegrationView};

/// The project's integrations (never a secret value).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/integrations",
    operation_id = "listIntegrations",
    params(("project" = String, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project's integrations", body = IntegrationList),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// One integration's metadata: which credential fields are set, never their values.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/integrations/{name}",
    operation_id = "readIntegration",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// What the user wants to connect, in plain words.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DescribeRequest {
    /// The words ("Connect to Postmark to send transactional emails"), at most 2,000
    /// characters.
    text: String,
}

/// The provider a text asks for, and the fields to ask the user for.
///
/// When nothing in the catalog fits, `provider` is null and the candidates list the
/// closest options, Custom HTTP among them.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/integrations/describe",
    operation_id = "describeIntegration",
    params(("project" = String, Path, description = "The project's id")),
    request_body = DescribeRequest,
    responses(
        (status = 200, description = "The provider chosen, the candidates and the prompt", body = Described),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// Adds an integration: checks, seals and stores its credentials.
///
/// Custom HTTP takes `provider: "custom_http"` and a config with `base_url`, `auth` and
/// `endpoints`.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/integrations",
    operation_id = "createIntegration",
    params(("project" = String, Path, description = "The project's id")),
    request_body = NewIntegration,
    responses(
        (status = 201, description = "The integration's metadata (never a secret value)", body = IntegrationView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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
