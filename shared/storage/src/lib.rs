//! Narrow storage ports and their adapters.
//!
//! Each port is one small trait in its own folder, beside its two adapters:
//! `aws.rs` (DynamoDB, SQS, S3, Redis/ElastiCache) and `embedded.rs` (durable on disk under the data dir,
//! or in-process for the cache). One conformance suite per port (`tests/conformance/`) runs against both.

pub mod blobs;
pub mod cache;
pub mod error;
pub mod queue;
pub mod table;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(all(feature = "aws", feature = "embedded"))]
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
