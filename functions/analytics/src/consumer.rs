//! The two queues analytics consumes, into the tenant's aggregates:
//! - the bus's `events-analytics` (every event): each event's readings ([`crate::meter`]) counted once, in the
//!   hour and the day the event happened ([`handle`]);
//! - `analytics-requests` (every HTTP function's metered requests, `platform::usage`): each message's readings
//!   counted once by its id, in its hour ([`handle_usage`]).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use events::Event;

use crate::meter;
use crate::store::{AnalyticsStore, Metered};

pub async fn handle(store: &AnalyticsStore, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("analytics-events", event, |message| async move {
        let body = message.body.unwrap_or_default();
        let event: Event = serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("not a platform event: {e}"))?;
        let Some(tenant) = event.tenant_id.as_deref() else { return Ok(()) };
        let readings = meter::readings(&event);
        match store.meter(tenant, &event.event_id, event.occurred_at_ms, &readings).await? {
            Metered::Counted => tracing::debug!(event_id = %event.event_id, "metered"),
            Metered::Duplicate => tracing::info!(event_id = %event.event_id, "redelivered event not counted again"),
        }
        Ok(())
    })
    .await
}

pub async fn handle_usage(store: &AnalyticsStore, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("analytics-requests", event, |message| async move {
        let body = message.body.unwrap_or_default();
        let usage: platform::usage::UsageMessage =
            serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("not a usage message: {e}"))?;
        let (readings, unknown) = meter::usage_readings(&usage);
        if !unknown.is_empty() {
            tracing::warn!(
                ?unknown,
                "usage readings of metrics or dimensions this version does not know were left out"
            );
        }
        match store.meter(&usage.tenant_id, &usage.id, usage.at_ms, &readings).await? {
            Metered::Counted => tracing::debug!(usage_id = %usage.id, "usage metered"),
            Metered::Duplicate => tracing::info!(usage_id = %usage.id, "redelivered usage not counted again"),
        }
        Ok(())
    })
    .await
}
