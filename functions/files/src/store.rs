//! The files table (logical name `files`), through the table port, with its outbox.
//!
//! | item | pk | sk | index (gsi1) | TTL |
//! |---|---|---|---|---|
//! | file | `{tenant}#FILE` | `{file}` | `{tenant}#FILEWS#{workspace}` / `{file}` | expired: 1 day; rejected: 7 days |
//! | storage use | `{tenant}#FILEUSE` | `bytes` | — | — |
//!
//! Storage use counts the declared size of every file whose `counted` is set: from its declaration (the bytes
//! are reserved before the upload URL is given) until it is rejected, expires or is deleted. The count and the
//! file change in one transaction, guarded by both versions, so the count never drifts.

use std::sync::Arc;

use serde_json::{Value, json};
use storage::StoreError;
use storage::table::{Condition, Item, Key, Query, Table, WriteOp};

pub use platform::records::{Listing, StoreFailure, StoreResult};
use platform::records::{decode, encode};

use crate::model::{FileRecord, Status};

pub const TABLE: &str = "files";
const EXPIRED_KEPT_SECS: i64 = 86_400;
const REJECTED_KEPT_SECS: i64 = 7 * 86_400;
/// Optimistic rounds before a write under contention gives up (409).
const ATTEMPTS: usize = 8;

/// What a declaration came to.
#[derive(Debug)]
pub enum Declared {
    Stored(Box<FileRecord>),
    /// The plan's storage would be exceeded: what it allows and what is in use.
    OverLimit {
        allowed: u64,
        used: u64,
    },
}

/// What happens to a counted file when its bytes stop counting.
pub enum Settle {
    /// Keep the record, with this new state (`counted` is cleared).
    Save(Box<FileRecord>),
    Delete,
}

#[derive(Clone)]
pub struct FileStore {
    table: Arc<dyn Table>,
}

fn file_key(tenant: &str, id: &str) -> Key {
    Key::new(format!("{tenant}#FILE"), id)
}

fn usage_key(tenant: &str) -> Key {
    Key::new(format!("{tenant}#FILEUSE"), "bytes")
}

fn item_of(file: &FileRecord) -> anyhow::Result<Item> {
    let mut item = Item::new(file_key(&file.tenant_id, &file.id), encode(file)?);
    item.index = Some(Key::new(format!("{}#FILEWS#{}", file.tenant_id, file.workspace_id), &file.id));
    item.version = file.version;
    let kept = match file.status {
        Status::Expired => Some(EXPIRED_KEPT_SECS),
        Status::Rejected => Some(REJECTED_KEPT_SECS),
        _ => None,
    };
    item.expires_at = kept.map(|secs| file.updated_at_ms / 1000 + secs);
    Ok(item)
}

fn file_of(item: Item) -> anyhow::Result<FileRecord> {
    let (file, version): (FileRecord, u64) = decode(item)?;
    Ok(FileRecord { version, ..file })
}

impl FileStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The tenant's storage use in bytes, and the version of its counter (0: none yet).
    async fn usage(&self, tenant: &str) -> StoreResult<(u64, u64)> {
        let item = self.table.get(&usage_key(tenant)).await?;
        Ok(item.map_or((0, 0), |i| (i.attrs.get("bytes").and_then(Value::as_u64).unwrap_or(0), i.version)))
    }

    pub async fn used_bytes(&self, tenant: &str) -> StoreResult<u64> {
        Ok(self.usage(tenant).await?.0)
    }

    fn counter(tenant: &str, bytes: u64, version: u64) -> StoreResult<WriteOp> {
        let mut item = Item::new(usage_key(tenant), encode(&json!({ "bytes": bytes }))?);
        item.version = version;
        let condition = if version == 0 { Condition::MustNotExist } else { Condition::VersionIs(version) };
        Ok(WriteOp::Put { item, condition })
    }

    /// Stores a new (pending, counted) file and reserves its size, unless that would pass `allowed` bytes.
    pub async fn declare(&self, file: &FileRecord, allowed: u64) -> StoreResult<Declared> {
        for _ in 0..ATTEMPTS {
            let (used, version) = self.usage(&file.tenant_id).await?;
            if used.saturating_add(file.size) > allowed {
                return Ok(Declared::OverLimit { allowed, used });
            }
            let ops = vec![
                WriteOp::Put { item: item_of(file)?, condition: Condition::MustNotExist },
                Self::counter(&file.tenant_id, used + file.size, version)?,
            ];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Declared::Stored(Box::new(FileRecord { version: 1, ..file.clone() }))),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }

    pub async fn file(&self, tenant: &str, id: &str) -> StoreResult<Option<FileRecord>> {
        match self.table.get(&file_key(tenant, id)).await? {
            Some(item) => Ok(Some(file_of(item)?)),
            None => Ok(None),
        }
    }

    /// Writes the file back if nobody wrote it since it was read (else [`StoreFailure::Conflict`]).
    pub async fn save(&self, file: &FileRecord) -> StoreResult<FileRecord> {
        let stored = self.table.update(item_of(file)?).await?;
        Ok(FileRecord { version: stored.version, ..file.clone() })
    }

    /// Stops counting `file` (as read, at its version): saves its new state or deletes it, and takes its size
    /// off the tenant's use, in one transaction. [`StoreFailure::Conflict`] if the file changed since.
    pub async fn settle(&self, file: &FileRecord, settle: Settle) -> StoreResult<()> {
        let change = match &settle {
            Settle::Save(next) => {
                let mut item = item_of(&FileRecord { counted: false, ..(**next).clone() })?;
                item.version = file.version;
                WriteOp::Put { item, condition: Condition::VersionIs(file.version) }
            }
            Settle::Delete => WriteOp::Delete {
                key: file_key(&file.tenant_id, &file.id),
                condition: Condition::VersionIs(file.version),
            },
        };
        if !file.counted {
            return Ok(self.table.transact(vec![change]).await?);
        }
        for _ in 0..ATTEMPTS {
            let (used, version) = self.usage(&file.tenant_id).await?;
            let ops = vec![change.clone(), Self::counter(&file.tenant_id, used.saturating_sub(file.size), version)?];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => {
                    // The file itself changed: the caller must read it again.
                    let current = self.table.get(&file_key(&file.tenant_id, &file.id)).await?;
                    if current.is_none_or(|c| c.version != file.version) {
                        return Err(StoreFailure::Conflict);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }

    /// The tenant's files (in one workspace, when given), oldest first.
    pub async fn list(
        &self,
        tenant: &str,
        workspace: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<FileRecord>> {
        let query = match workspace {
            Some(ws) => Query::partition(format!("{tenant}#FILEWS#{ws}")).on_index(),
            None => Query::partition(format!("{tenant}#FILE")),
        };
        let page = self.table.query(query.limit(limit).cursor(cursor)).await?;
        let items = page.items.into_iter().map(file_of).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }
}
