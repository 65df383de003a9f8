//! Workflow routes (compile-contract). Reading a workflow is served now; compiling a
//! step answers 501 until the contract compiler lands.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::domain::{StepContract, Workflow, WorkflowId, keys};
use crate::ports::{Key, Query};

pub async fn compile(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth::authorize(&state.deps, &caller, &project).await?;
    WorkflowId::parse(&workflow)?;
    Err(ApiError::not_implemented("compiling a step"))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow)?;
    let pk = keys::project(&project.id);
    let item = state
        .deps
        .store
        .get(&Key::new(pk.clone(), keys::workflow(&id)))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the project has no workflow {id}")))?;
    let workflow: Workflow = item.parse()?;
    let mut steps = Vec::new();
    let mut query = Query::prefix(pk, keys::steps_prefix(&id));
    loop {
        let page = state.deps.store.query(&query).await?;
        for item in &page.items {
            steps.push(item.parse::<StepContract>()?);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok(Json(
        json!({"workflow": workflow.id, "trigger": workflow.trigger, "updated_at": workflow.updated_at, "steps": steps}),
    ))
}
