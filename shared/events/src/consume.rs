//! A bus consumer's batch: each message handled in its own span (message id, request id), a message that fails
//! reported alone for redelivery (partial batch response), the others acknowledged. One loop for every
//! subscriber (audit, webhooks fan-out, notifications).

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

use crate::REQUEST_ID_ATTRIBUTE;

/// Runs `handle` on each message in turn; `consumer` names it in the logs.
pub async fn each<F, Fut>(consumer: &'static str, event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let request_id = record
            .message_attributes
            .get(REQUEST_ID_ATTRIBUTE)
            .and_then(|a| a.string_value.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("event_message", consumer, %message_id, %request_id);
        if let Err(e) = handle(record).instrument(span.clone()).await {
            span.in_scope(|| tracing::error!(error = ?e, "{consumer}: the message failed; it will be redelivered"));
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
