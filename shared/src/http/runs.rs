//! Run routes (execute-step): start a run, read one with its trace, list them.

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::runs;
use crate::domain::{RunId, RunMode, WorkflowId};
use crate::runtime::RunTrigger;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    workflow: String,
    #[serde(default = "sandbox")]
    mode: RunMode,
    trigger: TriggerBody,
    /// Wait for the run to finish (default), or answer 202 at once.
    #[serde(default = "yes")]
    wait: bool,
}

fn sandbox() -> RunMode {
    RunMode::Sandbox
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    entity: String,
    #[serde(default = "submitted")]
    event: String,
    #[serde(default)]
    payload: Value,
}

fn submitted() -> String {
    "submitted".into()
}

/// Starts a run (sandbox by default) and, unless told not to wait, answers with its
/// trace once it has finished (201), or as it is when the wait ends (202).
pub async fn start(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let workflow = WorkflowId::parse(&body.workflow)?;
    if !body.trigger.payload.is_object() && !body.trigger.payload.is_null() {
        return Err(ApiError::invalid(
            "trigger.payload",
            "must be a JSON object",
        ));
    }
    let new = runs::NewRun {
        workflow,
        mode: body.mode,
        trigger: RunTrigger::Entity {
            entity: body.trigger.entity,
            event: body.trigger.event,
            payload: if body.trigger.payload.is_null() {
                json!({})
            } else {
                body.trigger.payload
            },
        },
        wait: body.wait,
    };
    let started = runs::start(&state.deps, &project.id, new).await?;
    let status = if started.finished {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(started.view)))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, run)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = RunId::parse(&run)?;
    Ok(Json(runs::view(&state.deps, &project.id, &id).await?))
}

#[derive(Deserialize)]
pub struct ListParams {
    workflow: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// Runs newest first (run ids are time-ordered), optionally of one workflow.
pub async fn list(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    params: Result<UrlQuery<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let UrlQuery(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let workflow = params
        .workflow
        .as_deref()
        .map(WorkflowId::parse)
        .transpose()?;
    let limit = params.limit.unwrap_or(50);
    let after = params.after.as_deref().map(RunId::parse).transpose()?;
    let page = runs::list(
        &state.deps,
        &project.id,
        workflow.as_ref(),
        limit,
        after.as_ref(),
    )
    .await?;
    Ok(Json(json!({ "runs": page.runs, "next": page.next })))
}
