//! The bus's events-notifications queue -> in-app notices and emails, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&notifications::GROUP, "notifications-consumer", |resources| async move {
        let settings = notifications::NotificationSettings::from_env()?;
        let state = std::sync::Arc::new(notifications::consumer::ConsumerState::build(&resources, settings).await?);
        Ok(move |event| {
            let state = state.clone();
            async move { notifications::consumer::handle(&state, event).await }
        })
    })
    .await
}
