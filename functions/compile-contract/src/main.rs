//! The compile-contract Lambda function: configuration from the environment, adapters built
//! once at start-up, then every invocation served by its own router.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

use shared::http::{AppState, compile_contract};
use shared::{app, config::Config, lambda, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    telemetry::init();
    let app = app::build(Config::from_env()?, app::no_live_edge).await?;
    lambda::serve(compile_contract::router(AppState::of(&app)), None).await
}
