//! The studio API as axum routers: one per Lambda function, merged for the local binary.
//!
//! Each function's module ([`add_integration`], [`compile_contract`], [`execute_step`],
//! [`ingest_webhook`]) lists its routes once, in a `routes!` table that is both its
//! `ROUTES` (what template.yaml must declare) and its router. A function's `main` names
//! its own module's `router`, so the other functions' handlers are never linked into it.
//! The same `Router` serves Lambda (through [`crate::lambda`]) and a local socket.
//! Every error is problem+json; unknown paths and methods too.

/// Declares a function's routes once, as `"/path" => METHOD handler, ...;` lines: the
/// module's `ROUTES` table and `handlers()`, the router serving exactly those routes,
/// come from the same lines, so the table a test holds against template.yaml cannot
/// drift from what the function serves. One line per path: each path's methods become
/// one method router, built once, as hand-written axum code would.
///
/// With the `openapi` feature, the same lines also make the module's `Api`: the
/// function's part of the OpenAPI document ([`openapi`]), one operation per handler from
/// its `#[utoipa::path]` annotation. A test holds the document against `ROUTES` both ways.
macro_rules! routes {
    ($($path:literal => $($method:ident $($handler:ident)::+),+;)+) => {
        /// This function's routes, as (method, path) pairs in template.yaml's spelling.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path),)+)+];

        /// A router serving exactly [`ROUTES`].
        fn handlers() -> axum::Router<$crate::http::AppState> {
            use axum::routing::{MethodFilter, MethodRouter};
            axum::Router::new()
                $(.route($path, MethodRouter::new()$(.on(MethodFilter::$method, $($handler)::+))+))+
        }

        /// This function's operations in the OpenAPI document: its handlers' annotations.
        #[cfg(feature = "openapi")]
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($($handler)::+),+),+))]
        pub struct Api;
    };
}

pub mod add_integration;
pub mod compile_contract;
pub mod execute_step;
pub mod ingest_webhook;

mod auth;
mod credentials;
mod dependents;
mod hooks;
mod integrations;
pub mod mcp;
#[cfg(feature = "openapi")]
pub mod openapi;
mod origin;
mod problem;
mod projects;
mod runs;
mod verification_token;
mod verify;
mod workflows;

use axum::Router;
use axum::extract::{FromRequest, Request};

pub use auth::{Caller, authorize, hash_token};
pub use origin::Origin;
pub use problem::{ApiError, FieldError};

use crate::app::App;
use crate::ports::Deps;

/// Where the local binary listens unless told otherwise (`--listen`, `STUDIO_LISTEN`);
/// the OpenAPI document's server.
pub const DEFAULT_LOCAL_LISTEN: &str = "127.0.0.1:8787";

/// Largest JSON body the studio API reads; webhooks have their own limit.
pub const MAX_API_BODY_BYTES: usize = 256 * 1024;

/// What every route's handler is given: the adapters, and the webhook body limit.
#[derive(Clone)]
pub struct AppState {
    /// The adapters the use cases run on.
    pub deps: Deps,
    /// The largest webhook body accepted (413 above), from `STUDIO_MAX_WEBHOOK_BYTES`.
    pub max_webhook_bytes: usize,
    /// The limits on agents' tool calls through the MCP server.
    pub agent: mcp::AgentLimits,
}

impl AppState {
    /// The state every route reads, from the adapters a binary built at start-up.
    ///
    /// `#[inline]`: compiled in each function's own crate, at its size-first opt-level.
    /// Compiled here, at the library's `"s"`, it inlined all of `Deps`'s `Arc` clones and
    /// made execute-step 512 bytes larger than before this existed.
    #[inline]
    pub fn of(app: &App) -> Self {
        Self {
            deps: app.deps.clone(),
            max_webhook_bytes: app.config.max_webhook_bytes,
            agent: app.config.agent,
        }
    }
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
    /// Projects and integrations: describe, add, change, rotate, audit, dependents.
    AddIntegration,
    /// Workflows: compile a step, read a workflow, remove a step.
    CompileContract,
    /// Runs (and, from the bus, the steps of every run).
    ExecuteStep,
    /// Provider webhooks.
    IngestWebhook,
}

impl Function {
    /// The four functions, in the order `ROUTES` lists their routes.
    pub const ALL: [Function; 4] = [
        Function::AddIntegration,
        Function::CompileContract,
        Function::ExecuteStep,
        Function::IngestWebhook,
    ];

