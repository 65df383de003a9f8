//! compile-contract's routes: a workflow's steps compiled from plain words, read back
//! and removed.

use axum::Router;
use axum::extract::DefaultBodyLimit;

use super::{AppState, MAX_API_BODY_BYTES, workflows};

routes! {
    "/projects/{project}/workflows/{workflow}/steps/compile" => POST workflows::compile;
    "/projects/{project}/workflows/{workflow}" => GET workflows::read;
    "/projects/{project}/workflows/{workflow}/steps/{step}" => DELETE workflows::remove_step;
}

/// These routes, to serve alone ([`router`]) or merged with the other functions'.
pub(super) fn routes(_state: &AppState) -> Router<AppState> {
    handlers().layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
}

/// compile-contract's API, as its Lambda function serves it.
pub fn router(state: AppState) -> Router {
    super::finish(routes(&state), state)
}
