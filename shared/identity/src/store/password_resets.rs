//! Password resets: one item per token, addressed by the token's hash and expiring (TTL) with it. Completing a
//! reset deletes the item and stores the user's new password hash in one transaction under both versions read
//! (single use: a second completion finds nothing), then ends every session of the user.

use anyhow::Context;
use storage::StoreError;
use storage::table::{Condition, Item, Query, WriteOp};

use super::{IdentityStore, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{PasswordReset, User};

fn reset_item(reset: &PasswordReset) -> anyhow::Result<Item> {
    let mut item = Item::new(keys::password_reset(&reset.token_hash), to_attrs(reset)?);
    item.expires_at = Some(reset.expires_at);
    item.version = reset.version;
    Ok(item)
}

impl IdentityStore {
    pub async fn create_password_reset(&self, reset: &PasswordReset) -> anyhow::Result<()> {
        self.table
            .put(reset_item(reset)?, Condition::MustNotExist)
            .await
            .context("Failed to create a password reset")?;
        Ok(())
    }

    /// The reset a token names (by its hash), unless used or removed by the table's TTL.
    pub async fn password_reset_by_token_hash(&self, hash: &str) -> anyhow::Result<Option<PasswordReset>> {
        let item = self.table.get(&keys::password_reset(hash)).await.context("Failed to read a password reset")?;
        let Some(item) = item else { return Ok(None) };
        let mut reset: PasswordReset = from_attrs(&item)?;
        reset.version = item.version;
        Ok(Some(reset).filter(|r| r.token_hash == hash))
    }

    /// Consumes the reset and stores `user` (its new password hash) under the version read; all or nothing.
    /// `VersionConflict` when the reset was used meanwhile or the user changed.
    pub async fn complete_password_reset(&self, reset: &PasswordReset, user: &User) -> Result<(), StoreFailure> {
        let ops = vec![
            WriteOp::Delete {
                key: keys::password_reset(&reset.token_hash),
                condition: Condition::VersionIs(reset.version),
            },
            WriteOp::Put { item: super::users::user_item(user)?, condition: Condition::VersionIs(user.version) },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(StoreFailure::VersionConflict),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to complete a password reset").into()),
        }
    }

    /// Ends every session of the user: their refresh tokens, and (at the authorizer) their access tokens.
    /// Returns how many ended.
    pub async fn delete_sessions(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<usize> {
        let partition = keys::owned_partition(tenant_id, user_id);
        let mut ended = 0;
        loop {
            // Always the first page: each round deletes what the previous query returned.
            let query = Query::partition(partition.clone()).prefix("SESSION#").limit(50);
            let page = self.table.query(query).await.context("Failed to list a user's sessions")?;
            if page.items.is_empty() {
                return Ok(ended);
            }
            ended += page.items.len();
            let ops = page
                .items
                .iter()
                .map(|item| WriteOp::Delete { key: item.key.clone(), condition: Condition::Always })
                .collect();
            self.table.transact(ops).await.context("Failed to end a user's sessions")?;
        }
    }
}
