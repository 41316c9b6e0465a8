//! Analytics: the seed's Analytics Service ("metrics and reporting").
//!
//! Three functions, one crate:
//! - `analytics-events` (the bus's `events-analytics`, every event): meters each event ([`meter`]) into the
//!   tenant's hourly and daily aggregates, once per event id ([`store`], [`consumer`]).
//! - `analytics-requests` (`analytics-requests`, which every HTTP function sends its tenants' metered
//!   requests to: `platform::usage`): the same aggregates, once per message id.
//! - `analytics` (HTTP): `GET /api/v1/analytics/usage` and `GET /api/v1/analytics/top` ([`api`]).

pub mod api;
pub mod consumer;
pub mod meter;
pub mod store;

use std::sync::Arc;

use platform::group::{Access, Function, Group, Kind, Resources, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::store::AnalyticsStore;

/// The analytics group.
pub static GROUP: Group = Group {
    name: "analytics",
    functions: &[
        Function {
            binary: "analytics",
            kind: Kind::Http,
            uses: &[Use::Table(store::TABLE, Access::Read), platform::usage::METERED],
            settings: &[],
        },
        Function {
            binary: "analytics-events",
            kind: Kind::Consumer {
                queue: events::routing::ANALYTICS,
                batch_size: 10,
                batching_window_secs: 1,
                // Events of one tenant and hour write the same aggregates: few writers contend less.
                max_concurrency: 2,
                // 6 × the function's 10 s timeout.
                visibility_secs: 60,
            },
            uses: &[Use::Table(store::TABLE, Access::ReadWrite)],
            settings: &[],
        },
        Function {
            binary: "analytics-requests",
            kind: Kind::Consumer {
                queue: platform::usage::QUEUE,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 2,
                // 6 × the function's 10 s timeout.
                visibility_secs: 60,
            },
            uses: &[Use::Table(store::TABLE, Access::ReadWrite)],
            settings: &[],
        },
    ],
};

pub struct ApiState {
    pub store: AnalyticsStore,
}

impl ApiState {
    pub async fn build(resources: &Resources) -> anyhow::Result<Self> {
        Ok(Self { store: AnalyticsStore::new(resources.table(store::TABLE).await?) })
    }
}

pub type SharedState = Arc<ApiState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(api::usage)).routes(routes!(api::top)).with_state(state)
}
