//! What execute-step does with the bus events routed to it.
//!
//! Each event is parsed into its domain type and checked against the store: a step for
//! a run that does not exist is rejected, and a trigger that matches no workflow or
//! subscription starts nothing (both are final answers). A DataChanged is first read
//! without its before and after states (the subscriptions' conditions look at `after`
//! where it lies in the event), and parsed whole only when a workflow matches.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::aggregates::workflows;
use crate::domain::{
    Change, DataChanged, FieldCondition, IntegrationName, ProjectId, RunMode, StepRequested,
    Trigger, Workflow, WorkflowId, WorkflowTriggered,
};
use crate::ports::{BusEvent, Deps, EVENT_SOURCE, EventHandler, HandlerError, StoreError};
use crate::runtime::{RunTrigger, RuntimeError, StartRun};

/// Execute-step's handler of routed bus events: `WorkflowTriggered` and `DataChanged`
/// start runs, `StepRequested` executes one step.
pub struct ExecuteStep {
    deps: Deps,
}

impl ExecuteStep {
    /// A handler over these dependencies.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

fn detail<T: DeserializeOwned>(event: &BusEvent) -> Result<T, HandlerError> {
    T::deserialize(&event.detail).map_err(|e| {
        HandlerError::Rejected(format!("{} detail does not parse: {e}", event.detail_type))
    })
}

fn runtime_error(e: crate::runtime::RuntimeError) -> HandlerError {
    use crate::runtime::RuntimeError;
    match e {
        RuntimeError::Unavailable(why) => HandlerError::Retryable(why),
        other => HandlerError::Rejected(other.to_string()),
    }
}

fn store_error(e: StoreError) -> HandlerError {
    match e {
        StoreError::Unavailable(why) => HandlerError::Retryable(why),
        other => HandlerError::Rejected(other.to_string()),
    }
}

impl ExecuteStep {
    async fn step_requested(&self, event: StepRequested) -> Result<Value, HandlerError> {
        let outcome = crate::runtime::execute_step(&self.deps, &event)
            .await
            .map_err(runtime_error)?;
        serde_json::to_value(outcome).map_err(|e| HandlerError::Rejected(e.to_string()))
    }

    async fn workflow_triggered(&self, event: WorkflowTriggered) -> Result<Value, HandlerError> {
        let workflows: Vec<Workflow> = match &event.workflow {
            Some(id) => workflows::get(&self.deps, &event.project, id)
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            None => workflows::list(&self.deps, &event.project)
                .await
                .map_err(store_error)?,
        };
        let matching: Vec<_> = workflows
            .iter()
            .filter(|w| {
                matches!(&w.trigger, Some(Trigger::Entity { entity, event: e })
                    if entity.eq_ignore_ascii_case(&event.entity) && e.eq_ignore_ascii_case(&event.event))
            })
            .collect();
        if matching.is_empty() {
            return Ok(
                json!({"started_runs": [], "reason": "no workflow is triggered by this entity event"}),
            );
        }
        let mut started = Vec::new();
        for workflow in matching {
            let start = crate::runtime::StartRun {
                project: event.project.clone(),
                workflow: workflow.id.clone(),
                mode: event.mode.unwrap_or(crate::domain::RunMode::Live),
                trigger: crate::runtime::RunTrigger::Entity {
                    entity: event.entity.clone(),
                    event: event.event.clone(),
                    payload: event.payload.clone(),
                },
            };
            let run = crate::runtime::start_run(&self.deps, start)
                .await
                .map_err(runtime_error)?;
            started.push(json!({"workflow": workflow.id, "run": run.id}));
        }
        Ok(json!({ "started_runs": started }))
    }

    async fn data_changed(&self, bus_event: &BusEvent) -> Result<Value, HandlerError> {
        let head: ChangeHead = detail(bus_event)?;
        let answer = self.start_changed(bus_event, &head).await;
        // Handled (runs started, nothing matched, or refused for good): the change is
        // no longer pending. A retryable failure leaves it for the retry.
        if !matches!(answer, Err(HandlerError::Retryable(_))) {
            let handled = crate::aggregates::events::change_handled(
                &self.deps,
                &head.project,
                &head.integration,
                &head.provider_event_id,
            )
            .await;
            if let Err(error) = handled {
                tracing::warn!(project = %head.project, integration = %head.integration, %error,
                    "a handled change is still listed as pending; it will be handled again (starting nothing twice)");
            }
        }
        answer
    }

