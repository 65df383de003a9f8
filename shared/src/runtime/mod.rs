//! The step runtime: starts runs, executes one step per invocation, records traces and
//! asks for the next step on the bus.
//!
//! A run moves one step per `StepRequested` event: execute-step claims the step, builds
//! the input from the contract's mapping, and hands the request to the edge the run's
//! mode allows — in sandbox the sandbox edge, which cannot send, and a mock response
//! derived from the operation's response schema; live, the credentials are opened
//! (audited) for this one step, the request is sent with retries, and the trace is
//! masked with those credentials before it is stored. Then the next step is requested,
//! or the run is finished and announced. A named target in the input ("the ENG team")
//! is resolved to its id first ([`lookup`]): mocked in sandbox, looked up live.
//!
//! Credentials: each step opens the version current when it executes. A run in flight
//! when credentials are rotated uses the new version from its next step on.

pub mod agent;
pub mod cache;
pub mod fetch;
pub mod live;
pub mod lookup;
pub mod mapping;
pub mod mock;
#[cfg(test)]
mod mock_properties;
pub mod oauth;
pub mod request;
pub mod smart;
pub mod verify;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::aggregates::runs::{self, Inserted};
use crate::catalog::{Provider, schema_validator, validation_errors};
use crate::domain::{
    AuditPurpose, DataChanged, Integration, ProjectId, Run, RunId, RunMode, RunStatus,
    StepContract, StepEffect, StepRequested, StepTrace, Workflow, WorkflowId,
};
use crate::ports::{BusEvent, Deps, EdgeOutcome, OutboundRequest, StoreError};

/// What started a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunTrigger {
    /// A studio entity event (a form submitted), from WorkflowTriggered or the API.
    Entity {
        /// The studio entity (`intake_form`...).
        entity: String,
        /// What happened to it (`submitted`...).
        event: String,
        /// The entity's fields, which `{{entity.<field>}}` templates read.
        payload: Value,
    },
    /// A verified provider data change, from DataChanged.
    DataChange(DataChanged),
    /// An agent's tool call through the project's MCP server: the tool, and the
    /// arguments it was called with (the operation's input, never read as templates).
    Agent {
        /// The tool (`clinic-mail.send_email`).
        tool: String,
        /// The arguments as the agent sent them.
        arguments: Map<String, Value>,
    },
}

/// A request to start a run of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRun {
    /// The project that owns the workflow.
    pub project: ProjectId,
    /// The workflow to run.
    pub workflow: WorkflowId,
    /// Sandbox or live, for every step.
    pub mode: RunMode,
    /// What started the run; its steps' mappings read it.
    pub trigger: RunTrigger,
}

/// Why the runtime could not start a run or execute a step.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// The run or workflow named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked (a workflow with no steps yet).
    #[error("{0}")]
    Invalid(String),
    /// A dependency (store, bus) did not answer; worth retrying.
    #[error("temporary failure: {0}")]
    Unavailable(String),
    /// A bug or stored data that does not read; retrying does not help.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => RuntimeError::Unavailable(why),
            other => RuntimeError::Internal(other.to_string()),
        }
    }
}

/// How long a delivery may hold a live step's claim: longer than one execute-step
/// invocation may run (its timeout is 60 s). A delivery that finds the claim taken for
/// less than this is a duplicate and does nothing; one that finds it older, with no
/// trace, knows the holder stopped after claiming, perhaps after sending, and records
/// the step as failed with its outcome unknown: a live step is never sent twice.
const CLAIM_SECS: i64 = 90;

/// The error of a live step whose delivery stopped after claiming it: it may have
/// reached the provider, so it is not sent again.
pub const UNKNOWN_OUTCOME: &str = "outcome unknown: the delivery that claimed this live step stopped before its answer was recorded; it may have reached the provider, so it is not sent again";

async fn load_workflow(
    deps: &Deps,
    project: &ProjectId,
    workflow: &WorkflowId,
) -> Result<Workflow, RuntimeError> {
    crate::aggregates::workflows::get(deps, project, workflow)
        .await?
        .ok_or_else(|| RuntimeError::NotFound(format!("the project has no workflow {workflow}")))
}

