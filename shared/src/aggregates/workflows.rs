//! Workflows: their trigger and step list, the compiled step contracts, the
//! dependency edges (integration → step, the reverse-dependency view) and the
//! data-change subscriptions.
//!
//! A contract is stored with everything that depends on it in one transaction: the
//! workflow item (trigger and step list), the contract, its dependency edges
//! (`D#{integration}#{workflow}#{nn}`) and, for a workflow started by a data change,
//! its trigger subscription (`T#...`). Recompiling a step replaces its old edges and
//! subscription in the same transaction, so the dependents view never shows a step
//! that no longer uses an integration.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use serde_json::Value;

use super::projects::keys::project as partition;
use super::{Error, FieldError, integrations};
use crate::compiler::{self, CompileRequest, ProjectIntegration, Workspace};
use crate::domain::{
    Change, DependencyEdge, IntegrationName, ProjectId, StepContract, Trigger, TriggerSubscription,
    Workflow, WorkflowId,
};
use crate::ports::{Condition, Deps, Item, Key, Query, StoreError, Write, query_all};

/// The workflows' keys, all in the project partition.
pub mod keys {
    use crate::domain::{Change, IntegrationName, WorkflowId};

    /// A workflow's item (trigger and step list).
    pub fn workflow(w: &WorkflowId) -> String {
        format!("W#{w}")
    }
    /// Workflows and their steps (a workflow's own item has no `#S#`).
    pub const WORKFLOW_PREFIX: &str = "W#";
    /// A compiled step contract.
    pub fn step(w: &WorkflowId, step: u32) -> String {
        format!("W#{w}#S#{step:02}")
    }
    /// The prefix of a workflow's contracts.
    pub fn steps_prefix(w: &WorkflowId) -> String {
        format!("W#{w}#S#")
    }
    /// A dependency edge: this step of this workflow uses this integration.
    pub fn dependency(i: &IntegrationName, w: &WorkflowId, step: u32) -> String {
        format!("D#{i}#{w}#{step:02}")
    }
    /// The prefix of an integration's dependency edges.
    pub fn dependents_prefix(i: &IntegrationName) -> String {
        format!("D#{i}#")
    }
    /// How many dependency edges an integration has: written in the transactions that
    /// write its edges, so a delete can require 0 in its own transaction.
    pub fn dependents_count(i: &IntegrationName) -> String {
        format!("C#{i}")
    }
    /// The prefix of the subscriptions to one kind of change of one entity type.
    pub fn trigger_prefix(i: &IntegrationName, entity: &str, change: Change) -> String {
        format!("T#{i}#{entity}#{}#", change.as_str())
    }
    /// A workflow's subscription to a data change.
    pub fn trigger(i: &IntegrationName, entity: &str, change: Change, w: &WorkflowId) -> String {
        format!("T#{i}#{entity}#{}#{w}", change.as_str())
    }
}

fn workflow_key(project: &ProjectId, id: &WorkflowId) -> Key {
    Key::new(partition(project), keys::workflow(id))
}

fn step_key(project: &ProjectId, id: &WorkflowId, step: u32) -> Key {
    Key::new(partition(project), keys::step(id, step))
}

fn edge_key(project: &ProjectId, edge: &DependencyEdge) -> Key {
    Key::new(
        partition(project),
        keys::dependency(&edge.integration, &edge.workflow, edge.step),
    )
}

/// The key of an integration's edge counter.
pub(crate) fn count_key(project: &ProjectId, integration: &IntegrationName) -> Key {
    Key::new(partition(project), keys::dependents_count(integration))
}

/// The field of the counter item that holds the count.
pub(crate) const COUNT_FIELD: &str = "count";

/// An integration's edge counter, if it has one (integrations stored before counters
/// existed have none until a step on them is compiled or removed).
///
/// # Errors
/// The store's.
pub(crate) async fn edge_count(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
) -> Result<Option<i64>, StoreError> {
    Ok(deps
        .store
        .get(&count_key(project, integration))
        .await?
        .map(|item| {
            item.doc
                .get(COUNT_FIELD)
                .and_then(Value::as_i64)
                .unwrap_or(0)
        }))
}

/// The writes that move each integration's edge counter by its delta: an `Add` to a
/// counter that exists, or, for one that does not yet, a counter created (only if still
/// absent) from the edges stored now.
async fn count_writes(
    deps: &Deps,
    project: &ProjectId,
    deltas: &BTreeMap<IntegrationName, i64>,
) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    for (integration, &delta) in deltas.iter().filter(|(_, d)| **d != 0) {
        if edge_count(deps, project, integration).await?.is_some() {
            writes.push(Write::Add {
                key: count_key(project, integration),
                field: COUNT_FIELD.into(),
                delta,
            });
        } else {
            let stored = edges_of(deps, project, integration).await?.len();
            let count = i64::try_from(stored)
                .unwrap_or(i64::MAX)
                .saturating_add(delta);
            let doc = serde_json::json!({"integration": integration, COUNT_FIELD: count.max(0)});
            writes.push(Write::Put(
                Item::new(count_key(project, integration), doc),
                Condition::NotExists,
            ));
        }
    }
    Ok(writes)
}

