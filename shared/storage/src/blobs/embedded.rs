//! Blobs for `cargo run`: bytes in files under `{dir}/blobs/{bucket}/`, metadata in the shared redb store.
//!
//! Every put writes a fresh file (temp file, fsync, rename into `data/`) and then commits the metadata
//! that points at it, so the commit is the one atomic switch: a crash leaves the old blob or the new one,
//! never a torn one (at worst an unreferenced file). Files are named by id, not by key, so keys `a` and
//! `a/b` can coexist and no key can reach outside the bucket directory.
//!
//! Presigned URLs point at [`router`], mounted by the local runner, and are signed with HMAC-SHA256 under a
//! random key generated once per data dir.

mod http;
mod signing;

use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use redb::{ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

pub use self::http::router;
use self::signing::{Op, Signer};
use super::{
    Blob, BlobHead, BlobInfo, BlobPage, Blobs, PresignedUpload, UploadTerms, validate_expiry, validate_key,
    validate_terms,
};
use crate::queue::{OutgoingMessage, Queue};
use crate::{StoreError, StoreResult};

const MAX_PAGE: usize = 1000;
/// A blob being overwritten or deleted between reading its metadata and opening its file: read again.
const READ_ATTEMPTS: usize = 5;

type Meta<'a> = TableDefinition<'a, &'static str, &'static [u8]>;

#[derive(Clone)]
pub struct EmbeddedBlobs(Arc<Inner>);

/// Where each bucket's object-created notifications go (S3's bucket notification configuration), shared by
/// every handle of the store.
#[derive(Clone, Default)]
pub struct Notifications(Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Queue>>>>);

impl Notifications {
    pub fn set(&self, bucket: &str, queue: Arc<dyn Queue>) -> anyhow::Result<()> {
        let mut targets = self.0.lock().map_err(|_| anyhow::anyhow!("notification registry poisoned"))?;
        targets.insert(bucket.to_owned(), queue);
        Ok(())
    }

    fn target(&self, bucket: &str) -> Option<Arc<dyn Queue>> {
        self.0.lock().ok().and_then(|t| t.get(bucket).cloned())
    }
}

struct Inner {
    db: Arc<redb::Database>,
    table: String,
    bucket: String,
    tmp: PathBuf,
    data: PathBuf,
    public_base_url: String,
    signer: Signer,
    notifications: Notifications,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    file: String,
    size: u64,
    content_type: Option<String>,
}

impl EmbeddedBlobs {
    /// Opens (creating if needed) `bucket` under `dir`; presigned URLs will start with `public_base_url`.
    pub fn open(db: Arc<redb::Database>, dir: &Path, bucket: &str, public_base_url: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(valid_bucket(bucket), "invalid bucket name {bucket:?} (3-63 of a-z, 0-9, '-', '.')");
        let root = dir.join("blobs");
        let (tmp, data) = (root.join(bucket).join("tmp"), root.join(bucket).join("data"));
        for d in [&tmp, &data] {
            crate::embedded::create_private_dir(d).with_context(|| format!("Failed to create {}", d.display()))?;
        }
        let signer = Signer::load_or_create(&root)?;
        let table = format!("blobs/{bucket}");
        let txn = db.begin_write().context("Failed to begin a write transaction")?;
        txn.open_table(Meta::new(&table)).with_context(|| format!("Failed to create table {table}"))?;
        txn.commit().context("Failed to commit the blob table")?;
        let public_base_url = public_base_url.trim_end_matches('/').to_owned();
        let notifications = Notifications::default();
        let bucket = bucket.to_owned();
        Ok(Self(Arc::new(Inner { db, table, bucket, tmp, data, public_base_url, signer, notifications })))
    }

    /// Notifies through `notifications` (the store's registry) instead of a registry of its own.
    pub fn notifying(self, notifications: Notifications) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => Self(Arc::new(Inner { notifications, ..inner })),
            Err(shared) => Self(shared),
        }
    }

    /// S3's `ObjectCreated:Put` event for a blob just written, to the bucket's notification target if any.
    /// Like S3's, delivery is at least once at best: a failure is logged, and the write stands.
    async fn notify_put(&self, key: &str, size: u64) {
        let Some(queue) = self.0.notifications.target(&self.0.bucket) else { return };
        let event = serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "eventTime": event_time(),
            "s3": {"bucket": {"name": self.0.bucket}, "object": {"key": encode_path(key), "size": size}},
        }]});
        if let Err(e) = queue.send(OutgoingMessage::new(event.to_string())).await {
            tracing::warn!(error = ?e, bucket = %self.0.bucket, key, "the blob's notification was not sent");
        }
    }

    pub fn bucket(&self) -> &str {
        &self.0.bucket
    }

    /// Runs blocking file and redb work off the async workers.
    async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.context("Failed to join a blob task")?
    }

    fn presign(&self, op: Op, key: &str, expires_in: Duration, terms: Option<&UploadTerms>) -> StoreResult<String> {
        validate_key(key)?;
        validate_expiry(expires_in)?;
        let secs = i64::try_from(expires_in.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
        let expires = crate::now_secs().saturating_add(secs);
        let signed_terms = terms.map(signed_terms).unwrap_or_default();
        let signature = self.0.signer.sign(op, &self.0.bucket, key, expires, &signed_terms);
        let Inner { public_base_url, bucket, .. } = &*self.0;
        // The terms travel in the signature only: the PUT must send them as its own headers.
        Ok(format!(
            "{public_base_url}/_local/blobs/{bucket}/{}?op={}&expires={expires}&signature={signature}",
            encode_path(key),
            op.as_str()
        ))
    }
}

