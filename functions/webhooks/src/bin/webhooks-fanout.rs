//! The bus's events-webhooks queue -> webhook messages and jobs, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&webhooks::GROUP, "webhooks-fanout", |resources| async move {
        let state = std::sync::Arc::new(webhooks::fanout::FanoutState::build(&resources).await?);
        Ok(move |event| {
            let state = state.clone();
            async move { webhooks::fanout::handle(&state, event).await }
        })
    })
    .await
}
