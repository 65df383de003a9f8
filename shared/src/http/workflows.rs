//! Workflow routes (compile-contract): compile a step (plain words or structured),
//! read a workflow with its contracts, remove a step.
//!
//! A contract is stored with everything that depends on it in one transaction: the
//! workflow item (trigger and step list), the contract, its dependency edges
//! (`D#{integration}#{workflow}#{nn}`, the reverse-dependency view) and, for a workflow
//! started by a data change, its trigger subscription (`T#...`). Recompiling a step
//! replaces its old edges and subscription in the same transaction, so the dependents
//! view never shows a step that no longer uses an integration.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiJson, AppState, FieldError, auth};
use crate::compiler::{self, CompileRequest, ProjectIntegration, Workspace};
use crate::domain::{
    IntegrationName, ProjectId, StepContract, Trigger, Workflow, WorkflowId, keys,
};
use crate::ports::{Condition, Item, Key, Query, StoreError, Write};

/// What the compiler reads of an integration item: name, provider, config. The
/// credential envelope is not even deserialized.
#[derive(Deserialize)]
struct IntegrationMeta {
    name: IntegrationName,
    provider: String,
    #[serde(default)]
    config: Map<String, Value>,
}

async fn integrations(
    state: &AppState,
    project: &ProjectId,
) -> Result<Vec<ProjectIntegration>, ApiError> {
    let items = crate::ports::query_all(
        state.deps.store.as_ref(),
        Query::prefix(keys::project(project), keys::INTEGRATION_PREFIX),
    )
    .await?;
    let mut out = Vec::new();
    for item in items {
        let meta: IntegrationMeta = item.parse()?;
        match ProjectIntegration::new(meta.name.as_str(), &meta.provider, meta.config) {
            Ok(i) => out.push(i),
            // A stored Custom HTTP declaration that no longer builds: it cannot be
            // compiled against, but the others can.
            Err(problems) => {
                tracing::warn!(integration = %meta.name, ?problems, "integration skipped by the compiler")
            }
        }
    }
    Ok(out)
}

/// The workflow item (with its stored document, for the optimistic check) and its steps.
async fn workflow(
    state: &AppState,
    project: &ProjectId,
    id: &WorkflowId,
) -> Result<(Option<(Workflow, Value)>, Vec<StepContract>), ApiError> {
    let pk = keys::project(project);
    let found = state
        .deps
        .store
        .get(&Key::new(pk.clone(), keys::workflow(id)))
        .await?;
    let workflow = match found {
        Some(item) => Some((item.parse::<Workflow>()?, item.doc)),
        None => None,
    };
    let mut steps = Vec::new();
    for item in crate::ports::query_all(
        state.deps.store.as_ref(),
        Query::prefix(pk, keys::steps_prefix(id)),
    )
    .await?
    {
        steps.push(item.parse::<StepContract>()?);
    }
    steps.sort_by_key(|s| s.step);
    Ok((workflow, steps))
}

/// The workflow item must be as it was read: a concurrent compile of the same
/// workflow fails instead of losing a step.
fn workflow_condition(existing: Option<&(Workflow, Value)>) -> Condition {
    match existing {
        Some((_, doc)) => Condition::FieldEquals {
            field: "updated_at".into(),
            value: doc.get("updated_at").cloned().unwrap_or(Value::Null),
        },
        None => Condition::NotExists,
    }
}

fn edge_key(pk: &str, edge: &crate::domain::DependencyEdge) -> Key {
    Key::new(
        pk,
        keys::dependency(&edge.integration, &edge.workflow, edge.step),
    )
}

fn subscription_key(pk: &str, workflow: &WorkflowId, trigger: &Trigger) -> Option<Key> {
    compiler::subscription(workflow, trigger).map(|s| {
        Key::new(
            pk,
            keys::trigger(&s.integration, &s.entity_type, s.change, workflow),
        )
    })
}

fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::Conflict {
        detail: detail.into(),
        extra: None,
    }
}

