//! Adapters: one implementation of a port per technology.
//!
//! Embedded (the default, no AWS account): [`LocalStore`], [`LocalKeyService`],
//! [`InProcessBus`]. AWS: [`DynamoStore`], [`KmsKeyService`], [`EventBridgeBus`].
//! Both: [`LiveEdge`], [`SandboxEdge`], [`SystemClock`], [`TimeOrderedIds`].
//!
//! Cargo features keep each Lambda binary to what it uses: `embedded` (`LocalStore`,
//! `LocalKeyService`; the local binary and the tests) and `live-edge` (`LiveEdge` and
//! reqwest; execute-step and the local binary). Both are on by default.

mod caching_keys;
mod dynamo_store;
mod edge;
mod eventbridge_bus;
mod in_process_bus;
mod kms_keys;
#[cfg(feature = "live-edge")]
mod live_edge;
#[cfg(feature = "embedded")]
mod local_keys;
#[cfg(feature = "embedded")]
mod local_store;
mod system;

pub use caching_keys::CachingKeyService;
pub use dynamo_store::DynamoStore;
pub use edge::{EgressPolicy, NoLiveEdge, SandboxEdge, is_public};
pub use eventbridge_bus::{EventBridgeBus, PUT_EVENTS_BATCH};
pub use in_process_bus::InProcessBus;
pub use kms_keys::KmsKeyService;
#[cfg(feature = "live-edge")]
pub use live_edge::LiveEdge;
#[cfg(feature = "embedded")]
pub use local_keys::LocalKeyService;
#[cfg(feature = "embedded")]
pub use local_store::LocalStore;
pub use system::{FixedClock, SystemClock, TimeOrderedIds};