/// Starts a run: stores it and asks for its first step.
pub async fn start_run(deps: &Deps, start: StartRun) -> Result<Run, RuntimeError> {
    start_run_inner(deps, start, None, runs::Commit::ByMode).await
}

/// Starts a run whose caller waits for its end before answering anyone: its record is
/// committed relaxed, and made durable by the run's first durable commit (see
/// [`runs::Commit::Relaxed`]). A live run then costs one fsync less.
pub async fn start_run_waited(deps: &Deps, start: StartRun) -> Result<Run, RuntimeError> {
    start_run_inner(deps, start, None, runs::Commit::Relaxed).await
}

/// Starts a run at most once per `occasion` (a provider event for one workflow): a
/// retried delivery of the same occasion finds the run it started and asks for its
/// first step again (which does nothing if that step ran), instead of starting a
/// second run that would repeat live calls. The marker lives as long as webhook
/// dedupe markers (7 days).
pub async fn start_run_once(
    deps: &Deps,
    start: StartRun,
    occasion: &str,
) -> Result<Run, RuntimeError> {
    start_run_inner(deps, start, Some(occasion), runs::Commit::ByMode).await
}

async fn start_run_inner(
    deps: &Deps,
    start: StartRun,
    occasion: Option<&str>,
    commit: runs::Commit,
) -> Result<Run, RuntimeError> {
    let workflow = load_workflow(deps, &start.project, &start.workflow).await?;
    let first = *workflow.steps.first().ok_or_else(|| {
        RuntimeError::Invalid(format!("workflow {} has no steps yet", start.workflow))
    })?;
    let id = RunId::parse(&deps.ids.new_id()).map_err(|e| RuntimeError::Internal(e.to_string()))?;
    let run = Run {
        id: id.clone(),
        workflow: Some(start.workflow.clone()),
        source: crate::domain::RunSource::Workflow,
        tool: None,
        mode: start.mode,
        status: RunStatus::Running,
        trigger: serde_json::to_value(&start.trigger)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?,
        started_at: deps.clock.now(),
        finished_at: None,
    };
    if let Inserted::Earlier(earlier) =
        runs::insert(deps, &start.project, &run, occasion, commit).await?
    {
        // Started before: carry on with that run.
        if earlier.status == RunStatus::Running {
            request_step(deps, &start.project, &earlier, first).await?;
        }
        return Ok(earlier);
    }
    request_step(deps, &start.project, &run, first).await?;
    Ok(run)
}

async fn request_step(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: u32,
) -> Result<(), RuntimeError> {
    let workflow = run.workflow.clone().ok_or_else(|| {
        RuntimeError::Internal(format!(
            "run {} is an agent's call: it has no steps to request",
            run.id
        ))
    })?;
    let detail = StepRequested {
        project: project.clone(),
        run: run.id.clone(),
        workflow,
        step,
        mode: run.mode,
    };
    let event = BusEvent::of(StepRequested::DETAIL_TYPE, &detail)
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
    deps.bus
        .publish(vec![event])
        .await
        .map_err(|e| RuntimeError::Unavailable(e.to_string()))
}

/// What one execute-step invocation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    /// The run the step belongs to.
    pub run: RunId,
    /// The step the invocation was asked to execute.
    pub step: u32,
    /// `would_have_sent`, `sent`, `failed`, or `skipped` for a duplicate delivery.
    pub effect: StepEffect,
    /// The step requested next; `None` when the run ended here or nothing was done.
    pub next_step: Option<u32>,
}

/// The provider an integration is built on (see [`crate::catalog::provider_for`]).
pub fn provider_of(
    integration: &Integration,
) -> Result<std::borrow::Cow<'static, Provider>, RuntimeError> {
    crate::catalog::provider_for(
        integration.name.as_str(),
        &integration.provider,
        &integration.config,
    )
    .map_err(|e| RuntimeError::Internal(format!("stored integration: {e}")))
}

