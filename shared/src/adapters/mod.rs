//! Adapters: one implementation of a port per technology.
//!
//! Embedded (the default, no AWS account): [`LocalStore`], [`LocalKeyService`],
//! [`InProcessBus`]. AWS: [`DynamoStore`], [`KmsKeyService`], [`EventBridgeBus`].
//! Both: [`LiveEdge`], [`SandboxEdge`], [`SystemClock`], [`TimeOrderedIds`].

mod caching_keys;
mod dynamo_store;
mod edge;
mod eventbridge_bus;
mod in_process_bus;
mod kms_keys;
mod local_keys;
mod local_store;
mod system;

pub use caching_keys::CachingKeyService;
pub use dynamo_store::DynamoStore;
pub use edge::{EgressPolicy, LiveEdge, SandboxEdge, is_public};
pub use eventbridge_bus::{EventBridgeBus, PUT_EVENTS_BATCH};
pub use in_process_bus::InProcessBus;
pub use kms_keys::KmsKeyService;
pub use local_keys::LocalKeyService;
pub use local_store::LocalStore;
pub use system::{FixedClock, SystemClock, TimeOrderedIds};
