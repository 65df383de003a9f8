//! Workflow routes (compile-contract): compile a step (plain words or structured),
//! read a workflow with its contracts, remove a step. The work is in
//! [`crate::aggregates::workflows`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    BadRequest, Conflict, Internal, Invalid, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType, WorkflowRead,
};
use super::{ApiError, ApiJson, AppState, auth};
use crate::aggregates::workflows;
use crate::compiler::CompileRequest;
use crate::domain::{StepContract, WorkflowId};

/// Compiles a step from plain words (or the structured form) into a step contract.
///
/// A reference to an integration the project does not have, an operation the provider
/// lacks, or a required input no entity field can fill is a 422 naming what is missing
/// and what would fit. The contract never holds a credential.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/workflows/{workflow}/steps/compile",
    operation_id = "compileStep",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("workflow" = String, Path, description = "The workflow's id in the project"),
    ),
    request_body = CompileRequest,
    responses(
        (status = 201, description = "The step contract", body = StepContract),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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

/// A workflow with its trigger and its steps' contracts, in step order.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/projects/{project}/workflows/{workflow}",
    operation_id = "readWorkflow",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("workflow" = String, Path, description = "The workflow's id in the project"),
    ),
    responses(
        (status = 200, description = "The workflow with its contracts", body = WorkflowRead),
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

/// Removes a step from a workflow.
///
/// `DELETE /projects/{project}/workflows/{workflow}/steps/{step}`: removes the step, its
/// edges and, with the last step, the workflow and its subscription.
#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/projects/{project}/workflows/{workflow}/steps/{step}",
    operation_id = "removeStep",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("workflow" = String, Path, description = "The workflow's id in the project"),
        ("step" = u32, Path, description = "The step's number, 1 to 99", minimum = 1, maximum = 99),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
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
