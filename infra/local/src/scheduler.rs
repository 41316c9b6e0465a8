//! EventBridge's part, locally: emit a scheduled event for each rule at its rate and call the function.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use futures::future::BoxFuture;
use tokio::sync::watch;

pub type ScheduledHandler =
    Arc<dyn Fn(EventBridgeEvent) -> BoxFuture<'static, Result<(), lambda_runtime::Error>> + Send + Sync>;

pub struct Schedule {
    /// The rule's name (as in template.yaml).
    pub rule: String,
    pub every: Duration,
    pub handler: ScheduledHandler,
}

pub async fn run(schedule: Schedule, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(schedule.every);
    ticks.tick().await; // EventBridge's first event comes one period after the rule is created
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => break,
        }
        let event = scheduled_event(&schedule.rule);
        if let Err(e) = (schedule.handler)(event).await {
            tracing::error!(rule = %schedule.rule, error = ?e, "scheduled function failed");
        }
    }
}

pub fn scheduled_event(rule: &str) -> EventBridgeEvent {
    let mut event = EventBridgeEvent::default();
    event.version = Some("0".into());
    event.id = Some(uuid::Uuid::new_v4().to_string());
    event.detail_type = "Scheduled Event".into();
    event.source = "aws.events".into();
    event.account = Some("000000000000".into());
    event.region = Some("local".into());
    event.time = Some(chrono::Utc::now());
    event.resources = Some(vec![format!("arn:aws:events:local:000000000000:rule/{rule}")]);
    event.detail = serde_json::json!({});
    event
}
