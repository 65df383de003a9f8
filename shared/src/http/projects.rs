//! `POST /projects` and `GET /projects/{project}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::domain::{Project, ProjectId, keys};
use crate::ports::{Condition, Item, Key};

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
    let name = Project::check_name(&body.name)?;
    let deps = &state.deps;
    let id = ProjectId::parse(&deps.ids.new_id())
        .map_err(|e| ApiError::Internal(format!("generated project id: {e}")))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    let token = format!(
        "stk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let project = Project {
        id,
        name,
        created_at: deps.clock.now(),
        token_sha256: auth::hash_token(&token),
    };
    let item = Item::of(Key::new(keys::project(&project.id), keys::META), &project)?;
    deps.store
        .put(item, Condition::NotExists)
        .await
        .map_err(|e| match e {
            crate::ports::StoreError::ConditionFailed { .. } => ApiError::Conflict {
                detail: "a project with this id exists; try again".into(),
                extra: None,
            },
            other => other.into(),
        })?;
    tracing::info!(project = %project.id, "project created");
    let mut body = view(&project);
    body["token"] = Value::String(token);
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
