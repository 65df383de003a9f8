//! The project's MCP server, `POST /projects/{project}/mcp` (execute-step): the
//! project's integrations as tools for AI agents, over the Streamable HTTP transport of
//! the official Rust SDK (`rmcp`), stateless, answering JSON.
//!
//! The route is authenticated like the rest of the API (the project token, or the JWT
//! on AWS); the SDK's own Host check is off, since a request without the bearer token
//! never reaches it. Each request is served on its own (no session): the same on one
//! machine and on Lambda.
//!
//! - `tools/list`: one tool per operation of each integration ([`tools`]) and the
//!   studio's `describe_integration` and `compile_step`.
//! - `tools/call` of an operation runs it as a one-step run through the runtime
//!   ([`crate::runtime::agent`]): sandbox by default, live only when asked and when the
//!   integration allows agents live calls. Every call is a run (`source: agent`).
//!   Errors are tool errors (`isError`) that say what the API says.
//! - Limits: tool calls per project per minute (`STUDIO_AGENT_CALLS_PER_MINUTE`, in each
//!   process), the API's body limit, and a wait per call (`STUDIO_AGENT_CALL_TIMEOUT_MS`):
//!   a call still running then carries on and is recorded, and the agent is told its run.

pub mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use super::problem::without_quoted_values;
use super::{ApiError, AppState, MAX_API_BODY_BYTES, auth};
use crate::domain::{IntegrationName, OperationId, ProjectId, RunMode};
use crate::ports::Deps;
use crate::runtime::agent::{self, ToolCall};

/// The limits on agents' tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// Tool calls per project per minute, in each process
    /// (`STUDIO_AGENT_CALLS_PER_MINUTE`, 60 by default).
    pub calls_per_minute: u32,
    /// How long a call is waited for before the agent is told it is still running
    /// (`STUDIO_AGENT_CALL_TIMEOUT_MS`, 30 s by default).
    pub call_timeout: Duration,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            calls_per_minute: 60,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// What one MCP request serves: the project the caller was authorized for.
#[derive(Clone)]
struct Scope {
    deps: Deps,
    project: ProjectId,
    limits: AgentLimits,
}

/// The project's MCP server (Streamable HTTP, stateless, JSON answers).
///
/// The body is one JSON-RPC message of the Model Context Protocol (`initialize`,
/// `tools/list`, `tools/call`...); the answer is its JSON-RPC response (200), or 202
/// for a notification. The transport's refusals (not JSON-RPC, an `Accept` without
/// both `application/json` and `text/event-stream`) are problems, as elsewhere. Tool calls run in sandbox unless `mode` is `live` and the
/// integration allows agents live calls.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/mcp",
    operation_id = "mcp",
    params(("project" = String, Path, description = "The project's id")),
    request_body(content = Object, content_type = "application/json", description = "A JSON-RPC message of the Model Context Protocol"),
    responses(
        (status = 200, description = "The JSON-RPC response", content_type = "application/json", body = Object),
        (status = 202, description = "A notification, accepted"),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
pub async fn serve(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path(project): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let (mut parts, body) = request.into_parts();
    // The SDK wants a Host even with its Host check off; a request handed over in
    // process (a test, an adapter that drops it) may carry none.
    if !parts.headers.contains_key(http::header::HOST) {
        parts
            .headers
            .insert(http::header::HOST, http::HeaderValue::from_static("studio"));
    }
    parts.extensions.insert(Scope {
        deps: state.deps.clone(),
        project: project.id,
        limits: state.agent,
    });
    let response = service().handle(Request::from_parts(parts, body)).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        return Err(problem_of(response).await);
    }
    Ok(response.map(axum::body::Body::new))
}

/// The transport's own refusals (a body that is not JSON-RPC, too large, the wrong
/// media type or Accept) as the API's problem+json, saying what the SDK said.
async fn problem_of<B: axum::body::HttpBody>(response: http::Response<B>) -> ApiError {
    use http_body_util::BodyExt;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let said = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
    match status {
        http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: MAX_API_BODY_BYTES,
        },
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(said),
        http::StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(said),
        s if s.is_server_error() => ApiError::Internal(format!("MCP transport {s}: {said}")),
        _ => ApiError::BadRequest(said),
    }
}

type Service = StreamableHttpService<Server, NeverSessionManager>;

