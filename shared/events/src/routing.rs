//! Who receives the platform events: one declaration for the bus on both adapter sets. Each subscriber has
//! its own queue and dead-letter queue; on AWS each is an SQS subscription of the `events` SNS topic with raw
//! message delivery and a filter policy on the `type` attribute (template.yaml, checked against this list by
//! `tests/tests/e2e/declarations.rs`), under `cargo run` the embedded bus applies the same filters.
//!
//! Why SNS rather than an EventBridge bus: a subscription per consumer gives the same fan-out and per-consumer
//! filtering with lower latency (tens of milliseconds against EventBridge's typical half second), half the
//! price per published event, and raw delivery keeps the envelope byte for byte; EventBridge's extras
//! (archive and replay, cross-account buses, schema registry) are not needed here, and the outbox keeps what
//! replay would give (nothing committed is lost).

use storage::bus::{BusSpec, Route};
use storage::queue::{DeadLetter, QueueSpec};

use crate::Action;

/// The bus's logical name (`TOPIC_ARN_EVENTS` on AWS).
pub const BUS: &str = "events";
/// The message attribute every event carries and every subscription filters on.
pub const TYPE_ATTRIBUTE: &str = "type";

/// The audit trail's queue: every event.
pub const AUDIT: &str = "events-audit";
/// The outgoing webhooks' queue: every event (each endpoint filters by type).
pub const WEBHOOKS: &str = "events-webhooks";
/// The notifications' queue: the types that become notifications (invitations, security notices, account
/// changes).
pub const NOTIFICATIONS: &str = "events-notifications";
/// The usage plans' queue (AWS: each tenant's API Gateway key on its plan's usage plan): new tenants and plan
/// changes.
pub const USAGE_PLANS: &str = "events-usage-plans";

/// The Airtable gateway's change capture (`functions/airtable/src/changes`): a linked base gets an Airtable
/// webhook, an unlinked one loses it. The notify route queues its payload fetches on the same queue.
pub const AIRTABLE_CHANGES: &str = "events-airtable-changes";

/// What change capture acts on.
pub static AIRTABLE_CHANGE_TYPES: &[Action] = &[Action::BaseLinked, Action::BaseUnlinked];

/// What the tenants group's usage-plans consumer acts on (`functions/tenants/src/usage_plans`).
pub static USAGE_PLAN_TYPES: &[Action] = &[Action::Registered, Action::TenantPlanChanged];

/// What the notifications service turns into messages (`functions/notifications`).
pub static NOTIFICATION_TYPES: &[Action] = &[
    Action::InvitationCreated,
    Action::InvitationResent,
    Action::ApiKeyCreated,
    Action::UserUpdated,
    Action::SessionRevoked,
    Action::PasswordResetRequested,
    Action::PasswordResetCompleted,
    Action::RegistrationRequested,
    Action::RegistrationAttempted,
    Action::EmailChangeRequested,
    Action::AutomationNotification,
];

/// The automations' trigger consumer (`functions/automations`): every event (a trigger may name any type).
pub const AUTOMATIONS: &str = "events-automations";

/// Usage analytics (`functions/analytics`): every event is metered.
pub const ANALYTICS: &str = "events-analytics";

/// One subscriber: its queue and the types it receives (`None`: all).
#[derive(Debug)]
pub struct Subscription {
    pub queue: &'static str,
    pub only: Option<&'static [Action]>,
}

pub static SUBSCRIPTIONS: &[Subscription] = &[
    Subscription { queue: AUDIT, only: None },
    Subscription { queue: WEBHOOKS, only: None },
    Subscription { queue: NOTIFICATIONS, only: Some(NOTIFICATION_TYPES) },
    Subscription { queue: USAGE_PLANS, only: Some(USAGE_PLAN_TYPES) },
    Subscription { queue: AIRTABLE_CHANGES, only: Some(AIRTABLE_CHANGE_TYPES) },
    Subscription { queue: AUTOMATIONS, only: None },
    Subscription { queue: ANALYTICS, only: None },
];

/// Receives before a message goes to its queue's dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = crate::MAX_RECEIVE_COUNT;

/// A subscriber's queue with its dead-letter queue (`<queue>-dlq`).
pub fn queue_spec(queue: &str) -> QueueSpec {
    QueueSpec {
        name: queue.into(),
        dead_letter: Some(DeadLetter { queue: format!("{queue}-dlq"), max_receive_count: MAX_RECEIVE_COUNT }),
    }
}

/// The bus with every subscription: what publishers open.
pub fn bus_spec() -> BusSpec {
    BusSpec {
        name: BUS.into(),
        attribute: TYPE_ATTRIBUTE.into(),
        routes: SUBSCRIPTIONS
            .iter()
            .map(|s| Route {
                queue: queue_spec(s.queue),
                only: s.only.map(|types| types.iter().map(|t| t.as_str().to_string()).collect()),
            })
            .collect(),
    }
}

/// The subscription whose queue is `queue`.
pub fn subscription(queue: &str) -> Option<&'static Subscription> {
    SUBSCRIPTIONS.iter().find(|s| s.queue == queue)
}
