//! STUB — being replaced by the real adapter.
#![allow(dead_code)]
pub struct EmbeddedBlobs;
impl EmbeddedBlobs { pub fn open(_db: std::sync::Arc<redb::Database>, _dir: &std::path::Path, _bucket: &str, _base: &str) -> anyhow::Result<Self> { Ok(Self) } }
#[async_trait::async_trait]
impl crate::blobs::Blobs for EmbeddedBlobs {
    async fn put(&self, _k: &str, _b: bytes::Bytes, _c: Option<&str>) -> crate::StoreResult<()> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn get(&self, _k: &str) -> crate::StoreResult<Option<crate::blobs::Blob>> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn delete(&self, _k: &str) -> crate::StoreResult<()> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn list(&self, _p: &str, _l: usize, _c: Option<String>) -> crate::StoreResult<crate::blobs::BlobPage> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn presign_get(&self, _k: &str, _e: std::time::Duration) -> crate::StoreResult<String> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn presign_put(&self, _k: &str, _e: std::time::Duration) -> crate::StoreResult<String> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn ready(&self) -> crate::StoreResult<()> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
}
