//! An agent's tool call: one operation of one integration, run through the same
//! runtime as a workflow's step (sandbox unless asked and allowed otherwise), and stored
//! as a run of its own: `source: agent`, the tool's name in place of a workflow, one
//! step with its trace.
//!
//! A live call is refused unless the integration allows agents live calls
//! (`Integration::agent_live`). Its idempotency key, where the provider takes one, is
//! derived from the run's id, which this server makes: never from the caller's request
//! id, which MCP clients reuse.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{
    RunTrigger, RuntimeError, Step, StepInput, UNKNOWN_OUTCOME, announce_end, failure, finish,
    perform, publish,
};
use crate::aggregates::runs;
use crate::domain::{
    Integration, IntegrationName, OperationId, ProjectId, Run, RunId, RunMode, RunSource,
    RunStatus, StepEffect, StepTrace,
};
use crate::ports::{Deps, StoreError};

/// An agent's call of one operation.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The integration whose operation is called.
    pub integration: IntegrationName,
    /// The operation.
    pub operation: OperationId,
    /// The operation's input.
    pub arguments: Map<String, Value>,
    /// Sandbox (the default) or live.
    pub mode: RunMode,
}

impl ToolCall {
    /// The tool's name: `{integration}.{operation}`.
    pub fn tool(&self) -> String {
        tool_name(&self.integration, &self.operation)
    }
}

/// A tool's name: `{integration}.{operation}` (neither part can hold a dot).
pub fn tool_name(integration: &IntegrationName, operation: &OperationId) -> String {
    format!("{integration}.{operation}")
}

/// What a call came to.
#[derive(Debug, Clone)]
pub struct Called {
    /// The run as it stands: ended, or still running when the wait ended.
    pub run: Run,
    /// The step's trace; `None` while it runs.
    pub trace: Option<StepTrace>,
}

/// The refusal of a live call on an integration that does not allow agents live calls.
pub fn live_refused(integration: &IntegrationName) -> String {
    format!(
        "live calls by agents are off for the integration {integration}: the call can run in sandbox, or a person allows live calls with PUT /projects/{{project}}/integrations/{integration}/agent-access {{\"live\": true}}"
    )
}

/// Runs an agent's call of an operation of `integration` (as the caller read it) as a
/// one-step run, and waits up to `within` for it. A call still running then carries on
/// (and is recorded) without its caller, who is told its run.
///
/// # Errors
/// `Invalid` for a live call the integration does not allow; `Unavailable`; the store's.
pub async fn call(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    call: ToolCall,
    within: Duration,
) -> Result<Called, RuntimeError> {
    if call.mode == RunMode::Live && !integration.agent_live {
        return Err(RuntimeError::Invalid(live_refused(&call.integration)));
    }
    let id = RunId::parse(&deps.ids.new_id()).map_err(|e| RuntimeError::Internal(e.to_string()))?;
    let tool = call.tool();
    let trigger = RunTrigger::Agent {
        tool: tool.clone(),
        arguments: call.arguments.clone(),
    };
    let run = Run {
        id,
        workflow: None,
        source: RunSource::Agent,
        tool: Some(tool),
        mode: call.mode,
        status: RunStatus::Running,
        trigger: serde_json::to_value(&trigger)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?,
        started_at: deps.clock.now(),
        finished_at: None,
    };
    // Relaxed: the caller hears of the run only after its later commits, the first
    // durable one of which (the live step's claim) makes this one durable too.
    runs::insert(deps, project, &run, None, runs::Commit::Relaxed).await?;
    let task = tokio::spawn(execute(deps.clone(), project.clone(), run.clone(), call));
    match tokio::time::timeout(within, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(joined)) => Err(RuntimeError::Internal(format!(
            "the call's task stopped: {joined}"
        ))),
        Err(_) => Ok(Called { run, trace: None }),
    }
}

/// Performs the call's one step and records its trace with the run's end.
async fn execute(
    deps: Deps,
    project: ProjectId,
    run: Run,
    call: ToolCall,
) -> Result<Called, RuntimeError> {
    let step = Step {
        number: 1,
        integration: &call.integration,
        operation: &call.operation,
        bound_to: None,
        input: StepInput::Given(&call.arguments),
    };
    let started_at = deps.clock.now();
    let trace = match perform(&deps, &project, &run, &step).await {
        Ok(trace) => trace,
        Err(failure) => failure.trace(&run.id, 1, started_at, deps.clock.now()),
    };
    let status = ended_as(&trace);
    match runs::record_trace(&deps, &project, &run, &trace, Some(status)).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    publish(
        &deps,
        crate::domain::detail_types::STEP_COMPLETED,
        json!({
            "project": project, "run": run.id, "source": RunSource::Agent, "tool": run.tool,
            "step": 1, "effect": trace.effect, "trace": runs::trace_ref(&project, &run.id, 1),
        }),
    )
    .await;
    announce_end(&deps, &project, &run, status).await;
    let mut ended = run;
    ended.status = status;
    ended.finished_at = Some(deps.clock.now());
    Ok(Called {
        run: ended,
        trace: Some(trace),
    })
}

/// How a call's run ends, by what its one step did.
fn ended_as(trace: &StepTrace) -> RunStatus {
    if trace.effect == StepEffect::Failed {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    }
}

/// Ends an agent's run that a stopped process left running; its caller is gone, so it
/// is never carried on. With its trace recorded, the run ends as the trace says. A live
/// call claimed with no trace may have reached the provider: it fails with its outcome
/// unknown (true is returned). Otherwise it had sent nothing, and fails saying so.
///
/// # Errors
/// The store's.
pub(super) async fn end_interrupted(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    traces: &[StepTrace],
) -> Result<bool, RuntimeError> {
    if let Some(trace) = traces.first() {
        finish(deps, project, run, ended_as(trace)).await?;
        return Ok(false);
    }
    let claimed =
        run.mode == RunMode::Live && runs::claimed_at(deps, project, &run.id, 1).await?.is_some();
    let (integration, operation) = run
        .tool
        .as_deref()
        .and_then(|tool| tool.split_once('.'))
        .and_then(|(i, o)| Some((IntegrationName::parse(i).ok()?, OperationId::from(o))))
        .ok_or_else(|| RuntimeError::Internal(format!("run {} names no tool", run.id)))?;
    let step = Step {
        number: 1,
        integration: &integration,
        operation: &operation,
        bound_to: None,
        input: StepInput::Given(&Map::new()),
    };
    let message = if claimed {
        UNKNOWN_OUTCOME.to_owned()
    } else {
        "the process stopped before this call ran; nothing was sent".to_owned()
    };
    let now = deps.clock.now();
    let trace = failure(&step, message).trace(&run.id, 1, now, now);
    runs::record_trace(deps, project, run, &trace, Some(RunStatus::Failed)).await?;
    announce_end(deps, project, run, RunStatus::Failed).await;
    Ok(claimed)
}
