//! The workspaces table (logical name `workspaces`), through the table port. No secondary index: every
//! listing and every access decision reads one partition, strongly consistent on DynamoDB too, so a removed
//! member or grant stops at once.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | workspace | `{tenant}#WS` | `WS#{workspace}` |
//! | demo marker (runner) | `{tenant}#WS` | `DEMO` |
//! | project | `{tenant}#WS#{workspace}` | `PROJECT#{project}` |
//! | connection | `{tenant}#WS#{workspace}` | `CONN#{connection}` |
//! | member (listing) | `{tenant}#WS#{workspace}` | `MEMBER#{user}` |
//! | linked base (listing) | `{tenant}#WS#{workspace}` | `BASE#{base}` |
//! | member (decisions) | `{tenant}#ACCESS#{user}` | `MEMBER#{workspace}` |
//! | grant (decisions) | `{tenant}#ACCESS#{user}` | `GRANT#{grant}` |
//! | grant (listing) | `{tenant}#GRANTS` | `GRANT#{grant}` |
//! | linked base (resolution) | `{tenant}#BASES` | `BASE#{base}` |
//! | custom role | `{tenant}#ROLES` | `ROLE#{role}` |
//!
//! The pairs (listing, decisions) are written in one transaction. A user's whole access in a tenant is one
//! partition (`{tenant}#ACCESS#{user}`): one query per decision.

pub mod access_items;
mod bases;
pub mod changes;
mod connections;
mod extra;
mod workspaces;

use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use storage::StoreError;
use storage::table::{Attributes, Item, Key, Query, Table};

pub use bases::LinkOutcome;
pub use connections::OAuthPending;

#[derive(Clone)]
pub struct TenancyStore {
    table: Arc<dyn Table>,
}

/// What callers branch on; everything else is unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    #[error("it already exists")]
    AlreadyExists,
    #[error("the record changed since it was read")]
    VersionConflict,
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for StoreFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => Self::InvalidCursor,
            StoreError::ConditionFailed => Self::VersionConflict,
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<StoreFailure> for platform::ApiError {
    fn from(e: StoreFailure) -> Self {
        match e {
            StoreFailure::AlreadyExists => platform::ApiError::conflict("already_exists", "It already exists"),
            StoreFailure::VersionConflict => platform::ApiError::conflict(
                "version_conflict",
                "It changed since you read it; read it again and retry",
            ),
            StoreFailure::InvalidCursor => platform::pagination::invalid_cursor(),
            StoreFailure::Unexpected(e) => platform::ApiError::Unexpected(e),
        }
    }
}

pub use platform::records::Listing;

/// A record of the table: encoded as the item's attributes, its version carried beside.
pub(crate) trait Record: Serialize + DeserializeOwned {
    fn set_version(&mut self, version: u64);
}

macro_rules! record {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}
record!(
    crate::Workspace,
    crate::Project,
    crate::Membership,
    crate::Connection,
    crate::BaseLink,
    crate::CustomRole,
    crate::GrantRecord
);