/// The SDK's service, built once: stateless (every request on its own, as on Lambda),
/// JSON answers, the API's body limit.
fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let mut config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_sse_retry(None)
            .with_max_request_body_bytes(MAX_API_BODY_BYTES)
            // The bearer token is checked before this: a rebinding page has none.
            .disable_allowed_hosts();
        config.stateless_protocol_metadata_required = false;
        StreamableHttpService::new(
            || Ok(Server),
            Arc::new(NeverSessionManager::default()),
            config,
        )
    })
}

/// The handler the SDK calls; the project comes with each request ([`Scope`]).
#[derive(Clone, Copy)]
pub struct Server;

fn scope(context: &RequestContext<RoleServer>) -> Result<Scope, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Scope>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request carries no project", None))
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("studio", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The project's integrations as tools, one per operation (integration.operation), and describe_integration and compile_step. Calls run in sandbox unless mode is \"live\": nothing is sent, and the result is the exact request that would have been sent with a mock answer. Credentials are never shown.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = scope(&context)?;
        let integrations = crate::aggregates::integrations::list(&scope.deps, &scope.project)
            .await
            .map_err(|e| ErrorData::internal_error(ApiError::from(e).detail(), None))?;
        let mut listed = tools::studio_tools();
        for integration in &integrations {
            // An integration whose stored config no longer builds lists no tools.
            let Ok(provider) = crate::runtime::provider_of(integration) else {
                continue;
            };
            listed.extend(
                provider
                    .operations
                    .iter()
                    .map(|op| tools::operation_tool(integration, &provider, op)),
            );
        }
        Ok(ListToolsResult::with_all_items(listed))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let scope = scope(&context)?;
        let now = scope.deps.clock.now().timestamp();
        if let Err(wait) = admit(&scope.project, scope.limits.calls_per_minute, now) {
            return Ok(tool_error(format!(
                "too many tool calls: at most {} a minute for this project; try again in {wait} s",
                scope.limits.calls_per_minute
            ))
            .into());
        }
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            tools::DESCRIBE => describe(&scope, arguments).await,
            tools::COMPILE => compile(&scope, arguments).await,
            name => call_operation(&scope, name, arguments).await?,
        };
        Ok(result.into())
    }
}

/// A tool error: the message the API would give.
fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn structured(value: Value) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    result.is_error = Some(false);
    result
}

/// Counts a tool call against the project's calls in the current minute (`now` in Unix
/// seconds), in this process; how many seconds to wait when there is no room.
fn admit(project: &ProjectId, per_minute: u32, now: i64) -> Result<(), i64> {
    type Windows = Mutex<HashMap<ProjectId, (i64, u32)>>;
    static WINDOWS: OnceLock<Windows> = OnceLock::new();
    let minute = now.div_euclid(60);
    let Ok(mut windows) = WINDOWS.get_or_init(Default::default).lock() else {
        return Ok(());
    };
    // Many projects' windows: those of earlier minutes are dropped. A project's own
    // window starts again in each minute.
    if windows.len() > 10_000 {
        windows.retain(|_, (m, _)| *m == minute);
    }
    let window = windows.entry(project.clone()).or_insert((minute, 0));
    if window.0 != minute {
        *window = (minute, 0);
    }
    let count = &mut window.1;
    if *count >= per_minute {
        return Err(60 - now.rem_euclid(60));
    }
    *count += 1;
    Ok(())
}

async fn describe(scope: &Scope, arguments: Map<String, Value>) -> CallToolResult {
    let Some(text) = arguments.get("text").and_then(Value::as_str) else {
        return tool_error("text: describe the connection in a few words");
    };
    answered(crate::aggregates::integrations::describe(&scope.deps, &scope.project, text).await)
}

/// A studio use case's answer as the tool's result: its value as structured content, or
/// its error as the API's detail.
fn answered<T: serde::Serialize>(result: Result<T, crate::aggregates::Error>) -> CallToolResult {
    match result.map(serde_json::to_value) {
        Ok(Ok(value)) => structured(value),
        Ok(Err(e)) => tool_error(ApiError::Internal(e.to_string()).detail()),
        Err(e) => tool_error(ApiError::from(e).detail()),
    }
}

async fn compile(scope: &Scope, mut arguments: Map<String, Value>) -> CallToolResult {
    let workflow = match arguments.remove("workflow") {
        Some(Value::String(w)) => match crate::domain::WorkflowId::parse(&w) {
            Ok(w) => w,
            Err(e) => return tool_error(ApiError::from(e).detail()),
        },
        _ => return tool_error("workflow: the workflow's id is required"),
    };
    let request: crate::compiler::CompileRequest =
        match serde_json::from_value(Value::Object(arguments)) {
            Ok(r) => r,
            // As the API says it: without the submitted values.
            Err(e) => {
                return tool_error(format!("body: {}", without_quoted_values(&e.to_string())));
            }
        };
    answered(
        crate::aggregates::workflows::compile(&scope.deps, &scope.project, &workflow, &request)
            .await,
    )
}

