//! The bus's `events-analytics` queue (every event) → the tenant's aggregates: each event's readings
//! ([`crate::meter`]) counted once, in the hour and the day the event happened.

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
