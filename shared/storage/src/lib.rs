//! Narrow storage ports and their adapters.
//!
//! Each port is one small trait in its own folder, beside its adapters: `aws.rs` (DynamoDB, SQS, SNS, S3,
//! Redis/ElastiCache, KMS, EventBridge Scheduler) and `embedded.rs` (durable on disk under the data dir, or
//! in-process for the cache).
//! One conformance suite per port (`tests/conformance/`) runs against both.
//!
//! Features: `aws` (default) builds the AWS adapters and [`backend`]; `embedded` adds the redb-backed table,
//! queue and blob store, the routes serving its presigned URLs, the key store holding its master key in a
//! file, and the schedules with their in-process firing loop. Only the local runner and the tests enable
//! `embedded`: a Lambda bootstrap links no redb, and its `Backend::open` refuses `STORAGE=embedded`. The
//! in-process cache (`cache::embedded::MemoryCache`) needs only std and is always built; the cache adapter
//! follows `CACHE_URL` (or ElastiCache discovery) in both modes, so several processes can share one Redis.

pub mod blobs;
pub mod bus;
pub mod cache;
pub mod error;
pub mod keys;
pub mod queue;
pub mod schedules;
pub mod table;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod backend;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use error::{StoreError, StoreResult};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Seconds since the Unix epoch (the unit of DynamoDB's TTL attribute).
pub fn now_secs() -> i64 {
    now_millis() / 1000
}
