//! Workspace memberships, grants and custom roles: each membership and grant is two items written together,
//! one for listing and one in the user's access partition, which a decision reads in one query.

use storage::StoreError;
use storage::table::{Condition, WriteOp};

use super::{Listing, StoreFailure, TenancyStore, item, keys};
use crate::records::{CustomRole, GrantRecord, Membership};

/// A user's whole access in a tenant: what a decision needs.
#[derive(Clone, Debug, Default)]
pub struct UserAccess {
    pub memberships: Vec<Membership>,
    pub grants: Vec<GrantRecord>,
}

impl TenancyStore {
    pub(crate) fn membership_puts(
        &self,
        tenant: &str,
        membership: &Membership,
        condition: Condition,
    ) -> anyhow::Result<Vec<WriteOp>> {
        let (ws, user) = (&membership.workspace_id, &membership.user_id);
        Ok(vec![
            WriteOp::Put { item: item(keys::member(tenant, ws, user), membership, membership.version)?, condition },
            WriteOp::Put {
                item: item(keys::access_member(tenant, user, ws), membership, 0)?,
                condition: Condition::Always,
            },
        ])
    }

    pub async fn member(&self, tenant: &str, ws: &str, user: &str) -> anyhow::Result<Option<Membership>> {
        self.read(&keys::member(tenant, ws, user)).await
    }

    pub async fn members(
        &self,
        tenant: &str,
        ws: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<Membership>, StoreFailure> {
        self.page(keys::inside(tenant, ws), "MEMBER#", limit, cursor).await
    }

    /// Adds a member (`AlreadyExists` if they are one).
    pub async fn add_member(&self, tenant: &str, membership: &Membership) -> Result<(), StoreFailure> {
        let ops = self.membership_puts(tenant, membership, Condition::MustNotExist)?;
        self.table().transact(ops).await.map_err(|e| match e {
            StoreError::ConditionFailed => StoreFailure::AlreadyExists,
            other => other.into(),
        })
    }

    /// Changes a member's role if nobody changed the membership since it was read.
    pub async fn update_member(&self, tenant: &str, membership: &Membership) -> Result<Membership, StoreFailure> {
        let ops = self.membership_puts(tenant, membership, Condition::VersionIs(membership.version))?;
        self.table().transact(ops).await?;
        Ok(Membership { version: membership.version + 1, ..membership.clone() })
    }

    pub async fn remove_member(&self, tenant: &str, membership: &Membership) -> Result<(), StoreFailure> {
        let (ws, user) = (&membership.workspace_id, &membership.user_id);
        let ops = vec![
            WriteOp::Delete {
                key: keys::member(tenant, ws, user),
                condition: Condition::VersionIs(membership.version),
            },
            WriteOp::Delete { key: keys::access_member(tenant, user, ws), condition: Condition::Always },
        ];
        Ok(self.table().transact(ops).await?)
    }

    /// Everything `user` holds in `tenant`: memberships and grants (one partition).
    pub async fn user_access(&self, tenant: &str, user: &str) -> anyhow::Result<UserAccess> {
        let items = self.table().query(storage::table::Query::partition(keys::access(tenant, user)).limit(1000));
        let page = items.await.map_err(anyhow::Error::new)?;
        let mut access = UserAccess::default();
        for item in &page.items {
            if item.key.sk.starts_with("MEMBER#") {
                access.memberships.push(super::decode(item)?);
            } else if item.key.sk.starts_with("GRANT#") {
                access.grants.push(super::decode(item)?);
            }
        }
        if page.next_cursor.is_some() {
            // More than 1,000 memberships and grants for one user: read the rest rather than decide on part.
            let memberships = self.all(keys::access(tenant, user), "MEMBER#").await?;
            let grants = self.all(keys::access(tenant, user), "GRANT#").await?;
            return Ok(UserAccess { memberships, grants });
        }
        Ok(access)
    }

    /// Removes every membership and grant of `user` in `tenant` (the user left the tenant).
    pub async fn forget_user(&self, tenant: &str, user: &str) -> anyhow::Result<()> {
        let access = self.user_access(tenant, user).await?;
        let mut deletes = Vec::new();
        for m in &access.memberships {
            deletes.push(keys::member(tenant, &m.workspace_id, user));
            deletes.push(keys::access_member(tenant, user, &m.workspace_id));
        }
        for g in &access.grants {
            deletes.push(keys::grant(tenant, &g.id));
            deletes.push(keys::access_grant(tenant, user, &g.id));
        }
        for chunk in deletes.chunks(25) {
            let ops = chunk.iter().map(|key| WriteOp::Delete { key: key.clone(), condition: Condition::Always });
            self.table().transact(ops.collect()).await.map_err(anyhow::Error::new)?;
        }
        Ok(())
    }

    pub async fn grant(&self, tenant: &str, id: &str) -> anyhow::Result<Option<GrantRecord>> {
        self.read(&keys::grant(tenant, id)).await
    }

    pub async fn grants(
        &self,
        tenant: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<GrantRecord>, StoreFailure> {
        self.page(keys::grants(tenant), "GRANT#", limit, cursor).await
    }

    pub async fn all_grants(&self, tenant: &str) -> anyhow::Result<Vec<GrantRecord>> {
        self.all(keys::grants(tenant), "GRANT#").await
    }

    pub async fn create_grant(&self, tenant: &str, grant: &GrantRecord) -> Result<(), StoreFailure> {
        let ops = vec![
            WriteOp::Put { item: item(keys::grant(tenant, &grant.id), grant, 0)?, condition: Condition::MustNotExist },
            WriteOp::Put {
                item: item(keys::access_grant(tenant, &grant.user_id, &grant.id), grant, 0)?,
                condition: Condition::MustNotExist,
            },
        ];
        Ok(self.table().transact(ops).await?)
    }

    pub async fn delete_grant(&self, tenant: &str, grant: &GrantRecord) -> Result<(), StoreFailure> {
        let ops = vec![
            WriteOp::Delete { key: keys::grant(tenant, &grant.id), condition: Condition::VersionIs(grant.version) },
            WriteOp::Delete {
                key: keys::access_grant(tenant, &grant.user_id, &grant.id),
                condition: Condition::Always,
            },
        ];
        Ok(self.table().transact(ops).await?)
    }

    pub async fn role(&self, tenant: &str, id: &str) -> anyhow::Result<Option<CustomRole>> {
        self.read(&keys::role(tenant, id)).await
    }

    pub async fn roles(
        &self,
        tenant: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<CustomRole>, StoreFailure> {
        self.page(keys::roles(tenant), "ROLE#", limit, cursor).await
    }

    pub async fn all_roles(&self, tenant: &str) -> anyhow::Result<Vec<CustomRole>> {
        self.all(keys::roles(tenant), "ROLE#").await
    }

    /// Creates (version 0) or updates (the version read) a custom role.
    pub async fn put_role(&self, tenant: &str, role: &CustomRole) -> Result<CustomRole, StoreFailure> {
        let stored = self.table().update(item(keys::role(tenant, &role.id), role, role.version)?).await?;
        Ok(CustomRole { version: stored.version, ..role.clone() })
    }

    pub async fn delete_role(&self, tenant: &str, role: &CustomRole) -> Result<(), StoreFailure> {
        Ok(self.table().delete(&keys::role(tenant, &role.id), Condition::VersionIs(role.version)).await?)
    }
}
