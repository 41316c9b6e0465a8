//! Each tenant's API Gateway usage key (`{tenant}#TENANT` / `USAGEKEY`, beside the tenant record): written by
//! the tenants group's usage-plans consumer, read by the authorizer.

use anyhow::Context;

use super::{IdentityStore, from_attrs, keys, to_attrs};
use crate::records::UsageKey;

impl IdentityStore {
    pub async fn usage_key(&self, tenant_id: &str) -> anyhow::Result<Option<UsageKey>> {
        let item = self.table.get(&keys::usage_key(tenant_id)).await.context("Failed to read a usage key")?;
        item.map(|item| from_attrs(&item)).transpose()
    }

    /// Stores it, replacing any earlier one (the consumer reads the tenant and API Gateway before writing, so
    /// the last write is the tenant's current plan).
    pub async fn put_usage_key(&self, key: &UsageKey) -> anyhow::Result<()> {
        let item = storage::table::Item::new(keys::usage_key(&key.tenant_id), to_attrs(key)?);
        self.table.put(item, storage::table::Condition::Always).await.context("Failed to store a usage key")?;
        Ok(())
    }
}
