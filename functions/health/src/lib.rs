//! Liveness and readiness, public in both runtimes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use platform::group::{Function, Group, Inventory, Kind, Resources, Use};
use serde::Serialize;
use storage::queue::QueueSpec;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long one readiness check may take before it counts as failed (every check runs at once: with 7 queues and 6
/// tables a busy emulator answered the last ones after 2 s).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

pub type Check = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// The named checks `/ready` runs, all at once.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
}

impl Readiness {
    pub fn add(&mut self, name: impl Into<String>, check: Check) {
        self.checks.push((name.into(), check));
    }

    pub fn table(&mut self, name: &str, table: Arc<dyn storage::table::Table>) {
        self.add(
            format!("table:{name}"),
            Arc::new(move || {
                let table = table.clone();
                Box::pin(async move { Ok(table.ready().await?) })
            }),
        );
    }

    pub fn queue(&mut self, queue: Arc<dyn storage::queue::Queue>) {
        self.add(
            format!("queue:{}", queue.name()),
            Arc::new(move || {
                let queue = queue.clone();
                Box::pin(async move { Ok(queue.ready().await?) })
            }),
        );
    }

    pub fn cache(&mut self, cache: Arc<dyn storage::cache::Cache>) {
        self.add(
            "cache",
            Arc::new(move || {
                let cache = cache.clone();
                Box::pin(async move { Ok(cache.ready().await?) })
            }),
        );
    }

    pub fn blobs(&mut self, name: &str, blobs: Arc<dyn storage::blobs::Blobs>) {
        self.add(
            format!("blobs:{name}"),
            Arc::new(move || {
                let blobs = blobs.clone();
                Box::pin(async move { Ok(blobs.ready().await?) })
            }),
        );
    }

    pub async fn run(&self) -> BTreeMap<String, &'static str> {
        let runs = self.checks.iter().map(|(name, check)| async move {
            let outcome = tokio::time::timeout(CHECK_TIMEOUT, check()).await;
            let ok = match outcome {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(check = %name, error = ?e, "readiness check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!(check = %name, "readiness check timed out");
                    false
                }
            };
            (name.clone(), if ok { "ok" } else { "unavailable" })
        });
        futures::future::join_all(runs).await.into_iter().collect()
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Each dependency: `ok` or `unavailable`.
    pub checks: BTreeMap<String, &'static str>,
}

/// The health group: `/health`, and `/ready` over every table and queue the groups declare.
pub static GROUP: Group = Group {
    name: "health",
    functions: &[Function {
        binary: "health",
        kind: Kind::Http,
        uses: &[platform::usage::METERED, Use::Readiness],
        settings: &[],
    }],
};

impl Readiness {
    /// On Lambda: the tables and queues named by `READY_TABLES` and `READY_QUEUES` (template.yaml lists every
    /// one the groups declare; tests/tests/e2e/template.rs checks).
    pub async fn from_env(resources: &Resources) -> anyhow::Result<Self> {
        let backend = resources.readiness()?;
        let mut readiness = Self::default();
        for name in platform::config::list("READY_TABLES") {
            readiness.table(&name, backend.table(&name).await?);
        }
        for name in platform::config::list("READY_QUEUES") {
            readiness.queue(backend.queue(&QueueSpec { name, dead_letter: None }).await?);
        }
        Ok(readiness)
    }

    /// Under the local runner: every table and queue `groups` declare, and the cache if one uses it.
    pub async fn of(resources: &Resources, groups: &[&'static Group]) -> anyhow::Result<Self> {
        let backend = resources.readiness()?;
        let inventory = Inventory::of(groups);
        let mut readiness = Self::default();
        if inventory.cache {
            readiness.cache(backend.cache().await?);
        }
        for name in inventory.tables {
            readiness.table(name, backend.table(name).await?);
        }
        for name in inventory.queues {
            readiness.queue(backend.queue(&QueueSpec { name: name.into(), dead_letter: None }).await?);
        }
        Ok(readiness)
    }
}

pub fn router(readiness: Arc<Readiness>) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).with_state(readiness)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: every storage dependency answers.
#[utoipa::path(get, path = "/ready", tag = "health", security(()),
    responses((status = 200, description = "Ready", body = Ready), (status = 503, description = "A dependency is down", body = Ready)))]
async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let checks = readiness.run().await;
    let all_ok = checks.values().all(|s| *s == "ok");
    let (status, label) =
        if all_ok { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    (status, axum::Json(Ready { status: label, checks })).into_response()
}
