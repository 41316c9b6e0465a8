//! Invitations: created with a lookup by token hash, listed per tenant, revoked or re-issued under the version
//! read, and accepted in one transaction that marks them used and creates the account (single use: a second
//! acceptance fails its version check).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use storage::StoreError;
use storage::table::{Condition, Item, Query, WriteOp};

use super::{IdentityStore, Listing, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{Invitation, User};

/// How long an item outlives its expiry before the table's TTL removes it (history for the listing).
const KEEP_AFTER_EXPIRY_SECS: i64 = 30 * 86_400;

#[derive(Serialize, Deserialize)]
struct Lookup {
    tenant_id: String,
    invitation_id: String,
}

fn invitation_item(invitation: &Invitation) -> anyhow::Result<Item> {
    let mut item = Item::new(keys::invitation(&invitation.tenant_id, &invitation.id), to_attrs(invitation)?);
    item.version = invitation.version;
    item.expires_at = Some(invitation.expires_at + KEEP_AFTER_EXPIRY_SECS);
    Ok(item)
}

fn lookup_item(invitation: &Invitation) -> anyhow::Result<Item> {
    let lookup = Lookup { tenant_id: invitation.tenant_id.clone(), invitation_id: invitation.id.clone() };
    let mut item = Item::new(keys::invitation_lookup(&invitation.token_hash), to_attrs(&lookup)?);
    item.expires_at = Some(invitation.expires_at);
    Ok(item)
}

fn invitation_from(item: &Item) -> anyhow::Result<Invitation> {
    let mut invitation: Invitation = from_attrs(item)?;
    invitation.version = item.version;
    Ok(invitation)
}

impl IdentityStore {
    pub async fn create_invitation(&self, invitation: &Invitation) -> anyhow::Result<()> {
        let ops = vec![
            WriteOp::Put { item: invitation_item(invitation)?, condition: Condition::MustNotExist },
            WriteOp::Put { item: lookup_item(invitation)?, condition: Condition::MustNotExist },
        ];
        self.table.transact(ops).await.context("Failed to create an invitation")
    }

    pub async fn invitation(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Invitation>> {
        let item = self.table.get(&keys::invitation(tenant_id, id)).await.context("Failed to read an invitation")?;
        item.as_ref().map(invitation_from).transpose()
    }

    /// The invitation a token names (by its hash), if the lookup has not expired.
    pub async fn invitation_by_token_hash(&self, hash: &str) -> anyhow::Result<Option<Invitation>> {
        let lookup = self.table.get(&keys::invitation_lookup(hash)).await.context("Failed to look an invitation up")?;
        let Some(lookup) = lookup else { return Ok(None) };
        let lookup: Lookup = from_attrs(&lookup)?;
        let invitation = self.invitation(&lookup.tenant_id, &lookup.invitation_id).await?;
        Ok(invitation.filter(|i| i.token_hash == hash))
    }

    /// A tenant's invitations, oldest first.
    pub async fn list_invitations(
        &self,
        tenant_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<Invitation>, StoreFailure> {
        let query =
            Query::partition(keys::invitations_partition(tenant_id)).prefix("INVITE#").limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.iter().map(invitation_from).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// Every pending, unexpired invitation of the tenant (for the members limit).
    pub async fn count_pending_invitations(&self, tenant_id: &str, now: i64) -> anyhow::Result<u64> {
        let mut count = 0;
        let mut cursor = None;
        loop {
            let page = self.list_invitations(tenant_id, 100, cursor).await.map_err(anyhow::Error::new)?;
            count += page.items.iter().filter(|i| i.is_usable(now)).count() as u64;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(count),
            }
        }
    }

    /// Stores a changed invitation under the version read; `previous_hash` is the token hash it had, when the
    /// change re-issued the token (its old lookup goes, the new one comes).
    pub async fn update_invitation(
        &self,
        invitation: &Invitation,
        previous_hash: Option<&str>,
    ) -> Result<Invitation, StoreFailure> {
        let mut ops = vec![WriteOp::Put {
            item: invitation_item(invitation)?,
            condition: Condition::VersionIs(invitation.version),
        }];
        if let Some(previous) = previous_hash.filter(|p| *p != invitation.token_hash) {
            ops.push(WriteOp::Delete { key: keys::invitation_lookup(previous), condition: Condition::Always });
            ops.push(WriteOp::Put { item: lookup_item(invitation)?, condition: Condition::MustNotExist });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(Invitation { version: invitation.version + 1, ..invitation.clone() }),
            Err(StoreError::ConditionFailed) => Err(StoreFailure::VersionConflict),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to update an invitation").into()),
        }
    }

    /// Marks the invitation accepted (under the version read: single use) and creates `user` in its tenant
    /// with its email claim, all or nothing. `tenant_version`: the tenant as read when its members were
    /// counted, so concurrent acceptances cannot both pass the members limit. `EmailTaken` when the email has
    /// an account; `InvitationUnusable` when the invitation or the tenant changed meanwhile.
    pub async fn accept_invitation(
        &self,
        invitation: &Invitation,
        user: &User,
        tenant_version: u64,
    ) -> Result<(), StoreFailure> {
        let mut accepted = invitation.clone();
        accepted.status = crate::InvitationStatus::Accepted;
        accepted.accepted_by = Some(user.id.clone());
        let tenant = self.tenant(&invitation.tenant_id).await?.ok_or(StoreFailure::InvitationUnusable)?;
        let mut touched = tenant.clone();
        touched.updated_at = Some(crate::now_rfc3339());
        let mut tenant_item = Item::new(keys::tenant(&tenant.tenant_id), to_attrs(&touched)?);
        tenant_item.version = tenant_version;
        let ops = vec![
            WriteOp::Put { item: invitation_item(&accepted)?, condition: Condition::VersionIs(invitation.version) },
            WriteOp::Delete { key: keys::invitation_lookup(&invitation.token_hash), condition: Condition::Always },
            WriteOp::Put { item: tenant_item, condition: Condition::VersionIs(tenant_version) },
            WriteOp::Put { item: super::users::user_item(user)?, condition: Condition::MustNotExist },
            WriteOp::Put { item: super::users::email_claim(user)?, condition: Condition::MustNotExist },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                let current = self.invitation(&invitation.tenant_id, &invitation.id).await?;
                let tenant_now = self.tenant(&invitation.tenant_id).await?;
                let unchanged = current.is_some_and(|c| c.version == invitation.version)
                    && tenant_now.is_some_and(|t| t.version == tenant_version);
                // Ids are fresh UUIDs: with the invitation and tenant unchanged, only the email claim failed.
                Err(if unchanged { StoreFailure::EmailTaken } else { StoreFailure::InvitationUnusable })
            }
            Err(e) => Err(anyhow::Error::new(e).context("Failed to accept an invitation").into()),
        }
    }
}
