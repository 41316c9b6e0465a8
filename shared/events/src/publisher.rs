//! Sends audit events to the events queue, inline (a Lambda may be frozen as soon as it has answered, so
//! nothing is left to a background task).

use std::sync::Arc;
use std::time::Duration;

use storage::queue::{OutgoingMessage, Queue};

use crate::{ACTION_ATTRIBUTE, Event, REQUEST_ID_ATTRIBUTE};

/// The metric counting events that could not be published (template.yaml alarms on it).
pub const PUBLISH_FAILURES_METRIC: &str = "EventPublishFailures";

#[derive(Clone)]
pub struct Publisher {
    queue: Arc<dyn Queue>,
}

impl Publisher {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    /// Publishes the event, retrying once. The change it records has already happened, so a failure does
    /// not fail the request: it is logged at error level with the whole event (which holds no secrets), to
    /// be replayed from the logs, and counted as the `EventPublishFailures` metric (on Lambda), which
    /// template.yaml's `EventPublishFailureAlarm` watches.
    pub async fn publish(&self, event: Event) {
        let body = match serde_json::to_string(&event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = ?e, action = event.action.as_str(), "audit event could not be encoded");
                return;
            }
        };
        let message = OutgoingMessage::new(body)
            .attribute(REQUEST_ID_ATTRIBUTE, event.request_id.clone())
            .attribute(ACTION_ATTRIBUTE, event.action.as_str());
        let mut last_error = None;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match self.queue.send(message.clone()).await {
                Ok(_) => return,
                Err(e) => last_error = Some(e),
            }
        }
        tracing::error!(
            error = ?last_error,
            event = %message.body,
            "audit event could not be published; it is only in this log line",
        );
        platform::emf::emit("events", PUBLISH_FAILURES_METRIC, 1.0, "Count");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use async_trait::async_trait;
    use storage::queue::ReceivedMessage;
    use storage::{StoreError, StoreResult};

    use super::*;
    use crate::{Action, Origin};

    /// Fails the first `failures` sends, records the rest.
    #[derive(Default)]
    struct FlakyQueue {
        failures: Mutex<u32>,
        sent: Mutex<Vec<OutgoingMessage>>,
    }

    #[async_trait]
    impl Queue for FlakyQueue {
        fn name(&self) -> &str {
            "events"
        }
        async fn send(&self, message: OutgoingMessage) -> StoreResult<String> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(StoreError::Unexpected(anyhow::anyhow!("queue unavailable")));
            }
            self.sent.lock().unwrap().push(message);
            Ok("m1".into())
        }
        async fn send_batch(&self, _: Vec<OutgoingMessage>) -> StoreResult<Vec<String>> {
            unimplemented!()
        }
        async fn receive(&self, _: usize, _: Duration, _: Duration) -> StoreResult<Vec<ReceivedMessage>> {
            unimplemented!()
        }
        async fn delete(&self, _: &str) -> StoreResult<()> {
            unimplemented!()
        }
        async fn ready(&self) -> StoreResult<()> {
            Ok(())
        }
    }

    fn event() -> Event {
        Event::new(Action::LoginSucceeded, &Origin { request_id: "req-1".into(), ip: None }).actor("u1")
    }

    #[tokio::test]
    async fn an_event_is_sent_with_the_request_id_as_an_attribute() {
        let queue = Arc::new(FlakyQueue::default());
        Publisher::new(queue.clone()).publish(event()).await;
        let sent = queue.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attributes[REQUEST_ID_ATTRIBUTE], "req-1");
        assert_eq!(sent[0].attributes[ACTION_ATTRIBUTE], "auth.login_succeeded");
        assert_eq!(serde_json::from_str::<Event>(&sent[0].body).unwrap().actor_id.as_deref(), Some("u1"));
    }

    #[tokio::test]
    async fn a_failed_send_is_retried_once() {
        let queue = Arc::new(FlakyQueue { failures: Mutex::new(1), ..FlakyQueue::default() });
        Publisher::new(queue.clone()).publish(event()).await;
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }
}
