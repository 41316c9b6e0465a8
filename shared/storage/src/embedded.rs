//! The embedded environment for `cargo run`: one crash-safe redb database under the data dir holds every
//! table and queue; blob bytes live in files beside it. No cloud account, no set-up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::blobs::Blobs;
use crate::blobs::embedded::EmbeddedBlobs;
use crate::queue::embedded::EmbeddedQueue;
use crate::queue::{Queue, QueueSpec};
use crate::table::Table;
use crate::table::embedded::EmbeddedTable;

#[derive(Clone)]
pub struct EmbeddedEnv {
    db: Arc<redb::Database>,
    dir: PathBuf,
    /// Buckets opened so far; the runner serves their presigned URLs.
    buckets: Arc<Mutex<Vec<Arc<EmbeddedBlobs>>>>,
}

impl EmbeddedEnv {
    /// Opens (or creates) the store under `dir`. Only one process may hold it at a time.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("Failed to create data dir {}", dir.display()))?;
        let path = dir.join("store.redb");
        let db = redb::Database::create(&path).with_context(|| {
            format!("Failed to open the embedded store {} (is another runner using it?)", path.display())
        })?;
        Ok(Self { db: Arc::new(db), dir: dir.to_path_buf(), buckets: Arc::default() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn table(&self, name: &str) -> Arc<dyn Table> {
        Arc::new(EmbeddedTable::new(self.db.clone(), name))
    }

    /// A queue handle; its dead-letter queue (if any) lives in the same store.
    pub fn queue(&self, spec: QueueSpec) -> Arc<dyn Queue> {
        Arc::new(EmbeddedQueue::new(self.db.clone(), spec))
    }

    /// A bucket whose presigned URLs point at `public_base_url` (the local runner, which serves them through
    /// [`EmbeddedEnv::blob_router`]).
    pub fn blobs(&self, bucket: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        let blobs = Arc::new(EmbeddedBlobs::open(self.db.clone(), &self.dir, bucket, public_base_url)?);
        self.buckets.lock().map_err(|_| anyhow::anyhow!("bucket registry poisoned"))?.push(blobs.clone());
        Ok(blobs)
    }

    /// Serves GET/PUT of the presigned URLs of every bucket opened so far (`/_local/blobs/…`).
    pub fn blob_router(&self) -> axum::Router {
        let buckets = self.buckets.lock().map(|b| b.clone()).unwrap_or_default();
        crate::blobs::embedded::router(buckets)
    }
}
