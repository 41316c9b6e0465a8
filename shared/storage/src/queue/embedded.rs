//! STUB — being replaced by the real adapter.
#![allow(dead_code)]
pub struct EmbeddedQueue;
impl EmbeddedQueue { pub fn new(_db: std::sync::Arc<redb::Database>, _spec: crate::queue::QueueSpec) -> Self { Self } }
#[async_trait::async_trait]
impl crate::queue::Queue for EmbeddedQueue {
    fn name(&self) -> &str { "stub" }
    async fn send(&self, _m: crate::queue::OutgoingMessage) -> crate::StoreResult<String> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn send_batch(&self, _m: Vec<crate::queue::OutgoingMessage>) -> crate::StoreResult<Vec<String>> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn receive(&self, _max: usize, _v: std::time::Duration, _w: std::time::Duration) -> crate::StoreResult<Vec<crate::queue::ReceivedMessage>> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn delete(&self, _r: &str) -> crate::StoreResult<()> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
    async fn ready(&self) -> crate::StoreResult<()> { Err(crate::StoreError::Unexpected(anyhow::anyhow!("stub: not built yet"))) }
}