    async fn start_changed(
        &self,
        bus_event: &BusEvent,
        head: &ChangeHead,
    ) -> Result<Value, HandlerError> {
        let after = bus_event.detail.get("after").unwrap_or(&Value::Null);
        let subject = (
            &head.project,
            &head.integration,
            head.entity_type.as_str(),
            head.change,
        );
        let matched = matching(&self.deps, subject, after).await?;
        if matched.is_empty() {
            return Ok(
                json!({"started_runs": [], "matched": [], "reason": "no workflow subscribes to this data change"}),
            );
        }
        let event: DataChanged = detail(bus_event)?;
        let mut started = Vec::new();
        let mut not_started = Vec::new();
        for workflow in &matched {
            let start = StartRun {
                project: event.project.clone(),
                workflow: workflow.clone(),
                mode: RunMode::Live,
                trigger: RunTrigger::DataChange(event.clone()),
            };
            // Once per provider event and workflow: a retry of this delivery (after a
            // later workflow failed to start) does not start this one again.
            let occasion = format!(
                "{}\u{0}{}\u{0}{}",
                event.integration, event.provider_event_id, workflow
            );
            match crate::runtime::start_run_once(&self.deps, start, &occasion).await {
                Ok(run) => started.push(run.id),
                // Worth another delivery of the whole event.
                Err(RuntimeError::Unavailable(why)) => return Err(HandlerError::Retryable(why)),
                // A subscription whose workflow cannot run (deleted, no steps yet) must
                // not keep the others from starting.
                Err(other) => {
                    tracing::warn!(project = %event.project, %workflow, error = %other,
                        "a data change matched a workflow that cannot start");
                    not_started.push(json!({"workflow": workflow, "error": other.to_string()}));
                }
            }
        }
        if started.is_empty() && !not_started.is_empty() {
            return Err(HandlerError::Rejected(format!(
                "no matched workflow could start: {}",
                Value::Array(not_started)
            )));
        }
        Ok(json!({"started_runs": started, "matched": matched, "not_started": not_started}))
    }
}

/// A DataChanged without its before and after states (any JSON value is a valid state,
/// so it accepts exactly the details DataChanged accepts).
#[derive(serde::Deserialize)]
#[allow(dead_code)] // changed_fields is read only to check it
struct ChangeHead {
    project: ProjectId,
    integration: IntegrationName,
    entity_type: String,
    change: Change,
    #[serde(default)]
    changed_fields: Vec<String>,
    provider_event_id: String,
}

/// The workflows a data change triggers: the subscriptions stored under
/// `T#{integration}#{entity}#{change}#` whose conditions all hold on the change's
/// `after` state.
pub async fn matching_workflows(
    deps: &Deps,
    event: &DataChanged,
) -> Result<Vec<WorkflowId>, HandlerError> {
    matching(
        deps,
        (
            &event.project,
            &event.integration,
            &event.entity_type,
            event.change,
        ),
        &event.after,
    )
    .await
}

async fn matching(
    deps: &Deps,
    (project, integration, entity_type, change): (&ProjectId, &IntegrationName, &str, Change),
    after: &Value,
) -> Result<Vec<WorkflowId>, HandlerError> {
    let mut matched = Vec::new();
    for subscription in workflows::subscriptions(deps, project, integration, entity_type, change)
        .await
        .map_err(store_error)?
    {
        let holds = subscription
            .conditions
            .iter()
            .all(|c| condition_holds(c, after));
        if holds && !matched.contains(&subscription.workflow) {
            matched.push(subscription.workflow);
        }
    }
    Ok(matched)
}

/// The value at a dotted path (`state.name`; a number indexes an array).
fn at_path<'a>(state: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(state, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Whether a condition holds: strings compare without regard to case or surrounding
/// spaces ("status is done" matches "Done"), numbers by value, a string and a number
/// or boolean by its text ("2" is 2), a list holds when one of its items matches, and
/// null matches a missing field.
pub fn condition_holds(condition: &FieldCondition, state: &Value) -> bool {
    fn same(found: &Value, wanted: &Value) -> bool {
        match (found, wanted) {
            (Value::String(a), Value::String(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::String(s), other @ (Value::Number(_) | Value::Bool(_)))
            | (other @ (Value::Number(_) | Value::Bool(_)), Value::String(s)) => {
                s.trim().eq_ignore_ascii_case(&other.to_string())
            }
            (Value::Array(items), wanted) if !wanted.is_array() => {
                items.iter().any(|item| same(item, wanted))
            }
            (a, b) => a == b,
        }
    }
    match at_path(state, &condition.field) {
        Some(found) => same(found, &condition.equals),
        None => condition.equals.is_null(),
    }
}

#[async_trait]
impl EventHandler for ExecuteStep {
    async fn handle(&self, event: &BusEvent) -> Result<Value, HandlerError> {
        if event.source != EVENT_SOURCE {
            return Err(HandlerError::Rejected(format!(
                "events from {:?} are not handled",
                event.source
            )));
        }
        match event.detail_type.as_str() {
            StepRequested::DETAIL_TYPE => self.step_requested(detail(event)?).await,
            WorkflowTriggered::DETAIL_TYPE => self.workflow_triggered(detail(event)?).await,
            DataChanged::DETAIL_TYPE => self.data_changed(event).await,
            other => Err(HandlerError::Rejected(format!(
                "execute-step takes no {other} events"
            ))),
        }
    }
}

#[cfg(test)]
mod condition_tests {
    use super::*;

    fn cond(field: &str, equals: Value) -> FieldCondition {
        FieldCondition {
            field: field.into(),
            equals,
        }
    }

    #[test]
    fn conditions_read_dotted_paths_and_compare_states_without_case() {
        let after = json!({"state": {"name": "Done", "type": "completed"}, "priority": 2,
                           "labels": ["Bug", "UI"], "archived": false});
        assert!(condition_holds(&cond("state.name", json!("done")), &after));
        assert!(condition_holds(
            &cond("state.name", json!(" DONE ")),
            &after
        ));
        assert!(!condition_holds(
            &cond("state.name", json!("In Progress")),
            &after
        ));
        assert!(condition_holds(&cond("priority", json!(2.0)), &after));
        assert!(condition_holds(&cond("priority", json!("2")), &after));
        assert!(condition_holds(&cond("labels", json!("bug")), &after));
        assert!(condition_holds(&cond("labels.1", json!("ui")), &after));
        assert!(condition_holds(&cond("archived", json!(false)), &after));
        assert!(condition_holds(&cond("missing", Value::Null), &after));
        assert!(!condition_holds(
            &cond("state.name.deeper", json!("x")),
            &after
        ));
    }
}
