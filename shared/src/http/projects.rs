//! `POST /projects` and `GET /projects/{project}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::projects;
use crate::domain::Project;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
}

fn view(project: &Project) -> Value {
    json!({"id": project.id, "name": project.name, "created_at": project.created_at})
}

pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = projects::create(&state.deps, &body.name).await?;
    let mut body = view(&created.project);
    body["token"] = Value::String(created.token);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    Ok(Json(view(&project)))
}
