//! The webhooks-deliveries queue -> signed HTTP attempts and retries, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&webhooks::GROUP, "webhooks-delivery", |resources| async move {
        let settings = webhooks::WebhookSettings::from_env()?;
        let state = std::sync::Arc::new(webhooks::delivery::DeliveryState::build(&resources, settings).await?);
        Ok(move |event| {
            let state = state.clone();
            async move { webhooks::delivery::handle(&state, event).await }
        })
    })
    .await
}