/// Executes one step of a run (one StepRequested delivery).
pub async fn execute_step(
    deps: &Deps,
    requested: &StepRequested,
) -> Result<StepOutcome, RuntimeError> {
    let run = runs::get(deps, &requested.project, &requested.run)
        .await?
        .ok_or_else(|| {
            RuntimeError::NotFound(format!(
                "project {} has no run {}",
                requested.project, requested.run
            ))
        })?;
    let skipped = |effect: StepEffect| StepOutcome {
        run: run.id.clone(),
        step: requested.step,
        effect,
        next_step: None,
    };
    if run.status != RunStatus::Running {
        return Ok(skipped(StepEffect::Skipped));
    }
    // A step whose trace exists is done: a duplicate delivery stops here. A live step
    // is also claimed before its call, in the transaction that audits the opening of
    // its credentials (see `perform`), so two deliveries racing past this check never
    // both cause its side effect.
    if runs::has_trace(deps, &requested.project, &run.id, requested.step).await? {
        return Ok(skipped(StepEffect::Skipped));
    }

    // Only a workflow's runs have steps to request; an agent's call runs in its request.
    let Some(workflow_id) = &run.workflow else {
        return Ok(skipped(StepEffect::Skipped));
    };
    let workflow = load_workflow(deps, &requested.project, workflow_id).await?;
    let contract: StepContract = match crate::aggregates::workflows::contract(
        deps,
        &requested.project,
        workflow_id,
        requested.step,
    )
    .await?
    {
        Some(contract) => contract,
        None => {
            // The step was removed after the run started: the run cannot go on.
            finish(deps, &requested.project, &run, RunStatus::Failed).await?;
            return Ok(skipped(StepEffect::Failed));
        }
    };
    let started_at = deps.clock.now();
    let executed = perform(deps, &requested.project, &run, &Step::of(&contract)).await;
    let (trace, ok) = match executed {
        Ok(trace) => {
            let ok = trace.effect != StepEffect::Failed;
            (trace, ok)
        }
        Err(failure) if failure.duplicate => return Ok(skipped(StepEffect::Skipped)),
        Err(failure) => (
            failure.trace(&run.id, requested.step, started_at, deps.clock.now()),
            false,
        ),
    };
    let next = workflow
        .steps
        .iter()
        .copied()
        .skip_while(|s| *s != requested.step)
        .nth(1)
        .filter(|_| ok);
    // The trace, and the run's end when this was its last step, in one transaction.
    let ended = match next {
        Some(_) => None,
        None => Some(if ok {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        }),
    };
    match runs::record_trace(deps, &requested.project, &run, &trace, ended).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Ok(skipped(StepEffect::Skipped)),
        Err(e) => return Err(e.into()),
    }
    publish(deps, crate::domain::detail_types::STEP_COMPLETED, json!({
        "project": requested.project, "run": run.id, "workflow": run.workflow, "step": requested.step,
        "effect": trace.effect, "trace": runs::trace_ref(&requested.project, &run.id, requested.step),
    }))
    .await;
    match (next, ended) {
        (Some(next), _) => request_step(deps, &requested.project, &run, next).await?,
        (None, Some(status)) => announce_end(deps, &requested.project, &run, status).await,
        (None, None) => {}
    }
    Ok(StepOutcome {
        run: run.id.clone(),
        step: requested.step,
        effect: trace.effect,
        next_step: next,
    })
}

/// Ends a run that cannot go on (its step was removed) and announces it.
async fn finish(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    status: RunStatus,
) -> Result<(), RuntimeError> {
    runs::end(deps, project, run, status).await?;
    announce_end(deps, project, run, status).await;
    Ok(())
}

/// What [`resume`] did with the runs a stopped process left running.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resumed {
    /// Runs whose next step was requested again (it had not been claimed).
    pub requested: usize,
    /// Runs failed because their live step was claimed with no trace: its outcome is
    /// unknown ([`UNKNOWN_OUTCOME`]), and it is not sent again.
    pub unknown: usize,
    /// Runs ended without a step to run (every step traced, a failed step, or the
    /// workflow or step gone).
    pub ended: usize,
}

