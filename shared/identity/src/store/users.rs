//! Users and tenants: creation with a unique email, lookups, version-checked updates, cascading deletes.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use storage::StoreError;
use storage::table::{Condition, Item, Query, WriteOp};

use super::{IdentityStore, Listing, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::{Tenant, User, UserStatus};

/// A user at rest (everything but the version, which the port keeps).
#[derive(Serialize, Deserialize)]
struct Stored {
    user_id: String,
    tenant_id: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    roles: Vec<String>,
    status: UserStatus,
    password_hash: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, Deserialize)]
struct EmailClaim {
    user_id: String,
    tenant_id: String,
}

pub(super) fn user_item(user: &User) -> anyhow::Result<Item> {
    let stored = Stored {
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        roles: user.roles.clone(),
        status: user.status,
        password_hash: user.password_hash.expose_secret().to_string(),
        created_at: user.created_at.clone(),
        updated_at: user.updated_at.clone(),
    };
    let mut item = Item::new(keys::user(&user.tenant_id, &user.id), to_attrs(&stored)?);
    item.index = Some(keys::user_index(&user.id));
    item.version = user.version;
    Ok(item)
}

fn user_from(item: &Item) -> anyhow::Result<User> {
    let s: Stored = from_attrs(item)?;
    Ok(User {
        id: s.user_id,
        tenant_id: s.tenant_id,
        email: s.email,
        first_name: s.first_name,
        last_name: s.last_name,
        roles: s.roles,
        status: s.status,
        password_hash: SecretString::from(s.password_hash),
        created_at: s.created_at,
        updated_at: s.updated_at,
        version: item.version,
    })
}

pub(super) fn email_claim(user: &User) -> anyhow::Result<Item> {
    let claim = EmailClaim { user_id: user.id.clone(), tenant_id: user.tenant_id.clone() };
    Ok(Item::new(keys::email(&user.email), to_attrs(&claim)?))
}

/// The writes creating a tenant and its first user, claiming the email (each must not exist).
pub(super) fn account_ops(tenant: &Tenant, user: &User) -> anyhow::Result<Vec<WriteOp>> {
    let tenant_item = Item::new(keys::tenant(&tenant.tenant_id), to_attrs(tenant)?);
    Ok(vec![
        WriteOp::Put { item: tenant_item, condition: Condition::MustNotExist },
        WriteOp::Put { item: user_item(user)?, condition: Condition::MustNotExist },
        WriteOp::Put { item: email_claim(user)?, condition: Condition::MustNotExist },
    ])
}

impl IdentityStore {
    /// Creates a tenant and its first user, claiming the email; all or nothing.
    pub async fn create_account(&self, tenant: &Tenant, user: &User) -> Result<(), StoreFailure> {
        match self.table.transact(account_ops(tenant, user)?).await {
            // Tenant and user ids are fresh UUIDs: only the email claim can already exist.
            Err(StoreError::ConditionFailed) => Err(StoreFailure::EmailTaken),
            other => Ok(other.context("Failed to create an account")?),
        }
    }

