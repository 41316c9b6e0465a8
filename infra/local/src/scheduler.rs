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

/// The period of an EventBridge `rate(N unit)` expression (minute(s), hour(s), day(s)).
pub fn rate(expression: &str) -> anyhow::Result<Duration> {
    let inner = expression.strip_prefix("rate(").and_then(|rest| rest.strip_suffix(')'));
    let Some((count, unit)) = inner.and_then(|inner| inner.trim().split_once(' ')) else {
        anyhow::bail!("schedule {expression:?}: the local scheduler runs `rate(N unit)` expressions only");
    };
    let count: u64 = count.parse().map_err(|_| anyhow::anyhow!("schedule {expression:?}: {count:?} is not a count"))?;
    let unit = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => anyhow::bail!("schedule {expression:?}: unknown unit {other:?}"),
    };
    if count == 0 {
        anyhow::bail!("schedule {expression:?}: the rate must be positive");
    }
    Ok(Duration::from_secs(count * unit))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn the_scheduler_emits_eventbridge_scheduled_events_at_its_rate_until_stopped() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let handler: ScheduledHandler = Arc::new(move |event| {
            sink.lock().unwrap().push(event);
            Box::pin(async { Ok(()) })
        });
        let (stop, stopped) = watch::channel(false);
        let task =
            tokio::spawn(run(Schedule { rule: "nightly".into(), every: Duration::from_millis(40), handler }, stopped));
        tokio::time::sleep(Duration::from_millis(190)).await;
        let _ = stop.send(true);
        task.await.unwrap();
        let count_at_stop = events.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(100)).await;

        let events = events.lock().unwrap();
        assert!((2..=5).contains(&events.len()), "about one event per 40 ms, got {}", events.len());
        assert_eq!(events.len(), count_at_stop, "nothing fires after stop");
        let event = &events[0];
        assert_eq!(event.source, "aws.events");
        assert_eq!(event.detail_type, "Scheduled Event");
        assert_eq!(
            event.resources.as_deref(),
            Some(&["arn:aws:events:local:000000000000:rule/nightly".to_string()][..])
        );
        // The same JSON an EventBridge rule delivers to Lambda.
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["detail-type"], "Scheduled Event");
    }

    #[test]
    fn rates_parse_as_eventbridge_reads_them() {
        assert_eq!(super::rate("rate(5 minutes)").ok(), Some(std::time::Duration::from_secs(300)));
        assert_eq!(super::rate("rate(1 hour)").ok(), Some(std::time::Duration::from_secs(3600)));
        assert!(super::rate("rate(0 days)").is_err());
        assert!(super::rate("cron(0 12 * * ? *)").is_err());
    }
}
