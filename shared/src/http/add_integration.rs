//! add-integration's routes: projects, and the integrations in them with their
//! configuration, credentials, dependents, audit trail and webhook verification token.

use axum::Router;
use axum::extract::DefaultBodyLimit;

use super::{
    AppState, MAX_API_BODY_BYTES, credentials, dependents, integrations, projects,
    verification_token,
};

routes! {
    "/projects" => POST projects::create;
    "/projects/{project}" => GET projects::read;
    "/projects/{project}/integrations/describe" => POST integrations::describe;
    "/projects/{project}/integrations" => POST integrations::create, GET integrations::list;
    "/projects/{project}/integrations/{name}" =>
        GET integrations::read,
        PATCH credentials::update_config,
        DELETE dependents::delete;
    "/projects/{project}/integrations/{name}/credentials" => PUT credentials::rotate;
    "/projects/{project}/integrations/{name}/dependents" => GET dependents::dependents;
    "/projects/{project}/integrations/{name}/audit" => GET credentials::audit;
    "/projects/{project}/integrations/{name}/agent-access" => PUT credentials::agent_access;
    "/projects/{project}/integrations/{name}/webhook-verification-token" =>
        POST verification_token::reveal;
}

/// These routes, to serve alone ([`router`]) or merged with the other functions'.
pub(super) fn routes(_state: &AppState) -> Router<AppState> {
    handlers().layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
}

/// add-integration's API, as its Lambda function serves it.
pub fn router(state: AppState) -> Router {
    super::finish(routes(&state), state)
}
