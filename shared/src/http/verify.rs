//! The connection check route (execute-step, the function built with the live edge):
//! `POST /projects/{p}/integrations/{name}/verify[?mode=sandbox]`. The work is in
//! [`crate::runtime::verify`].

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use serde::Deserialize;

#[cfg(feature = "openapi")]
use super::openapi::{BadRequest, Internal, Invalid, NotFound, Unauthorized, Unavailable};
use super::{ApiError, AppState, auth};
use crate::domain::{IntegrationName, RunMode};
use crate::runtime::verify::{self, Verification, VerifyError};

/// How to check.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// `live` (default) sends the provider's verify request; `sandbox` shows it.
    #[serde(default)]
    mode: Option<RunMode>,
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::NotFound(m) => ApiError::NotFound(m),
            VerifyError::NothingToCheck(m) => ApiError::invalid("verify", m),
            VerifyError::Unavailable(m) => ApiError::Unavailable(m),
            VerifyError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Checks an integration's credentials.
///
/// 200 with what the check found (`ok` true or false), 404 for an unknown
/// integration, 422 when there is nothing to check.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/integrations/{name}/verify",
    operation_id = "verifyIntegration",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
        VerifyParams,
    ),
    responses(
        (status = 200, description = "What the check found (`ok` true or false), or in sandbox the request it would send", body = Verification),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
pub async fn check(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    params: Result<UrlQuery<VerifyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Verification>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let UrlQuery(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let name = IntegrationName::parse(&name)?;
    let mode = params.mode.unwrap_or(RunMode::Live);
    Ok(Json(
        verify::verify(&state.deps, &project.id, &name, mode).await?,
    ))
}
