//! The table port on redb, for `cargo run`.
//!
//! Each logical table is three redb tables: the items, the `gsi1` index and an expiry index. Every write
//! touches them in one redb write transaction, and redb runs one write transaction at a time, so a condition
//! checked inside it still holds when it commits: conditions and transactions are atomic for free.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};

use crate::table::{
    Attributes, Condition, Item, Key, Page, Query, SortKeyRange, Table, WriteOp, validate_item, validate_key,
    validate_transaction,
};
use crate::{StoreError, StoreResult, now_secs};

/// Items are keyed `(pk, sk, "", "")` and index entries `(gsi1pk, gsi1sk, pk, sk)`: one key shape lets
/// the base table and the index share the range scan and the cursor format.
type K4 = (&'static str, &'static str, &'static str, &'static str);
type OwnedKey = [String; 4];
/// `(expires_at, pk, sk)`: lets writes sweep expired items, as DynamoDB's TTL sweeper would.
type ExpiryKey = (i64, &'static str, &'static str);

/// Expired items removed per write transaction; keeps any one write cheap.
const SWEEP_BATCH: usize = 64;

/// An item at rest: everything but its key.
#[derive(Serialize, Deserialize)]
struct Record {
    index: Option<Key>,
    attrs: Attributes,
    version: u64,
    expires_at: Option<i64>,
}

impl Record {
    fn live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }

    fn into_item(self, key: Key) -> Item {
        Item { key, index: self.index, attrs: self.attrs, version: self.version, expires_at: self.expires_at }
    }
}

struct Names {
    items: String,
    index: String,
    expiry: String,
}

pub struct EmbeddedTable {
    db: Arc<redb::Database>,
    names: Arc<Names>,
}

impl EmbeddedTable {
    pub fn new(db: Arc<redb::Database>, name: &str) -> Self {
        let names = Names {
            items: format!("table/{name}/items"),
            index: format!("table/{name}/gsi1"),
            expiry: format!("table/{name}/expiry"),
        };
        Self { db, names: Arc::new(names) }
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer<'_>, i64) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (db, names) = (self.db.clone(), self.names.clone());
        blocking(move || {
            let txn = db.begin_write().context("Failed to begin a write transaction")?;
            let out = {
                let mut writer = Writer::open(&txn, &names)?;
                let now = now_secs();
                writer.sweep(now)?;
                f(&mut writer, now)
            };
            match out {
                Ok(value) => {
                    txn.commit().context("Failed to commit a write transaction")?;
                    Ok(value)
                }
                Err(e) => {
                    txn.abort().context("Failed to abort a write transaction")?;
                    Err(e)
                }
            }
        })
        .await
    }

    /// Reads run on the calling task, unlike writes (whose commit waits for the disk): a redb read transaction
    /// never waits for a writer, and a lookup takes microseconds, a fraction of a hop to the blocking pool and
    /// back, which under load costs two context switches per read (infra/bench/RESULTS.md, the runner over HTTP).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader, i64) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let txn = self.db.begin_read().context("Failed to begin a read transaction")?;
        let reader = Reader { items: open_read(&txn, &self.names.items)?, index: open_read(&txn, &self.names.index)? };
        f(&reader, now_secs())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(f).await.context("The embedded table's worker thread failed")?
}

fn holds(condition: Condition, stored: Option<&Record>, now: i64) -> bool {
    let live = stored.filter(|r| r.live(now));
    match condition {
        Condition::Always => true,
        Condition::MustNotExist => live.is_none(),
        Condition::MustExist => live.is_some(),
        Condition::VersionIs(v) => live.is_some_and(|r| r.version == v),
    }
}

/// What a put stores: the item at its next version.
fn next_record(item: &Item) -> StoreResult<Record> {
    let version = item.version.checked_add(1).ok_or_else(|| StoreError::Invalid("version overflow".into()))?;
    Ok(Record { index: item.index.clone(), attrs: item.attrs.clone(), version, expires_at: item.expires_at })
}

