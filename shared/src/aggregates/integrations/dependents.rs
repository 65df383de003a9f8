//! An integration's blast radius: the workflows and steps that use it, and deleting it
//! only when none do.
//!
//! The dependency edges belong to the workflows (they are written with the contract
//! they come from, in one transaction); this module reads them as one prefix query.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Error, announce, item_key, load};
use crate::aggregates::workflows;
use crate::domain::{IntegrationChange, IntegrationName, ProjectId, WorkflowId};
use crate::ports::{Condition, Deps, StoreError, Write};

/// A workflow that uses an integration, with the steps that do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dependent {
    /// The workflow.
    pub workflow: WorkflowId,
    /// Its steps on the integration, in order.
    pub steps: Vec<DependentStep>,
}

/// One step on an integration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DependentStep {
    /// The step's number.
    pub step: u32,
    /// The operation it calls.
    pub operation: crate::domain::OperationId,
    /// Whether it calls out (has side effects outside the studio).
    pub outbound: bool,
}

/// The workflows (and steps) that use the integration, grouped by workflow in order.
///
/// # Errors
/// `NotFound` when the project has no such integration; the store's.
pub async fn dependents(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Vec<Dependent>, Error> {
    load(deps, project, name).await?;
    of(deps, project, name).await
}

async fn of(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
) -> Result<Vec<Dependent>, Error> {
    let mut grouped: Vec<Dependent> = Vec::new();
    // Sort keys order edges by workflow, then step.
    for edge in workflows::edges_of(deps, project, name).await? {
        let step = DependentStep {
            step: edge.step,
            operation: edge.operation,
            outbound: edge.outbound,
        };
        match grouped.last_mut() {
            Some(last) if last.workflow == edge.workflow => last.steps.push(step),
            _ => grouped.push(Dependent {
                workflow: edge.workflow,
                steps: vec![step],
            }),
        }
    }
    Ok(grouped)
}

/// Deletes the integration (its sealed credentials with it) and announces it, unless a
/// step uses it.
///
/// # Errors
/// `NotFound`; `Conflict` listing the dependents while any step uses it, or when it
/// changed meanwhile; the store's.
pub async fn delete(deps: &Deps, project: &ProjectId, name: &IntegrationName) -> Result<(), Error> {
    let integration = load(deps, project, name).await?;
    let workflows = of(deps, project, name).await?;
    if !workflows.is_empty() {
        let steps: usize = workflows.iter().map(|w| w.steps.len()).sum();
        return Err(Error::Conflict {
            detail: format!(
                "{name} is used by {steps} step(s) in {} workflow(s); remove or recompile them first",
                workflows.len()
            ),
            extra: Some(json!({"integration": name, "workflows": workflows})),
        });
    }
    // Deleted only if it is still the integration read above (not re-created
    // meanwhile), and only while no step uses it: its edge counter is 0 (or it has
    // none, and none is created meanwhile) in the same transaction. A compile that
    // commits first makes the delete fail; one that commits after finds no integration.
    let condition = Condition::FieldEquals {
        field: "created_at".into(),
        value: serde_json::to_value(integration.created_at).unwrap_or(Value::Null),
    };
    let counter = workflows::count_key(project, name);
    let unused = match workflows::edge_count(deps, project, name).await? {
        Some(_) => Write::Delete(
            counter,
            Condition::FieldEquals {
                field: workflows::COUNT_FIELD.into(),
                value: json!(0),
            },
        ),
        None => Write::Check(counter, Condition::NotExists),
    };
    deps.store
        .transact(vec![Write::Delete(item_key(project, name), condition), unused])
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { index: Some(1) } => Error::conflict(format!(
                "a step on {name} was compiled while it was being deleted; read its dependents and try again"
            )),
            StoreError::ConditionFailed { .. } => {
                Error::conflict(format!("{name} changed meanwhile; try again"))
            }
            other => other.into(),
        })?;
    announce(
        deps,
        project,
        name,
        IntegrationChange::Deleted,
        Some(integration.credentials.version),
    )
    .await;
    tracing::info!(project = %project, integration = %name, "integration deleted");
    Ok(())
}