    pub async fn user(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<Option<User>> {
        let item = self.table.get(&keys::user(tenant_id, user_id)).await.context("Failed to read a user")?;
        item.as_ref().map(user_from).transpose()
    }

    /// A user of any tenant (platform admin): the index says where, the base table gives the current item.
    pub async fn user_in_any_tenant(&self, user_id: &str) -> anyhow::Result<Option<User>> {
        let query = Query::partition(keys::USERS_INDEX).on_index().between(user_id, user_id).limit(1);
        let page = self.table.query(query).await.context("Failed to look a user up by id")?;
        let Some(found) = page.items.first() else { return Ok(None) };
        let tenant_id: String = from_attrs::<Stored>(found)?.tenant_id;
        self.user(&tenant_id, user_id).await
    }

    pub async fn user_by_email(&self, email: &str) -> anyhow::Result<Option<User>> {
        let claim = self.table.get(&keys::email(email)).await.context("Failed to read an email claim")?;
        let Some(claim) = claim else { return Ok(None) };
        let claim: EmailClaim = from_attrs(&claim)?;
        self.user(&claim.tenant_id, &claim.user_id).await
    }

    /// One tenant's users, or (no tenant) every user of every tenant, oldest first.
    pub async fn list_users(
        &self,
        tenant_id: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<User>, StoreFailure> {
        let query = match tenant_id {
            Some(tenant) => Query::partition(keys::users_partition(tenant)).prefix("USER#"),
            None => Query::partition(keys::USERS_INDEX).on_index(),
        };
        let page = self.table.query(query.limit(limit).cursor(cursor)).await?;
        let items = page.items.iter().map(user_from).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// Stores `user` if nobody wrote it since `user.version` was read; moves the email claim when the
    /// email changed. Returns the user as stored.
    pub async fn update_user(&self, user: &User, previous_email: &str) -> Result<User, StoreFailure> {
        self.update_user_with(user, previous_email, Vec::new()).await
    }

    /// [`Self::update_user`] with `more` writes in the same transaction (their condition failing reads as
    /// `VersionConflict` unless the user is unchanged: then as `EmailTaken`).
    pub(super) async fn update_user_with(
        &self,
        user: &User,
        previous_email: &str,
        more: Vec<WriteOp>,
    ) -> Result<User, StoreFailure> {
        let item = user_item(user)?;
        let result = if user.email == previous_email && more.is_empty() {
            self.table.update(item).await.map(|_| ())
        } else {
            let mut ops = vec![WriteOp::Put { item, condition: Condition::VersionIs(user.version) }];
            if user.email != previous_email {
                ops.push(WriteOp::Delete { key: keys::email(previous_email), condition: Condition::Always });
                ops.push(WriteOp::Put { item: email_claim(user)?, condition: Condition::MustNotExist });
            }
            ops.extend(more);
            self.table.transact(ops).await
        };
        match result {
            Ok(()) => Ok(User { version: user.version + 1, ..user.clone() }),
            Err(StoreError::ConditionFailed) => {
                let current = self.user(&user.tenant_id, &user.id).await?;
                match current {
                    Some(current) if current.version == user.version => Err(StoreFailure::EmailTaken),
                    _ => Err(StoreFailure::VersionConflict),
                }
            }
            Err(e) => Err(anyhow::Error::new(e).context("Failed to update a user").into()),
        }
    }

    /// Deletes the user and frees the email at once (from then on login, tokens and API keys fail: each
    /// path reads the user), then removes the user's sessions and API keys.
    pub async fn delete_user(&self, user: &User) -> anyhow::Result<()> {
        let ops = vec![
            WriteOp::Delete { key: keys::user(&user.tenant_id, &user.id), condition: Condition::Always },
            WriteOp::Delete { key: keys::email(&user.email), condition: Condition::Always },
        ];
        self.table.transact(ops).await.context("Failed to delete a user")?;
        self.delete_owned_items(&user.tenant_id, &user.id).await
    }

    async fn delete_owned_items(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<()> {
        let partition = keys::owned_partition(tenant_id, user_id);
        loop {
            // Always the first page: each round deletes what the previous query returned.
            let page = self.table.query(Query::partition(partition.clone()).limit(40)).await?;
            if page.items.is_empty() {
                return Ok(());
            }
            let mut ops = Vec::with_capacity(page.items.len() * 2);
            for item in &page.items {
                if item.key.sk.starts_with("APIKEY#") {
                    let hash = from_attrs::<crate::ApiKey>(item)?.hash;
                    ops.push(WriteOp::Delete { key: keys::api_key_lookup(&hash), condition: Condition::Always });
                }
                ops.push(WriteOp::Delete { key: item.key.clone(), condition: Condition::Always });
            }
            self.table.transact(ops).await.context("Failed to delete a user's sessions and API keys")?;
        }
    }
}