    /// The function's own route table (its module's `ROUTES`).
    pub const fn route_table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Function::AddIntegration => add_integration::ROUTES,
            Function::CompileContract => compile_contract::ROUTES,
            Function::ExecuteStep => execute_step::ROUTES,
            Function::IngestWebhook => ingest_webhook::ROUTES,
        }
    }

    fn routes(self, state: &AppState) -> Router<AppState> {
        match self {
            Function::AddIntegration => add_integration::routes(state),
            Function::CompileContract => compile_contract::routes(state),
            Function::ExecuteStep => execute_step::routes(state),
            Function::IngestWebhook => ingest_webhook::routes(state),
        }
    }
}

/// Every route, by function: what template.yaml must declare (a test checks both ways).
/// The functions' own tables end to end, put together at compile time.
pub const ROUTES: &[(Function, &str, &str)] = &every_route::<{ route_count() }>();

const fn route_count() -> usize {
    let mut count = 0;
    let mut f = 0;
    while f < Function::ALL.len() {
        count += Function::ALL[f].route_table().len();
        f += 1;
    }
    count
}

const fn every_route<const N: usize>() -> [(Function, &'static str, &'static str); N] {
    let mut all = [(Function::AddIntegration, "", ""); N];
    let mut n = 0;
    let mut f = 0;
    while f < Function::ALL.len() {
        let function = Function::ALL[f];
        let table = function.route_table();
        let mut r = 0;
        while r < table.len() {
            all[n] = (function, table[r].0, table[r].1);
            n += 1;
            r += 1;
        }
        f += 1;
    }
    all
}

/// Routes made servable: problem+json for an unknown path or method, and the state.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take that method".into())
        })
        .with_state(state)
}

/// One function's router, chosen at run time: for the tests, which go through every
/// function. A function's `main` calls its own module's `router` instead.
pub fn router(function: Function, state: AppState) -> Router {
    finish(function.routes(&state), state)
}

/// All four functions' routes, for the local binary; with the `openapi` feature, and
/// `GET /openapi.json`, the document describing them ([`openapi`]).
pub fn local_router(state: AppState) -> Router {
    let all = Function::ALL
        .into_iter()
        .fold(Router::new(), |all, function| {
            all.merge(function.routes(&state))
        });
    #[cfg(feature = "openapi")]
    let all = all.merge(openapi::routes());
    finish(all, state)
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use axum::body::Body;
    use http::{Method, Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    async fn state(dir: &tempfile::TempDir) -> AppState {
        let app = crate::app::build(Config::embedded(dir.path()), crate::app::no_live_edge)
            .await
            .expect("embedded app");
        AppState::of(&app)
    }

    /// The status and the body of `method path` on `router`, each `{param}` filled in.
    async fn answer(router: &Router, method: &str, path: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(path.replace('{', "x-").replace('}', ""))
            .body(Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn the_route_table_is_each_functions_table_in_turn() {
        let concatenated: Vec<_> = Function::ALL
            .into_iter()
            .flat_map(|f| f.route_table().iter().map(move |(m, p)| (f, *m, *p)))
            .collect();
        assert_eq!(ROUTES, concatenated.as_slice());
        assert!(Function::ALL.iter().all(|f| !f.route_table().is_empty()));
    }

    #[tokio::test]
    async fn each_function_serves_exactly_the_methods_its_table_lists_on_its_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = state(&dir).await;
        for function in Function::ALL {
            let app = router(function, state.clone());
            for (method, path) in function.route_table() {
                let (status, body) = answer(&app, method, path).await;
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert!(!body.contains("no such route"), "{method} {path}: {body}");
            }
            for (_, path) in function.route_table() {
                let listed = |m: &Method| {
                    function
                        .route_table()
                        .iter()
                        .any(|(method, p)| p == path && *method == m.as_str())
                };
                let methods = [
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ];
                for method in methods.into_iter().filter(|m| !listed(m)) {
                    let (status, _) = answer(&app, method.as_str(), path).await;
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                }
            }
        }
    }

    #[tokio::test]
    async fn a_functions_router_answers_none_of_the_other_functions_routes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = state(&dir).await;
        for function in Function::ALL {
            let app = router(function, state.clone());
            for (other, method, path) in ROUTES.iter().filter(|(f, _, _)| *f != function) {
                let (status, body) = answer(&app, method, path).await;
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{function:?}: {other:?} {path}"
                );
                assert!(
                    body.contains("no such route"),
                    "{function:?}: {method} {path}"
                );
            }
        }
    }
}
