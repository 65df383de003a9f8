//! An integration's blast radius (add-integration): the workflows and steps that use
//! it, and deleting it only when none do.
//!
//! Dependency edges are stored at `D#{integration}#{workflow}#{nn}` by the compiler, in
//! the same transaction as the contract they belong to, so the view is one prefix query.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::domain::{
    DependencyEdge, Integration, IntegrationChanged, IntegrationName, ProjectId, keys,
};
use crate::ports::{Condition, Key, Query, StoreError};

/// The edges of an integration, grouped by workflow, steps in order.
async fn dependents_of(
    state: &AppState,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Vec<Value>, ApiError> {
    let query = Query::prefix(keys::project(project), keys::dependents_prefix(name));
    let edges = crate::ports::query_all(state.deps.store.as_ref(), query)
        .await?
        .iter()
        .map(|item| item.parse::<DependencyEdge>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut workflows: Vec<Value> = Vec::new();
    let mut current: Option<(String, Vec<Value>)> = None;
    // Sort keys order edges by workflow, then step.
    for edge in edges {
        let step =
            json!({"step": edge.step, "operation": edge.operation, "outbound": edge.outbound});
        match &mut current {
            Some((workflow, steps)) if *workflow == edge.workflow.as_str() => steps.push(step),
            _ => {
                if let Some((workflow, steps)) = current.take() {
                    workflows.push(json!({"workflow": workflow, "steps": steps}));
                }
                current = Some((edge.workflow.to_string(), vec![step]));
            }
        }
    }
    if let Some((workflow, steps)) = current {
        workflows.push(json!({"workflow": workflow, "steps": steps}));
    }
    Ok(workflows)
}

async fn existing(
    state: &AppState,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Integration, ApiError> {
    let item = state
        .deps
        .store
        .get(&Key::new(keys::project(project), keys::integration(name)))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("the project has no integration named {name}"))
        })?;
    Ok(item.parse()?)
}

/// `GET /projects/{project}/integrations/{name}/dependents`.
pub async fn dependents(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    existing(&state, &project.id, &name).await?;
    let workflows = dependents_of(&state, &project.id, &name).await?;
    Ok(Json(json!({"integration": name, "workflows": workflows})))
}

/// `DELETE /projects/{project}/integrations/{name}`: 409 listing the dependents while any
/// step uses it; otherwise deleted (its sealed credentials with it) and announced.
pub async fn delete(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let integration = existing(&state, &project.id, &name).await?;
    let workflows = dependents_of(&state, &project.id, &name).await?;
    if !workflows.is_empty() {
        let steps: usize = workflows
            .iter()
            .map(|w| w["steps"].as_array().map(Vec::len).unwrap_or_default())
            .sum();
        return Err(ApiError::Conflict {
            detail: format!(
                "{name} is used by {steps} step(s) in {} workflow(s); remove or recompile them first",
                workflows.len()
            ),
            extra: Some(json!({"integration": name, "workflows": workflows})),
        });
    }
    // Deleted only if it is still the integration read above (not re-created meanwhile).
    let condition = Condition::FieldEquals {
        field: "created_at".into(),
        value: serde_json::to_value(integration.created_at).unwrap_or(Value::Null),
    };
    state
        .deps
        .store
        .delete(
            &Key::new(keys::project(&project.id), keys::integration(&name)),
            condition,
        )
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                detail: format!("{name} changed meanwhile; try again"),
                extra: None,
            },
            other => other.into(),
        })?;
    let changed = IntegrationChanged {
        project: project.id.clone(),
        integration: name.clone(),
        change: crate::domain::IntegrationChange::Deleted,
        credential_version: Some(integration.credentials.version),
    };
    super::integrations::publish(&state, &changed).await;
    tracing::info!(project = %project.id, integration = %name, "integration deleted");
    Ok(StatusCode::NO_CONTENT)
}
