//! Run routes (execute-step): start a run, read one with its trace, list them.

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::domain::{ProjectId, Run, RunId, RunMode, StepTrace, WorkflowId, keys};
use crate::ports::{Key, Query, query_all};
use crate::runtime::{RunTrigger, RuntimeError, StartRun, start_run};

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

/// How long `POST /runs` waits for a run to finish before answering 202.
const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Starts a run (sandbox by default) and, unless told not to wait, answers with its
/// trace once it has finished.
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
    let start = StartRun {
        project: project.id.clone(),
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
    };
    let run = start_run(&state.deps, start).await.map_err(|e| match e {
        RuntimeError::NotFound(m) => ApiError::invalid("workflow", m),
        RuntimeError::Invalid(m) => ApiError::invalid("workflow", m),
        RuntimeError::Unavailable(m) => ApiError::Unavailable(m),
        other => ApiError::Internal(other.to_string()),
    })?;
    let deadline = tokio::time::Instant::now()
        + if body.wait {
            WAIT
        } else {
            std::time::Duration::ZERO
        };
    loop {
        let view = run_view(&state, &project.id, &run.id).await?;
        let finished = view["status"] != json!("running");
        if finished {
            return Ok((StatusCode::CREATED, Json(view)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((StatusCode::ACCEPTED, Json(view)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn run_view(state: &AppState, project: &ProjectId, id: &RunId) -> Result<Value, ApiError> {
    let pk = keys::project(project);
    let item = state
        .deps
        .store
        .get(&Key::new(pk.clone(), keys::run(id)))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the project has no run {id}")))?;
    let run: Run = item.parse()?;
    let steps = query_all(
        state.deps.store.as_ref(),
        Query::prefix(pk, keys::run_steps_prefix(id)),
    )
    .await?
    .iter()
    .map(|item| item.parse::<StepTrace>())
    .collect::<Result<Vec<_>, _>>()?;
    let mut body = serde_json::to_value(&run).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["steps"] = serde_json::to_value(steps).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(body)
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, run)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = RunId::parse(&run)?;
    Ok(Json(run_view(&state, &project.id, &id).await?))
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
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let after = params.after.as_deref().map(RunId::parse).transpose()?;
    let mut query = Query::prefix(keys::project(&project.id), keys::RUN_PREFIX);
    query.descending = true;
    query.after = after.map(|r| keys::run(&r));
    let mut runs = Vec::new();
    let mut more = true;
    while runs.len() < limit && more {
        let page = state.deps.store.query(&query).await?;
        for item in &page.items {
            // Step traces and claims share the run's prefix (R#{run}#S#nn, R#{run}#C#nn);
            // only run items count.
            if item.key.sk.matches('#').count() > 1 {
                continue;
            }
            let run: Run = item.parse()?;
            if workflow.as_ref().is_none_or(|w| *w == run.workflow) && runs.len() < limit {
                runs.push(run);
            }
        }
        more = page.next.is_some();
        query.after = page.next;
    }
    let next = if runs.len() == limit {
        runs.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "runs": runs, "next": next })))
}