impl TenancyStore {
    /// Every write through the store moves its tenant's [`changes::epoch`] on.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table: Arc::new(changes::Noting(table)) }
    }

    pub(crate) async fn read<T: Record>(&self, key: &Key) -> anyhow::Result<Option<T>> {
        let item = self.table.get(key).await.with_context(|| format!("Failed to read {}/{}", key.pk, key.sk))?;
        item.map(|item| decode(&item)).transpose()
    }

    pub(crate) async fn page<T: Record>(
        &self,
        partition: String,
        prefix: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<T>, StoreFailure> {
        let query = Query::partition(partition).prefix(prefix).limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.iter().map(decode).collect::<anyhow::Result<Vec<T>>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// Every item of a partition under `prefix` (bounded partitions only: a user's access, a tenant's links).
    pub(crate) async fn all<T: Record>(&self, partition: String, prefix: &str) -> anyhow::Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(partition.clone()).prefix(prefix).limit(100).cursor(cursor);
            let page = self.table.query(query).await.with_context(|| format!("Failed to read {partition}"))?;
            for item in &page.items {
                items.push(decode(item)?);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Every key of a partition (for deletions).
    pub(crate) async fn keys(&self, partition: String) -> anyhow::Result<Vec<Key>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(partition.clone()).limit(100).cursor(cursor);
            let page = self.table.query(query).await.with_context(|| format!("Failed to read {partition}"))?;
            keys.extend(page.items.into_iter().map(|item| item.key));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    pub(crate) fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }
}

pub(crate) mod keys {
    use storage::table::Key;

    pub fn workspaces(tenant: &str) -> String {
        format!("{tenant}#WS")
    }
    pub fn workspace(tenant: &str, ws: &str) -> Key {
        Key::new(workspaces(tenant), format!("WS#{ws}"))
    }
    pub fn demo_marker(tenant: &str) -> Key {
        Key::new(workspaces(tenant), "DEMO")
    }
    /// Everything inside a workspace: projects, connections, members, linked bases.
    pub fn inside(tenant: &str, ws: &str) -> String {
        format!("{tenant}#WS#{ws}")
    }
    pub fn project(tenant: &str, ws: &str, project: &str) -> Key {
        Key::new(inside(tenant, ws), format!("PROJECT#{project}"))
    }
    pub fn connection(tenant: &str, ws: &str, connection: &str) -> Key {
        Key::new(inside(tenant, ws), format!("CONN#{connection}"))
    }
    pub fn member(tenant: &str, ws: &str, user: &str) -> Key {
        Key::new(inside(tenant, ws), format!("MEMBER#{user}"))
    }
    pub fn workspace_base(tenant: &str, ws: &str, base: &str) -> Key {
        Key::new(inside(tenant, ws), format!("BASE#{base}"))
    }
    pub fn access(tenant: &str, user: &str) -> String {
        format!("{tenant}#ACCESS#{user}")
    }
    pub fn access_member(tenant: &str, user: &str, ws: &str) -> Key {
        Key::new(access(tenant, user), format!("MEMBER#{ws}"))
    }
    pub fn access_grant(tenant: &str, user: &str, grant: &str) -> Key {
        Key::new(access(tenant, user), format!("GRANT#{grant}"))
    }
    pub fn grants(tenant: &str) -> String {
        format!("{tenant}#GRANTS")
    }
    pub fn grant(tenant: &str, grant: &str) -> Key {
        Key::new(grants(tenant), format!("GRANT#{grant}"))
    }
    pub fn bases(tenant: &str) -> String {
        format!("{tenant}#BASES")
    }
    pub fn base(tenant: &str, base: &str) -> Key {
        Key::new(bases(tenant), format!("BASE#{base}"))
    }
    pub fn roles(tenant: &str) -> String {
        format!("{tenant}#ROLES")
    }
    pub fn role(tenant: &str, role: &str) -> Key {
        Key::new(roles(tenant), format!("ROLE#{role}"))
    }
}

pub(crate) fn to_attrs<T: Serialize>(value: &T) -> anyhow::Result<Attributes> {
    match serde_json::to_value(value).context("Failed to encode a record")? {
        serde_json::Value::Object(map) => Ok(map),
        _ => anyhow::bail!("a record must encode as an object"),
    }
}

pub(crate) fn decode<T: Record>(item: &Item) -> anyhow::Result<T> {
    let mut record: T = serde_json::from_value(serde_json::Value::Object(item.attrs.clone()))
        .with_context(|| format!("Failed to decode the record at {}/{}", item.key.pk, item.key.sk))?;
    record.set_version(item.version);
    Ok(record)
}

/// An item for `record` at `key`, carrying the version read (the write stores version + 1).
pub(crate) fn item<T: Serialize>(key: Key, record: &T, version: u64) -> anyhow::Result<Item> {
    let mut item = Item::new(key, to_attrs(record)?);
    item.version = version;
    Ok(item)
}