/// After a start: carries on the runs a stopped process left `running` (found through
/// the running index, not a scan). Each resumes from its last completed step: the next
/// step is requested again, unless it is a live step that was claimed with no trace,
/// which fails with its outcome unknown. No run is left running.
///
/// # Errors
/// The store's and the bus's; a run that cannot be read is left for the next start.
pub async fn resume(deps: &Deps) -> Result<Resumed, RuntimeError> {
    let mut resumed = Resumed::default();
    for (project, id) in runs::running(deps).await? {
        let run = match runs::get(deps, &project, &id).await? {
            Some(run) if run.status == RunStatus::Running => run,
            _ => {
                runs::forget_running(deps, &project, &id).await?;
                continue;
            }
        };
        let traces = runs::traces(deps, &project, &run.id).await?;
        let Some(workflow_id) = &run.workflow else {
            // An agent's call, whose caller is gone: never sent again.
            match agent::end_interrupted(deps, &project, &run, &traces).await? {
                true => resumed.unknown += 1,
                false => resumed.ended += 1,
            }
            continue;
        };
        let next = match load_workflow(deps, &project, workflow_id).await {
            Ok(workflow) if traces.iter().all(|t| t.effect != StepEffect::Failed) => workflow
                .steps
                .iter()
                .copied()
                .find(|s| traces.iter().all(|t| t.step != *s)),
            Ok(_) | Err(RuntimeError::NotFound(_)) => {
                finish(deps, &project, &run, RunStatus::Failed).await?;
                resumed.ended += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(step) = next else {
            finish(deps, &project, &run, RunStatus::Succeeded).await?;
            resumed.ended += 1;
            continue;
        };
        let claimed = run.mode == RunMode::Live
            && runs::claimed_at(deps, &project, &run.id, step)
                .await?
                .is_some();
        if !claimed {
            request_step(deps, &project, &run, step).await?;
            resumed.requested += 1;
            continue;
        }
        let Some(contract) =
            crate::aggregates::workflows::contract(deps, &project, workflow_id, step).await?
        else {
            finish(deps, &project, &run, RunStatus::Failed).await?;
            resumed.ended += 1;
            continue;
        };
        let now = deps.clock.now();
        let trace =
            failure(&Step::of(&contract), UNKNOWN_OUTCOME.into()).trace(&run.id, step, now, now);
        runs::record_trace(deps, &project, &run, &trace, Some(RunStatus::Failed)).await?;
        announce_end(deps, &project, &run, RunStatus::Failed).await;
        resumed.unknown += 1;
    }
    if resumed != Resumed::default() {
        tracing::info!(
            ?resumed,
            "runs left running by a stopped process carried on"
        );
    }
    Ok(resumed)
}

async fn announce_end(deps: &Deps, project: &ProjectId, run: &Run, status: RunStatus) {
    publish(
        deps,
        crate::domain::detail_types::RUN_COMPLETED,
        json!({
            "project": project, "run": run.id, "workflow": run.workflow, "status": status,
            "trace": runs::run_ref(project, &run.id),
        }),
    )
    .await;
}

/// Announcements for observers: the step or run is already recorded, so a bus that
/// does not answer is logged rather than failing the step.
async fn publish(deps: &Deps, detail_type: &str, detail: Value) {
    if let Err(error) = deps
        .bus
        .publish(vec![BusEvent::new(detail_type, detail)])
        .await
    {
        tracing::error!(%error, detail_type, "event not published");
    }
}

/// Opened credentials made ready to send: a SMART backend-services token or a
/// refreshed OAuth access token where the provider uses one (each audited as the
/// refresh it is), else as they are.
pub(crate) async fn fresh(
    deps: &Deps,
    project: &ProjectId,
    provider: &Provider,
    integration: &Integration,
    credentials: crate::vault::Credentials,
    cause: Value,
) -> Result<crate::vault::Credentials, String> {
    match (
        smart::backend_services(provider, &integration.config),
        oauth::token_url(provider, &integration.config),
    ) {
        (Some(service), _) => {
            let service = service.map_err(|e| e.to_string())?;
            smart::ensure_token(deps, project, integration, &service, credentials, cause)
                .await
                .map(|(_, c)| c)
                .map_err(|e| e.to_string())
        }
        (None, Some(token_url)) => {
            oauth::ensure_fresh(deps, project, integration, &token_url, credentials, cause)
                .await
                .map(|(_, c)| c)
                .map_err(|e| e.to_string())
        }
        (None, None) => Ok(credentials),
    }
}

/// Why a step failed, with what is known of it.
struct Failure {
    integration: crate::domain::IntegrationName,
    operation: crate::domain::OperationId,
    request: Option<Value>,
    message: String,
    /// Another delivery of this step holds its claim: nothing to record.
    duplicate: bool,
}

impl Failure {
    /// The trace of a step that failed before or without an answer.
    fn trace(
        self,
        run: &RunId,
        step: u32,
        started_at: chrono::DateTime<chrono::Utc>,
        finished_at: chrono::DateTime<chrono::Utc>,
    ) -> StepTrace {
        StepTrace {
            run: run.clone(),
            step,
            integration: self.integration,
            operation: self.operation,
            effect: StepEffect::Failed,
            request: self.request,
            response: None,
            error: Some(self.message),
            started_at,
            finished_at,
            lookups: Vec::new(),
            fetched: None,
        }
    }
}

/// The request as the trace shows it: exact bytes of the body as text, plus the parsed
/// JSON when it is JSON, for reading.
pub fn request_view(request: &OutboundRequest) -> Value {
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let mut view = json!({
        "method": request.method,
        "url": request.url,
        "headers": request.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": body,
    });
    if let Ok(parsed) = serde_json::from_slice::<Value>(&request.body) {
        view["body_json"] = parsed;
    }
    view
}

async fn context_for(deps: &Deps, project: &ProjectId, run: &Run) -> Result<Value, RuntimeError> {
    let mut context = json!({});
    match serde_json::from_value::<RunTrigger>(run.trigger.clone()) {
        Ok(RunTrigger::Entity {
            payload,
            entity,
            event,
        }) => {
            context["entity"] = payload;
            context["event"] = json!({"entity": entity, "event": event});
        }
        Ok(RunTrigger::DataChange(change)) => {
            context["change"] = serde_json::to_value(&change).unwrap_or_default();
        }
        Ok(RunTrigger::Agent { .. }) | Err(_) => {}
    }
    let mut steps = Map::new();
    for trace in runs::traces(deps, project, &run.id).await? {
        let output = trace
            .response
            .as_ref()
            .and_then(|r| r.get("body"))
            .cloned()
            .unwrap_or(Value::Null);
        steps.insert(trace.step.to_string(), json!({"output": output}));
    }
    context["steps"] = Value::Object(steps);
    Ok(context)
}

/// One step to perform: which integration and operation, and where its input comes from.
struct Step<'a> {
    /// Its number in the run (1 for an agent's call).
    number: u32,
    integration: &'a crate::domain::IntegrationName,
    operation: &'a crate::domain::OperationId,
    /// When the integration the step was compiled against was created: it runs only on
    /// that one.
    bound_to: Option<chrono::DateTime<chrono::Utc>>,
    input: StepInput<'a>,
}

/// Where a step's input comes from.
enum StepInput<'a> {
    /// A compiled step's mapping, rendered from the run's context; `trigger_schema` is
    /// what the trigger's payload must fit.
    Mapped {
        mapping: &'a Map<String, Value>,
        trigger_schema: &'a Value,
    },
    /// An agent's arguments, as given: never read as templates.
    Given(&'a Map<String, Value>),
}

impl<'a> Step<'a> {
    fn of(contract: &'a StepContract) -> Self {
        Self {
            number: contract.step,
            integration: &contract.integration,
            operation: &contract.operation,
            bound_to: contract.integration_created_at,
            input: StepInput::Mapped {
                mapping: &contract.input_mapping,
                trigger_schema: &contract.input_schema,
            },
        }
    }
}

/// What a use of credentials for a run's step is audited as caused by: the workflow's
/// step, or the agent's tool call.
pub(crate) fn cause_of(run: &Run, step: u32) -> Value {
    match &run.tool {
        Some(tool) => json!({"source": "agent", "tool": tool, "run": run.id}),
        None => json!({"workflow": run.workflow, "step": step, "run": run.id}),
    }
}

async fn perform(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: &Step<'_>,
) -> Result<StepTrace, Failure> {
    let prepared = prepare(deps, project, run, step).await?;
    match run.mode {
        RunMode::Sandbox => perform_sandbox(deps, run, step, prepared).await,
        RunMode::Live => perform_live(deps, project, run, step, prepared).await,
    }
}

/// A step's failure before anything is known of its request.
fn failure(step: &Step<'_>, message: String) -> Failure {
    Failure {
        integration: step.integration.clone(),
        operation: step.operation.clone(),
        request: None,
        message,
        duplicate: false,
    }
}

/// A step ready to run: its integration and operation, and its input rendered from the
/// run's context, with the operation's defaults, and checked.
struct Prepared {
    integration: Integration,
    provider: std::borrow::Cow<'static, Provider>,
    /// The operation's index in the provider's list.
    op: usize,
    input: Value,
    fetched: Option<Value>,
    seed: String,
    idempotency_key: Option<String>,
    started_at: chrono::DateTime<chrono::Utc>,
}

impl Prepared {
    fn operation(&self) -> &crate::catalog::Operation {
        &self.provider.operations[self.op]
    }
}

/// Reads the step's integration (from the run's own project only: a workflow can never
/// reach another project's integration), renders and checks its input.
async fn prepare(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: &Step<'_>,
) -> Result<Prepared, Failure> {
    let fail = |message: String| failure(step, message);
    let integration: Integration =
        crate::aggregates::integrations::get(deps, project, step.integration)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| {
                fail(format!(
                    "the project has no integration {} (deleted?)",
                    step.integration
                ))
            })?;
    if step
        .bound_to
        .is_some_and(|bound| bound != integration.created_at)
    {
        return Err(fail(format!(
            "the integration {} was deleted and created again after this step was compiled; compile the step again to use the new one",
            step.integration
        )));
    }
    let provider = provider_of(&integration).map_err(|e| fail(e.to_string()))?;
    let op = provider
        .operations
        .iter()
        .position(|o| o.id == *step.operation)
        .ok_or_else(|| {
            fail(format!(
                "{} has no operation {}",
                provider.display_name, step.operation
            ))
        })?;
    let operation = &provider.operations[op];
    let (rendered, fetched) = match step.input {
        StepInput::Mapped {
            mapping,
            trigger_schema,
        } => {
            render(
                deps,
                project,
                run,
                step,
                mapping,
                trigger_schema,
                &operation.quote,
            )
            .await?
        }
        StepInput::Given(arguments) => (arguments.clone(), None),
    };
    // The operation's defaults (a default sender from config...) are part of the input
    // that is validated, sent and mocked.
    let input = Value::Object(
        request::with_defaults(
            &provider,
            operation,
            &Value::Object(rendered),
            &integration.config,
        )
        .map_err(|e| fail(e.to_string()))?,
    );
    if let Ok(validator) = crate::catalog::operation_validator(&provider, operation) {
        // Named targets are ids the run has yet to look up: a placeholder stands in.
        let errors = validation_errors(&validator, &lookup::with_placeholders(&input));
        if !errors.is_empty() {
            return Err(fail(format!(
                "the input does not fit {}'s {}: {}",
                provider.display_name,
                operation.id,
                errors.join("; ")
            )));
        }
    }
    let step = step.number;
    let seed = format!("{}#{step}", run.id);
    let idempotency_key = operation
        .idempotency_header
        .as_ref()
        .map(|_| format!("studio-{}", seed));
    Ok(Prepared {
        integration,
        provider,
        op,
        input,
        fetched,
        seed,
        idempotency_key,
        started_at: deps.clock.now(),
    })
}

