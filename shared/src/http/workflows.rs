//! Workflow routes (compile-contract): compile a step (plain words or structured),
//! read a workflow with its contracts, remove a step. The work is in
//! [`crate::aggregates::workflows`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::workflows;
use crate::compiler::CompileRequest;
use crate::domain::{StepContract, WorkflowId};

pub async fn compile(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CompileRequest>,
) -> Result<(StatusCode, Json<StepContract>), ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow_id)?;
    let contract = workflows::compile(&state.deps, &project.id, &id, &body).await?;
    Ok((StatusCode::CREATED, Json(contract)))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow_id)?;
    let view = workflows::read(&state.deps, &project.id, &id).await?;
    let workflow = view.workflow;
    Ok(Json(
        json!({"workflow": workflow.id, "trigger": workflow.trigger, "updated_at": workflow.updated_at, "steps": view.steps}),
    ))
}

/// `DELETE /projects/{project}/workflows/{workflow}/steps/{step}`: removes a step, its
/// edges and, with the last step, the workflow and its subscription.
pub async fn remove_step(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow_id, step)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow_id)?;
    let step: u32 = step
        .parse()
        .map_err(|_| ApiError::invalid("step", "a step is a number, 1 to 99"))?;
    workflows::remove_step(&state.deps, &project.id, &id, step).await?;
    Ok(StatusCode::NO_CONTENT)
}
