//! The audit trail: [`consumer::handle`] writes the platform events to the audit table, [`router`] serves
//! them. One state for both; on AWS they are two functions (`audit-api`, `audit-consumer`).

pub mod api;
pub mod consumer;
pub mod store;

use std::sync::Arc;

use storage::backend::Backend;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::store::AuditStore;

pub struct AuditState {
    pub store: AuditStore,
}

impl AuditState {
    pub async fn build(backend: &Backend) -> anyhow::Result<Self> {
        Ok(Self { store: AuditStore::new(backend.table(store::TABLE).await?) })
    }
}

pub fn router(state: Arc<AuditState>) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(api::list)).with_state(state)
}