impl Inner {
    fn def(&self) -> Meta<'_> {
        Meta::new(&self.table)
    }

    fn put(&self, key: &str, bytes: &[u8], content_type: Option<String>) -> anyhow::Result<()> {
        let file = uuid::Uuid::new_v4().to_string();
        let (tmp, path) = (self.tmp.join(&file), self.data.join(&file));
        let mut f =
            crate::embedded::private_file(&tmp, true).with_context(|| format!("Failed to create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("Failed to write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("Failed to fsync {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("Failed to move {} into place", tmp.display()))?;
        sync_dir(&self.data)?;
        let stored = Stored { file, size: bytes.len() as u64, content_type };
        let old = self.swap(key, Some(&stored)).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        self.remove_file(old);
        Ok(())
    }

    /// Replaces (or with `None` removes) the key's metadata; returns the file the old version used.
    fn swap(&self, key: &str, stored: Option<&Stored>) -> anyhow::Result<Option<String>> {
        let txn = self.db.begin_write().context("Failed to begin a write transaction")?;
        let old = {
            let mut table = txn.open_table(self.def()).context("Failed to open the blob table")?;
            let old = match stored {
                Some(s) => {
                    let json = serde_json::to_vec(s).context("Failed to encode blob metadata")?;
                    table
                        .insert(key, json.as_slice())
                        .context("Failed to write blob metadata")?
                        .map(|g| g.value().to_vec())
                }
                None => table.remove(key).context("Failed to remove blob metadata")?.map(|g| g.value().to_vec()),
            };
            old.map(|v| decode(&v)).transpose()?.map(|s| s.file)
        };
        txn.commit().context("Failed to commit blob metadata")?;
        Ok(old)
    }

    /// Drops a file no metadata points at any more. The write has already committed, so failing here would
    /// misreport it: a file left behind is only wasted space.
    fn remove_file(&self, file: Option<String>) {
        let Some(file) = file else { return };
        let path = self.data.join(file);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "failed to remove a replaced blob file");
        }
    }

    fn head(&self, key: &str) -> anyhow::Result<Option<BlobHead>> {
        Ok(self.stored(key)?.map(|s| BlobHead { size: s.size, content_type: s.content_type }))
    }

    fn stored(&self, key: &str) -> anyhow::Result<Option<Stored>> {
        let txn = self.db.begin_read().context("Failed to begin a read transaction")?;
        let table = txn.open_table(self.def()).context("Failed to open the blob table")?;
        let value = table.get(key).context("Failed to read blob metadata")?;
        value.map(|v| decode(v.value())).transpose()
    }

    fn get(&self, key: &str) -> anyhow::Result<Option<Blob>> {
        let mut missing: Option<String> = None;
        for _ in 0..READ_ATTEMPTS {
            let Some(stored) = self.stored(key)? else { return Ok(None) };
            let path = self.data.join(&stored.file);
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(Some(Blob { bytes: Bytes::from(bytes), content_type: stored.content_type })),
                // Replaced or deleted since the metadata was read, unless the same file is missing twice.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing.as_ref() != Some(&stored.file) => {
                    missing = Some(stored.file);
                }
                Err(e) => return Err(e).with_context(|| format!("Failed to read blob {key} from {}", path.display())),
            }
        }
        anyhow::bail!("blob {key} kept changing while being read")
    }

    fn list(&self, prefix: &str, limit: usize, after: Option<String>) -> StoreResult<BlobPage> {
        let txn = self.db.begin_read().context("Failed to begin a read transaction")?;
        let table = txn.open_table(self.def()).context("Failed to open the blob table")?;
        let start = after.as_deref().map_or(Bound::Included(prefix), Bound::Excluded);
        let range = table.range::<&str>((start, Bound::Unbounded)).context("Failed to list blob metadata")?;
        let mut page = BlobPage::default();
        for entry in range {
            let (key, value) = entry.context("Failed to read blob metadata")?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            if page.blobs.len() == limit {
                page.next_cursor = page.blobs.last().map(|b| URL_SAFE_NO_PAD.encode(&b.key));
                break;
            }
            page.blobs.push(BlobInfo { key: key.to_owned(), size: decode(value.value())?.size });
        }
        Ok(page)
    }
}