pub async fn compile(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CompileRequest>,
) -> Result<(StatusCode, Json<StepContract>), ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow_id)?;
    let integrations = integrations(&state, &project.id).await?;
    let (existing, steps) = workflow(&state, &project.id, &id).await?;
    let current_trigger = existing.as_ref().and_then(|(w, _)| w.trigger.clone());
    let ws = Workspace {
        workflow: &id,
        integrations: &integrations,
        trigger: current_trigger.as_ref(),
        steps: &steps,
    };
    let compiled = compiler::compile(&body, &ws)
        .map_err(|p| ApiError::Invalid(p.0.into_iter().map(FieldError::from).collect()))?;
    let contract = compiled.contract.clone();

    let pk = keys::project(&project.id);
    let now = state.deps.clock.now();
    let mut writes = Vec::new();
    // The integrations the step reaches must still exist when it is stored.
    let mut checked = BTreeSet::new();
    for edge in compiler::edges(&contract) {
        if checked.insert(edge.integration.clone()) {
            writes.push(Write::Check(
                Key::new(pk.clone(), keys::integration(&edge.integration)),
                Condition::Exists,
            ));
        }
    }
    // The workflow: its trigger (step 1's) and step list.
    let mut step_numbers: BTreeSet<u32> = steps.iter().map(|s| s.step).collect();
    step_numbers.insert(contract.step);
    let record = Workflow {
        id: id.clone(),
        trigger: Some(compiled.trigger.clone()),
        steps: step_numbers.into_iter().collect(),
        updated_at: now,
    };
    writes.push(Write::Put(
        Item::of(Key::new(pk.clone(), keys::workflow(&id)), &record)?,
        workflow_condition(existing.as_ref()),
    ));
    writes.push(Write::Put(
        Item::of(
            Key::new(pk.clone(), keys::step(&id, contract.step)),
            &contract,
        )?,
        Condition::Always,
    ));
    for rewritten in &compiled.rewritten {
        writes.push(Write::Put(
            Item::of(
                Key::new(pk.clone(), keys::step(&id, rewritten.step)),
                rewritten,
            )?,
            Condition::Always,
        ));
    }
    // Edges: the new ones put, the old ones this step no longer has removed.
    let new_edges = compiler::edges(&contract);
    let new_keys: BTreeSet<Key> = new_edges.iter().map(|e| edge_key(&pk, e)).collect();
    for old in compiled.replaces.iter().flat_map(compiler::edges) {
        let key = edge_key(&pk, &old);
        if !new_keys.contains(&key) {
            writes.push(Write::Delete(key, Condition::Always));
        }
    }
    for edge in &new_edges {
        writes.push(Write::Put(
            Item::of(edge_key(&pk, edge), edge)?,
            Condition::Always,
        ));
    }
    // The subscription follows the workflow's trigger.
    let old_subscription = current_trigger
        .as_ref()
        .and_then(|t| subscription_key(&pk, &id, t));
    let new_subscription = compiler::subscription(&id, &compiled.trigger);
    let new_subscription_key = subscription_key(&pk, &id, &compiled.trigger);
    if let Some(old) = old_subscription {
        if Some(&old) != new_subscription_key.as_ref() {
            writes.push(Write::Delete(old, Condition::Always));
        }
    }
    if let (Some(key), Some(subscription)) = (new_subscription_key, new_subscription) {
        writes.push(Write::Put(Item::of(key, &subscription)?, Condition::Always));
    }

    let checks = checked.len();
    state.deps.store.transact(writes).await.map_err(|e| match e {
        StoreError::ConditionFailed { index: Some(i) } if i < checks => ApiError::Invalid(vec![FieldError {
            field: "integration".into(),
            message: "an integration this step uses was deleted while it was compiled; compile it again".into(),
        }]),
        StoreError::ConditionFailed { .. } => {
            conflict("the workflow changed while this step was compiled; compile it again")
        }
        other => other.into(),
    })?;
    tracing::info!(
        project = %project.id, workflow = %id, step = contract.step,
        integration = %contract.integration, operation = %contract.operation,
        "step compiled"
    );
    Ok((StatusCode::CREATED, Json(contract)))
}

pub async fn read(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, workflow_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let id = WorkflowId::parse(&workflow_id)?;
    let (existing, steps) = workflow(&state, &project.id, &id).await?;
    let Some((workflow, _)) = existing else {
        return Err(ApiError::NotFound(format!(
            "the project has no workflow {id}"
        )));
    };
    Ok(Json(
        json!({"workflow": workflow.id, "trigger": workflow.trigger, "updated_at": workflow.updated_at, "steps": steps}),
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
    let (existing, steps) = workflow(&state, &project.id, &id).await?;
    let Some(contract) = steps.iter().find(|s| s.step == step).cloned() else {
        return Err(ApiError::NotFound(format!(
            "workflow {id} has no step {step}"
        )));
    };
    let others: Vec<&StepContract> = steps.iter().filter(|s| s.step != step).collect();
    if step == 1 && !others.is_empty() {
        return Err(conflict(
            "step 1 holds the workflow's trigger; remove the later steps first, or compile step 1 again to change it",
        ));
    }
    let using = compiler::steps_using(step, &steps);
    if !using.is_empty() {
        return Err(ApiError::Conflict {
            detail: format!("steps {using:?} map step {step}'s output; change them first"),
            extra: Some(json!({"steps": using})),
        });
    }
    let pk = keys::project(&project.id);
    let mut writes = vec![Write::Delete(
        Key::new(pk.clone(), keys::step(&id, step)),
        Condition::Exists,
    )];
    for edge in compiler::edges(&contract) {
        writes.push(Write::Delete(edge_key(&pk, &edge), Condition::Always));
    }
    let workflow_key = Key::new(pk.clone(), keys::workflow(&id));
    let condition = workflow_condition(existing.as_ref());
    if others.is_empty() {
        writes.push(Write::Delete(workflow_key, condition));
        if let Some(key) = existing
            .as_ref()
            .and_then(|(w, _)| w.trigger.as_ref())
            .and_then(|t| subscription_key(&pk, &id, t))
        {
            writes.push(Write::Delete(key, Condition::Always));
        }
    } else if let Some((workflow, _)) = &existing {
        let record = Workflow {
            id: id.clone(),
            trigger: workflow.trigger.clone(),
            steps: others.iter().map(|s| s.step).collect(),
            updated_at: state.deps.clock.now(),
        };
        writes.push(Write::Put(Item::of(workflow_key, &record)?, condition));
    }
    state
        .deps
        .store
        .transact(writes)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => {
                conflict("the workflow changed meanwhile; try again")
            }
            other => other.into(),
        })?;
    tracing::info!(project = %project.id, workflow = %id, step, "step removed");
    Ok(StatusCode::NO_CONTENT)
}
