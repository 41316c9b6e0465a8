//! The embedded environment for `cargo run`: one crash-safe redb database under the data dir holds every
//! table and queue; blob bytes live in files beside it. No cloud account, no set-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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
}

impl EmbeddedEnv {
    /// Opens (or creates) the store under `dir`. Only one process may hold it at a time.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create data dir {}", dir.display()))?;
        let path = dir.join("store.redb");
        let db = redb::Database::create(&path).with_context(|| {
            format!(
                "Failed to open the embedded store {} (is another runner using it?)",
                path.display()
            )
        })?;
        Ok(Self {
            db: Arc::new(db),
            dir: dir.to_path_buf(),
        })
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

    /// A bucket whose presigned URLs point at `public_base_url` (the local runner, which mounts
    /// [`crate::blobs::embedded::router`]).
    pub fn blobs(&self, bucket: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        Ok(Arc::new(EmbeddedBlobs::open(
            self.db.clone(),
            &self.dir,
            bucket,
            public_base_url,
        )?))
    }
}
