//! GET /api/v1/audit-logs on Lambda.

use std::sync::Arc;

use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::telemetry::init("audit-api");
    let http = platform::config::HttpSettings::from_env()?;
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let backend = Backend::open(&storage).await?;
    let state = audit::AuditState::build(&backend).await?;

    let (router, _) = platform::app::split(audit::router(Arc::new(state)));
    lambda_http::run(platform::app::finish(router, &http)).await
}
