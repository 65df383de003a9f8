//! `POST /projects` and `GET /projects/{project}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{BadRequest, PayloadTooLarge, UnsupportedMediaType};
#[cfg(feature = "openapi")]
use super::openapi::{CreatedProject, Internal, Invalid, ProjectView, Unauthorized, Unavailable};
use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::projects;
use crate::domain::Project;

/// A project to create.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// The project's name, shown to people.
    name: String,
}

fn view(project: &Project) -> Value {
    json!({"id": project.id, "name": project.name, "created_at": project.created_at})
}

/// Creates a project and answers with its API token, shown this once.
///
/// Locally this route takes no token (it is how the first token is made); on AWS the
/// HTTP API's JWT authorizer guards it as every route but the webhook one.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects",
    operation_id = "createProject",
    request_body = NewProject,
    responses(
        (status = 201, description = "The project, with its API token (shown once)", body = CreatedProject),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security((), ("jwt" = [])),
))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = projects::create(&state.deps, &body.name).await?;
    let mut body = view(&created.project);
    body["token"] = Value::String(created.token);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Reads a project (never its token).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}",
    operation_id = "readProject",
    params(("project" = String, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    Ok(Json(view(&project)))
}
