//! Publishes platform events on the bus, inline (a Lambda may be frozen as soon as it has answered, so
//! nothing is left to a background task).

use std::sync::Arc;
use std::time::Duration;

use storage::bus::Bus;
use storage::queue::OutgoingMessage;

use crate::routing::TYPE_ATTRIBUTE;
use crate::{Event, REQUEST_ID_ATTRIBUTE};

/// The metric counting events that could not be published (template.yaml alarms on it).
pub const PUBLISH_FAILURES_METRIC: &str = "EventPublishFailures";

#[derive(Clone)]
pub struct Publisher {
    bus: Arc<dyn Bus>,
}

impl Publisher {
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        Self { bus }
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
            .attribute(TYPE_ATTRIBUTE, event.action.as_str());
        let mut last_error = None;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match self.bus.publish(message.clone()).await {
                Ok(()) => return,
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
    use storage::{StoreError, StoreResult};

    use super::*;
    use crate::{Action, Origin};

    /// Fails the first `failures` publishes, records the rest.
    #[derive(Default)]
    struct FlakyBus {
        failures: Mutex<u32>,
        sent: Mutex<Vec<OutgoingMessage>>,
    }

    #[async_trait]
    impl Bus for FlakyBus {
        async fn publish(&self, message: OutgoingMessage) -> StoreResult<()> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(StoreError::Unexpected(anyhow::anyhow!("bus unavailable")));
            }
            self.sent.lock().unwrap().push(message);
            Ok(())
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
        let bus = Arc::new(FlakyBus::default());
        Publisher::new(bus.clone()).publish(event()).await;
        let sent = bus.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attributes[REQUEST_ID_ATTRIBUTE], "req-1");
        assert_eq!(sent[0].attributes[TYPE_ATTRIBUTE], "auth.login_succeeded");
        assert_eq!(serde_json::from_str::<Event>(&sent[0].body).unwrap().actor_id.as_deref(), Some("u1"));
    }

    #[tokio::test]
    async fn a_failed_send_is_retried_once() {
        let bus = Arc::new(FlakyBus { failures: Mutex::new(1), ..FlakyBus::default() });
        Publisher::new(bus.clone()).publish(event()).await;
        assert_eq!(bus.sent.lock().unwrap().len(), 1);
    }
}
