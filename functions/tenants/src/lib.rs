//! The tenant service: the caller's organization (`/api/v1/tenants/current`), its members and their tenant
//! roles (`owner`, `admin`, `member`), ownership transfer, invitations, and plans with limits.
//!
//! Who may do what: every member reads the tenant, its usage and its members; admins and the owner change
//! the tenant, roles, members and invitations; only the owner transfers ownership; only a platform admin sets
//! a plan. Nothing of another tenant is reachable: every read is keyed by the caller's tenant, so another
//! tenant's member or invitation is a 404 like one that does not exist. Accepting an invitation is the auth
//! function's (`POST /api/v1/invitations/accept`): it creates the account and signs it in.
//!
//! Two functions, one crate:
//! - `tenants` (HTTP): the routes above.
//! - `usage-plans` (the bus's `events-usage-plans` queue: `user.registered`, `tenant.plan_changed`): on AWS,
//!   each tenant's API Gateway usage key, attached to the usage plan of its plan, which the authorizer answers
//!   as `usageIdentifierKey` so API Gateway enforces the plan's API rate ([`usage_plans`]). Under `cargo run`
//!   with embedded storage it makes nothing: the local gateway enforces the same numbers itself.

pub mod access;
pub mod invitations;
pub mod members;
pub mod settings;
pub mod tenant;
pub mod usage_plans;
pub mod views;

use std::sync::Arc;

use events::Publisher;
use identity::IdentityStore;
use platform::group::{Access, Function, Group, KeyAccess, Kind, Resources, Setting, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::TenantSettings;

/// The tenants group: the HTTP function over the identity table, publishing to the events queue, which seals
/// each invitation token for the notifications service with the keys port ([`identity::invitation_seal`]);
/// and the usage-plans consumer, which manages API Gateway keys on the stack's usage plans.
pub static GROUP: Group = Group {
    name: "tenants",
    functions: &[
        Function {
            binary: "tenants",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Table(identity::TABLE, Access::ReadWrite),
                Use::Bus(events::routing::BUS),
                Use::Keys(KeyAccess::EncryptDecrypt),
                // The usage view's file storage (the files group's counter).
                Use::Table(files::store::TABLE, Access::Read),
                // The usage view's metered requests this month (analytics' daily aggregates).
                Use::Table(analytics::store::TABLE, Access::Read),
            ],
            settings: &[Setting::optional("TENANT_PLANS"), Setting::optional("INVITATION_TTL_SECS")],
        },
        Function {
            binary: "usage-plans",
            kind: Kind::Consumer {
                queue: events::routing::USAGE_PLANS,
                batch_size: 10,
                batching_window_secs: 1,
                // API Gateway's management API allows few calls per second per account.
                max_concurrency: 2,
                // 6 × the function's 10 s timeout, as Lambda's SQS event source asks.
                visibility_secs: 60,
            },
            uses: &[Use::Table(identity::TABLE, Access::ReadWrite), Use::UsagePlans],
            settings: usage_plans::SETTINGS,
        },
    ],
};

pub struct TenantsState {
    pub store: IdentityStore,
    /// The tenant's file storage in use, for the usage view.
    pub files: files::store::FileStore,
    pub analytics: analytics::store::AnalyticsStore,
    pub events: Publisher,
    /// Seals invitation tokens for the invitation email (the event carries only the sealed form).
    pub keys: Arc<dyn storage::keys::Keys>,
    pub settings: TenantSettings,
    /// The gateway's per-tenant API counts, where the gateway is ours (the local runner hands its limiter
    /// in); `None` on AWS, where API Gateway's usage plans enforce the rate.
    pub api_counts: Option<identity::api_rate::ApiRateLimiter>,
}

impl TenantsState {
    pub async fn build(resources: &Resources, settings: TenantSettings) -> anyhow::Result<Self> {
        let (table, events) = Publisher::open(resources, identity::TABLE).await?;
        let keys = resources.keys().await?;
        let files = files::store::FileStore::new(resources.table(files::store::TABLE).await?);
        let analytics = analytics::store::AnalyticsStore::new(resources.table(analytics::store::TABLE).await?);
        Ok(Self { store: IdentityStore::new(table), files, analytics, events, keys, settings, api_counts: None })
    }
}

pub type SharedState = Arc<TenantsState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(tenant::get_current, tenant::update_current))
        .routes(routes!(tenant::usage))
        .routes(routes!(tenant::set_plan))
        .routes(routes!(members::list))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(members::transfer_ownership))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::resend))
        .with_state(state)
}