/// The integration and operation a tool's name names, if it names one of the project's.
fn parse_tool(name: &str) -> Option<(IntegrationName, OperationId)> {
    let (integration, operation) = name.split_once('.')?;
    let integration = IntegrationName::parse(integration).ok()?;
    (!operation.is_empty() && operation.len() <= 64).then(|| (integration, operation.into()))
}

/// Runs an operation's tool: a protocol error for a tool the project does not have, a
/// tool error for a call that fails, else the step's structured result.
async fn call_operation(
    scope: &Scope,
    name: &str,
    mut arguments: Map<String, Value>,
) -> Result<CallToolResult, ErrorData> {
    let unknown = || ErrorData::invalid_params(format!("unknown tool: {name}"), None);
    let (integration, operation) = parse_tool(name).ok_or_else(unknown)?;
    let stored = crate::aggregates::integrations::get(&scope.deps, &scope.project, &integration)
        .await
        .map_err(|e| ErrorData::internal_error(ApiError::from(e).detail(), None))?
        .ok_or_else(unknown)?;
    let provider = crate::runtime::provider_of(&stored).map_err(|_| unknown())?;
    let op = provider
        .operations
        .iter()
        .find(|o| o.id == operation)
        .ok_or_else(unknown)?;
    let mode = match arguments.remove(tools::mode_argument(op)) {
        None => RunMode::Sandbox,
        Some(Value::String(m)) if m == "sandbox" => RunMode::Sandbox,
        Some(Value::String(m)) if m == "live" => RunMode::Live,
        Some(_) => {
            return Ok(tool_error(format!(
                "{}: must be \"sandbox\" or \"live\"",
                tools::mode_argument(op)
            )));
        }
    };
    let call = ToolCall {
        integration,
        operation,
        arguments,
        mode,
    };
    let within = scope.limits.call_timeout;
    let called = match agent::call(&scope.deps, &scope.project, &stored, call, within).await {
        Ok(called) => called,
        Err(e) => return Ok(tool_error(runtime_message(e))),
    };
    Ok(result_of(&scope.project, op, called))
}

/// What a runtime error tells the agent: as the API would say it.
fn runtime_message(e: crate::runtime::RuntimeError) -> String {
    use crate::runtime::RuntimeError;
    match e {
        RuntimeError::NotFound(m) | RuntimeError::Invalid(m) => m,
        RuntimeError::Unavailable(m) => ApiError::Unavailable(m).detail(),
        RuntimeError::Internal(m) => ApiError::Internal(m).detail(),
    }
}

/// The call's result: the run, the request as built (masked) and the answer; a tool
/// error when the step failed or is still running.
fn result_of(
    project: &ProjectId,
    op: &crate::catalog::Operation,
    called: agent::Called,
) -> CallToolResult {
    let run = &called.run;
    let Some(trace) = called.trace else {
        return tool_error(format!(
            "the call is still running after the wait; it carries on and is recorded as run {}: GET /projects/{project}/runs/{} shows it",
            run.id, run.id
        ));
    };
    if let Some(error) = &trace.error {
        let mut text = format!("{error} (run {})", run.id);
        if let Some(request) = &trace.request {
            text.push_str(&format!("\nThe request: {request}"));
        }
        return tool_error(text);
    }
    let response = trace.response.unwrap_or_default();
    let body = match response.get("body") {
        _ if op.empty_response => Value::Null,
        Some(body) => body.clone(),
        None => Value::Null,
    };
    let value = json!({
        "run": run.id,
        "mode": run.mode,
        "effect": trace.effect,
        "status": response.get("status").cloned().unwrap_or(json!(op.success_status)),
        "request": trace.request.unwrap_or_default(),
        "response": body,
    });
    let summary = match run.mode {
        RunMode::Sandbox => format!(
            "Sandbox: nothing was sent. The request that would have been sent, and a mock answer, are below (run {}).",
            run.id
        ),
        RunMode::Live => format!("Sent (run {}).", run.id),
    };
    let mut result = structured(value);
    result.content.insert(0, ContentBlock::text(summary));
    result
}
