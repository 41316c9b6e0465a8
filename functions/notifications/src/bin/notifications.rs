//! The notifications API on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&notifications::GROUP, "notifications", |resources| async move {
        let settings = notifications::NotificationSettings::from_env()?;
        Ok(notifications::router(Arc::new(notifications::ApiState::build(&resources, &settings).await?)))
    })
    .await
}
