//! The webhooks API on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&webhooks::GROUP, "webhooks", |resources| async move {
        let settings = webhooks::WebhookSettings::from_env()?;
        Ok(webhooks::router(Arc::new(webhooks::ApiState::build(&resources, settings).await?)))
    })
    .await
}
