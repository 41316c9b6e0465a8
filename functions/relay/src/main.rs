//! The outbox relay on Lambda, run by an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::schedule(&relay::GROUP, "event-relay", |resources| async move {
        let state = std::sync::Arc::new(relay::RelayState::build(&resources).await?);
        Ok(move |_event| {
            let state = state.clone();
            async move {
                state
                    .sweep(relay::LEFT_BEHIND_AFTER)
                    .await
                    .map(|published| serde_json::json!({ "published": published }))
            }
        })
    })
    .await
}
