//! Changing an integration and reading its audit trail: rotating credentials
//! (`PUT .../credentials`), updating config (`PATCH`), and `GET .../audit`. The work is
//! in [`crate::aggregates::integrations::credentials`].

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    AuditTrailPage, BadRequest, Conflict, Internal, Invalid, NotFound, PayloadTooLarge,
    Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::integrations::credentials;
use crate::domain::{IntegrationName, IntegrationView};

/// New credentials for an integration.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Every credential field the provider's prompt asks for, with its new value.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credentials: Map<String, Value>,
}

/// Rotates an integration's credentials: a new `credential_version`.
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/projects/{project}/integrations/{name}/credentials",
    operation_id = "rotateCredentials",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    request_body = Rotation,
    responses(
        (status = 200, description = "The integration, with its new credential version", body = IntegrationView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// A change of an integration's config.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    /// The config fields to change, with their new values.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    config: Map<String, Value>,
    /// The credentials again, required when the change moves where they are sent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    credentials: Option<Map<String, Value>>,
}

/// Changes an integration's config.
///
/// The credentials are sent again when the change moves where they are sent.
#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/projects/{project}/integrations/{name}",
    operation_id = "updateIntegrationConfig",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    request_body = ConfigChange,
    responses(
        (status = 200, description = "The integration after the change", body = IntegrationView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// A page of the audit trail.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditParams {
    /// How many records, 1 to 200 (50 by default).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    limit: Option<usize>,
    /// The `next` of the page before.
    after: Option<String>,
}

/// The audit trail, newest first, a page at a time (`next` goes into `after`).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/integrations/{name}/audit",
    operation_id = "readAudit",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
        AuditParams,
    ),
    responses(
        (status = 200, description = "A page of audit records, newest first (the records of a deleted integration stay)", body = AuditTrailPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// Whether agents may call an integration live.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentAccess {
    /// `true` lets an agent ask the project's MCP server for live calls of this
    /// integration's operations (each audited); `false` (the default) keeps agents in
    /// sandbox.
    live: bool,
}

/// Allows or refuses agents' live calls of the integration (audited).
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/projects/{project}/integrations/{name}/agent-access",
    operation_id = "setAgentAccess",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    request_body = AgentAccess,
    responses(
        (status = 200, description = "The integration, with `agent_live` as set", body = IntegrationView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
pub async fn agent_access(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<AgentAccess>,
) -> Result<Json<IntegrationView>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let after = credentials::set_agent_live(&state.deps, &project.id, &name, body.live).await?;
    Ok(Json(IntegrationView::from(&after)))
}
