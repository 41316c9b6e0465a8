//! Pending registrations and email changes (REGISTRATION_MODE=verify_email): one item per token, addressed by the token's hash
//! and expiring (TTL) with it. Verifying deletes the item and creates the tenant, the user and the email claim
//! in one transaction under the version read (single use: a second verification finds nothing).

use anyhow::Context;
use storage::StoreError;
use storage::table::{Condition, Item, WriteOp};

use super::{IdentityStore, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{PendingEmailChange, PendingRegistration, Tenant, User};

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

fn email_change_item(change: &PendingEmailChange) -> anyhow::Result<Item> {
    let mut item = Item::new(keys::pending_email_change(&change.token_hash), to_attrs(change)?);
    item.expires_at = Some(change.expires_at);
    item.version = change.version;
    Ok(item)
}

impl IdentityStore {
    pub async fn create_pending_email_change(&self, change: &PendingEmailChange) -> anyhow::Result<()> {
        self.table
            .put(email_change_item(change)?, Condition::MustNotExist)
            .await
            .context("Failed to keep a pending email change")?;
        Ok(())
    }

    /// The pending email change a token names (by its hash), unless used or removed by the table's TTL.
    pub async fn pending_email_change_by_token_hash(&self, hash: &str) -> anyhow::Result<Option<PendingEmailChange>> {
        let key = keys::pending_email_change(hash);
        let item = self.table.get(&key).await.context("Failed to read a pending email change")?;
        let Some(item) = item else { return Ok(None) };
        let mut change: PendingEmailChange = from_attrs(&item)?;
        change.version = item.version;
        Ok(Some(change).filter(|c| c.token_hash == hash))
    }

    /// Consumes the pending change and stores `user` (with its new email, claimed) under the versions read;
    /// all or nothing. `EmailTaken` when the new address got an account meanwhile, `VersionConflict` when the
    /// user or the change moved.
    pub async fn complete_email_change(
        &self,
        change: &PendingEmailChange,
        user: &User,
        previous_email: &str,
    ) -> Result<User, StoreFailure> {
        let consume = WriteOp::Delete {
            key: keys::pending_email_change(&change.token_hash),
            condition: Condition::VersionIs(change.version),
        };
        match self.update_user_with(user, previous_email, vec![consume]).await {
            // The user is unchanged; was it the claim, or the change used meanwhile?
            Err(StoreFailure::EmailTaken) => {
                let current = self.pending_email_change_by_token_hash(&change.token_hash).await?;
                let unchanged = current.is_some_and(|c| c.version == change.version);
                Err(if unchanged { StoreFailure::EmailTaken } else { StoreFailure::VersionConflict })
            }
            other => other,
        }
    }
}
