//! A workspace's Airtable connections. Deleting one unlinks every base linked through it, in the same
//! transaction when they fit.

use storage::table::{Condition, WriteOp};

use super::{Listing, StoreFailure, TenancyStore, item, keys};
use crate::records::{BaseLink, Connection};

impl TenancyStore {
    pub async fn connection(&self, tenant: &str, ws: &str, id: &str) -> anyhow::Result<Option<Connection>> {
        self.read(&keys::connection(tenant, ws, id)).await
    }

    pub async fn connections(
        &self,
        tenant: &str,
        ws: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<Connection>, StoreFailure> {
        self.page(keys::inside(tenant, ws), "CONN#", limit, cursor).await
    }

    /// Creates (version 0) or updates (the version read: an OAuth refresh stores the rotated tokens only if
    /// no other refresh did first) a connection.
    pub async fn put_connection(&self, tenant: &str, connection: &Connection) -> Result<Connection, StoreFailure> {
        let key = keys::connection(tenant, &connection.workspace_id, &connection.id);
        let stored = self.table().update(item(key, connection, connection.version)?).await?;
        Ok(Connection { version: stored.version, ..connection.clone() })
    }

    pub async fn delete_connection(&self, tenant: &str, connection: &Connection) -> Result<(), StoreFailure> {
        let ws = &connection.workspace_id;
        let links: Vec<BaseLink> = self.all(keys::inside(tenant, ws), "BASE#").await?;
        let mut ops = vec![WriteOp::Delete {
            key: keys::connection(tenant, ws, &connection.id),
            condition: Condition::VersionIs(connection.version),
        }];
        for link in links.iter().filter(|l| l.connection_id == connection.id) {
            ops.push(WriteOp::Delete { key: keys::base(tenant, &link.base_id), condition: Condition::Always });
            ops.push(WriteOp::Delete {
                key: keys::workspace_base(tenant, ws, &link.base_id),
                condition: Condition::Always,
            });
        }
        // At most 100 writes a transaction, one kept for the outbox item of an event committed with the first.
        let mut batches = ops.chunks(storage::table::MAX_TRANSACTION_ITEMS - 1);
        if let Some(first) = batches.next() {
            self.table().transact(first.to_vec()).await?;
        }
        for batch in batches {
            self.table().transact(batch.to_vec()).await?;
        }
        Ok(())
    }
}

/// An OAuth flow in progress: started by a workspace's connection manager, finished by Airtable's redirect to
/// the public callback. Keyed by a hash of the `state` (the state itself is the browser's), single use,
/// expiring after 10 minutes.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OAuthPending {
    pub tenant_id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub label: String,
    /// The PKCE verifier, kept here until the code arrives (useless without the code, which only Airtable's
    /// redirect carries).
    pub code_verifier: String,
    #[serde(skip)]
    pub version: u64,
}

impl super::Record for OAuthPending {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

fn oauth_key(state_hash: &str) -> storage::table::Key {
    storage::table::Key::new(format!("OAUTH#{state_hash}"), "OAUTH")
}

impl TenancyStore {
    pub async fn put_oauth_pending(
        &self,
        state_hash: &str,
        pending: &OAuthPending,
        expires_at: i64,
    ) -> Result<(), StoreFailure> {
        let mut record = item(oauth_key(state_hash), pending, 0)?;
        record.expires_at = Some(expires_at);
        self.table().put(record, Condition::MustNotExist).await?;
        Ok(())
    }

    /// The pending flow for this state, removed as it is read (a second callback with the same state finds
    /// nothing).
    pub async fn take_oauth_pending(&self, state_hash: &str) -> anyhow::Result<Option<OAuthPending>> {
        let Some(pending) = self.read::<OAuthPending>(&oauth_key(state_hash)).await? else { return Ok(None) };
        match self.table().delete(&oauth_key(state_hash), Condition::VersionIs(pending.version)).await {
            Ok(()) => Ok(Some(pending)),
            Err(storage::StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)),
        }
    }

    /// How many connections the tenant holds across its workspaces (the plan's `airtable_connections`).
    pub async fn count_connections(&self, tenant: &str) -> anyhow::Result<u64> {
        let mut count = 0;
        for workspace in self.all_workspaces(tenant).await? {
            count += self.all::<Connection>(keys::inside(tenant, &workspace.id), "CONN#").await?.len() as u64;
        }
        Ok(count)
    }
}
