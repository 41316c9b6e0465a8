//! The records of the webhooks table. Sealed secrets are ciphertexts, yet kept out of `Debug` all the same.

use serde::{Deserialize, Serialize};

/// A tenant's endpoint.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub description: Option<String>,
    /// Event type names it receives; empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the platform disabled it (410 Gone, failing for days); `None` when enabled or disabled by a user.
    pub disabled_reason: Option<String>,
    /// The sealed current secret.
    pub secret: String,
    /// The sealed secret it replaced, which also signs until `previous_secret_expires_at_ms`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at_ms: Option<i64>,
    /// When its current run of failures began (cleared by a success).
    pub failing_since_ms: Option<i64>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub version: u64,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Whether it receives events of type `name`.
    pub fn accepts(&self, name: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookMessageStatus)]
pub enum Status {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Retries exhausted, refused, or its endpoint disabled: dead-lettered until resent or recovered.
    Failed,
}

/// What started an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookAttemptTrigger)]
pub enum Trigger {
    /// The event's first delivery.
    Event,
    Retry,
    /// A resend or a recovery.
    Manual,
    /// `POST …/test`.
    Test,
}

/// One attempt, as logged on its message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// 1 for a message's first attempt.
    pub number: u32,
    pub at_ms: i64,
    pub trigger: Trigger,
    /// The receiver's HTTP status (of the last hop, after redirects); `None` when none came back.
    pub status_code: Option<u16>,
    /// Why it failed without a status (timeout, refused address, connection error, too many redirects).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The first kilobyte of the response body.
    pub response: String,
}

/// One event (or test) for one endpoint, with its attempts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// The `webhook-id` every attempt carries (receivers deduplicate on it).
    pub id: String,
    pub tenant_id: String,
    pub endpoint_id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    /// The body every attempt sends.
    pub payload: String,
    pub status: Status,
    pub created_at_ms: i64,
    /// Attempts ever made.
    pub attempt_count: u32,
    /// Retries spent in the current run (a resend starts a new run): the schedule's position.
    pub retries_used: u32,
    pub next_attempt_at_ms: Option<i64>,
    /// The one job allowed to attempt it (see the crate docs); `None` when nothing is scheduled.
    pub token: Option<String>,
    /// An attempt holds the message until then.
    pub lease_until_ms: Option<i64>,
    pub last_error: Option<String>,
    /// The latest attempts, oldest first (at most [`MAX_LOGGED_ATTEMPTS`]).
    pub attempts: Vec<Attempt>,
    #[serde(skip)]
    pub version: u64,
}

/// Attempts kept on a message; `attempt_count` still counts them all.
pub const MAX_LOGGED_ATTEMPTS: usize = 50;

impl Message {
    pub fn log(&mut self, attempt: Attempt) {
        self.attempts.push(attempt);
        if self.attempts.len() > MAX_LOGGED_ATTEMPTS {
            let excess = self.attempts.len() - MAX_LOGGED_ATTEMPTS;
            self.attempts.drain(..excess);
        }
    }
}
