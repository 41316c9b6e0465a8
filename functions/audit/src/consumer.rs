//! The audit trail's bus queue consumer (`events-audit`, every platform event): `SqsEvent -> SqsBatchResponse`, invoked by SQS on AWS and by the local
//! runner's poller. Each message is one audit event, written idempotently; a message that fails is reported
//! alone (partial batch failure) and redelivered, and one that can never succeed (not an audit event) ends
//! up in the dead-letter queue after the queue's maxReceiveCount.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::Event;

use crate::AuditState;
use crate::store::Recorded;

pub async fn handle(state: &AuditState, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("audit-consumer", event, |record| async move { handle_one(state, &record).await }).await
}

async fn handle_one(state: &AuditState, message: &SqsMessage) -> anyhow::Result<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let event: Event = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not an audit event: {e}"))?;
    match state.store.record(&event).await? {
        Recorded::New => tracing::debug!(action = event.action.as_str(), "audit entry written"),
        Recorded::Duplicate => tracing::info!(event_id = %event.event_id, "redelivered audit event ignored"),
    }
    Ok(())
}
