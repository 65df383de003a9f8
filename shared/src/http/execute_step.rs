//! execute-step's routes: runs started, listed and read, the connection check (served
//! here because this function is built with the live edge; add-integration is not),
//! and the project's MCP server, whose tool calls are runs. The function's other input, the bus events, goes to
//! [`crate::execute::ExecuteStep`].

use axum::Router;
use axum::extract::DefaultBodyLimit;

use super::{AppState, MAX_API_BODY_BYTES, mcp, runs, verify};

routes! {
    "/projects/{project}/runs" => POST runs::start, GET runs::list;
    "/projects/{project}/runs/{run}" => GET runs::read;
    "/projects/{project}/integrations/{name}/verify" => POST verify::check;
    "/projects/{project}/mcp" => POST mcp::serve;
}

/// These routes, to serve alone ([`router`]) or merged with the other functions'.
pub(super) fn routes(_state: &AppState) -> Router<AppState> {
    handlers().layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
}

/// execute-step's API, as its Lambda function serves it.
pub fn router(state: AppState) -> Router {
    super::finish(routes(&state), state)
}