/// A compiled step's input: its mapping rendered from the run's context (the trigger,
/// earlier steps' outputs, a changed entity read when its webhook named only its id),
/// once the trigger's payload is found to fit the step's schema.
async fn render(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: &Step<'_>,
    mapping: &Map<String, Value>,
    trigger_schema: &Value,
    quote: &std::collections::BTreeMap<String, crate::catalog::Quoting>,
) -> Result<(Map<String, Value>, Option<Value>), Failure> {
    let fail = |message: String| failure(step, message);
    let mut context = context_for(deps, project, run)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // A change whose webhook named only the entity: read it when the step maps more.
    let fetched = fetch::complete(deps, project, run, step.number, mapping, &mut context)
        .await
        .map_err(fail)?;
    if let (Some(entity), true) = (context.get("entity"), trigger_schema.is_object())
        && let Ok(validator) = schema_validator(trigger_schema)
    {
        let errors = validation_errors(&validator, entity);
        if !errors.is_empty() {
            return Err(fail(format!(
                "the trigger's payload does not fit the step's input schema: {}",
                errors.join("; ")
            )));
        }
    }
    Ok((mapping::render_for(mapping, &context, quote), fetched))
}

/// In sandbox: named targets mocked, the request built with masked credentials and
/// handed to the sandbox edge (which cannot send), and a mock answer from the
/// operation's response schema.
async fn perform_sandbox(
    deps: &Deps,
    run: &Run,
    step: &Step<'_>,
    prepared: Prepared,
) -> Result<StepTrace, Failure> {
    let fail = |message: String| failure(step, message);
    let operation = prepared.operation();
    let (input, lookups) =
        lookup::resolve_sandbox(&prepared.provider, &prepared.integration, &prepared.input)
            .map_err(fail)?;
    let request = request::build_request(
        &prepared.provider,
        operation,
        &input,
        &prepared.integration.config,
        request::CredentialValues::Masked,
        prepared.idempotency_key.as_deref(),
    )
    .map_err(|e| fail(e.to_string()))?;
    let view = request_view(&request);
    match deps.sandbox_edge.send(&request).await {
        Ok(EdgeOutcome::WouldHaveSent) => {}
        Ok(EdgeOutcome::Sent(_)) => {
            return Err(fail("the sandbox edge sent a request".into()));
        }
        Err(e) => {
            return Err(Failure {
                request: Some(view),
                ..fail(e.to_string())
            });
        }
    }
    // A response schema that no mock fits within the budgets fails the step, and says
    // why; the request the sandbox would have sent is kept in the trace.
    let body = match mock::mock_response(operation, &input, &prepared.seed) {
        Ok(body) => body,
        Err(e) => {
            return Err(Failure {
                request: Some(view),
                ..fail(format!("no mock response for {}: {e}", operation.id))
            });
        }
    };
    Ok(StepTrace {
        run: run.id.clone(),
        step: step.number,
        integration: step.integration.clone(),
        operation: operation.id.clone(),
        effect: StepEffect::WouldHaveSent,
        request: Some(view),
        response: Some(json!({"status": operation.success_status, "mock": true, "body": body})),
        error: None,
        started_at: prepared.started_at,
        finished_at: deps.clock.now(),
        lookups,
        fetched: prepared.fetched.clone(),
    })
}