/// Per integration, how many edges the change adds (negative: removes).
fn edge_deltas(
    project: &ProjectId,
    removed: &[DependencyEdge],
    added: &[DependencyEdge],
) -> BTreeMap<IntegrationName, i64> {
    let removed_keys: BTreeSet<Key> = removed.iter().map(|e| edge_key(project, e)).collect();
    let added_keys: BTreeSet<Key> = added.iter().map(|e| edge_key(project, e)).collect();
    let mut deltas = BTreeMap::new();
    for edge in added
        .iter()
        .filter(|e| !removed_keys.contains(&edge_key(project, e)))
    {
        *deltas.entry(edge.integration.clone()).or_insert(0) += 1;
    }
    for edge in removed
        .iter()
        .filter(|e| !added_keys.contains(&edge_key(project, e)))
    {
        *deltas.entry(edge.integration.clone()).or_insert(0) -= 1;
    }
    deltas
}

fn subscription_key(project: &ProjectId, workflow: &WorkflowId, trigger: &Trigger) -> Option<Key> {
    compiler::subscription(workflow, trigger).map(|s| {
        Key::new(
            partition(project),
            keys::trigger(&s.integration, &s.entity_type, s.change, workflow),
        )
    })
}

/// A workflow item, if the project has it.
///
/// # Errors
/// The store's.
pub async fn get(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
) -> Result<Option<Workflow>, StoreError> {
    crate::ports::get_as(deps.store.as_ref(), &workflow_key(project, id)).await
}

/// Every workflow item of the project (without their contracts).
///
/// # Errors
/// The store's.
pub async fn list(deps: &Deps, project: &ProjectId) -> Result<Vec<Workflow>, StoreError> {
    let query = Query::prefix(partition(project), keys::WORKFLOW_PREFIX);
    query_all(deps.store.as_ref(), query)
        .await?
        .iter()
        .filter(|i| !i.key.sk.contains("#S#"))
        .map(|i| i.parse::<Workflow>())
        .collect()
}

/// One compiled step contract, if the workflow has that step.
///
/// # Errors
/// The store's.
pub async fn contract(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
    step: u32,
) -> Result<Option<StepContract>, StoreError> {
    crate::ports::get_as(deps.store.as_ref(), &step_key(project, id, step)).await
}

/// The subscriptions to one kind of change of one entity type of an integration.
///
/// # Errors
/// The store's.
pub async fn subscriptions(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    entity_type: &str,
    change: Change,
) -> Result<Vec<TriggerSubscription>, StoreError> {
    let query = Query::prefix(
        partition(project),
        keys::trigger_prefix(integration, entity_type, change),
    );
    query_all(deps.store.as_ref(), query)
        .await?
        .iter()
        .map(|item| item.parse())
        .collect()
}

/// The dependency edges of an integration, ordered by workflow, then step.
///
/// # Errors
/// The store's.
pub async fn edges_of(
    deps: &Deps,
    project: &ProjectId,
    integration: &IntegrationName,
) -> Result<Vec<DependencyEdge>, StoreError> {
    let query = Query::prefix(partition(project), keys::dependents_prefix(integration));
    query_all(deps.store.as_ref(), query)
        .await?
        .iter()
        .map(|item| item.parse())
        .collect()
}

/// When each of a project's integrations was created: what a step binds to.
type Stamps = BTreeMap<IntegrationName, DateTime<Utc>>;

/// The integrations the compiler may bind a step to, and their creation stamps.
async fn bindable(
    deps: &Deps,
    project: &ProjectId,
) -> Result<(Vec<ProjectIntegration>, Stamps), Error> {
    let mut out = Vec::new();
    let mut stamps = Stamps::new();
    for meta in integrations::list_meta(deps, project).await? {
        stamps.insert(meta.name.clone(), meta.created_at);
        match ProjectIntegration::new(meta.name.as_str(), &meta.provider, meta.config) {
            Ok(i) => out.push(i),
            // A stored Custom HTTP declaration that no longer builds: it cannot be
            // compiled against, but the others can.
            Err(problems) => {
                tracing::warn!(integration = %meta.name, ?problems, "integration skipped by the compiler")
            }
        }
    }
    Ok((out, stamps))
}

/// A workflow as stored: its item (with the stored document, for the optimistic
/// check) and its contracts in step order.
struct Stored {
    found: Option<(Workflow, Value)>,
    steps: Vec<StepContract>,
}

