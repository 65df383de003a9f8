//! What execute-step does with the bus events routed to it.
//!
//! Each event is parsed into its domain type and checked against the store: a step for
//! a run that does not exist is rejected, and a trigger that matches no workflow or
//! subscription starts nothing (both are final answers). Running steps is the step
//! runtime's work; until it lands, an event that would start or continue a run is
//! answered as not implemented, never acknowledged as done.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::domain::{DataChanged, StepRequested, Trigger, Workflow, WorkflowTriggered, keys};
use crate::ports::{
    BusEvent, Deps, EVENT_SOURCE, EventHandler, HandlerError, Key, Query, StoreError,
};

pub struct ExecuteStep {
    deps: Deps,
}

impl ExecuteStep {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

fn detail<T: DeserializeOwned>(event: &BusEvent) -> Result<T, HandlerError> {
    serde_json::from_value(event.detail.clone()).map_err(|e| {
        HandlerError::Rejected(format!("{} detail does not parse: {e}", event.detail_type))
    })
}

fn store_error(e: StoreError) -> HandlerError {
    match e {
        StoreError::Unavailable(why) => HandlerError::Retryable(why),
        other => HandlerError::Rejected(other.to_string()),
    }
}

impl ExecuteStep {
    async fn step_requested(&self, event: StepRequested) -> Result<Value, HandlerError> {
        let key = Key::new(keys::project(&event.project), keys::run(&event.run));
        if self
            .deps
            .store
            .get(&key)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(HandlerError::Rejected(format!(
                "project {} has no run {}",
                event.project, event.run
            )));
        }
        Err(HandlerError::NotImplemented("executing a step".into()))
    }

    async fn workflow_triggered(&self, event: WorkflowTriggered) -> Result<Value, HandlerError> {
        let pk = keys::project(&event.project);
        let workflows: Vec<Workflow> = match &event.workflow {
            Some(id) => {
                let found = self
                    .deps
                    .store
                    .get(&Key::new(pk, keys::workflow(id)))
                    .await
                    .map_err(store_error)?;
                found
                    .map(|item| item.parse())
                    .transpose()
                    .map_err(store_error)?
                    .into_iter()
                    .collect()
            }
            None => {
                let mut query = Query::prefix(pk, "W#");
                let mut all = Vec::new();
                loop {
                    let page = self.deps.store.query(&query).await.map_err(store_error)?;
                    for item in page.items.iter().filter(|i| !i.key.sk.contains("#S#")) {
                        all.push(item.parse::<Workflow>().map_err(store_error)?);
                    }
                    match page.next {
                        Some(next) => query.after = Some(next),
                        None => break,
                    }
                }
                all
            }
        };
        let matching: Vec<_> = workflows
            .iter()
            .filter(|w| {
                matches!(&w.trigger, Some(Trigger::Entity { entity, event: e })
                    if *entity == event.entity && *e == event.event)
            })
            .collect();
        if matching.is_empty() {
            return Ok(
                json!({"started_runs": [], "reason": "no workflow is triggered by this entity event"}),
            );
        }
        Err(HandlerError::NotImplemented(
            "starting runs from entity events".into(),
        ))
    }

    async fn data_changed(&self, event: DataChanged) -> Result<Value, HandlerError> {
        let query = Query::prefix(
            keys::project(&event.project),
            keys::trigger_prefix(&event.integration, &event.entity_type, event.change),
        );
        let page = self.deps.store.query(&query).await.map_err(store_error)?;
        if page.items.is_empty() {
            return Ok(
                json!({"started_runs": [], "reason": "no workflow subscribes to this data change"}),
            );
        }
        Err(HandlerError::NotImplemented(
            "starting runs from data changes".into(),
        ))
    }
}

#[async_trait]
impl EventHandler for ExecuteStep {
    async fn handle(&self, event: BusEvent) -> Result<Value, HandlerError> {
        if event.source != EVENT_SOURCE {
            return Err(HandlerError::Rejected(format!(
                "events from {:?} are not handled",
                event.source
            )));
        }
        match event.detail_type.as_str() {
            "StepRequested" => self.step_requested(detail(&event)?).await,
            "WorkflowTriggered" => self.workflow_triggered(detail(&event)?).await,
            "DataChanged" => self.data_changed(detail(&event)?).await,
            other => Err(HandlerError::Rejected(format!(
                "execute-step takes no {other} events"
            ))),
        }
    }
}
