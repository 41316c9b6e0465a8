//! The events queue's consumer on Lambda (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    platform::telemetry::init("audit-consumer");
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let backend = Backend::open(&storage).await?;
    let state = &audit::AuditState::build(&backend).await?;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(audit::consumer::handle(state, event.payload).await)
    }))
    .await
}
