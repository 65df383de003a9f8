//! Configuration from environment variables, read once at start-up.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `STUDIO_BACKEND` | `embedded` or `aws` | `embedded` |
//! | `STUDIO_DATA_DIR` | embedded: folder of the database and master key | `.studio-data` |
//! | `STUDIO_MASTER_KEY_FILE` | embedded: the master key file | `$STUDIO_DATA_DIR/master.key` |
//! | `STUDIO_TABLE_NAME` | aws: the DynamoDB table | required |
//! | `STUDIO_KMS_KEY_ID` | aws: the KMS key id, ARN or alias | required |
//! | `STUDIO_EVENT_BUS_NAME` | aws: the EventBridge bus | required |
//! | `STUDIO_OUTBOUND_TIMEOUT_MS` | live edge timeout per request | `10000` |
//! | `STUDIO_MAX_WEBHOOK_BYTES` | largest webhook body accepted | `1048576` |
//! | `STUDIO_EGRESS_ALLOW` | non-public hosts or networks live calls may reach (`127.0.0.1,10.0.0.0/8`) | none |
//! | `STUDIO_DATA_KEY_CACHE_SECS` | how long an unwrapped data key is reused | `300` |
//! | `STUDIO_DATA_KEY_CACHE_USES` | how many decryptions one unwrapped data key serves | `1000` |
//! | `STUDIO_WEBHOOK_FAILURES_PER_MINUTE` | failed webhook verifications per URL per minute before 429 | `60` |
//! | `STUDIO_WEBHOOK_REFUSAL_FLOOR_MS` | the earliest a webhook refusal (401/429) is answered | `50` |
//! | `STUDIO_AGENT_CALLS_PER_MINUTE` | agents' tool calls per project per minute, in each process | `60` |
//! | `STUDIO_AGENT_CALL_TIMEOUT_MS` | how long an agent's tool call is waited for (at most 900000) | `30000` |
//!
//! The AWS SDK reads its own variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials).

use std::path::PathBuf;
use std::time::Duration;

/// Which adapters run: the embedded ones on local files, or the AWS services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The default (`STUDIO_BACKEND` unset or `embedded`): `LocalStore`,
    /// `LocalKeyService` and `InProcessBus`, all in one process.
    Embedded {
        /// The folder of the database (`STUDIO_DATA_DIR`).
        data_dir: PathBuf,
        /// The file of the local master key (`STUDIO_MASTER_KEY_FILE`, by default
        /// `master.key` in the data folder).
        master_key_file: PathBuf,
    },
    /// `STUDIO_BACKEND=aws`: DynamoDB, KMS and EventBridge.
    Aws {
        /// The DynamoDB table (`STUDIO_TABLE_NAME`).
        table_name: String,
        /// The KMS key that wraps data keys: id, ARN or alias (`STUDIO_KMS_KEY_ID`).
        kms_key_id: String,
        /// The EventBridge bus events are published on (`STUDIO_EVENT_BUS_NAME`).
        event_bus_name: String,
    },
}

/// The whole configuration, as the module's table lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which adapters run, and where their data lives.
    pub backend: Backend,
    /// How long the live edge waits for one request (`STUDIO_OUTBOUND_TIMEOUT_MS`).
    pub outbound_timeout: Duration,
    /// The largest webhook body accepted, in bytes (`STUDIO_MAX_WEBHOOK_BYTES`).
    pub max_webhook_bytes: usize,
    /// How long an unwrapped data key is reused (`STUDIO_DATA_KEY_CACHE_SECS`).
    pub data_key_cache_ttl: Duration,
    /// How many decryptions one unwrapped data key serves
    /// (`STUDIO_DATA_KEY_CACHE_USES`).
    pub data_key_cache_uses: u32,
    /// The webhook receiver's limits: failed verifications per URL per minute
    /// (`STUDIO_WEBHOOK_FAILURES_PER_MINUTE`) and the refusal floor
    /// (`STUDIO_WEBHOOK_REFUSAL_FLOOR_MS`).
    pub webhook_guard: crate::webhooks::GuardSettings,
    /// The non-public destinations live calls may reach (`STUDIO_EGRESS_ALLOW`).
    pub egress: crate::egress::EgressPolicy,
    /// Days runs and their traces are kept (`STUDIO_RUN_RETENTION_DAYS`, 30 by default).
    pub run_retention_days: u32,
    /// The embedded database's page cache, in bytes (`STUDIO_CACHE_MB`, 32 by default).
    pub cache_bytes: usize,
    /// On the AWS backend, the SQS queue an EventBridge rule feeds with execute-step's
    /// events (`STUDIO_EVENT_QUEUE_URL`): the local binary consumes it as Lambda would.
    pub event_queue_url: Option<String>,
    /// The limits on agents' tool calls through the MCP server
    /// (`STUDIO_AGENT_CALLS_PER_MINUTE`, `STUDIO_AGENT_CALL_TIMEOUT_MS`).
    pub agent: crate::http::mcp::AgentLimits,
}

