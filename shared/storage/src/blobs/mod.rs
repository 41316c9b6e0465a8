//! The blob port: the S3 subset the services need (one bucket per handle).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::StoreResult;

/// Longest lifetime of a presigned URL (S3's limit for SigV4).
pub const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    pub key: String,
    pub size: u64,
}

#[derive(Clone, Debug, Default)]
pub struct BlobPage {
    pub blobs: Vec<BlobInfo>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait Blobs: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes, content_type: Option<&str>) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Blob>>;
    /// Deleting an absent blob succeeds.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Keys under `prefix` in lexicographic order, at most `limit` per page.
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<String>) -> StoreResult<BlobPage>;
    /// A URL anyone may GET the blob from until `expires_in` has passed.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> StoreResult<String>;
    /// A URL anyone may PUT the blob to until `expires_in` has passed.
    async fn presign_put(&self, key: &str, expires_in: Duration) -> StoreResult<String>;
    async fn ready(&self) -> StoreResult<()>;
}

/// Keys both adapters accept: 1..=1024 bytes, no empty, `.` or `..` segment, no leading `/`, no control characters.
pub fn validate_key(key: &str) -> StoreResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.chars().any(char::is_control)
        && key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if ok { Ok(()) } else { Err(crate::StoreError::Invalid(format!("invalid blob key {key:?}"))) }
}

pub fn validate_expiry(expires_in: Duration) -> StoreResult<()> {
    if expires_in.is_zero() || expires_in > MAX_PRESIGN {
        return Err(crate::StoreError::Invalid("presigned URLs live from 1 second to 7 days".into()));
    }
    Ok(())
}