#[async_trait]
impl Table for EmbeddedTable {
    #[tracing::instrument(skip_all, fields(table = %self.names.items))]
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate_key(key)?;
        let key = key.clone();
        self.read(move |r, now| Ok(r.load(&key)?.filter(|rec| rec.live(now)).map(|rec| rec.into_item(key)))).await
    }

    #[tracing::instrument(skip_all, fields(table = %self.names.items))]
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
        validate_item(&item)?;
        self.write(move |w, now| {
            let stored = w.load(&item.key)?;
            if !holds(condition, stored.as_ref(), now) {
                return Err(StoreError::ConditionFailed);
            }
            let record = next_record(&item)?;
            w.store(&item.key, &record, stored.as_ref())?;
            Ok(record.into_item(item.key))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(table = %self.names.items))]
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        validate_key(key)?;
        let key = key.clone();
        self.write(move |w, now| {
            let stored = w.load(&key)?;
            if !holds(condition, stored.as_ref(), now) {
                return Err(StoreError::ConditionFailed);
            }
            if let Some(stored) = stored {
                w.remove(&key, &stored)?;
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(table = %self.names.items))]
    async fn query(&self, query: Query) -> StoreResult<Page> {
        let (lo, hi) = bounds(&query)?;
        self.read(move |r, now| r.query(&query, lo, hi, now)).await
    }

    #[tracing::instrument(skip_all, fields(table = %self.names.items))]
    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        validate_transaction(&ops)?;
        self.write(move |w, now| {
            let mut stored = Vec::with_capacity(ops.len());
            for op in &ops {
                let (key, condition) = match op {
                    WriteOp::Put { item, condition } => (&item.key, *condition),
                    WriteOp::Delete { key, condition } | WriteOp::Check { key, condition } => (key, *condition),
                };
                let record = w.load(key)?;
                if !holds(condition, record.as_ref(), now) {
                    return Err(StoreError::ConditionFailed);
                }
                stored.push(record);
            }
            // Keys are distinct (validated), so each loaded record is still current when its op applies.
            for (op, record) in ops.iter().zip(stored) {
                match op {
                    WriteOp::Put { item, .. } => w.store(&item.key, &next_record(item)?, record.as_ref())?,
                    WriteOp::Delete { key, .. } => {
                        if let Some(record) = record {
                            w.remove(key, &record)?;
                        }
                    }
                    WriteOp::Check { .. } => {}
                }
            }
            Ok(())
        })
        .await
    }

    async fn ready(&self) -> StoreResult<()> {
        self.read(|_, _| Ok(())).await
    }
}

fn items_key(key: &Key) -> (&str, &str, &str, &str) {
    (&key.pk, &key.sk, "", "")
}

fn decode(bytes: &[u8]) -> anyhow::Result<Record> {
    serde_json::from_slice(bytes).context("Failed to decode a stored item")
}

fn open_read<V: redb::Value + 'static>(
    txn: &ReadTransaction,
    name: &str,
) -> anyhow::Result<Option<ReadOnlyTable<K4, V>>> {
    match txn.open_table(TableDefinition::<K4, V>::new(name)) {
        Ok(table) => Ok(Some(table)),
        // Nothing was ever written to this table.
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("Failed to open {name}")),
    }
}

struct Writer<'t> {
    items: redb::Table<'t, K4, &'static [u8]>,
    index: redb::Table<'t, K4, ()>,
    expiry: redb::Table<'t, ExpiryKey, ()>,
}

impl<'t> Writer<'t> {
    fn open(txn: &'t redb::WriteTransaction, names: &Names) -> anyhow::Result<Self> {
        Ok(Self {
            items: txn.open_table(TableDefinition::new(&names.items)).context("Failed to open the items")?,
            index: txn.open_table(TableDefinition::new(&names.index)).context("Failed to open the index")?,
            expiry: txn.open_table(TableDefinition::new(&names.expiry)).context("Failed to open the expiry index")?,
        })
    }

    fn load(&self, key: &Key) -> anyhow::Result<Option<Record>> {
        let guard = self.items.get(items_key(key)).context("Failed to read an item")?;
        guard.map(|g| decode(g.value())).transpose()
    }

