//! The read cache, on the cache port (Redis on AWS, in-process locally).
//!
//! A key holds: the kind of read; a hash of every input that changes Airtable's answer (kind, tenant and
//! credential identity, base, table, every path segment — the record id among them — and the normalised
//! query) — so a tenant never reads another's entries and one record never answers for another; and the
//! table's generations (a schema read: the base's schema generation). A write bumps the generations
//! (O(1), no key scan), which makes every older key of that table unreachable; they expire on their own.
//!
//! Tables are named by id or by name, and the gateway cannot tell which name is which id without a schema
//! call. So a read by id embeds its table's generation plus a base-wide "some table written by name" one,
//! and a read by name the reverse: clients that stick to ids (or names) invalidate per table, and mixing
//! them invalidates the base — never too little.
//!
//! An entry is kept for TTL + max-stale: fresh within its TTL, and past it still good enough to answer
//! when Airtable fails (stale-if-error).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use storage::cache::Cache;

use crate::ids::{BaseId, TableRef};
use crate::settings::{AirtableSettings, Ttls};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
            Self::Bypass => "BYPASS",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bases,
    Schema,
    Records,
    Record,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bases => "bases",
            Self::Schema => "schema",
            Self::Records => "records",
            Self::Record => "record",
        }
    }
}

/// A cached answer: when it was stored (ms since the epoch) and Airtable's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub stored_at_ms: i64,
    pub body: Bytes,
}

impl Entry {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.body.len());
        out.extend_from_slice(&self.stored_at_ms.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let stamp: [u8; 8] = raw.get(..8)?.try_into().ok()?;
        Some(Self { stored_at_ms: i64::from_be_bytes(stamp), body: Bytes::copy_from_slice(&raw[8..]) })
    }

    pub fn age(&self, now_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(now_ms - self.stored_at_ms).unwrap_or(0))
    }
}

/// What a read is, for its key.
pub struct ReadKey<'a> {
    pub kind: Kind,
    /// Tenant and credential identity: whose view of Airtable this is.
    pub scope: &'a str,
    pub base: Option<&'a BaseId>,
    pub table: Option<&'a TableRef>,
    /// The upstream path, unencoded: `["v0", base, table, record]`.
    pub segments: &'a [String],
    /// The normalised query (`query::canonical`).
    pub query: &'a str,
}

pub struct ReadCache {
    cache: Arc<dyn Cache>,
    namespace: String,
    ttl: Ttls,
    max_stale: Duration,
}

impl ReadCache {
    pub fn new(cache: Arc<dyn Cache>, namespace: &str, settings: &AirtableSettings) -> Self {
        Self { cache, namespace: namespace.to_string(), ttl: settings.ttl, max_stale: settings.max_stale }
    }

    pub fn port(&self) -> &Arc<dyn Cache> {
        &self.cache
    }

