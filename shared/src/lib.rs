//! The integrations runtime of the workflow studio, as one library crate.
//!
//! The four Lambda functions (`functions/*`) and the local binary are thin shells over
//! this crate. A map of it:
//!
//! - [`domain`]: the values the product is about (projects, integrations, credential
//!   envelopes, workflows, step contracts, runs, audit records, events), each checked
//!   when it is parsed.
//! - [`ports`]: the small traits through which the domain reaches the outside world
//!   (store, key service, event bus, edge, clock and ids). The domain never names AWS.
//! - [`adapters`]: one implementation per port and technology: the embedded default
//!   (`LocalStore`, `LocalKeyService`, `InProcessBus`) and AWS (`DynamoStore`,
//!   `KmsKeyService`, `EventBridgeBus`), plus the live and sandbox edges.
//! - [`config`] and [`app`]: configuration from the environment, and the one function
//!   that decides which adapters run.
//! - [`lexicon`]: the words both plain-words front doors read (trigger cues, event
//!   verbs, form nouns, ordinary capitals, false friends), as data.
//! - [`vault`]: envelope encryption of credentials bound to project and integration.
//! - [`routing`]: the event rules, shared by the in-process bus and `template.yaml`.
//! - [`http`]: the studio API as axum routers, one per function, errors as problem+json.
//! - [`execute`]: what execute-step does with the bus events it receives.
//! - [`lambda`]: the Lambda entry point shared by the four functions.
//! - [`tls`]: rustls on ring for the live edge and the AWS SDKs.

pub mod adapters;
pub mod app;
pub mod catalog;
pub mod compiler;
pub mod config;
pub mod describe;
pub mod domain;
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
