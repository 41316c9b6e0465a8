//! Which tenants' access changed in this process: every write through a [`TenancyStore`](super::TenancyStore)
//! moves its tenant's epoch on, after the write. A reader that remembers a decision input (a link, a user's
//! grants, a connection) with the epoch it read *before* loading it knows the input is stale as soon as the
//! epoch differs. Under `cargo run` every group runs in one process, so the gateway sees a removal or a
//! demotion made through the workspaces routes on the very next request; a Lambda function sees only its own
//! writes and relies on the short lifetime of what it remembers (`airtable::credentials::REMEMBER_FOR`).
//!
//! Epochs live in a fixed set of buckets keyed by a hash of the tenant id: two tenants sharing a bucket only
//! invalidate each other more often than needed, never less.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use storage::StoreResult;
use storage::table::{Condition, Item, Key, Page, Query, Table, WriteOp};

const BUCKETS: usize = 256;
static EPOCHS: [AtomicU64; BUCKETS] = [const { AtomicU64::new(0) }; BUCKETS];

fn bucket(tenant: &str) -> &'static AtomicU64 {
    // A fixed hasher: the same tenant lands in the same bucket for the life of the process.
    let mut hasher =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    hasher.write(tenant.as_bytes());
    &EPOCHS[(hasher.finish() as usize) % BUCKETS]
}

/// The tenant's current epoch: read it before loading what you will remember.
pub fn epoch(tenant: &str) -> u64 {
    bucket(tenant).load(Ordering::Acquire)
}

fn changed(pk: &str) {
    touch(pk.split('#').next().unwrap_or(pk));
}

/// Moves the tenant's epoch on, as a write does: what was remembered of it is read again.
pub fn touch(tenant: &str) {
    bucket(tenant).fetch_add(1, Ordering::AcqRel);
}

/// The workspaces table, noting every write's tenant.
pub(crate) struct Noting(pub(crate) Arc<dyn Table>);

#[async_trait]
impl Table for Noting {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.0.get(key).await
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
        let pk = item.key.pk.clone();
        let outcome = self.0.put(item, condition).await;
        changed(&pk);
        outcome
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        let outcome = self.0.delete(key, condition).await;
        changed(&key.pk);
        outcome
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        self.0.query(query).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let partitions: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Put { item, .. } => Some(item.key.pk.clone()),
                WriteOp::Delete { key, .. } => Some(key.pk.clone()),
                WriteOp::Check { .. } => None,
            })
            .collect();
        let outcome = self.0.transact(ops).await;
        for pk in &partitions {
            changed(pk);
        }
        outcome
    }

    async fn ready(&self) -> StoreResult<()> {
        self.0.ready().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_moves_its_tenants_epoch_on() {
        let before = epoch("tenant-a");
        changed("tenant-a#ACCESS#user-1");
        assert!(epoch("tenant-a") > before);
    }
}
