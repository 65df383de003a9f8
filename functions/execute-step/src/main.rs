//! The execute-step Lambda function: configuration from the environment, adapters built
//! once at start-up, then every request served by its router and every bus event by its handler.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

use std::sync::Arc;

use shared::http::{AppState, execute_step};
use shared::{app, config::Config, execute::ExecuteStep, lambda, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    telemetry::init();
    let app = app::build(Config::from_env()?, app::live_edge).await?;
    let router = execute_step::router(AppState::of(&app));
    let steps = Arc::new(ExecuteStep::new(app.deps.clone()));
    lambda::serve(router, Some(steps)).await
}
