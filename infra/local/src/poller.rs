//! SQS's part, locally: receive a batch from a queue, call the consumer function with a real `SqsEvent`,
//! delete what it handled and leave its reported failures (or the whole batch, if it failed) for redelivery
//! after the visibility timeout — the semantics of an event source mapping with `ReportBatchItemFailures`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use futures::future::BoxFuture;
use storage::queue::{Queue, ReceivedMessage};
use tokio::sync::watch;

pub type SqsHandler =
    Arc<dyn Fn(SqsEvent) -> BoxFuture<'static, Result<SqsBatchResponse, lambda_runtime::Error>> + Send + Sync>;

pub struct Consumer {
    pub queue: Arc<dyn Queue>,
    pub handler: SqsHandler,
    pub batch_size: usize,
    pub visibility: Duration,
}

const LONG_POLL: Duration = Duration::from_secs(1);

pub async fn run(consumer: Consumer, mut stop: watch::Receiver<bool>) {
    let name = consumer.queue.name().to_string();
    loop {
        if *stop.borrow() {
            break;
        }
        let received = tokio::select! {
            r = consumer.queue.receive(consumer.batch_size, consumer.visibility, LONG_POLL) => r,
            _ = stop.changed() => break,
        };
        let messages = match received {
            Ok(messages) if messages.is_empty() => continue,
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(queue = %name, error = ?e, "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // A batch in hand is finished even during shutdown, so nothing acknowledged is lost.
        deliver(&consumer, &name, messages).await;
    }
}

async fn deliver(consumer: &Consumer, name: &str, messages: Vec<ReceivedMessage>) {
    let event = to_event(name, &messages);
    let failed: HashSet<String> = match (consumer.handler)(event).await {
        Ok(response) => response.batch_item_failures.into_iter().filter_map(|f| f.item_identifier).collect(),
        Err(e) => {
            tracing::error!(queue = %name, error = ?e, "consumer failed; the whole batch will be redelivered");
            return;
        }
    };
    for message in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
        if let Err(e) = consumer.queue.delete(&message.receipt_handle).await {
            tracing::warn!(queue = %name, message_id = %message.message_id, error = ?e, "delete failed; it will be redelivered");
        }
    }
}

pub fn to_event(queue: &str, messages: &[ReceivedMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt_handle.clone());
            record.body = Some(m.body.clone());
            record.attributes = HashMap::from([
                ("ApproximateReceiveCount".to_string(), m.receive_count.to_string()),
                ("SentTimestamp".to_string(), m.sent_at_millis.to_string()),
            ]);
            record.message_attributes = m
                .attributes
                .iter()
                .map(|(k, v)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.string_value = Some(v.clone());
                    attribute.data_type = Some("String".into());
                    (k.clone(), attribute)
                })
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(format!("arn:aws:sqs:local:000000000000:{queue}"));
            record.aws_region = Some("local".into());
            record
        })
        .collect();
    event
}
