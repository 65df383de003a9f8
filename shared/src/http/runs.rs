//! Run routes (execute-step): start a run, read one with its trace, list them.

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    BadRequest, Internal, Invalid, NotFound, PayloadTooLarge, RunPage, RunView, Unauthorized,
    Unavailable, UnsupportedMediaType,
};
use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::runs;
use crate::domain::{RunId, RunMode, RunSource, WorkflowId};
use crate::runtime::RunTrigger;

/// A run to start.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The workflow to run.
    workflow: String,
    /// `sandbox` (the default: nothing is sent) or `live`.
    #[serde(default = "sandbox")]
    #[cfg_attr(feature = "openapi", schema(default = "sandbox"))]
    mode: RunMode,
    /// The studio entity event that starts the run.
    trigger: TriggerBody,
    /// Wait for the run to finish (default), or answer 202 at once.
    #[serde(default = "yes")]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    wait: bool,
}

fn sandbox() -> RunMode {
    RunMode::Sandbox
}

fn yes() -> bool {
    true
}

/// The entity event a run starts from.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// The studio entity (`IntakeForm`).
    entity: String,
    /// What happened to it.
    #[serde(default = "submitted")]
    #[cfg_attr(feature = "openapi", schema(default = "submitted"))]
    event: String,
    /// The entity's fields, which the steps' mappings read (a JSON object).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    payload: Value,
}

fn submitted() -> String {
    "submitted".into()
}

/// Starts a run (sandbox by default).
///
/// Unless told not to wait, answers with its trace once it has finished (201), or as
/// it is when the wait ends (202).
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/runs",
    operation_id = "startRun",
    params(("project" = String, Path, description = "The project's id")),
    request_body = NewRun,
    responses(
        (status = 201, description = "The run has finished: the run with its trace", body = RunView),
        (status = 202, description = "The run is still running (`wait` false, or the wait ended): the run as it is", body = RunView),
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

/// A run with its trace: what each step did (credentials masked).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/runs/{run}",
    operation_id = "readRun",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("run" = String, Path, description = "The run's id"),
    ),
    responses(
        (status = 200, description = "The run with its trace", body = RunView),
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
    Path((project, run)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = RunId::parse(&run)?;
    Ok(Json(runs::view(&state.deps, &project.id, &id).await?))
}

/// Which runs, and a page of them.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListParams {
    /// Only the runs of this workflow.
    workflow: Option<String>,
    /// Only the runs from this source: `workflow` (a workflow's trigger) or `agent` (an
    /// agent's tool call through the project's MCP server).
    #[cfg_attr(feature = "openapi", param(value_type = Option<RunSource>))]
    source: Option<RunSource>,
    /// How many runs, 1 to 200 (50 by default).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    limit: Option<usize>,
    /// The `next` of the page before (a run id).
    after: Option<String>,
}

/// Runs newest first (run ids are time-ordered), optionally of one workflow or source.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/runs",
    operation_id = "listRuns",
    params(("project" = String, Path, description = "The project's id"), ListParams),
    responses(
        (status = 200, description = "A page of runs, newest first", body = RunPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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
    let filter = runs::RunFilter {
        workflow,
        source: params.source,
    };
    let page = runs::list(&state.deps, &project.id, &filter, limit, after.as_ref()).await?;
    Ok(Json(json!({ "runs": page.runs, "next": page.next })))
}
