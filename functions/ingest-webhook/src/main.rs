//! The ingest-webhook Lambda function: configuration from the environment, adapters built
//! once at start-up, then every invocation served by the shared handler.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

use shared::{app, config::Config, http::Function, lambda, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    telemetry::init();
    let app = app::build(Config::from_env()?, app::no_live_edge).await?;
    lambda::serve_function(Function::IngestWebhook, &app).await
}
