//! The events queue's consumer on Lambda (SQS event source with ReportBatchItemFailures).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&audit::GROUP, "audit-consumer", |resources| async move {
        let state = std::sync::Arc::new(audit::AuditState::build(&resources).await?);
        Ok(move |event| {
            let state = state.clone();
            async move { audit::consumer::handle(&state, event).await }
        })
    })
    .await
}
