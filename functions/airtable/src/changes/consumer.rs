//! The `airtable-changes` consumer: the bus's link events (register, delete) and the notify route's fetches,
//! on one queue (`events-airtable-changes`).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::{Action, Event};
use serde_json::Value;

use super::{Capture, Job};

pub async fn handle(capture: &Capture, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("airtable-changes", event, |message| one(capture, message)).await
}

async fn one(capture: &Capture, message: SqsMessage) -> anyhow::Result<()> {
    let body = message.body.unwrap_or_default();
    if let Ok(job) = serde_json::from_str::<Job>(&body) {
        let Job::Fetch { tenant, base, webhook } = job;
        let fetched = capture.fetch(&tenant, &base, &webhook).await?;
        tracing::info!(%tenant, %base, payloads = fetched.payloads, events = fetched.events, continued = fetched.continued, "change capture: payloads read");
        return Ok(());
    }
    let event: Event = match serde_json::from_str(&body) {
        Ok(event) => event,
        Err(e) => {
            // A poison message: redelivering it cannot help.
            tracing::error!(error = %e, "change capture: a message that is neither a job nor an event is dropped");
            return Ok(());
        }
    };
    let Some(tenant) = event.tenant_id.as_deref() else { return Ok(()) };
    for base in bases(&event) {
        match event.action {
            Action::BaseLinked => _ = capture.register(tenant, &base).await?,
            Action::BaseUnlinked => capture.unregister(tenant, &base).await?,
            _ => {}
        }
    }
    Ok(())
}

/// The bases an event names: `base_id`, or `bases` (a platform admin attaching several).
fn bases(event: &Event) -> Vec<String> {
    let one = event.details.get("base_id").and_then(Value::as_str).map(String::from);
    let many = event.details.get("bases").and_then(Value::as_array).into_iter().flatten();
    one.into_iter().chain(many.filter_map(|b| b.as_str().map(String::from))).collect()
}
