//! The health function on Lambda: checks the tables and queues named in its environment.

use std::sync::Arc;

use storage::backend::{Backend, StorageMode, StorageSettings};
use storage::queue::QueueSpec;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::telemetry::init("health");
    let http = platform::config::HttpSettings::from_env()?;
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let backend = Backend::open(&storage).await?;

    let mut readiness = health::Readiness::default();
    for name in platform::config::list("READY_TABLES") {
        readiness.table(&name, backend.table(&name).await?);
    }
    for name in platform::config::list("READY_QUEUES") {
        readiness.queue(backend.queue(&QueueSpec { name, dead_letter: None }).await?);
    }

    let (router, _) = platform::app::split(health::router(Arc::new(readiness)));
    lambda_http::run(platform::app::finish(router, &http)).await
}
