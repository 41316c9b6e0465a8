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

/// What [`Blobs::head`] finds of a blob without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobHead {
    pub size: u64,
    pub content_type: Option<String>,
}

/// What a presigned upload must send: the store refuses a PUT whose `Content-Type` or `Content-Length` differ
/// (S3 because both are signed headers; the embedded adapter because both are in its signature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadTerms {
    pub content_type: String,
    pub content_length: u64,
}

/// A presigned upload: PUT the bytes to `url` with exactly these headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: Vec<(String, String)>,
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
    /// The blob's size and type, or `None` if there is none.
    async fn head(&self, key: &str) -> StoreResult<Option<BlobHead>>;
    /// Deleting an absent blob succeeds.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Keys under `prefix` in lexicographic order, at most `limit` per page.
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<String>) -> StoreResult<BlobPage>;
    /// A URL anyone may GET the blob from until `expires_in` has passed.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> StoreResult<String>;
    /// A URL anyone may PUT the blob to until `expires_in` has passed, with exactly the `terms`' type and length.
    async fn presign_put(&self, key: &str, expires_in: Duration, terms: &UploadTerms) -> StoreResult<PresignedUpload>;
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

/// A content type both adapters sign: 1..=255 visible ASCII characters (`type/subtype`, parameters allowed).
pub fn validate_terms(terms: &UploadTerms) -> StoreResult<()> {
    let t = &terms.content_type;
    let ok = !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| (0x20..0x7f).contains(&b)) && t.contains('/');
    if ok { Ok(()) } else { Err(crate::StoreError::Invalid(format!("invalid content type {t:?}"))) }
}

pub fn validate_expiry(expires_in: Duration) -> StoreResult<()> {
    if expires_in.is_zero() || expires_in > MAX_PRESIGN {
        return Err(crate::StoreError::Invalid("presigned URLs live from 1 second to 7 days".into()));
    }
    Ok(())
}
