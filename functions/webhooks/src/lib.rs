//! Outgoing webhooks: a tenant's endpoints receive the platform events they subscribe to, signed per the
//! Standard Webhooks spec, at least once.
//!
//! Three functions, one crate:
//! - `webhooks` (HTTP): `/api/v1/webhooks/endpoints…` (endpoints, their secrets, test events, the message log,
//!   resend and recover) and `/api/v1/events/types` (the catalogue). Endpoints need `webhooks:manage` at
//!   tenant scope (tenant owners and admins, or a custom role granting it), asked of [`tenancy::resolve`];
//!   another tenant's ids are 404s.
//! - `webhooks-fanout` (the bus's `events-webhooks` queue): each event becomes one message per enabled endpoint
//!   of its tenant whose filter takes its type; the message id is a function of the event and the endpoint,
//!   so a redelivered event creates nothing twice ([`fanout`]).
//! - `webhooks-delivery` (our `webhooks-deliveries` queue): one attempt per job, then the next job or the
//!   verdict ([`delivery`]).
//!
//! ## Retries: a delivery queue with per-message delays
//! A retry is a job sent to the `webhooks-deliveries` queue with the retry's delay (the queue port's
//! `OutgoingMessage::delay`, SQS `DelaySeconds`). SQS delays at most 15 minutes, so a later retry is a job that
//! comes back every 15 minutes and is sent on again until it is due (a "hop": one cheap receive, no HTTP).
//! Why this rather than attempts stored with `next_attempt_at` and swept by a schedule: EventBridge schedules
//! fire at most once a minute, so a sweep delays every first retry by up to a minute and costs a table scan
//! (or an index query per tick) even when nothing is due, and under the runner a minute-granular schedule
//! would make a fast test schedule (`WEBHOOK_RETRY_SCHEDULE=1s,1s`) impossible; a delayed job costs nothing
//! while it waits, is exact to the second in both runtimes, and scales with SQS's event source. The message
//! record stays the truth: each job carries a random token, and only the job whose token the record holds
//! may attempt (a resend replaces the token, so an older scheduled retry finds itself stale and is dropped).
//! A job claims the message with a short lease (a version-guarded write) before sending, so two copies of one
//! job never send twice at once; the next job is sent *before* the record moves on, so a crash in between
//! repeats an attempt (at least once) but never loses the message.
//!
//! ## Server-side request forgery
//! Deliveries refuse private, loopback, link-local, unique-local, CGNAT, multicast, unspecified, reserved and
//! cloud-metadata addresses ([`ssrf`]), IPv4 and IPv6 (IPv4-mapped, NAT64 and 6to4 forms by the address they
//! carry), unless `WEBHOOK_ALLOWED_CIDRS` allows them: a literal address before connecting, a name through
//! the client's resolver, which resolves once and hands the connector only the addresses it checked (so a
//! second, rebinding answer is never asked for); redirects are followed by hand, at most three, each hop
//! checked again. Endpoint URLs are validated on create and update (`http`/`https`, no credentials, at most
//! 2,048 characters, a literal address checked as above).

pub mod api;
pub mod delivery;
pub mod fanout;
pub mod jobs;
pub mod secrets;
pub mod settings;
pub mod signing;
pub mod ssrf;
pub mod store;
pub mod target;

use std::sync::Arc;

use platform::group::{Access, Function, Group, KeyAccess, Kind, QueueAccess, Resources, Use};
use tenancy::TenancyStore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::WebhookSettings;

use crate::jobs::Jobs;
use crate::secrets::EndpointSecrets;
use crate::store::WebhookStore;

/// The webhooks group: the API (endpoints and messages in the webhooks table, the caller's access from the
/// workspaces table, secrets sealed with the KMS key, resends queued), the bus consumer and the deliveries.
pub static GROUP: Group = Group {
    name: "webhooks",
    functions: &[
        Function {
            binary: "webhooks",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Table(tenancy::TABLE, Access::Read),
                Use::Queue(jobs::QUEUE, QueueAccess::Send),
                Use::Keys(KeyAccess::EncryptDecrypt),
                Use::Bus(events::routing::BUS),
            ],
            settings: settings::API_SETTINGS,
        },
        Function {
            binary: "webhooks-fanout",
            kind: Kind::Consumer {
                queue: events::routing::WEBHOOKS,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 5,
                // 6 × the function's 10 s timeout, as Lambda's SQS event source asks.
                visibility_secs: 60,
            },
            uses: &[Use::Table(store::TABLE, Access::ReadWrite), Use::Queue(jobs::QUEUE, QueueAccess::Send)],
            settings: &[],
        },
        Function {
            binary: "webhooks-delivery",
            kind: Kind::Consumer {
                queue: jobs::QUEUE,
                batch_size: 10,
                batching_window_secs: 0,
                max_concurrency: 10,
                // 6 × the function's 30 s timeout (a batch's attempts run side by side, 15 s each at most).
                visibility_secs: 180,
            },
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Queue(jobs::QUEUE, QueueAccess::Send),
                Use::Keys(KeyAccess::Decrypt),
                Use::Bus(events::routing::BUS),
            ],
            settings: settings::DELIVERY_SETTINGS,
        },
    ],
};

/// What the API needs.
pub struct ApiState {
    pub store: WebhookStore,
    /// Endpoint changes, committed with them (the outbox in the webhooks table).
    pub events: events::Publisher,
    pub tenancy: TenancyStore,
    pub secrets: EndpointSecrets,
    pub jobs: Jobs,
    pub settings: WebhookSettings,
}

impl ApiState {
    pub async fn build(resources: &Resources, settings: WebhookSettings) -> anyhow::Result<Self> {
        let (table, events) = events::Publisher::open(resources, store::TABLE).await?;
        Ok(Self {
            store: WebhookStore::new(table),
            events,
            tenancy: TenancyStore::new(resources.table(tenancy::TABLE).await?),
            secrets: secrets::endpoint_secrets(resources.keys().await?),
            jobs: Jobs::new(resources.queue(&jobs::queue_spec()).await?),
            settings,
        })
    }
}

pub type SharedState = Arc<ApiState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::endpoints::list, api::endpoints::create))
        .routes(routes!(api::endpoints::get, api::endpoints::update, api::endpoints::delete))
        .routes(routes!(api::endpoints::rotate_secret))
        .routes(routes!(api::endpoints::send_test))
        .routes(routes!(api::messages::list))
        .routes(routes!(api::messages::resend))
        .routes(routes!(api::messages::recover))
        .routes(routes!(api::event_types::list))
        .with_state(state)
}
