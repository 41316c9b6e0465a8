//! What clients see. An endpoint's secret appears only in [`CreatedEndpoint`] and [`RotatedSecret`].

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::rfc3339;
use crate::store::{Attempt, Endpoint, Message, Status, Trigger};

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// Event type names it receives (`GET /api/v1/events/types`); empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the platform disabled it (`410 Gone`, failing for days).
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; null after a success.
    pub failing_since: Option<String>,
    /// Until when the previous secret also signs (after a rotation).
    pub previous_secret_valid_until: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Send it back with an update to apply it only if nobody changed the endpoint since.
    pub version: u64,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        let overlap = e.previous_secret_expires_at_ms.filter(|until| *until > storage::now_millis());
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since_ms.map(rfc3339),
            previous_secret_valid_until: overlap.map(rfc3339),
            created_by: e.created_by,
            created_at: e.created_at,
            updated_at: e.updated_at,
            version: e.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
    /// Pass as `cursor` for more; null when there is no more.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks). Shown this once.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new `whsec_…`, shown this once.
    pub secret: String,
    /// Until then deliveries carry a signature by the previous secret too.
    pub previous_secret_valid_until: Option<String>,
    pub endpoint: EndpointView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub number: u32,
    pub at: String,
    pub trigger: Trigger,
    /// The receiver's status (after redirects); null when none came back.
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The first kilobyte of the receiver's answer.
    pub response: String,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            number: a.number,
            at: rfc3339(a.at_ms),
            trigger: a.trigger,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
            response: a.response,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// The `webhook-id` header of every attempt.
    pub id: String,
    pub endpoint_id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    pub status: Status,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// The body every attempt sends.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The latest attempts (at most 50), oldest first.
    pub attempts: Vec<AttemptView>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        let payload = serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::String(m.payload));
        Self {
            id: m.id,
            endpoint_id: m.endpoint_id,
            event_id: m.event_id,
            event_type: m.event_type,
            status: m.status,
            attempt_count: m.attempt_count,
            next_attempt_at: m.next_attempt_at_ms.map(rfc3339),
            last_error: m.last_error,
            created_at: rfc3339(m.created_at_ms),
            payload,
            attempts: m.attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed messages queued again.
    pub resent: usize,
    /// More failed messages remain after the first 1,000: call again with the same `since`.
    pub more: bool,
}
