//! `Backend`'s choice of cache: `CACHE_URL` is honoured in embedded mode as on AWS, so several runner
//! processes (each with its own embedded store) share one cache, limiter and login counter. Runs against the
//! real redis-server the test command starts (`REDIS_URL`); settings are built here, never read from the
//! ambient environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use storage::backend::{Backend, StorageMode, StorageSettings};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| {
        panic!("REDIS_URL is not set: start the servers first (eval \"$(infra/scripts/services.sh start)\")")
    })
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh data dir, removed on drop: each runner process has its own embedded store.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("storage-backend"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn embedded(dir: &DataDir, cache_url: Option<String>) -> StorageSettings {
    StorageSettings {
        mode: StorageMode::Embedded,
        data_dir: dir.0.clone(),
        aws: storage::aws::AwsSettings::default(),
        table_prefix: "pyairtable-".into(),
        provision: false,
        cache_url,
        elasticache: None,
        kms_key: "alias/pyairtable-secrets".into(),
    }
}

#[tokio::test]
async fn embedded_mode_with_cache_url_shares_one_redis_cache_between_backends() {
    let (dir_a, dir_b) = (DataDir::new(), DataDir::new());
    let a = Backend::open(&embedded(&dir_a, Some(redis_url()))).await.unwrap();
    let b = Backend::open(&embedded(&dir_b, Some(redis_url()))).await.unwrap();
    assert!(a.describe().starts_with("embedded storage under"), "{}", a.describe());
    assert!(a.describe().ends_with("the Redis cache at CACHE_URL"), "{}", a.describe());
    assert!(!a.describe().contains("redis://"), "the URL may carry a password: {}", a.describe());

    let (cache_a, cache_b) = (a.cache().await.unwrap(), b.cache().await.unwrap());
    let key = unique("shared-value");
    cache_a.set(&key, b"from a", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache_b.get(&key).await.unwrap().as_deref(), Some(&b"from a"[..]));

    // The login counter and the limiters count across processes.
    let window = unique("shared-window");
    assert_eq!(cache_a.incr_window(&window, Duration::from_secs(60)).await.unwrap().count, 1);
    assert_eq!(cache_b.incr_window(&window, Duration::from_secs(60)).await.unwrap().count, 2);

    // It is Redis, not some other shared state: the value is on the server.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(raw.as_deref(), Some(&b"from a"[..]));

    // One cache per backend: a second call returns the same connection's view, and the tables still are the
    // embedded ones (each backend its own store).
    assert_eq!(a.cache().await.unwrap().get(&key).await.unwrap().as_deref(), Some(&b"from a"[..]));
    assert!(dir_a.0.join("store.redb").exists() && dir_b.0.join("store.redb").exists());
}

#[tokio::test]
async fn embedded_mode_without_cache_url_keeps_an_in_process_cache_per_backend() {
    let (dir_a, dir_b) = (DataDir::new(), DataDir::new());
    let a = Backend::open(&embedded(&dir_a, None)).await.unwrap();
    let b = Backend::open(&embedded(&dir_b, None)).await.unwrap();
    assert!(a.describe().ends_with("the in-process cache"), "{}", a.describe());

    let key = unique("local-value");
    a.cache().await.unwrap().set(&key, b"only a", Duration::from_secs(60)).await.unwrap();
    assert_eq!(a.cache().await.unwrap().get(&key).await.unwrap().as_deref(), Some(&b"only a"[..]));
    assert_eq!(b.cache().await.unwrap().get(&key).await.unwrap(), None);
}
