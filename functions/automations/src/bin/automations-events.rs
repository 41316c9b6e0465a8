//! The bus's events-automations queue -> runs, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&automations::GROUP, "automations-events", |resources| async move {
        let worker = automations::worker_from_env(&resources).await?;
        Ok(move |event| {
            let worker = worker.clone();
            async move { automations::triggers::handle(&worker, event).await }
        })
    })
    .await
}
