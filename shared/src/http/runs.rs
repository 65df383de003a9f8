//! Run routes (execute-step). Reading runs is served now; starting one answers 501
//! until the step runtime lands.

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::domain::{Run, RunId, StepTrace, WorkflowId, keys};
use crate::ports::{Key, Query};

pub async fn start(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::authorize(&state.deps, &caller, &project).await?;
    Err(ApiError::not_implemented("starting a run"))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, run)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = RunId::parse(&run)?;
    let pk = keys::project(&project.id);
    let item = state
        .deps
        .store
        .get(&Key::new(pk.clone(), keys::run(&id)))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the project has no run {id}")))?;
    let run: Run = item.parse()?;
    let mut steps = Vec::new();
    let mut query = Query::prefix(pk, keys::run_steps_prefix(&id));
    loop {
        let page = state.deps.store.query(&query).await?;
        for item in &page.items {
            steps.push(item.parse::<StepTrace>()?);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let mut body = serde_json::to_value(&run).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["steps"] = serde_json::to_value(steps).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(body))
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
            // Step traces share the run's prefix (R#{run}#S#nn); only run items count.
            if item.key.sk.contains("#S#") {
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
