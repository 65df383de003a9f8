//! Adapters: one implementation of a port per technology.
//!
//! Embedded (the default, no AWS account): [`LocalStore`], [`LocalKeyService`],
//! [`InProcessBus`]. AWS: [`DynamoStore`], [`KmsKeyService`], [`EventBridgeBus`].
//! Both: [`LiveEdge`], [`SandboxEdge`], [`SystemClock`], [`TimeOrderedIds`].
//!
//! `LocalStore` and `LocalKeyService` are behind the `embedded` feature (on for the local
//! binary and the tests, off in the deployed functions). `LiveEdge` is built only by the
//! binaries that call providers (`app::live_edge`), so the others leave reqwest out.

mod caching_keys;
mod dynamo_store;
mod edge;
mod eventbridge_bus;
mod in_process_bus;
mod kms_keys;
mod live_edge;
#[cfg(feature = "embedded")]
mod local_keys;
#[cfg(feature = "embedded")]
mod local_store;
#[cfg(feature = "event-queue")]
pub mod sqs_events;
mod system;

pub use crate::egress::{EgressPolicy, is_public};
pub use caching_keys::CachingKeyService;
pub use dynamo_store::DynamoStore;
pub use edge::{NoLiveEdge, SandboxEdge};
pub use eventbridge_bus::{EventBridgeBus, PUT_EVENTS_BATCH};
pub use in_process_bus::InProcessBus;
pub use kms_keys::KmsKeyService;
pub use live_edge::LiveEdge;
#[cfg(feature = "embedded")]
pub use local_keys::LocalKeyService;
#[cfg(feature = "embedded")]
pub use local_store::LocalStore;
pub use system::{FixedClock, SystemClock, TimeOrderedIds};