    /// Writes `record` under `key`, replacing `old` (the record stored there now, if any).
    fn store(&mut self, key: &Key, record: &Record, old: Option<&Record>) -> anyhow::Result<()> {
        if let Some(old) = old {
            self.unindex(key, old)?;
        }
        let bytes = serde_json::to_vec(record).context("Failed to encode an item")?;
        self.items.insert(items_key(key), bytes.as_slice()).context("Failed to write an item")?;
        if let Some(ix) = &record.index {
            let entry = (ix.pk.as_str(), ix.sk.as_str(), key.pk.as_str(), key.sk.as_str());
            self.index.insert(entry, ()).context("Failed to index an item")?;
        }
        if let Some(t) = record.expires_at {
            self.expiry.insert((t, key.pk.as_str(), key.sk.as_str()), ()).context("Failed to index an expiry")?;
        }
        Ok(())
    }

    fn remove(&mut self, key: &Key, old: &Record) -> anyhow::Result<()> {
        self.unindex(key, old)?;
        self.items.remove(items_key(key)).context("Failed to delete an item")?;
        Ok(())
    }

    fn unindex(&mut self, key: &Key, old: &Record) -> anyhow::Result<()> {
        if let Some(ix) = &old.index {
            let entry = (ix.pk.as_str(), ix.sk.as_str(), key.pk.as_str(), key.sk.as_str());
            self.index.remove(entry).context("Failed to unindex an item")?;
        }
        if let Some(t) = old.expires_at {
            self.expiry.remove((t, key.pk.as_str(), key.sk.as_str())).context("Failed to unindex an expiry")?;
        }
        Ok(())
    }

    /// Physically deletes a few expired items (readers already ignore them).
    fn sweep(&mut self, now: i64) -> anyhow::Result<()> {
        let mut due = Vec::new();
        let until = (now.saturating_add(1), "", "");
        for entry in self.expiry.range(..until).context("Failed to scan expiries")?.take(SWEEP_BATCH) {
            let (k, _) = entry.context("Failed to scan expiries")?;
            let (_, pk, sk) = k.value();
            due.push(Key::new(pk, sk));
        }
        for key in due {
            if let Some(record) = self.load(&key)? {
                self.remove(&key, &record)?;
            }
        }
        Ok(())
    }
}

struct Reader {
    items: Option<ReadOnlyTable<K4, &'static [u8]>>,
    index: Option<ReadOnlyTable<K4, ()>>,
}

impl Reader {
    fn load(&self, key: &Key) -> anyhow::Result<Option<Record>> {
        let Some(items) = &self.items else {
            return Ok(None);
        };
        let guard = items.get(items_key(key)).context("Failed to read an item")?;
        guard.map(|g| decode(g.value())).transpose()
    }

    fn query(&self, q: &Query, mut lo: Bound<OwnedKey>, mut hi: Bound<OwnedKey>, now: i64) -> StoreResult<Page> {
        if let Some(cursor) = &q.cursor {
            let after = decode_cursor(cursor, q.on_index, &lo, &hi)?;
            if q.descending {
                hi = Bound::Excluded(after);
            } else {
                lo = Bound::Excluded(after);
            }
        }
        // One more than a page, to know whether another page follows.
        let mut found: Vec<(Item, OwnedKey)> = Vec::with_capacity(q.limit.saturating_add(1).min(1024));
        let mut visit = |k: (&str, &str, &str, &str), record: Option<Record>, key: Key| {
            if let Some(record) = record.filter(|r| r.live(now)) {
                found.push((record.into_item(key), [k.0, k.1, k.2, k.3].map(str::to_owned)));
            }
            found.len() <= q.limit
        };
        match (q.on_index, &self.items, &self.index) {
            (false, Some(items), _) => {
                scan(items, &lo, &hi, q.descending, |k, v| Ok(visit(k, Some(decode(v)?), Key::new(k.0, k.1))))?
            }
            (true, Some(_), Some(index)) => scan(index, &lo, &hi, q.descending, |k, ()| {
                let key = Key::new(k.2, k.3);
                Ok(visit(k, self.load(&key)?, key))
            })?,
            _ => {}
        }
        let next_cursor = if found.len() > q.limit {
            found.truncate(q.limit);
            found.last().map(|(_, k)| encode_cursor(q.on_index, k))
        } else {
            None
        };
        Ok(Page { items: found.into_iter().map(|(item, _)| item).collect(), next_cursor })
    }
}

