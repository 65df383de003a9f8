//! The integrations runtime of the workflow studio, as one library crate.
//!
//! The four Lambda functions (`functions/*`) and the local binary are thin shells over
//! this crate. A map of it, every module in a line (`docs/architecture.md` shows the
//! layers):
//!
//! - [`domain`]: the values the product is about (projects, integrations, credential
//!   envelopes, workflows, step contracts, runs, audit records, events).
//! - [`aggregates`]: the application layer, one module per aggregate (projects,
//!   integrations, workflows, runs, webhook events): each owns its store keys (spelled
//!   nowhere else), its reads and writes, and the use cases the API calls.
//! - [`ports`]: the traits through which the rest reaches the outside world (store, key
//!   service, event bus, edge, clock and ids). Nothing above them names AWS.
//! - [`adapters`]: one implementation per port and technology: the embedded default
//!   (`LocalStore`, `LocalKeyService`, `InProcessBus`) and AWS (`DynamoStore`,
//!   `KmsKeyService`, `EventBridgeBus`), plus the live and sandbox edges.
//! - [`egress`]: where live calls may go (the allow-list of non-public destinations).
//! - [`config`] and [`app`]: configuration from the environment, and the one function
//!   that decides which adapters run.
//! - [`catalog`]: the providers as data (`shared/providers/*.yaml`, embedded at build
//!   time): auth, config, operations, schemas, webhooks, compile hints, lookups.
//! - [`lexicon`]: the words both plain-words front doors read, as data.
//! - [`describe`]: plain words → the provider to connect and the prompt for it.
//! - [`compiler`]: a plain-words (or structured) step → a checked step contract.
//! - [`runtime`]: runs and steps: request building, sandbox mocks, live sends, lookups,
//!   reads of changed entities, OAuth and SMART token refresh.
//! - [`webhooks`]: provider deliveries → verified, deduplicated data changes.
//! - [`vault`]: envelope encryption of credentials bound to project and integration;
//!   the one place a credential is sealed and opened (and its use audited).
//! - [`redact`]: masking of secret values in anything shown or stored.
//! - [`routing`]: the event rules, shared by the in-process bus and `template.yaml`.
//! - [`http`]: the studio API as axum routers, one per function, errors as problem+json.
//! - [`execute`]: what execute-step does with the bus events it receives.
//! - [`lambda`]: the Lambda entry point shared by the four functions.
//! - [`telemetry`]: logging set-up (JSON lines on Lambda), every line redacted.
//! - [`tls`]: rustls on ring for the live edge and the AWS SDKs.

#![warn(missing_docs)]

pub mod adapters;
pub mod aggregates;
pub mod app;
pub mod catalog;
pub mod compiler;
pub mod config;
pub mod describe;
pub mod domain;
pub mod egress;
pub mod execute;
pub mod http;
pub mod lambda;
pub mod lexicon;
pub mod ports;
pub mod redact;
pub mod routing;
pub mod runtime;
pub mod telemetry;
pub mod tls;
pub mod vault;
pub mod webhooks;

/// The allocator every binary of the workspace declares (`#[global_allocator]`):
/// mimalloc. The ingest and step paths allocate many small JSON values, and glibc's
/// malloc took about half of the ingest bench's CPU time.
pub use mimalloc::MiMalloc as Allocator;
