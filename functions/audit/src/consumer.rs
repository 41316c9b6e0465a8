//! The audit trail's bus queue consumer (`events-audit`, every platform event): `SqsEvent -> SqsBatchResponse`, invoked by SQS on AWS and by the local
//! runner's poller. Each message is one audit event, written idempotently; a message that fails is reported
//! alone (partial batch failure) and redelivered, and one that can never succeed (not an audit event) ends
//! up in the dead-letter queue after the queue's maxReceiveCount.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use events::{Event, REQUEST_ID_ATTRIBUTE};
use tracing::Instrument;

use crate::AuditState;
use crate::store::Recorded;

pub async fn handle(state: &AuditState, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let request_id = message
            .message_attributes
            .get(REQUEST_ID_ATTRIBUTE)
            .and_then(|a| a.string_value.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("audit_message", %message_id, %request_id);
        if let Err(e) = handle_one(state, &message).instrument(span.clone()).await {
            span.in_scope(|| tracing::error!(error = ?e, "audit message failed; it will be redelivered"));
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
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
