//! `studio-local`: all four functions' routes in one process, on the embedded backends
//! by default (no AWS account needed). The in-process bus delivers events to
//! execute-step's handler, as the EventBridge rules do on AWS.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

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
    #[arg(long, env = "STUDIO_LISTEN", default_value = "127.0.0.1:8787")]
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
    // Tests and scripts read this line to find the port.
    println!("studio-local listening on http://{address}");
    axum::serve(listener, local_router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    if let Some(bus) = &app.local_bus {
        bus.wait_idle().await;
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
