//! The table port: the DynamoDB subset the services need.
//!
//! Items live in partitions (`pk`) ordered by sort key (`sk`). One optional secondary index (`gsi1`)
//! is addressed through [`Item::index`]. Every key that holds tenant data starts with the tenant id.
//!
//! Semantics both adapters share (and the conformance suite checks):
//! - `version` is the optimistic lock: a write stores `item.version + 1`; [`Table::update`] demands that
//!   the stored version still equals `item.version`.
//! - An item whose `expires_at` (epoch seconds) has passed is gone to readers and to conditions, even before
//!   the store physically deletes it (DynamoDB's TTL sweeper runs late).
//! - Queries return at most `limit` items; `next_cursor` is `Some` exactly when more items follow.
//! - Reads of the table are strongly consistent; queries on the index are eventually consistent on DynamoDB
//!   (moto and the embedded store answer them at once), so a fresh write may briefly be missing from them.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// Application attributes of an item (everything but keys, version and TTL).
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// Names the adapters reserve; application attributes must not use them.
pub const RESERVED_ATTRIBUTES: [&str; 6] = ["pk", "sk", "gsi1pk", "gsi1sk", "version", "expires_at"];

/// Most write operations in one transaction (DynamoDB's limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// The item's key in the secondary index, when it is indexed.
    pub index: Option<Key>,
    pub attrs: Attributes,
    /// The version read (0 for a new item). Writes store `version + 1`.
    pub version: u64,
    /// Epoch seconds after which the item no longer exists for readers.
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(key: Key, attrs: Attributes) -> Self {
        Self { key, index: None, attrs, version: 0, expires_at: None }
    }

    pub fn is_expired_at(&self, now_secs: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_secs)
    }
}

/// A condition a write demands of the stored item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    MustNotExist,
    MustExist,
    /// The stored item exists with exactly this version.
    VersionIs(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKeyRange {
    All,
    Prefix(String),
    /// Inclusive at both ends.
    Between(String, String),
}

#[derive(Clone, Debug)]
pub struct Query {
    /// The partition: `pk`, or `gsi1pk` when `on_index`.
    pub partition: String,
    pub range: SortKeyRange,
    pub on_index: bool,
    pub descending: bool,
    pub limit: usize,
    /// A cursor from a previous page of the same query.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            partition: partition.into(),
            range: SortKeyRange::All,
            on_index: false,
            descending: false,
            limit: 100,
            cursor: None,
        }
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.range = SortKeyRange::Prefix(prefix.into());
        self
    }

    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.range = SortKeyRange::Between(from.into(), to.into());
        self
    }

    pub fn on_index(mut self) -> Self {
        self.on_index = true;
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// One write inside a transaction.
#[derive(Clone, Debug)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; cancels the transaction unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;

    /// Writes the whole item (storing `item.version + 1`) if `condition` holds; returns what was stored.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item>;

    /// Deletes the item if `condition` holds. Deleting an absent item under `Always` succeeds.
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()>;

    async fn query(&self, query: Query) -> StoreResult<Page>;

    /// All the writes, or none. At most [`MAX_TRANSACTION_ITEMS`], each key at most once.
    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()>;

    /// Reachable and usable (for readiness probes).
    async fn ready(&self) -> StoreResult<()>;

    /// Optimistic update: replaces the item only if nobody wrote it since `item.version` was read
    /// (version 0: only if it does not exist yet).
    async fn update(&self, item: Item) -> StoreResult<Item> {
        let condition = match item.version {
            0 => Condition::MustNotExist,
            v => Condition::VersionIs(v),
        };
        self.put(item, condition).await
    }
}

/// Checks shared by both adapters before a write reaches the store.
pub fn validate_item(item: &Item) -> StoreResult<()> {
    validate_key(&item.key)?;
    if let Some(index) = &item.index {
        validate_key(index)?;
    }
    if let Some(name) = item.attrs.keys().find(|k| RESERVED_ATTRIBUTES.contains(&k.as_str())) {
        return Err(crate::StoreError::Invalid(format!("attribute name {name:?} is reserved")));
    }
    Ok(())
}

pub fn validate_key(key: &Key) -> StoreResult<()> {
    // DynamoDB: partition keys up to 2048 bytes, sort keys up to 1024 bytes, neither empty.
    if key.pk.is_empty() || key.pk.len() > 2048 || key.sk.is_empty() || key.sk.len() > 1024 {
        return Err(crate::StoreError::Invalid("keys must be non-empty (pk ≤ 2048 bytes, sk ≤ 1024 bytes)".into()));
    }
    Ok(())
}

/// Checks shared by both adapters before a transaction reaches the store.
pub fn validate_transaction(ops: &[WriteOp]) -> StoreResult<()> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(crate::StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_ITEMS} writes, not {}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        let key = match op {
            WriteOp::Put { item, .. } => {
                validate_item(item)?;
                &item.key
            }
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => {
                validate_key(key)?;
                key
            }
        };
        if !seen.insert(key) {
            return Err(crate::StoreError::Invalid("a transaction names the same key twice".into()));
        }
    }
    Ok(())
}
