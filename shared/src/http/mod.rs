//! The studio API as axum routers: one per Lambda function, merged for the local binary.
//!
//! The same `Router` serves Lambda (through [`crate::lambda`]) and a local socket.
//! Every error is problem+json; unknown paths and methods too.

mod auth;
mod credentials;
mod dependents;
mod hooks;
mod integrations;
mod problem;
mod projects;
mod runs;
mod verification_token;
mod workflows;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{get, post};

pub use auth::{Caller, authorize, hash_token};
pub use problem::{ApiError, FieldError};

use crate::ports::Deps;

/// Largest JSON body the studio API reads; webhooks have their own limit.
pub const MAX_API_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub deps: Deps,
    pub max_webhook_bytes: usize,
}

/// A JSON body whose rejections are problem+json.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// The Lambda functions, each serving its own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    AddIntegration,
    CompileContract,
    ExecuteStep,
    IngestWebhook,
}

/// Every route, by function: what template.yaml must declare (a test checks both ways).
pub const ROUTES: &[(Function, &str, &str)] = &[
    (Function::AddIntegration, "POST", "/projects"),
    (Function::AddIntegration, "GET", "/projects/{project}"),
    (
        Function::AddIntegration,
        "POST",
        "/projects/{project}/integrations/describe",
    ),
    (
        Function::AddIntegration,
        "POST",
        "/projects/{project}/integrations",
    ),
    (
        Function::AddIntegration,
        "GET",
        "/projects/{project}/integrations",
    ),
    (
        Function::AddIntegration,
        "GET",
        "/projects/{project}/integrations/{name}",
    ),
    (
        Function::AddIntegration,
        "PATCH",
        "/projects/{project}/integrations/{name}",
    ),
    (
        Function::AddIntegration,
        "DELETE",
        "/projects/{project}/integrations/{name}",
    ),
    (
        Function::AddIntegration,
        "PUT",
        "/projects/{project}/integrations/{name}/credentials",
    ),
    (
        Function::AddIntegration,
        "GET",
        "/projects/{project}/integrations/{name}/dependents",
    ),
    (
        Function::AddIntegration,
        "GET",
        "/projects/{project}/integrations/{name}/audit",
    ),
    (
        Function::AddIntegration,
        "POST",
        "/projects/{project}/integrations/{name}/webhook-verification-token",
    ),
    (
        Function::CompileContract,
        "POST",
        "/projects/{project}/workflows/{workflow}/steps/compile",
    ),
    (
        Function::CompileContract,
        "GET",
        "/projects/{project}/workflows/{workflow}",
    ),
    (
        Function::CompileContract,
        "DELETE",
        "/projects/{project}/workflows/{workflow}/steps/{step}",
    ),
    (Function::ExecuteStep, "POST", "/projects/{project}/runs"),
    (Function::ExecuteStep, "GET", "/projects/{project}/runs"),
    (
        Function::ExecuteStep,
        "GET",
        "/projects/{project}/runs/{run}",
    ),
    (
        Function::IngestWebhook,
        "POST",
        "/hooks/{project}/{integration}",
    ),
];

#[inline(always)]
fn routes(function: Function, state: &AppState) -> Router<AppState> {
    let routes = match function {
        Function::AddIntegration => Router::new()
            .route("/projects", post(projects::create))
            .route("/projects/{project}", get(projects::read))
            .route(
                "/projects/{project}/integrations/describe",
                post(integrations::describe),
            )
            .route(
                "/projects/{project}/integrations",
                post(integrations::create).get(integrations::list),
            )
            .route(
                "/projects/{project}/integrations/{name}",
                get(integrations::read)
                    .patch(credentials::update_config)
                    .delete(dependents::delete),
            )
            .route(
                "/projects/{project}/integrations/{name}/credentials",
                axum::routing::put(credentials::rotate),
            )
            .route(
                "/projects/{project}/integrations/{name}/dependents",
                get(dependents::dependents),
            )
            .route(
                "/projects/{project}/integrations/{name}/audit",
                get(credentials::audit),
            )
            .route(
                "/projects/{project}/integrations/{name}/webhook-verification-token",
                post(verification_token::reveal),
            ),
        Function::CompileContract => Router::new()
            .route(
                "/projects/{project}/workflows/{workflow}/steps/compile",
                post(workflows::compile),
            )
            .route(
                "/projects/{project}/workflows/{workflow}",
                get(workflows::read),
            )
            .route(
                "/projects/{project}/workflows/{workflow}/steps/{step}",
                axum::routing::delete(workflows::remove_step),
            ),
        Function::ExecuteStep => Router::new()
            .route(
                "/projects/{project}/runs",
                post(runs::start).get(runs::list),
            )
            .route("/projects/{project}/runs/{run}", get(runs::read)),
        Function::IngestWebhook => {
            return Router::new()
                .route("/hooks/{project}/{integration}", post(hooks::receive))
                .layer(DefaultBodyLimit::max(state.max_webhook_bytes));
        }
    };
    routes.layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
}

fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take that method".into())
        })
        .with_state(state)
}

/// The routes of one function (inlined, so a constant `function` keeps only its own).
#[inline(always)]
pub fn router(function: Function, state: AppState) -> Router {
    finish(routes(function, &state), state)
}

/// All four functions' routes, for the local binary.
pub fn local_router(state: AppState) -> Router {
    let all = [
        Function::AddIntegration,
        Function::CompileContract,
        Function::ExecuteStep,
        Function::IngestWebhook,
    ]
    .into_iter()
    .fold(Router::new(), |acc, f| acc.merge(routes(f, &state)));
    finish(all, state)
}
