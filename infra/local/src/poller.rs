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
        Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use aws_lambda_events::sqs::BatchItemFailure;
    use storage::queue::{DeadLetter, OutgoingMessage, QueueSpec};

    use super::*;

    /// A consumer that fails every message whose body is "poison" and records what it saw.
    fn consumer(queue: Arc<dyn Queue>, seen: Arc<Mutex<Vec<(String, String, String)>>>) -> Consumer {
        let handler: SqsHandler = Arc::new(move |event: SqsEvent| {
            let seen = seen.clone();
            Box::pin(async move {
                let mut response = SqsBatchResponse::default();
                for record in event.records {
                    let body = record.body.clone().unwrap_or_default();
                    let request_id = record
                        .message_attributes
                        .get("request_id")
                        .and_then(|a| a.string_value.clone())
                        .unwrap_or_default();
                    let count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
                    seen.lock().unwrap().push((body.clone(), request_id, count));
                    if body == "poison" {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = record.message_id.unwrap_or_default();
                        response.batch_item_failures.push(failure);
                    }
                }
                Ok(response)
            })
        });
        Consumer { queue, handler, batch_size: 10, visibility: Duration::from_millis(300) }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reported_failures_are_redelivered_until_the_dead_letter_queue_and_the_rest_are_deleted() {
        let dir = std::env::temp_dir().join(format!("poller-test-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        let spec = QueueSpec {
            name: "events".into(),
            dead_letter: Some(DeadLetter { queue: "events-dlq".into(), max_receive_count: 2 }),
        };
        let queue = env.queue(spec);
        let dlq = env.queue(QueueSpec { name: "events-dlq".into(), dead_letter: None });
        queue.send(OutgoingMessage::new("good").attribute("request_id", "req-1")).await.unwrap();
        queue.send(OutgoingMessage::new("poison").attribute("request_id", "req-2")).await.unwrap();

        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(consumer(queue.clone(), seen.clone()), stopped));
        let mut dead = Vec::new();
        for _ in 0..50 {
            dead = dlq.receive(10, Duration::from_secs(30), Duration::from_millis(100)).await.unwrap();
            if !dead.is_empty() {
                break;
            }
        }
        let _ = stop.send(true);
        task.await.unwrap();

        assert_eq!(dead.len(), 1, "the poison message reached the DLQ");
        assert_eq!(dead[0].body, "poison");
        let seen = seen.lock().unwrap().clone();
        let good: Vec<_> = seen.iter().filter(|(b, _, _)| b == "good").collect();
        assert_eq!(good.len(), 1, "a handled message is deleted, never redelivered: {seen:?}");
        assert_eq!(good[0].1, "req-1", "message attributes reach the consumer");
        let poison_counts: Vec<_> = seen.iter().filter(|(b, _, _)| b == "poison").map(|(_, _, c)| c.clone()).collect();
        assert_eq!(poison_counts, vec!["1", "2"], "delivered max_receive_count times, then dead-lettered");
        assert!(queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
