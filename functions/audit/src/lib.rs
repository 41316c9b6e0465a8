//! The audit trail: [`consumer::handle`] writes the platform events to the audit table, [`router`] serves
//! them. One state for both; on AWS they are two functions (`audit-api`, `audit-consumer`).

pub mod api;
pub mod consumer;
pub mod store;

use std::sync::Arc;

use platform::group::{Access, Function, Group, Kind, Resources, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::store::AuditStore;

/// The audit group: the API reads the audit table; the consumer writes the events queue's messages to it.
pub static GROUP: Group = Group {
    name: "audit",
    functions: &[
        Function {
            binary: "audit-api",
            kind: Kind::Http,
            uses: &[platform::usage::METERED, Use::Table(store::TABLE, Access::Read)],
            settings: &[],
        },
        Function {
            binary: "audit-consumer",
            kind: Kind::Consumer {
                queue: events::routing::AUDIT,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 5,
                // 6 × the function's 10 s timeout, as Lambda's SQS event source asks.
                visibility_secs: 60,
            },
            uses: &[Use::Table(store::TABLE, Access::Write)],
            settings: &[],
        },
    ],
};

pub struct AuditState {
    pub store: AuditStore,
}

impl AuditState {
    pub async fn build(resources: &Resources) -> anyhow::Result<Self> {
        Ok(Self { store: AuditStore::new(resources.table(store::TABLE).await?) })
    }
}

pub fn router(state: Arc<AuditState>) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(api::list)).with_state(state)
}
