//! The automations-runs queue (schedule fires and steps) -> actions, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&automations::GROUP, "automations-worker", |resources| async move {
        let worker = automations::worker_from_env(&resources).await?;
        Ok(move |event| {
            let worker = worker.clone();
            async move { automations::engine::handle(&worker, event).await }
        })
    })
    .await
}
