//! The embedded environment for `cargo run`: one crash-safe redb database under the data dir holds every
//! table and queue; blob bytes live in files beside it. No cloud account, no set-up.
//!
//! Everything here is readable by the user running it only: the data dir is created 0700 (an existing one is
//! narrowed to 0700), `store.redb` and the blob files 0600. The store holds password hashes, sessions and API
//! key digests, and the blobs' signing key lives beside it; other local users must not read them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::blobs::Blobs;
use crate::blobs::embedded::EmbeddedBlobs;
use crate::queue::embedded::EmbeddedQueue;
use crate::queue::{Queue, QueueSpec};
use crate::schedules::embedded::EmbeddedSchedules;
use crate::table::Table;
use crate::table::embedded::EmbeddedTable;

#[derive(Clone)]
pub struct EmbeddedEnv {
    db: Arc<redb::Database>,
    dir: PathBuf,
    /// Buckets opened so far; the runner serves their presigned URLs.
    buckets: Arc<Mutex<Vec<Arc<EmbeddedBlobs>>>>,
    /// Where each bucket's object-created notifications go.
    notifications: crate::blobs::embedded::Notifications,
    /// Schedules by target queue: one handle each, so one firing loop.
    schedules: Arc<Mutex<HashMap<String, Arc<EmbeddedSchedules>>>>,
}

impl EmbeddedEnv {
    /// Opens (or creates) the store under `dir`. Only one process may hold it at a time.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        create_private_dir(dir).with_context(|| format!("Failed to create data dir {}", dir.display()))?;
        restrict(dir, 0o700);
        let path = dir.join("store.redb");
        let file = private_file(&path, false)
            .with_context(|| format!("Failed to open the embedded store {}", path.display()))?;
        restrict(&path, 0o600);
        let backend = redb::backends::FileBackend::new(file)
            .with_context(|| format!("Failed to open the embedded store {}", path.display()))?;
        let db = redb::Database::builder().create_with_backend(backend).with_context(|| {
            format!("Failed to open the embedded store {} (is another runner using it?)", path.display())
        })?;
        let released = crate::queue::embedded::release_in_flight(&db)?;
        if released > 0 {
            tracing::info!(released, "messages a stopped runner was handling are visible again");
        }
        Ok(Self {
            db: Arc::new(db),
            dir: dir.to_path_buf(),
            buckets: Arc::default(),
            notifications: Default::default(),
            schedules: Arc::default(),
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

    /// The schedules firing into `target` (kept in this store): the same handle on every call, whose
    /// [`EmbeddedSchedules::run`] the runner spawns once.
    pub fn schedules(&self, target: QueueSpec) -> anyhow::Result<Arc<EmbeddedSchedules>> {
        let mut schedules = self.schedules.lock().map_err(|_| anyhow::anyhow!("schedules registry poisoned"))?;
        let handle = schedules
            .entry(target.name.clone())
            .or_insert_with(|| Arc::new(EmbeddedSchedules::new(self.db.clone(), self.queue(target))));
        Ok(handle.clone())
    }

    /// A bucket whose presigned URLs point at `public_base_url` (the local runner, which serves them through
    /// [`EmbeddedEnv::blob_router`]).
    pub fn blobs(&self, bucket: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        let blobs = EmbeddedBlobs::open(self.db.clone(), &self.dir, bucket, public_base_url)?;
        let blobs = Arc::new(blobs.notifying(self.notifications.clone()));
        self.buckets.lock().map_err(|_| anyhow::anyhow!("bucket registry poisoned"))?.push(blobs.clone());
        Ok(blobs)
    }

    /// Sends an S3-shaped `ObjectCreated:Put` notification to `queue` for every blob written to `bucket`.
    pub fn notify_blob_puts(&self, bucket: &str, queue: Arc<dyn Queue>) -> anyhow::Result<()> {
        self.notifications.set(bucket, queue)
    }

    /// Serves GET/PUT of the presigned URLs of every bucket opened so far (`/_local/blobs/…`).
    pub fn blob_router(&self) -> axum::Router {
        let buckets = self.buckets.lock().map(|b| b.clone()).unwrap_or_default();
        crate::blobs::embedded::router(buckets)
    }
}

/// Creates `dir` and any missing parent with mode 0700 (on unix; elsewhere, the platform's default).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` for reading and writing, creating it with mode 0600 (on unix) if absent; `truncate` empties it.
pub(crate) fn private_file(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Narrows the mode of something that existed before (made by an earlier version, or by hand) to `mode` if it
/// grants anything to the group or others. Best effort: a path this user does not own keeps its mode, with a
/// warning.
pub(crate) fn restrict(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode(),
            Err(e) => return tracing::warn!(path = %path.display(), error = %e, "cannot read the mode"),
        };
        if current & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot make it private to this user");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("storage-private-{}", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn what_a_stopped_process_was_handling_is_visible_at_once_when_the_store_opens_again() {
        use crate::queue::OutgoingMessage;
        let dir = temp_dir();
        let spec = QueueSpec { name: "jobs".into(), dead_letter: None };
        {
            let env = EmbeddedEnv::open(&dir).unwrap();
            let queue = env.queue(spec.clone());
            queue.send(OutgoingMessage::new("in flight")).await.unwrap();
            queue.send(OutgoingMessage::new("delayed").delay(Duration::from_secs(600))).await.unwrap();
            let got = queue.receive(10, Duration::from_secs(3600), Duration::ZERO).await.unwrap();
            assert_eq!(got.len(), 1, "the delayed one is not due");
            assert!(queue.receive(10, Duration::from_secs(3600), Duration::ZERO).await.unwrap().is_empty());
        }
        let env = EmbeddedEnv::open(&dir).unwrap();
        let queue = env.queue(spec);
        let got = queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
        let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["in flight"], "received again at once, the delayed one still waits");
        assert_eq!(got[0].receive_count, 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_data_dir_the_store_and_blob_files_are_private_to_this_user() {
        let root = temp_dir();
        let dir = root.join("nested").join("data");
        let env = EmbeddedEnv::open(&dir).unwrap();
        let blobs = env.blobs("private-bucket", "http://127.0.0.1:1").unwrap();
        blobs.put("a/key", bytes::Bytes::from_static(b"secret"), None).await.unwrap();
        assert_eq!(mode(&root.join("nested")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("store.redb")), 0o600);
        let data = dir.join("blobs").join("private-bucket").join("data");
        for d in [dir.join("blobs"), dir.join("blobs").join("private-bucket"), data.clone()] {
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        let files: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(mode(&files[0]), 0o600);
        drop((blobs, env));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_existing_data_dir_and_store_are_narrowed() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(EmbeddedEnv::open(&dir).unwrap());
        std::fs::set_permissions(dir.join("store.redb"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Reopening an existing store narrows both.
        let env = EmbeddedEnv::open(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("store.redb"))), (0o700, 0o600));
        drop(env);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