async fn stored(deps: &Deps, project: &ProjectId, id: &WorkflowId) -> Result<Stored, Error> {
    let found = match deps.store.get(&workflow_key(project, id)).await? {
        Some(item) => Some((item.parse::<Workflow>()?, item.doc)),
        None => None,
    };
    let mut steps = Vec::new();
    let query = Query::prefix(partition(project), keys::steps_prefix(id));
    for item in query_all(deps.store.as_ref(), query).await? {
        steps.push(item.parse::<StepContract>()?);
    }
    steps.sort_by_key(|s| s.step);
    Ok(Stored { found, steps })
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

/// A workflow with its contracts.
pub struct WorkflowView {
    /// The workflow item.
    pub workflow: Workflow,
    /// Its contracts, in step order.
    pub steps: Vec<StepContract>,
}

/// The workflow with its contracts.
///
/// # Errors
/// `NotFound`; the store's.
pub async fn read(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
) -> Result<WorkflowView, Error> {
    let Stored { found, steps } = stored(deps, project, id).await?;
    let Some((workflow, _)) = found else {
        return Err(Error::NotFound(format!("the project has no workflow {id}")));
    };
    Ok(WorkflowView { workflow, steps })
}

/// Compiles a step (plain words or structured) against the project's integrations and
/// the workflow's earlier steps, and stores the contract with its edges and
/// subscription in one transaction.
///
/// # Errors
/// `Invalid` with the compiler's problems (or when an integration the step uses was
/// deleted meanwhile); `Conflict` when the workflow changed meanwhile; the store's.
pub async fn compile(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
    request: &CompileRequest,
) -> Result<StepContract, Error> {
    let (integrations, stamps) = bindable(deps, project).await?;
    let existing = stored(deps, project, id).await?;
    let current_trigger = existing.found.as_ref().and_then(|(w, _)| w.trigger.clone());
    let ws = Workspace {
        workflow: id,
        integrations: &integrations,
        trigger: current_trigger.as_ref(),
        steps: &existing.steps,
    };
    let mut compiled = compiler::compile(request, &ws)
        .map_err(|p| Error::Invalid(p.0.into_iter().map(FieldError::from).collect()))?;
    compiled.contract.integration_created_at = stamps.get(&compiled.contract.integration).copied();
    let contract = compiled.contract.clone();
    let removed: Vec<DependencyEdge> = compiled.replaces.iter().flat_map(compiler::edges).collect();
    let deltas = edge_deltas(project, &removed, &compiler::edges(&contract));
    let (mut writes, checks) = compile_writes(deps, project, id, &existing, &compiled, &stamps)?;
    writes.extend(count_writes(deps, project, &deltas).await?);
    deps.store.transact(writes).await.map_err(|e| match e {
        StoreError::ConditionFailed { index: Some(i) } if i < checks => Error::invalid(
            "integration",
            "an integration this step uses was deleted (or re-created) while it was compiled; compile it again",
        ),
        StoreError::ConditionFailed { .. } => Error::conflict(
            "the workflow or the steps on its integrations changed while this step was compiled; compile it again",
        ),
        other => other.into(),
    })?;
    tracing::info!(
        project = %project, workflow = %id, step = contract.step,
        integration = %contract.integration, operation = %contract.operation,
        "step compiled"
    );
    Ok(contract)
}

/// The compile transaction, and how many of its first writes are checks that the
/// integrations the step reaches still exist.
fn compile_writes(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
    existing: &Stored,
    compiled: &compiler::Compiled,
    stamps: &Stamps,
) -> Result<(Vec<Write>, usize), Error> {
    let contract = &compiled.contract;
    let mut writes = Vec::new();
    // The integrations the step reaches must still be the ones it was compiled against
    // when it is stored.
    let mut checked = BTreeSet::new();
    for edge in compiler::edges(contract) {
        let Some(created_at) = stamps.get(&edge.integration) else {
            return Err(Error::invalid(
                "integration",
                format!("the project has no integration named {}", edge.integration),
            ));
        };
        if checked.insert(edge.integration.clone()) {
            writes.push(integrations::bound_check(
                project,
                &edge.integration,
                created_at,
            ));
        }
    }
    // The workflow: its trigger (step 1's) and step list.
    let mut step_numbers: BTreeSet<u32> = existing.steps.iter().map(|s| s.step).collect();
    step_numbers.insert(contract.step);
    let record = Workflow {
        id: id.clone(),
        trigger: Some(compiled.trigger.clone()),
        steps: step_numbers.into_iter().collect(),
        updated_at: deps.clock.now(),
    };
    writes.push(Write::Put(
        Item::of(workflow_key(project, id), &record)?,
        workflow_condition(existing.found.as_ref()),
    ));
    for written in std::iter::once(contract).chain(&compiled.rewritten) {
        writes.push(Write::Put(
            Item::of(step_key(project, id, written.step), written)?,
            Condition::Always,
        ));
    }
    edge_writes(project, compiled, stamps, &mut writes)?;
    let current_trigger = existing
        .found
        .as_ref()
        .and_then(|(w, _)| w.trigger.as_ref());
    subscription_writes(project, id, current_trigger, &compiled.trigger, &mut writes)?;
    Ok((writes, checked.len()))
}

/// Edges: the new ones put, the old ones this step no longer has removed.
fn edge_writes(
    project: &ProjectId,
    compiled: &compiler::Compiled,
    stamps: &Stamps,
    writes: &mut Vec<Write>,
) -> Result<(), Error> {
    let new_edges = compiler::edges(&compiled.contract);
    let new_keys: BTreeSet<Key> = new_edges.iter().map(|e| edge_key(project, e)).collect();
    for old in compiled.replaces.iter().flat_map(compiler::edges) {
        let key = edge_key(project, &old);
        if !new_keys.contains(&key) {
            writes.push(Write::Delete(key, Condition::Always));
        }
    }
    for edge in new_edges {
        let edge = DependencyEdge {
            integration_created_at: stamps.get(&edge.integration).copied(),
            ..edge
        };
        writes.push(Write::Put(
            Item::of(edge_key(project, &edge), &edge)?,
            Condition::Always,
        ));
    }
    Ok(())
}

/// The subscription follows the workflow's trigger.
fn subscription_writes(
    project: &ProjectId,
    id: &WorkflowId,
    current: Option<&Trigger>,
    next: &Trigger,
    writes: &mut Vec<Write>,
) -> Result<(), Error> {
    let old_key = current.and_then(|t| subscription_key(project, id, t));
    let new_key = subscription_key(project, id, next);
    if let Some(old) = old_key
        && Some(&old) != new_key.as_ref()
    {
        writes.push(Write::Delete(old, Condition::Always));
    }
    if let (Some(key), Some(subscription)) = (new_key, compiler::subscription(id, next)) {
        writes.push(Write::Put(Item::of(key, &subscription)?, Condition::Always));
    }
    Ok(())
}

/// Removes a step, its edges and, with the last step, the workflow and its
/// subscription.
///
/// # Errors
/// `NotFound` for an unknown step; `Conflict` when step 1 has later steps, when later
/// steps map this step's output (listed in `extra`), or when the workflow changed
/// meanwhile; the store's.
pub async fn remove_step(
    deps: &Deps,
    project: &ProjectId,
    id: &WorkflowId,
    step: u32,
) -> Result<(), Error> {
    let Stored { found, steps } = stored(deps, project, id).await?;
    let Some(contract) = steps.iter().find(|s| s.step == step).cloned() else {
        return Err(Error::NotFound(format!("workflow {id} has no step {step}")));
    };
    let others: Vec<&StepContract> = steps.iter().filter(|s| s.step != step).collect();
    if step == 1 && !others.is_empty() {
        return Err(Error::conflict(
            "step 1 holds the workflow's trigger; remove the later steps first, or compile step 1 again to change it",
        ));
    }
    let using = compiler::steps_using(step, &steps);
    if !using.is_empty() {
        return Err(Error::Conflict {
            detail: format!("steps {using:?} map step {step}'s output; change them first"),
            extra: Some(serde_json::json!({"steps": using})),
        });
    }
    let mut writes = vec![Write::Delete(
        step_key(project, id, step),
        Condition::Exists,
    )];
    let removed = compiler::edges(&contract);
    for edge in &removed {
        writes.push(Write::Delete(edge_key(project, edge), Condition::Always));
    }
    writes.extend(count_writes(deps, project, &edge_deltas(project, &removed, &[])).await?);
    let condition = workflow_condition(found.as_ref());
    if others.is_empty() {
        writes.push(Write::Delete(workflow_key(project, id), condition));
        if let Some(key) = found
            .as_ref()
            .and_then(|(w, _)| w.trigger.as_ref())
            .and_then(|t| subscription_key(project, id, t))
        {
            writes.push(Write::Delete(key, Condition::Always));
        }
    } else if let Some((workflow, _)) = &found {
        let record = Workflow {
            id: id.clone(),
            trigger: workflow.trigger.clone(),
            steps: others.iter().map(|s| s.step).collect(),
            updated_at: deps.clock.now(),
        };
        writes.push(Write::Put(
            Item::of(workflow_key(project, id), &record)?,
            condition,
        ));
    }
    deps.store.transact(writes).await.map_err(|e| match e {
        StoreError::ConditionFailed { .. } => {
            Error::conflict("the workflow changed meanwhile; try again")
        }
        other => other.into(),
    })?;
    tracing::info!(project = %project, workflow = %id, step, "step removed");
    Ok(())
}
