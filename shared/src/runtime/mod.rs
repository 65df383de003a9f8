//! The step runtime: starts runs, executes one step per invocation, records traces and
//! asks for the next step on the bus.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{DataChanged, ProjectId, Run, RunMode, WorkflowId};
use crate::ports::Deps;

/// What started a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunTrigger {
    /// A studio entity event (a form submitted), from WorkflowTriggered or the API.
    Entity { entity: String, event: String, payload: Value },
    /// A verified provider data change, from DataChanged.
    DataChange(DataChanged),
}

/// A request to start a run of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRun {
    pub project: ProjectId,
    pub workflow: WorkflowId,
    pub mode: RunMode,
    pub trigger: RunTrigger,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    #[error("not implemented yet: {0}")]
    NotImplemented(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("temporary failure: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Starts a run: stores it and asks for its first step.
pub async fn start_run(_deps: &Deps, start: StartRun) -> Result<Run, RuntimeError> {
    Err(RuntimeError::NotImplemented(format!("starting a run of {}", start.workflow)))
}
