//! Automations: the workflow engine of the seed's Workflow Engine service.
//!
//! Three functions, one crate:
//! - `automations` (HTTP): `/api/v1/workspaces/{id}/automations…` ([`api`]): definitions, enable/disable, a dry
//!   run with sample data, a manual run, runs and their step logs, retry; and the public incoming webhook route.
//!   Schedule triggers are kept in step with their automation through the schedules port ([`schedule`]).
//! - `automations-events` (the bus's `events-automations`, every event): starts the runs an event triggers
//!   ([`triggers`]).
//! - `automations-worker` (our `automations-runs` queue, which EventBridge Scheduler also targets): schedule
//!   fires and run steps, one action per job ([`engine`]).
//!
//! What an automation is: [`model`] (trigger, [`conditions`], steps; every bound), values templated from the run
//! ([`template`]). Where things are stored: [`store`].

pub mod api;
pub mod conditions;
pub mod engine;
pub mod jobs;
pub mod model;
pub mod runs;
pub mod schedule;
pub mod store;
pub mod template;
pub mod triggers;

use std::sync::Arc;

use platform::group::{Access, Function, Group, KeyAccess, Kind, QueueAccess, Resources, Use};
use tenancy::TenancyStore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::jobs::Jobs;
use crate::runs::Starter;
use crate::store::AutomationStore;

/// What the event consumer and the worker use: the automations table (runs, with its outbox), the runs queue,
/// the identity table (the creator's roles, the tenant's plan, recipients), and the Airtable gateway's parts
/// (the cache for the limiter and invalidation, the workspaces table for links, permissions and connections,
/// the KMS key to open connection secrets), and the bus (run and notification events).
const ENGINE_USES: &[Use] = &[
    Use::Table(store::TABLE, Access::ReadWrite),
    Use::Queue(jobs::QUEUE, QueueAccess::Send),
    Use::Table(identity::TABLE, Access::Read),
    Use::Cache,
    Use::Table(tenancy::TABLE, Access::ReadWrite),
    Use::Keys(KeyAccess::EncryptDecrypt),
    Use::Bus(events::routing::BUS),
];

/// The automations group.
pub static GROUP: Group = Group {
    name: "automations",
    functions: &[
        Function {
            binary: "automations",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Table(tenancy::TABLE, Access::Read),
                Use::Table(identity::TABLE, Access::Read),
                Use::Queue(jobs::QUEUE, QueueAccess::Send),
                Use::Schedules(jobs::QUEUE),
                Use::Bus(events::routing::BUS),
            ],
            settings: &[platform::group::Setting::optional("TENANT_PLANS")],
        },
        Function {
            binary: "automations-events",
            kind: Kind::Consumer {
                queue: events::routing::AUTOMATIONS,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 5,
                // 6 × the function's 30 s timeout.
                visibility_secs: 180,
            },
            uses: ENGINE_USES,
            settings: ENGINE_SETTINGS,
        },
        Function {
            binary: "automations-worker",
            kind: Kind::Consumer {
                queue: jobs::QUEUE,
                batch_size: 1,
                batching_window_secs: 0,
                max_concurrency: 10,
                // 6 × the function's 30 s timeout: one action (15 s at most upstream) a job.
                visibility_secs: 180,
            },
            uses: ENGINE_USES,
            settings: ENGINE_SETTINGS,
        },
    ],
};

/// The engine's settings: the gateway's, the plans, the outgoing calls' allow list, the crash test's failpoint.
const ENGINE_SETTINGS: &[platform::group::Setting] =
    airtable::gateway_settings!("TENANT_PLANS", "WEBHOOK_ALLOWED_CIDRS", "AUTOMATIONS_FAILPOINT");

/// What the API needs.
pub struct ApiState {
    pub store: AutomationStore,
    pub events: events::Publisher,
    pub tenancy: TenancyStore,
    pub jobs: Jobs,
    pub starter: Starter,
    pub triggers: schedule::Triggers,
}

impl ApiState {
    pub async fn build(resources: &Resources, plans: identity::plans::Plans) -> anyhow::Result<Self> {
        let (table, events) = events::Publisher::open(resources, store::TABLE).await?;
        let store = AutomationStore::new(table);
        let jobs = Jobs::new(resources.queue(&jobs::queue_spec()).await?);
        let identity = identity::IdentityStore::new(resources.table(identity::TABLE).await?);
        Ok(Self {
            starter: Starter::new(store.clone(), jobs.clone(), identity, plans),
            store,
            events,
            tenancy: TenancyStore::new(resources.table(tenancy::TABLE).await?),
            jobs,
            triggers: schedule::Triggers {
                schedules: resources.schedules(&jobs::queue_spec()).await?,
                namespace: resources.namespace().to_string(),
            },
        })
    }
}

pub type SharedState = Arc<ApiState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::automations::list, api::automations::create))
        .routes(routes!(api::automations::get, api::automations::update, api::automations::delete))
        .routes(routes!(api::automations::enable))
        .routes(routes!(api::automations::disable))
        .routes(routes!(api::automations::test))
        .routes(routes!(api::automations::run))
        .routes(routes!(api::runs::list))
        .routes(routes!(api::runs::get))
        .routes(routes!(api::runs::retry))
        .routes(routes!(api::hooks::trigger))
        .with_state(state)
}

/// The worker (and the event consumer) as a Lambda function builds it: settings from the environment.
pub async fn worker_from_env(resources: &Resources) -> anyhow::Result<Arc<engine::Worker>> {
    let settings = airtable::AirtableSettings::from_env()?;
    let endpoints = tenancy::airtable::AirtableEndpoints::from_env()?;
    let credentials = airtable::tenant_credentials(resources, &settings, endpoints).await?;
    let gateway = airtable::Gateway::new(
        &settings,
        resources.cache().await?,
        resources.namespace(),
        Arc::new(credentials),
        airtable::Metrics::emf(),
    )?;
    let allowed = webhooks::WebhookSettings::from_env()?.allowed;
    let parts = engine::WorkerParts {
        gateway,
        plans: identity::plans::Plans::from_env()?,
        allowed,
        settings: engine::EngineSettings::from_env()?,
    };
    Ok(Arc::new(engine::Worker::build(resources, parts).await?))
}
