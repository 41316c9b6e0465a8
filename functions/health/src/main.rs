//! The health function on Lambda: checks the tables and queues named in its environment.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&health::GROUP, "health", |resources| async move {
        Ok(health::router(Arc::new(health::Readiness::from_env(&resources).await?)))
    })
    .await
}
