//! Tenants: reads, version-checked updates with a unique slug, ownership transfer, member counts.

use anyhow::Context;
use storage::StoreError;
use storage::table::{Condition, Item, Query, WriteOp};

use super::{IdentityStore, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{Tenant, User};

fn tenant_item(tenant: &Tenant) -> anyhow::Result<Item> {
    let mut item = Item::new(keys::tenant(&tenant.tenant_id), to_attrs(tenant)?);
    item.version = tenant.version;
    Ok(item)
}

fn slug_claim(tenant: &Tenant, slug: &str) -> anyhow::Result<Item> {
    Ok(Item::new(keys::slug(slug), to_attrs(&serde_json::json!({ "tenant_id": tenant.tenant_id }))?))
}

impl IdentityStore {
    pub async fn tenant(&self, tenant_id: &str) -> anyhow::Result<Option<Tenant>> {
        let item = self.table.get(&keys::tenant(tenant_id)).await.context("Failed to read a tenant")?;
        item.map(|item| {
            let mut tenant: Tenant = from_attrs(&item)?;
            tenant.version = item.version;
            Ok(tenant)
        })
        .transpose()
    }

    /// Stores `tenant` if nobody wrote it since `tenant.version` was read; moves the slug claim when the slug
    /// changed (`SlugTaken` when another tenant holds it). Returns the tenant as stored.
    pub async fn update_tenant(&self, tenant: &Tenant, previous_slug: Option<&str>) -> Result<Tenant, StoreFailure> {
        let mut ops =
            vec![WriteOp::Put { item: tenant_item(tenant)?, condition: Condition::VersionIs(tenant.version) }];
        if tenant.slug.as_deref() != previous_slug {
            if let Some(previous) = previous_slug {
                ops.push(WriteOp::Delete { key: keys::slug(previous), condition: Condition::Always });
            }
            if let Some(slug) = &tenant.slug {
                ops.push(WriteOp::Put { item: slug_claim(tenant, slug)?, condition: Condition::MustNotExist });
            }
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(Tenant { version: tenant.version + 1, ..tenant.clone() }),
            Err(StoreError::ConditionFailed) => {
                let current = self.tenant(&tenant.tenant_id).await?;
                match current {
                    Some(current) if current.version == tenant.version => Err(StoreFailure::SlugTaken),
                    _ => Err(StoreFailure::VersionConflict),
                }
            }
            Err(e) => Err(anyhow::Error::new(e).context("Failed to update a tenant").into()),
        }
    }

    /// Makes `to` the owner (and an admin) in one transaction guarded by the versions read: the tenant's, the
    /// new owner's and the old owner's (who stays an admin).
    pub async fn transfer_ownership(&self, tenant: &Tenant, to: &User, from: &User) -> Result<(), StoreFailure> {
        let mut updated = tenant.clone();
        updated.owner_user_id = to.id.clone();
        updated.updated_at = Some(crate::now_rfc3339());
        let mut new_owner = to.clone();
        if !new_owner.roles.iter().any(|r| r == platform::caller::ROLE_TENANT_ADMIN) {
            new_owner.roles.push(platform::caller::ROLE_TENANT_ADMIN.into());
        }
        new_owner.updated_at = crate::now_rfc3339();
        let ops = vec![
            WriteOp::Put { item: tenant_item(&updated)?, condition: Condition::VersionIs(tenant.version) },
            WriteOp::Put { item: super::users::user_item(&new_owner)?, condition: Condition::VersionIs(to.version) },
            WriteOp::Check {
                key: keys::user(&from.tenant_id, &from.id),
                condition: Condition::VersionIs(from.version),
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(StoreFailure::VersionConflict),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to transfer ownership").into()),
        }
    }

    /// Deletes the tenant record, its usage key record and its slug claim (its last user, the owner, was deleted).
    pub async fn delete_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
        let mut ops = vec![
            WriteOp::Delete { key: keys::tenant(&tenant.tenant_id), condition: Condition::Always },
            WriteOp::Delete { key: keys::usage_key(&tenant.tenant_id), condition: Condition::Always },
        ];
        if let Some(slug) = &tenant.slug {
            ops.push(WriteOp::Delete { key: keys::slug(slug), condition: Condition::Always });
        }
        self.table.transact(ops).await.context("Failed to delete a tenant")
    }

    /// How many users the tenant has (pages through them: a plan allows at most a few thousand).
    pub async fn count_users(&self, tenant_id: &str) -> anyhow::Result<u64> {
        let mut count = 0;
        let mut cursor = None;
        loop {
            let query = Query::partition(keys::users_partition(tenant_id)).prefix("USER#").limit(100).cursor(cursor);
            let page = self.table.query(query).await.context("Failed to count users")?;
            count += page.items.len() as u64;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(count),
            }
        }
    }
}
