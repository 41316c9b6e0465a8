//! Pending registrations (REGISTRATION_MODE=verify_email): one item per token, addressed by the token's hash
//! and expiring (TTL) with it. Verifying deletes the item and creates the tenant, the user and the email claim
//! in one transaction under the version read (single use: a second verification finds nothing).

use anyhow::Context;
use storage::StoreError;
use storage::table::{Condition, Item, WriteOp};

use super::{IdentityStore, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{PendingRegistration, Tenant, User};

fn pending_item(pending: &PendingRegistration) -> anyhow::Result<Item> {
    let mut item = Item::new(keys::pending_registration(&pending.token_hash), to_attrs(pending)?);
    item.expires_at = Some(pending.expires_at);
    item.version = pending.version;
    Ok(item)
}

impl IdentityStore {
    pub async fn create_pending_registration(&self, pending: &PendingRegistration) -> anyhow::Result<()> {
        self.table
            .put(pending_item(pending)?, Condition::MustNotExist)
            .await
            .context("Failed to keep a pending registration")?;
        Ok(())
    }

    /// The pending registration a token names (by its hash), unless used or removed by the table's TTL.
    pub async fn pending_registration_by_token_hash(&self, hash: &str) -> anyhow::Result<Option<PendingRegistration>> {
        let key = keys::pending_registration(hash);
        let item = self.table.get(&key).await.context("Failed to read a pending registration")?;
        let Some(item) = item else { return Ok(None) };
        let mut pending: PendingRegistration = from_attrs(&item)?;
        pending.version = item.version;
        Ok(Some(pending).filter(|p| p.token_hash == hash))
    }

    /// Consumes the pending registration and creates its account; all or nothing. `VersionConflict` when it
    /// was used meanwhile, `EmailTaken` when the email got an account since it was asked for.
    pub async fn complete_registration(
        &self,
        pending: &PendingRegistration,
        tenant: &Tenant,
        user: &User,
    ) -> Result<(), StoreFailure> {
        let mut ops = vec![WriteOp::Delete {
            key: keys::pending_registration(&pending.token_hash),
            condition: Condition::VersionIs(pending.version),
        }];
        ops.extend(super::users::account_ops(tenant, user)?);
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                let current = self.pending_registration_by_token_hash(&pending.token_hash).await?;
                // Still there unchanged: only the email claim failed (the ids are fresh UUIDs).
                let unchanged = current.is_some_and(|c| c.version == pending.version);
                Err(if unchanged { StoreFailure::EmailTaken } else { StoreFailure::VersionConflict })
            }
            Err(e) => Err(anyhow::Error::new(e).context("Failed to complete a registration").into()),
        }
    }
}
