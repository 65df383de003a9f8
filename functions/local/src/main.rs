//! `studio-local`: all four functions' routes in one process, on the embedded backends
//! by default (no AWS account needed). The in-process bus delivers events to
//! execute-step's handler, as the EventBridge rules do on AWS. It also serves the
//! console, a browser view of the API, at `/console`.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

mod console;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use shared::config::{Backend, Config};
use shared::http::{AppState, local_router};
use shared::{app, telemetry};

/// Serve the integrations runtime's HTTP API locally.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STUDIO_LISTEN", default_value = shared::http::DEFAULT_LOCAL_LISTEN)]
    listen: SocketAddr,
    /// Folder for the database file and the master key (created if missing).
    #[arg(long, env = "STUDIO_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    telemetry::init();
    let args = Args::parse();
    let mut config = Config::from_env()?;
    if let Some(dir) = args.data_dir {
        config = config.with_data_dir(dir);
    }
    let app = app::build(config, app::live_edge).await?;
    let state = AppState::of(&app);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    match &app.config.backend {
        Backend::Embedded { data_dir, .. } => {
            tracing::info!(data_dir = %data_dir.display(), "embedded backends");
        }
        Backend::Aws { table_name, .. } => tracing::info!(%table_name, "AWS backends"),
    }
    // On the AWS backend, execute-step's events come from the queue the rule feeds.
    if app::consume_event_queue(&app)? {
        tracing::info!("taking execute-step's events from STUDIO_EVENT_QUEUE_URL");
    }
    // Runs a stopped or killed process left running carry on (embedded: the bus is
    // ours; on AWS, EventBridge and Lambda retry on their own).
    if app.local_bus.is_some() {
        shared::runtime::resume(&app.deps).await?;
        // Changes acknowledged to providers and not handled before the stop.
        let pending = shared::webhooks::publish_pending(&app.deps).await?;
        if pending > 0 {
            tracing::info!(pending, "data changes left pending were published again");
        }
    }
    let stop = shutdown()?;
    // Tests and scripts read this line to find the port.
    println!("studio-local listening on http://{address}");
    // With the peer's address, which a Notion handshake is kept with. The console's
    // files are served by this binary alone, next to the API.
    let service = console::router()
        .merge(local_router(state))
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(stop)
        .await?;
    // The steps in flight finish, the store flushes and closes its file.
    app.stop().await?;
    Ok(())
}

/// The stop signal (SIGTERM or Ctrl-C), listened for from the moment this is called:
/// a signal that arrives before the server runs is not lost.
fn shutdown() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
