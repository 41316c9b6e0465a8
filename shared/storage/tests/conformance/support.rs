//! Where the real servers are. The test command (`infra/test.sh`) starts them and exports their
//! addresses; run without it, the AWS-adapter tests fail loudly rather than skip.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT_URL is not set: run the suite with infra/test.sh, which starts moto_server")
    })
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .unwrap_or_else(|_| panic!("REDIS_URL is not set: run the suite with infra/test.sh, which starts redis-server"))
}

/// An SDK config pointed at moto with dummy credentials.
pub async fn moto_config() -> aws_config::SdkConfig {
    // SAFETY of set_var: not needed; credentials are passed explicitly.
    let creds = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "conformance");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

/// A name unique within this test process run (tables, queues, buckets, key prefixes).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A fresh temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("storage-conformance"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
