//! The one place that decides which adapters run, from configuration.

use std::sync::Arc;

use crate::adapters::{
    DynamoStore, EventBridgeBus, InProcessBus, KmsKeyService, SandboxEdge, SystemClock,
    TimeOrderedIds,
};
use crate::config::{Backend, Config, ConfigError};
use crate::execute::ExecuteStep;
use crate::ports::{Clock, Deps, Edge};
use crate::routing::Target;

/// The built dependencies, and the in-process bus when the embedded backend runs (so
/// the local binary can attach execute-step's handler to it).
pub struct App {
    /// The configuration the adapters were chosen from.
    pub config: Config,
    /// The adapters, ready to hand to the handlers.
    pub deps: Deps,
    /// The in-process bus, with the embedded backend; `None` on AWS, where EventBridge
    /// delivers.
    pub local_bus: Option<Arc<InProcessBus>>,
    /// The embedded store, when it runs, for [`App::stop`] to close.
    #[cfg(feature = "embedded")]
    local_store: Option<Arc<crate::adapters::LocalStore>>,
}

impl App {
    /// Stops cleanly: waits until every routed event has been handled (the in-process
    /// bus), writes the summary records of the webhook keys held, then closes the
    /// embedded store, so the next start does no recovery. On the
    /// AWS backend there is nothing to close.
    ///
    /// # Errors
    /// The store's close (the next start then recovers the file).
    pub async fn stop(&self) -> Result<(), crate::ports::StoreError> {
        if let Some(bus) = &self.local_bus {
            bus.wait_idle().await;
        }
        // The webhook keys held are dropped, and their summary records written, while
        // the store is still open.
        self.deps.webhook_guard.release_all();
        crate::webhooks::write_released(&self.deps).await;
        #[cfg(feature = "embedded")]
        if let Some(store) = &self.local_store {
            let store = Arc::clone(store);
            return tokio::task::spawn_blocking(move || store.close())
                .await
                .map_err(|e| crate::ports::StoreError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

fn startup(variable: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: e.to_string(),
    }
}

/// The AWS SDKs' configuration as Lambda provides it: region and credentials from the
/// environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), `AWS_ENDPOINT_URL` when set (moto in the tests), the SDKs'
/// standard retries. Not `aws_config::load_defaults`: its profile, SSO, STS and IMDS
/// providers are never used on Lambda and only made every function binary larger.
fn aws_sdk_config() -> Result<aws_config::SdkConfig, ConfigError> {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION")
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .ok_or_else(|| startup("AWS_REGION", "is required when STUDIO_BACKEND=aws"))?;
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ));
    if let Some(url) = set("AWS_ENDPOINT_URL") {
        sdk = sdk.endpoint_url(url);
    }
    Ok(sdk.build())
}

/// How a binary makes its live edge: [`live_edge`] where provider calls go out
/// (execute-step, the local binary), [`no_live_edge`] elsewhere. Chosen in each `main`,
/// so the binaries that call no provider carry no HTTP client for it.
pub type LiveEdgeChoice = fn(&Config) -> Arc<dyn Edge>;

/// The live edge: reqwest behind the egress guard, with the configured timeout.
pub fn live_edge(config: &Config) -> Arc<dyn Edge> {
    Arc::new(crate::adapters::LiveEdge::with_policy(
        config.outbound_timeout,
        config.egress.clone(),
    ))
}

/// The live edge of a binary that calls no provider: every send is refused.
pub fn no_live_edge(_config: &Config) -> Arc<dyn Edge> {
    Arc::new(crate::adapters::NoLiveEdge)
}

/// Builds every adapter once. Called at start-up by each binary.
pub async fn build(config: Config, live_edge: LiveEdgeChoice) -> Result<App, ConfigError> {
    crate::aggregates::runs::keep_runs_for(config.run_retention_days);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let live_edge = live_edge(&config);
    #[cfg(feature = "embedded")]
    let mut local_store = None;
    let (store, keys, bus, local_bus): (
        _,
        _,
        Arc<dyn crate::ports::EventBus>,
        Option<Arc<InProcessBus>>,
    ) = match &config.backend {
        #[cfg(not(feature = "embedded"))]
        Backend::Embedded { .. } => {
            return Err(startup(
                "STUDIO_BACKEND",
                "this binary is built for AWS only (without the embedded feature): set \
                     STUDIO_BACKEND=aws, build with --features embedded, or run studio-local",
            ));
        }
        #[cfg(feature = "embedded")]
        Backend::Embedded {
            data_dir,
            master_key_file,
        } => {
            use crate::adapters::{LocalKeyService, LocalStore};
            std::fs::create_dir_all(data_dir).map_err(|e| {
                startup(
                    "STUDIO_DATA_DIR",
                    format!("cannot create {}: {e}", data_dir.display()),
                )
            })?;
            // Its files hold sealed credentials, traces and cached personal data: the
            // folder is its owner's only (0700), as each file in it is (0600).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| startup("STUDIO_DATA_DIR", e))?;
            }
            let store = Arc::new(
                LocalStore::open_with_cache(
                    &data_dir.join("studio.redb"),
                    Arc::clone(&clock),
                    config.cache_bytes,
                )
                .map_err(|e| startup("STUDIO_DATA_DIR", e))?,
            );
            local_store = Some(Arc::clone(&store));
            let keys = LocalKeyService::open_or_create(master_key_file)
                .map_err(|e| startup("STUDIO_MASTER_KEY_FILE", e))?;
            let bus = Arc::new(InProcessBus::new());
            (
                store as Arc<dyn crate::ports::Store>,
                Arc::new(keys) as Arc<dyn crate::ports::KeyService>,
                Arc::clone(&bus) as Arc<dyn crate::ports::EventBus>,
                Some(bus),
            )
        }
        Backend::Aws {
            table_name,
            kms_key_id,
            event_bus_name,
        } => {
            let sdk = aws_sdk_config()?;
            (
                Arc::new(DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    table_name,
                    Arc::clone(&clock),
                )) as Arc<dyn crate::ports::Store>,
                Arc::new(KmsKeyService::new(
                    aws_sdk_kms::Client::new(&sdk),
                    kms_key_id,
                )) as Arc<dyn crate::ports::KeyService>,
                Arc::new(EventBridgeBus::new(
                    aws_sdk_eventbridge::Client::new(&sdk),
                    event_bus_name,
                )) as Arc<dyn crate::ports::EventBus>,
                None,
            )
        }
    };
    // Unwrapped data keys are reused for a bounded time and number of uses, so KMS is
    // not called per step (the bench measures calls per 100 executions).
    let keys = Arc::new(crate::adapters::CachingKeyService::new(
        keys,
        config.data_key_cache_ttl,
        config.data_key_cache_uses,
    ));
    let deps = Deps {
        store,
        keys,
        bus,
        live_edge,
        sandbox_edge: Arc::new(SandboxEdge),
        clock,
        ids: Arc::new(TimeOrderedIds),
        webhook_guard: Arc::new(crate::webhooks::Guard::new(config.webhook_guard)),
    };
    if let Some(bus) = &local_bus {
        // Locally, the bus delivers to execute-step's handler in-process, as
        // template.yaml's rule delivers to the execute-step function on AWS.
        bus.attach(
            Target::ExecuteStep,
            Arc::new(ExecuteStep::new(deps.clone())),
        );
    }
    Ok(App {
        config,
        deps,
        local_bus,
        #[cfg(feature = "embedded")]
        local_store,
    })
}

/// On the AWS backend with `STUDIO_EVENT_QUEUE_URL` set, takes execute-step's events
/// from that queue and handles them in this process, as the execute-step function does
/// when deployed (see [`crate::adapters::sqs_events`]). Returns whether it started.
///
/// # Errors
/// The AWS SDK's configuration (no region).
#[cfg(feature = "event-queue")]
pub fn consume_event_queue(app: &App) -> Result<bool, ConfigError> {
    let (Backend::Aws { .. }, Some(queue_url)) = (&app.config.backend, &app.config.event_queue_url)
    else {
        return Ok(false);
    };
    let sqs = aws_sdk_sqs::Client::new(&aws_sdk_config()?);
    let handler = Arc::new(ExecuteStep::new(app.deps.clone()));
    tokio::spawn(crate::adapters::sqs_events::consume(
        sqs,
        queue_url.clone(),
        handler,
    ));
    Ok(true)
}
