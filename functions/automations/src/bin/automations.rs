//! The automations API on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&automations::GROUP, "automations", |resources| async move {
        let plans = identity::plans::Plans::from_env()?;
        Ok(automations::router(Arc::new(automations::ApiState::build(&resources, plans).await?)))
    })
    .await
}