/// A variable whose value cannot be used; the process does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {variable}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong with its value.
    pub message: String,
}

fn error(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: message.into(),
    }
}

/// The embedded backend's data folder when `STUDIO_DATA_DIR` is unset, relative to the
/// working directory.
pub const DEFAULT_DATA_DIR: &str = ".studio-data";

impl Config {
    /// The embedded backend in another data folder (the local binary's `--data-dir`):
    /// the master key moves with it unless `STUDIO_MASTER_KEY_FILE` names one.
    pub fn with_data_dir(mut self, dir: PathBuf) -> Self {
        if let Backend::Embedded {
            data_dir,
            master_key_file,
        } = &mut self.backend
        {
            *master_key_file = std::env::var_os("STUDIO_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("master.key"));
            *data_dir = dir;
        }
        self
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &str| {
            get(name).ok_or_else(|| error(name, "is required when STUDIO_BACKEND=aws"))
        };
        let backend = match get("STUDIO_BACKEND").as_deref() {
            None | Some("embedded") => {
                let data_dir = PathBuf::from(
                    get("STUDIO_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()),
                );
                let master_key_file = get("STUDIO_MASTER_KEY_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("master.key"));
                Backend::Embedded {
                    data_dir,
                    master_key_file,
                }
            }
            Some("aws") => Backend::Aws {
                table_name: require("STUDIO_TABLE_NAME")?,
                kms_key_id: require("STUDIO_KMS_KEY_ID")?,
                event_bus_name: require("STUDIO_EVENT_BUS_NAME")?,
            },
            Some(other) => {
                return Err(error(
                    "STUDIO_BACKEND",
                    format!("{other:?} is neither \"embedded\" nor \"aws\""),
                ));
            }
        };
        let number =
            |name: &str, default: u64| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        error(name, format!("{v:?} is not a positive whole number"))
                    }),
                }
            };
        Ok(Self {
            backend,
            outbound_timeout: Duration::from_millis(number("STUDIO_OUTBOUND_TIMEOUT_MS", 10_000)?),
            max_webhook_bytes: usize::try_from(number("STUDIO_MAX_WEBHOOK_BYTES", 1024 * 1024)?)
                .map_err(|_| error("STUDIO_MAX_WEBHOOK_BYTES", "too large"))?,
            data_key_cache_ttl: Duration::from_secs(number("STUDIO_DATA_KEY_CACHE_SECS", 300)?),
            data_key_cache_uses: u32::try_from(number("STUDIO_DATA_KEY_CACHE_USES", 1000)?)
                .map_err(|_| error("STUDIO_DATA_KEY_CACHE_USES", "too large"))?,
            webhook_guard: crate::webhooks::GuardSettings {
                failures_per_minute: u32::try_from(number(
                    "STUDIO_WEBHOOK_FAILURES_PER_MINUTE",
                    u64::from(crate::webhooks::FAILED_VERIFICATIONS_PER_MINUTE),
                )?)
                .map_err(|_| error("STUDIO_WEBHOOK_FAILURES_PER_MINUTE", "too large"))?,
                refusal_floor: Duration::from_millis(number(
                    "STUDIO_WEBHOOK_REFUSAL_FLOOR_MS",
                    u64::try_from(crate::webhooks::REFUSAL_FLOOR.as_millis()).unwrap_or(50),
                )?)
                .min(Duration::from_secs(5)),
            },
            egress: crate::egress::EgressPolicy::parse(
                &get("STUDIO_EGRESS_ALLOW").unwrap_or_default(),
            )
            .map_err(|m| error("STUDIO_EGRESS_ALLOW", m))?,
            run_retention_days: u32::try_from(number(
                "STUDIO_RUN_RETENTION_DAYS",
                u64::from(crate::aggregates::runs::DEFAULT_RETENTION_DAYS),
            )?)
            .ok()
            .filter(|days| *days <= 36_500)
            .ok_or_else(|| error("STUDIO_RUN_RETENTION_DAYS", "must be at most 36500"))?,
            event_queue_url: get("STUDIO_EVENT_QUEUE_URL"),
            agent: crate::http::mcp::AgentLimits {
                calls_per_minute: u32::try_from(number("STUDIO_AGENT_CALLS_PER_MINUTE", 60)?)
                    .map_err(|_| error("STUDIO_AGENT_CALLS_PER_MINUTE", "too large"))?,
                call_timeout: Duration::from_millis(
                    number("STUDIO_AGENT_CALL_TIMEOUT_MS", 30_000)?.min(900_000),
                ),
            },
            cache_bytes: usize::try_from(number("STUDIO_CACHE_MB", 32)?)
                .ok()
                .filter(|mb| *mb <= 65_536)
                .map(|mb| mb * 1024 * 1024)
                .ok_or_else(|| error("STUDIO_CACHE_MB", "must be at most 65536"))?,
        })
    }

    /// The embedded default in a given folder.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            backend: Backend::Embedded {
                master_key_file: data_dir.join("master.key"),
                data_dir,
            },
            outbound_timeout: Duration::from_secs(10),
            max_webhook_bytes: 1024 * 1024,
            data_key_cache_ttl: Duration::from_secs(300),
            data_key_cache_uses: 1000,
            webhook_guard: crate::webhooks::GuardSettings::default(),
            egress: crate::egress::EgressPolicy::default(),
            run_retention_days: crate::aggregates::runs::DEFAULT_RETENTION_DAYS,
            event_queue_url: None,
            cache_bytes: 32 * 1024 * 1024,
            agent: crate::http::mcp::AgentLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_set_means_the_embedded_default() {
        let config = from(&[]).expect("valid");
        assert_eq!(
            config.backend,
            Backend::Embedded {
                data_dir: PathBuf::from(".studio-data"),
                master_key_file: PathBuf::from(".studio-data/master.key")
            }
        );
    }

    #[test]
    fn aws_needs_its_three_names_and_says_which_is_missing() {
        let err =
            from(&[("STUDIO_BACKEND", "aws"), ("STUDIO_TABLE_NAME", "t")]).expect_err("incomplete");
        assert_eq!(err.variable, "STUDIO_KMS_KEY_ID");
        let ok = from(&[
            ("STUDIO_BACKEND", "aws"),
            ("STUDIO_TABLE_NAME", "t"),
            ("STUDIO_KMS_KEY_ID", "alias/k"),
            ("STUDIO_EVENT_BUS_NAME", "b"),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn the_webhook_failure_limit_and_refusal_floor_come_from_the_environment() {
        let default = from(&[]).expect("valid");
        assert_eq!(
            default.webhook_guard,
            crate::webhooks::GuardSettings::default()
        );
        let set = from(&[
            ("STUDIO_WEBHOOK_FAILURES_PER_MINUTE", "5"),
            ("STUDIO_WEBHOOK_REFUSAL_FLOOR_MS", "20"),
        ])
        .expect("valid");
        assert_eq!(set.webhook_guard.failures_per_minute, 5);
        assert_eq!(set.webhook_guard.refusal_floor, Duration::from_millis(20));
        assert_eq!(
            from(&[("STUDIO_WEBHOOK_FAILURES_PER_MINUTE", "0")])
                .expect_err("a limit of none")
                .variable,
            "STUDIO_WEBHOOK_FAILURES_PER_MINUTE"
        );
    }

    #[test]
    fn unknown_backends_and_bad_numbers_are_named() {
        assert_eq!(
            from(&[("STUDIO_BACKEND", "mongo")])
                .expect_err("bad")
                .variable,
            "STUDIO_BACKEND"
        );
        assert_eq!(
            from(&[("STUDIO_OUTBOUND_TIMEOUT_MS", "soon")])
                .expect_err("bad")
                .variable,
            "STUDIO_OUTBOUND_TIMEOUT_MS"
        );
    }
}