#[async_trait]
impl Blobs for EmbeddedBlobs {
    async fn put(&self, key: &str, bytes: Bytes, content_type: Option<&str>) -> StoreResult<()> {
        validate_key(key)?;
        let size = bytes.len() as u64;
        let (owned, content_type) = (key.to_owned(), content_type.map(str::to_owned));
        self.blocking(move |inner| Ok(inner.put(&owned, &bytes, content_type)?)).await?;
        self.notify_put(key, size).await;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Blob>> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |inner| Ok(inner.get(&key)?)).await
    }

    async fn head(&self, key: &str) -> StoreResult<Option<BlobHead>> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |inner| Ok(inner.head(&key)?)).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |inner| {
            inner.remove_file(inner.swap(&key, None)?);
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str, limit: usize, cursor: Option<String>) -> StoreResult<BlobPage> {
        if limit == 0 {
            return Err(StoreError::Invalid("a page holds at least one blob".into()));
        }
        // The cursor is the last key returned; one from another prefix (or forged) is refused.
        let after = cursor
            .map(|c| {
                let key = URL_SAFE_NO_PAD.decode(c).ok().and_then(|b| String::from_utf8(b).ok());
                key.filter(|k| k.starts_with(prefix)).ok_or(StoreError::InvalidCursor)
            })
            .transpose()?;
        let (prefix, limit) = (prefix.to_owned(), limit.min(MAX_PAGE));
        self.blocking(move |inner| inner.list(&prefix, limit, after)).await
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> StoreResult<String> {
        self.presign(Op::Get, key, expires_in, None)
    }

    async fn presign_put(&self, key: &str, expires_in: Duration, terms: &UploadTerms) -> StoreResult<PresignedUpload> {
        validate_terms(terms)?;
        let url = self.presign(Op::Put, key, expires_in, Some(terms))?;
        let headers = vec![
            ("content-type".to_owned(), terms.content_type.clone()),
            ("content-length".to_owned(), terms.content_length.to_string()),
        ];
        Ok(PresignedUpload { url, headers })
    }

    async fn ready(&self) -> StoreResult<()> {
        self.blocking(|inner| Ok(inner.db.begin_read().map(drop).context("Failed to read the embedded store")?)).await
    }
}

/// Now as S3 writes event times (`2024-01-01T00:00:00.000Z`).
fn event_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What an upload's signature covers besides the operation, bucket, key and expiry.
fn signed_terms(terms: &UploadTerms) -> String {
    format!("{}\n{}", terms.content_type, terms.content_length)
}

fn decode(bytes: &[u8]) -> anyhow::Result<Stored> {
    serde_json::from_slice(bytes).context("Failed to decode blob metadata")
}

/// S3's rules, minus the ones about IP-address look-alikes: also keeps bucket names safe as directory names.
fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..")
}

/// Percent-encodes each path segment of a key (everything but RFC 3986 unreserved characters), keeping `/`.
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Makes a rename durable: the directory entry must reach the disk too.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("Failed to fsync {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
