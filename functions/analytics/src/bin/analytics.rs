//! The analytics API on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&analytics::GROUP, "analytics", |resources| async move {
        Ok(analytics::router(Arc::new(analytics::ApiState::build(&resources).await?)))
    })
    .await
}