/// Live: the step claimed and its credentials opened ([`claim_and_open`]), named
/// targets looked up, the request sent with retries where that is safe, the trace
/// masked.
async fn perform_live(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: &Step<'_>,
    prepared: Prepared,
) -> Result<StepTrace, Failure> {
    let fail = |message: String| failure(step, message);
    let (provider, integration) = (&prepared.provider, &prepared.integration);
    let operation = prepared.operation();
    let credentials = claim_and_open(deps, project, run, step, &prepared).await?;
    let redactor = credentials.redactor();
    let (input, lookups) = lookup::resolve_live(
        deps,
        project,
        provider,
        integration,
        &prepared.input,
        &credentials,
        &redactor,
    )
    .await
    .map_err(|e| fail(redactor.text(&e)))?;
    let build = |values: request::CredentialValues<'_>| {
        request::build_request(
            provider,
            operation,
            &input,
            &integration.config,
            values,
            prepared.idempotency_key.as_deref(),
        )
    };
    let request = build(request::CredentialValues::Real(&credentials))
        .map_err(|e| fail(redactor.text(&e.to_string())))?;
    drop(credentials);
    // The trace shows the same request built with masked credentials: masking the sent
    // bytes could miss an encoded form (Basic auth's base64 of "user:password");
    // building without them cannot leak them.
    let masked = build(request::CredentialValues::Masked).map_err(|e| fail(e.to_string()))?;
    let view = redactor.json(&request_view(&masked));
    let safe = !operation.side_effects
        || matches!(
            operation.method,
            crate::catalog::HttpMethod::Get
                | crate::catalog::HttpMethod::Put
                | crate::catalog::HttpMethod::Delete
        )
        || prepared.idempotency_key.is_some();
    let delivery = live::send(
        deps.live_edge.as_ref(),
        &request,
        safe,
        live::RetryPolicy::default(),
    )
    .await;
    drop(request);
    let response = match delivery.result {
        Ok(r) => r,
        Err(e) => {
            return Err(Failure {
                request: Some(view),
                ..fail(redactor.text(&format!("{e} (after {} attempt(s))", delivery.attempts)))
            });
        }
    };
    let body: Value = if response.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()))
    };
    let body = redactor.json(&body);
    let error = answer_error(provider, operation, response.status, &body);
    Ok(StepTrace {
        run: run.id.clone(),
        step: step.number,
        integration: step.integration.clone(),
        operation: operation.id.clone(),
        effect: if error.is_none() {
            StepEffect::Sent
        } else {
            StepEffect::Failed
        },
        request: Some(view),
        response: Some(
            json!({"status": response.status, "attempts": delivery.attempts, "body": body}),
        ),
        error: error.map(|e| redactor.text(&e)),
        started_at: prepared.started_at,
        finished_at: deps.clock.now(),
        lookups,
        fetched: prepared.fetched.clone(),
    })
}