    pub fn ttl(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Bases => self.ttl.bases,
            Kind::Schema => self.ttl.schema,
            Kind::Records => self.ttl.records,
            Kind::Record => self.ttl.record,
        }
    }

    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// (the table's own group, the base-wide group it also depends on, the one a write to it bumps).
    fn groups(&self, base: &BaseId, table: &TableRef) -> (String, String, String) {
        let ns = &self.namespace;
        let own = format!("{ns}at:t:{base}:{}", table.as_str().to_lowercase());
        let (by_name, by_id) = (format!("{ns}at:n:{base}"), format!("{ns}at:i:{base}"));
        if table.is_id() { (own, by_name, by_id) } else { (own, by_id, by_name) }
    }

    /// The base's schema group: meta writes and typecast writes bump it.
    fn schema_group(&self, base: &BaseId) -> String {
        format!("{}at:s:{base}", self.namespace)
    }

    /// The key for a read, with the current generations. Cache trouble degrades to generation 0.
    pub async fn key(&self, read: &ReadKey<'_>) -> String {
        let generations = match (read.kind, read.base, read.table) {
            (_, Some(base), Some(table)) => {
                let (own, also, _) = self.groups(base, table);
                let (a, b) = futures::join!(self.cache.generation(&own), self.cache.generation(&also));
                format!("{}.{}", a.unwrap_or_else(warn_zero), b.unwrap_or_else(warn_zero))
            }
            (Kind::Schema, Some(base), None) => {
                self.cache.generation(&self.schema_group(base)).await.unwrap_or_else(warn_zero).to_string()
            }
            _ => "0".into(),
        };
        let mut hash = Sha256::new();
        // Every part is length-prefixed, so no two different inputs can concatenate alike.
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(read.kind.as_str().as_bytes());
        part(read.scope.as_bytes());
        part(read.base.map(BaseId::as_str).unwrap_or("").as_bytes());
        part(read.table.map(TableRef::as_str).unwrap_or("").as_bytes());
        part(&(read.segments.len() as u64).to_be_bytes());
        for segment in read.segments {
            part(segment.as_bytes());
        }
        part(read.query.as_bytes());
        let digest = hex::encode(&hash.finalize()[..16]);
        let base = read.base.map(BaseId::as_str).unwrap_or("-");
        format!("{}at:{}:{base}:{digest}:{generations}", self.namespace, read.kind.as_str())
    }

    pub async fn get(&self, key: &str) -> Option<Entry> {
        match self.cache.get(key).await {
            Ok(raw) => raw.and_then(Entry::decode),
            Err(e) => {
                tracing::warn!(error = ?e, "cache read failed; going upstream");
                None
            }
        }
    }

    pub async fn put(&self, key: &str, kind: Kind, body: &Bytes) {
        let entry = Entry { stored_at_ms: storage::now_millis(), body: body.clone() };
        if let Err(e) = self.cache.set(key, &entry.encode(), self.ttl(kind) + self.max_stale).await {
            tracing::warn!(error = ?e, "cache write failed; the answer is served uncached");
        }
    }

    /// After a write: every cached read of that table becomes unreachable.
    pub async fn invalidate(&self, base: &BaseId, table: &TableRef) {
        let (own, _, bumped) = self.groups(base, table);
        let (a, b) = futures::join!(self.cache.bump_generation(&own), self.cache.bump_generation(&bumped));
        if let Err(e) = a.and(b) {
            tracing::error!(error = ?e, %base, %table, "could not invalidate cached reads after a write; they expire with their TTL");
        }
    }

    /// After a write whose table is unknown (it names a record only): every cached table read of the base
    /// becomes unreachable (each depends on one of the two base-wide groups).
    pub async fn invalidate_base(&self, base: &BaseId) {
        let ns = &self.namespace;
        let (by_name, by_id) = (format!("{ns}at:n:{base}"), format!("{ns}at:i:{base}"));
        let (a, b) = futures::join!(self.cache.bump_generation(&by_name), self.cache.bump_generation(&by_id));
        if let Err(e) = a.and(b) {
            tracing::error!(error = ?e, %base, "could not invalidate the base's cached reads; they expire with their TTL");
        }
    }

    /// After a write that may change a base's schema (a meta write, or a typecast write that can add a
    /// select option): every cached schema read of that base becomes unreachable.
    pub async fn invalidate_schema(&self, base: &BaseId) {
        if let Err(e) = self.cache.bump_generation(&self.schema_group(base)).await {
            tracing::error!(error = ?e, %base, "could not invalidate the base's cached schema; it expires with its TTL");
        }
    }
}

fn warn_zero(e: storage::StoreError) -> u64 {
    tracing::warn!(error = ?e, "cache generation read failed");
    0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_entry_survives_encoding() {
        let entry = Entry { stored_at_ms: 1_700_000_000_123, body: Bytes::from_static(b"{\"records\":[]}") };
        assert_eq!(Entry::decode(entry.encode()), Some(entry));
        assert_eq!(Entry::decode(vec![1, 2]), None);
    }

    #[tokio::test]
    async fn tenants_get_different_keys_and_a_write_by_id_or_name_moves_both_spellings_on() {
        let cache = ReadCache::new(
            Arc::new(storage::cache::embedded::MemoryCache::new()),
            "ns-",
            &AirtableSettings::new("http://x", None),
        );
        let base = BaseId::parse("appDemoBase000001").unwrap();
        let (by_id, by_name) = (TableRef::parse("tblProjects000001").unwrap(), TableRef::parse("Projects").unwrap());
        let key = |scope: &'static str, table: &'static TableRef| ReadKey {
            kind: Kind::Records,
            scope,
            base: Some(&base),
            table: Some(table),
            segments: &[],
            query: "",
        };
        let by_id: &'static TableRef = Box::leak(Box::new(by_id));
        let by_name: &'static TableRef = Box::leak(Box::new(by_name));
        assert_ne!(cache.key(&key("tenant-a", by_id)).await, cache.key(&key("tenant-b", by_id)).await);

        let (id_before, name_before) = (cache.key(&key("t", by_id)).await, cache.key(&key("t", by_name)).await);
        cache.invalidate(&base, by_id).await;
        let (id_after, name_after) = (cache.key(&key("t", by_id)).await, cache.key(&key("t", by_name)).await);
        assert_ne!(id_before, id_after);
        assert_ne!(name_before, name_after);
        cache.invalidate(&base, by_name).await;
        assert_ne!(cache.key(&key("t", by_id)).await, id_after);
        assert_ne!(cache.key(&key("t", by_name)).await, name_after);
    }
}