/// Visits the keys in `[lo, hi]` in order until `visit` says stop.
fn scan<V: redb::Value + 'static>(
    table: &ReadOnlyTable<K4, V>,
    lo: &Bound<OwnedKey>,
    hi: &Bound<OwnedKey>,
    descending: bool,
    mut visit: impl FnMut((&str, &str, &str, &str), V::SelfType<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let range = table.range((borrowed(lo), borrowed(hi))).context("Failed to scan a table")?;
    let entries: Box<dyn Iterator<Item = _>> = if descending { Box::new(range.rev()) } else { Box::new(range) };
    for entry in entries {
        let (k, v) = entry.context("Failed to scan a table")?;
        if !visit(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

fn borrowed(bound: &Bound<OwnedKey>) -> Bound<(&str, &str, &str, &str)> {
    bound.as_ref().map(|k| (k[0].as_str(), k[1].as_str(), k[2].as_str(), k[3].as_str()))
}

/// The key range a query covers, before its cursor.
fn bounds(q: &Query) -> StoreResult<(Bound<OwnedKey>, Bound<OwnedKey>)> {
    if q.partition.is_empty() || q.limit == 0 {
        return Err(StoreError::Invalid("a query needs a partition and a limit of at least 1".into()));
    }
    let at = |sort: &str| [q.partition.clone(), sort.to_owned(), String::new(), String::new()];
    // `p + "\0"` is the least string after `p`, so this excludes exactly the keys of later partitions.
    let partition_end = Bound::Excluded([format!("{}\0", q.partition), String::new(), String::new(), String::new()]);
    Ok(match &q.range {
        SortKeyRange::All => (Bound::Included(at("")), partition_end),
        SortKeyRange::Prefix(p) => {
            let hi = prefix_successor(p).map_or(partition_end, |s| Bound::Excluded(at(&s)));
            (Bound::Included(at(p)), hi)
        }
        SortKeyRange::Between(from, to) if from <= to => {
            (Bound::Included(at(from)), Bound::Excluded(at(&format!("{to}\0"))))
        }
        SortKeyRange::Between(..) => {
            return Err(StoreError::Invalid("a BETWEEN range must not run backwards".into()));
        }
    })
}

/// The least string greater than every string starting with `prefix` (`None`: there is none).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    i: bool,
    k: OwnedKey,
}

fn encode_cursor(on_index: bool, key: &OwnedKey) -> String {
    let json = serde_json::to_vec(&Cursor { i: on_index, k: key.clone() }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The key a cursor resumes after; it must belong to this query's range.
fn decode_cursor(cursor: &str, on_index: bool, lo: &Bound<OwnedKey>, hi: &Bound<OwnedKey>) -> StoreResult<OwnedKey> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if cursor.i != on_index || !(lo.as_ref(), hi.as_ref()).contains(&cursor.k) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(cursor.k)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_expired_record_satisfies_only_must_not_exist() {
        // Writes sweep expired items first, so the conformance suite rarely reaches this path.
        let record = Record { index: None, attrs: Attributes::new(), version: 3, expires_at: Some(100) };
        assert!(holds(Condition::MustNotExist, Some(&record), 100));
        assert!(!holds(Condition::MustExist, Some(&record), 100));
        assert!(!holds(Condition::VersionIs(3), Some(&record), 100));
        assert!(holds(Condition::VersionIs(3), Some(&record), 99));
    }

    #[test]
    fn a_prefix_successor_bounds_exactly_the_strings_with_that_prefix() {
        assert_eq!(prefix_successor("a#").unwrap(), "a$");
        assert_eq!(prefix_successor("a\u{d7ff}").unwrap(), "a\u{e000}");
        assert_eq!(prefix_successor("a\u{10ffff}").unwrap(), "b");
        assert_eq!(prefix_successor("\u{10ffff}"), None);
    }
}