/// Claims a live step and opens its credentials in one audited transaction (a duplicate
/// delivery finds the claim taken and causes nothing), then makes them ready to send.
async fn claim_and_open(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    step: &Step<'_>,
    prepared: &Prepared,
) -> Result<crate::vault::Credentials, Failure> {
    let fail = |message: String| failure(step, message);
    let cause = cause_of(run, step.number);
    let step = step.number;
    let claim = runs::claim(deps, project, run, step);
    let origins = crate::vault::Origins::of(&prepared.provider, &prepared.integration.config);
    let credentials = match crate::vault::open_for_claiming(
        deps,
        project,
        &prepared.integration,
        &origins,
        AuditPurpose::StepExecution,
        cause.clone(),
        claim,
    )
    .await
    {
        Ok(credentials) => credentials,
        Err(crate::vault::VaultError::Claimed) => {
            let held_since = runs::claimed_at(deps, project, &run.id, step)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let stale = held_since
                .is_some_and(|at| deps.clock.now() - at > chrono::Duration::seconds(CLAIM_SECS));
            if stale {
                return Err(fail(UNKNOWN_OUTCOME.into()));
            }
            return Err(Failure {
                duplicate: true,
                ..fail("already claimed".into())
            });
        }
        Err(e) => return Err(fail(format!("credentials unavailable: {e}"))),
    };
    fresh(
        deps,
        project,
        &prepared.provider,
        &prepared.integration,
        credentials,
        cause,
    )
    .await
    .map_err(fail)
}

