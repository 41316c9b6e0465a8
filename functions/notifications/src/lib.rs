//! Notifications: platform events turned into messages for people — in an in-app inbox, by email, by SMS and by
//! mobile push — from templates a tenant may override, as each user's preferences say.
//!
//! Two functions, one crate:
//! - `notifications` (HTTP): the caller's inbox (`GET /api/v1/notifications`, `…/unread-count`,
//!   `POST …/{id}/read`, `POST …/read-all`: the caller's own only, anything else a 404), their preferences
//!   (`GET|PUT …/preferences`, with the phone number SMS go to), their devices registered for push
//!   (`GET|POST …/devices`, `DELETE …/devices/{id}`: the caller's own), the tenant's templates (`GET|PUT …/templates/{type}`, `POST …/{type}/preview`:
//!   tenant owners and admins) and the embedded outbox (`GET …/outbox`: platform admins).
//! - `notifications-consumer` (the bus's `events-notifications` queue, filtered to the types it handles):
//!   [`consumer`].
//!
//! Channels: in-app; email ([`mailer`]: SES v2 on AWS and against moto, the embedded outbox under
//! `cargo run`); SMS and push ([`mobile`]: SNS `Publish` to a phone number, SNS platform endpoints; the
//! embedded outbox under `cargo run`). SMS is opt-in and needs a phone number; push needs a registered device;
//! neither goes to invitees nor carries a password reset link (email only). Invitation emails carry the accept link; its token reaches this service sealed by the tenants
//! function for it ([`identity::invitation_seal`]), so the audit trail and webhooks, which see every event,
//! never see it in clear. Templates: [`templates`] (minijinja, sandboxed and bounded). Preferences:
//! [`preferences`] (category × channel; security notices bypass them).

pub mod api;
pub mod consumer;
pub mod mailer;
pub mod mobile;
pub mod preferences;
pub mod records;
pub mod settings;
pub mod store;
pub mod templates;

use std::sync::Arc;

use platform::group::{Access, Function, Group, KeyAccess, Kind, PushAccess, Resources, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::NotificationSettings;

use crate::store::NotificationStore;

/// The notifications group: the API over the notifications table, which also registers devices for push
/// (SNS platform endpoints), and the consumer, which also reads the identity table (recipients, names), opens
/// sealed invitation tokens (kms:Decrypt) and sends email, SMS and push.
pub static GROUP: Group = Group {
    name: "notifications",
    functions: &[
        Function {
            binary: "notifications",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Push(PushAccess::Register),
            ],
            settings: settings::API_SETTINGS,
        },
        Function {
            binary: "notifications-consumer",
            kind: Kind::Consumer {
                queue: events::routing::NOTIFICATIONS,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 5,
                // 6 × the function's 10 s timeout, as Lambda's SQS event source asks.
                visibility_secs: 60,
            },
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Table(identity::TABLE, Access::Read),
                Use::Keys(KeyAccess::Decrypt),
                Use::Email,
                Use::Sms,
                Use::Push(PushAccess::Send),
            ],
            settings: settings::CONSUMER_SETTINGS,
        },
    ],
};

/// What the API needs.
pub struct ApiState {
    pub store: NotificationStore,
    /// Registers and unregisters devices for push.
    pub mobile: Arc<dyn mobile::Mobile>,
}

impl ApiState {
    pub async fn build(resources: &Resources, settings: &NotificationSettings) -> anyhow::Result<Self> {
        let store = NotificationStore::new(resources.table(store::TABLE).await?);
        let mobile = mobile::open(resources, &store, settings).await?;
        Ok(Self { store, mobile })
    }
}

pub type SharedState = Arc<ApiState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::inbox::list))
        .routes(routes!(api::inbox::unread_count))
        .routes(routes!(api::inbox::mark_read))
        .routes(routes!(api::inbox::mark_all_read))
        .routes(routes!(api::preferences::get, api::preferences::put))
        .routes(routes!(api::templates::get, api::templates::put))
        .routes(routes!(api::templates::preview))
        .routes(routes!(api::devices::list, api::devices::register))
        .routes(routes!(api::devices::delete))
        .routes(routes!(api::outbox::list))
        .with_state(state)
}
