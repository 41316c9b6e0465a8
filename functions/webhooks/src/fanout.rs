//! The bus's `events-webhooks` queue: each platform event becomes a message for every enabled endpoint of
//! its tenant whose filter takes its type, and a job for each. A message's id is a function of the event and
//! the endpoint, so a redelivered event (SQS delivers at least once; this batch may have failed half-way)
//! creates nothing twice; a message found never attempted gets its job again (the first may not have gone out,
//! and a duplicate job is dropped by the message's lease and token).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::Event;
use platform::group::Resources;

use crate::jobs::{self, Job, Jobs, new_token};
use crate::store::{self, Created, Message, Status, Trigger, WebhookStore};

pub struct FanoutState {
    pub store: WebhookStore,
    pub jobs: Jobs,
}

impl FanoutState {
    pub async fn build(resources: &Resources) -> anyhow::Result<Self> {
        Ok(Self {
            store: WebhookStore::new(resources.table(store::TABLE).await?),
            jobs: Jobs::new(resources.queue(&jobs::queue_spec()).await?),
        })
    }
}

pub async fn handle(state: &FanoutState, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("webhooks-fanout", event, |record| async move { handle_one(state, &record).await }).await
}

async fn handle_one(state: &FanoutState, record: &SqsMessage) -> anyhow::Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let event: Event = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not a platform event: {e}"))?;
    let jobs = fan_out(&state.store, &event).await?;
    state.jobs.send_all(&jobs).await
}

/// The jobs `event` needs: one per matching endpoint whose message is new or was never attempted.
pub async fn fan_out(store: &WebhookStore, event: &Event) -> anyhow::Result<Vec<Job>> {
    let Some(tenant) = event.tenant_id.as_deref() else { return Ok(Vec::new()) };
    // The webhooks' own events (endpoint changes, failures) are never webhooks themselves: an endpoint would
    // hear about its own changes, and two failing endpoints would feed each other's failures forever. They are
    // in the audit trail.
    if event.action.as_str().starts_with("webhook.") {
        return Ok(Vec::new());
    }
    let kind = event.action.as_str();
    let payload = serde_json::to_string(event)?;
    let mut jobs = Vec::new();
    for endpoint in store.all_endpoints(tenant).await? {
        if !endpoint.enabled || !endpoint.accepts(kind) {
            continue;
        }
        let id = store::event_message_id(&event.event_id, event.occurred_at_ms, &endpoint.id);
        let now = storage::now_millis();
        let message = Message {
            id: id.clone(),
            tenant_id: tenant.to_string(),
            endpoint_id: endpoint.id.clone(),
            event_id: Some(event.event_id.clone()),
            event_type: kind.to_string(),
            payload: payload.clone(),
            status: Status::Pending,
            created_at_ms: event.occurred_at_ms,
            attempt_count: 0,
            retries_used: 0,
            next_attempt_at_ms: Some(now),
            token: Some(new_token()),
            lease_until_ms: None,
            last_error: None,
            attempts: Vec::new(),
            version: 0,
        };
        let queued = match store.create_message(&message).await? {
            Created::New(created) => Some(*created),
            Created::Existing => store
                .message(tenant, &endpoint.id, &id)
                .await?
                .filter(|m| m.status == Status::Pending && m.attempt_count == 0),
        };
        jobs.extend(queued.and_then(|m| Job::for_message(&m, Trigger::Event)));
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests;