/// The failure an `error_when` rule reads in a body (its message, or the value found),
/// or `None` when the body reports none.
pub(crate) fn reported_error(rule: &crate::catalog::ErrorRule, body: &Value) -> Option<String> {
    let found = body.pointer(&rule.pointer)?;
    let failed = match &rule.equals {
        Some(expected) => found == expected,
        None => !found.is_null() && found != &json!([]),
    };
    failed.then(|| {
        rule.message
            .as_ref()
            .and_then(|m| body.pointer(m))
            .map(|v| v.to_string())
            .unwrap_or_else(|| found.to_string())
    })
}

/// Why a provider's answer is a failure: a status outside 2xx, or a 2xx that the
/// operation's `error_when` rule reads as one (Slack's `"ok": false`, GraphQL `errors`).
fn answer_error(
    provider: &Provider,
    operation: &crate::catalog::Operation,
    status: u16,
    body: &Value,
) -> Option<String> {
    let provider_error = operation
        .error_when
        .as_ref()
        .and_then(|rule| reported_error(rule, body));
    let ok = (200..300).contains(&status) && provider_error.is_none();
    (!ok).then(|| match provider_error {
        Some(message) => format!(
            "{} answered {status} with an error: {message}",
            provider.display_name
        ),
        None => format!("{} answered {status}", provider.display_name),
    })
}
