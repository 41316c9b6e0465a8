//! Per-tenant usage of the request path: what each tenant's API requests cost (by route, status and user,
//! with their latency) and what they made the Airtable gateway do (upstream calls, cache outcomes, limiter
//! waits). Analytics' `analytics-requests` consumer adds it to the tenant's hourly and daily aggregates.
//!
//! - **Where a reading comes from.** The app's [`crate::metrics::Registry`] holds its meter; the group layer
//!   ([`crate::metrics::tag_group`]) runs each authenticated request inside the caller's [`Scope`] (a
//!   task-local with the meter), so [`add`] from anywhere in that request counts for its tenant, and the
//!   request itself is counted by [`crate::metrics::track`] once it is answered. A request without a caller
//!   (public routes, refusals before the group) counts for no tenant.
//! - **Summed in the process**, per (tenant, hour, metric, dimensions), so a busy function sends one message
//!   per tenant per flush, not one per request. At most [`MAX_ROWS`] rows wait; past that a flush is due.
//! - **Flushed** to the queue `analytics-requests`, one message per tenant and hour with an id of its own
//!   (analytics counts an id once, so a redelivered message never counts twice): under the runner every
//!   `USAGE_FLUSH_SECS`; on Lambda after an invocation once the oldest reading is that old, and on shutdown
//!   (SIGTERM). A failed send puts the rows back for the next flush.
//!
//! - **Consumers** whose binary declares [`METERED`] count their work with [`count`] (naming the tenant):
//!   notifications sent, webhook attempts. On Lambda their batch runs in [`metering`]; the runner's pollers run
//!   every batch in its one meter.
//!
//! What is not counted: requests refused before the group (401, 403 from the authorizer, the tenant's 429),
//! which are the gateway's; and on Lambda, readings of an instance killed without its SIGTERM.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use storage::queue::{DeadLetter, OutgoingMessage, Queue, QueueSpec};

/// The queue every HTTP function sends its usage to (analytics consumes it).
pub const QUEUE: &str = "analytics-requests";
/// Rows (distinct tenant, hour, metric and dimensions) kept before a flush is due whatever the time.
pub const MAX_ROWS: usize = 2_000;
/// Readings in one message (well under SQS's 256 KiB).
pub const MAX_READINGS_PER_MESSAGE: usize = 400;
/// How long a reading waits before it is flushed, unless `USAGE_FLUSH_SECS` says otherwise.
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(10);

/// The metrics of the request path (analytics' catalogue lists them with the events' metrics).
pub const API_REQUESTS: &str = "api_requests";
pub const API_ERRORS: &str = "api_errors";
pub const API_LATENCY_MS: &str = "api_latency_ms";
pub const AIRTABLE_UPSTREAM_CALLS: &str = "airtable_upstream_calls";
pub const AIRTABLE_CACHE: &str = "airtable_cache";
pub const AIRTABLE_LIMITER_WAITS: &str = "airtable_limiter_waits";
pub const AIRTABLE_LIMITER_WAIT_MS: &str = "airtable_limiter_wait_ms";
/// The consumers' (through [`count`]).
pub const NOTIFICATIONS_SENT: &str = "notifications_sent";
pub const WEBHOOK_ATTEMPTS: &str = "webhook_attempts";
/// The dimensions of the readings.
pub const DIMENSIONS: [&str; 7] = ["route", "status", "user", "base", "outcome", "channel", "endpoint"];

/// What every HTTP function declares: it sends its tenants' usage to [`QUEUE`].
pub const METERED: crate::group::Use = crate::group::Use::Queue(QUEUE, crate::group::QueueAccess::Send);

pub fn queue_spec() -> QueueSpec {
    QueueSpec {
        name: QUEUE.into(),
        dead_letter: Some(DeadLetter { queue: format!("{QUEUE}-dlq"), max_receive_count: 5 }),
    }
}

/// The flush interval: `USAGE_FLUSH_SECS` (1–300), else [`DEFAULT_FLUSH`].
pub fn flush_interval_from_env() -> anyhow::Result<Duration> {
    match std::env::var("USAGE_FLUSH_SECS") {
        Ok(value) => match value.parse::<u64>() {
            Ok(secs @ 1..=300) => Ok(Duration::from_secs(secs)),
            _ => anyhow::bail!("USAGE_FLUSH_SECS must be a whole number of seconds from 1 to 300, not {value:?}"),
        },
        Err(_) => Ok(DEFAULT_FLUSH),
    }
}

/// Whose request this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub tenant_id: String,
    pub user_id: String,
}

tokio::task_local! {
    static SCOPE: (Scope, Arc<Meter>);
    /// The meter of work that serves no request (a queue consumer's batch), for [`count`].
    static METER: Arc<Meter>;
}

/// Runs `work` (a consumer's batch) with `meter` as where [`count`] counts.
pub async fn metering<F: std::future::Future>(meter: Arc<Meter>, work: F) -> F::Output {
    METER.scope(meter, work).await
}

/// Counts `value` of `metric` for `tenant`, named explicitly (a consumer's work is no caller's), in the meter
/// of the batch or request being served (nothing where none is).
pub fn count(tenant: &str, metric: &'static str, value: u64, dimensions: &[(&'static str, &str)]) {
    let counted = METER.try_with(|meter| meter.add(tenant, metric, value, dimensions));
    if counted.is_err() {
        let _ = SCOPE.try_with(|(_, meter)| meter.add(tenant, metric, value, dimensions));
    }
}

/// Runs `work` as `scope`'s: what it [`add`]s counts for that tenant, in `meter`.
pub async fn within<F: std::future::Future>(scope: Scope, meter: Arc<Meter>, work: F) -> F::Output {
    SCOPE.scope((scope, meter), work).await
}

/// `work` in the scope it is made in (for work spawned onto a task of its own, which task-locals do not reach).
pub fn carry<F: std::future::Future>(work: F) -> impl std::future::Future<Output = F::Output> {
    let current = SCOPE.try_with(Clone::clone).ok();
    async move {
        match current {
            Some(current) => SCOPE.scope(current, work).await,
            None => work.await,
        }
    }
}

/// The scope of the request being served, if any.
pub fn current() -> Option<Scope> {
    SCOPE.try_with(|(scope, _)| scope.clone()).ok()
}

/// One metric's share of a message: `value` with its (dimension, value) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub metric: String,
    pub value: u64,
    pub dimensions: Vec<(String, String)>,
}

/// What the queue carries: one tenant's readings of one hour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageMessage {
    /// Counted once, whatever the deliveries.
    pub id: String,
    pub tenant_id: String,
    /// A moment in the hour the readings belong to (epoch milliseconds).
    pub at_ms: i64,
    pub readings: Vec<Reading>,
}

type RowKey = (String, i64, &'static str, Vec<(&'static str, String)>);

/// An app's meter (the runner's, or a Lambda process's): rows waiting for a flush, and where they go.
pub struct Meter {
    queue: Arc<dyn Queue>,
    interval: Duration,
    rows: Mutex<Rows>,
    /// One flush at a time (a second caller finds the rows already taken).
    flushing: tokio::sync::Mutex<()>,
    /// Told when [`MAX_ROWS`] rows wait (the runner's flush task listens).
    full: tokio::sync::Notify,
}

#[derive(Default)]
struct Rows {
    values: HashMap<RowKey, u64>,
    oldest: Option<Instant>,
}

const HOUR_MS: i64 = 3_600_000;

/// Counts `value` of `metric` for the tenant of the request being served (nothing outside one, or where the
/// app meters nothing).
pub fn add(metric: &'static str, value: u64, dimensions: &[(&'static str, &str)]) {
    let _ = SCOPE.try_with(|(scope, meter)| meter.add(&scope.tenant_id, metric, value, dimensions));
}

impl Meter {
    pub fn new(queue: Arc<dyn Queue>, interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            queue,
            interval,
            rows: Mutex::new(Rows::default()),
            flushing: tokio::sync::Mutex::new(()),
            full: tokio::sync::Notify::new(),
        })
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add(&self, tenant: &str, metric: &'static str, value: u64, dimensions: &[(&'static str, &str)]) {
        if value == 0 {
            return;
        }
        let hour = storage::now_millis().div_euclid(HOUR_MS) * HOUR_MS;
        let dims = dimensions.iter().map(|(name, v)| (*name, (*v).to_string())).collect();
        let mut rows = self.rows();
        let total = rows.values.entry((tenant.to_string(), hour, metric, dims)).or_default();
        *total = total.saturating_add(value);
        rows.oldest.get_or_insert_with(Instant::now);
        if rows.values.len() == MAX_ROWS {
            self.full.notify_one();
        }
    }

    /// Resolves once [`MAX_ROWS`] rows wait (or at once, if they did since the last call).
    pub async fn filled(&self) {
        self.full.notified().await;
    }

    /// Whether a flush is due: the oldest reading is [`Meter::interval`] old, or too many rows wait.
    pub fn due(&self) -> bool {
        let rows = self.rows();
        rows.values.len() >= MAX_ROWS || rows.oldest.is_some_and(|at| at.elapsed() >= self.interval)
    }

    /// Sends what waits, one message per tenant and hour (split past [`MAX_READINGS_PER_MESSAGE`]). What could
    /// not be sent waits for the next flush. Returns the messages sent.
    pub async fn flush(&self) -> usize {
        let _one = self.flushing.lock().await;
        let taken = std::mem::take(&mut *self.rows());
        if taken.values.is_empty() {
            return 0;
        }
        // Each message keeps the rows it carries, to put them back if the queue refuses it.
        let mut grouped: HashMap<(String, i64), Vec<(RowKey, u64)>> = HashMap::new();
        for (key, value) in taken.values {
            grouped.entry((key.0.clone(), key.1)).or_default().push((key, value));
        }
        let mut messages = Vec::new();
        for ((tenant_id, hour), rows) in grouped {
            for chunk in rows.chunks(MAX_READINGS_PER_MESSAGE) {
                let readings = chunk
                    .iter()
                    .map(|((_, _, metric, dims), value)| Reading {
                        metric: (*metric).to_string(),
                        value: *value,
                        dimensions: dims.iter().map(|(n, v)| ((*n).to_string(), v.clone())).collect(),
                    })
                    .collect();
                let id = uuid::Uuid::new_v4().to_string();
                messages
                    .push((UsageMessage { id, tenant_id: tenant_id.clone(), at_ms: hour, readings }, chunk.to_vec()));
            }
        }
        // Each message alone: one the queue refused waits for the next flush, and none is sent twice.
        let sends = messages.into_iter().map(|(message, rows)| async move {
            let sent = match OutgoingMessage::job(&message, Duration::ZERO) {
                Ok(outgoing) => self.queue.send(outgoing).await.map(|_| ()).map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            (message.tenant_id, rows, sent)
        });
        let mut count = 0;
        for (tenant_id, rows, sent) in futures::future::join_all(sends).await {
            match sent {
                Ok(()) => count += 1,
                Err(e) => {
                    tracing::warn!(error = %e, %tenant_id, "usage could not be sent; it waits for the next flush");
                    self.put_back(rows);
                }
            }
        }
        count
    }

    /// Flushes if [`Meter::due`] (a Lambda process, at the end of an invocation: it is frozen between them).
    pub async fn flush_if_due(&self) {
        if self.due() {
            self.flush().await;
        }
    }

    /// An answered request of the caller in `scope`: `api_requests` (by route, status and user), `api_latency_ms`
    /// (by route) and, for a 5xx, `api_errors` (by route and status). `route` is the route template.
    pub fn request(&self, scope: &Scope, method: &http::Method, route: &str, status: u16, seconds: f64) {
        let route = format!("{method} {route}");
        let status_text = status.to_string();
        let (tenant, ms) = (scope.tenant_id.as_str(), (seconds * 1000.0).round() as u64);
        self.add(tenant, API_REQUESTS, 1, &[("route", &route), ("status", &status_text), ("user", &scope.user_id)]);
        self.add(tenant, API_LATENCY_MS, ms, &[("route", &route)]);
        if status >= 500 {
            self.add(tenant, API_ERRORS, 1, &[("route", &route), ("status", &status_text)]);
        }
    }

    fn put_back(&self, sent: Vec<(RowKey, u64)>) {
        let mut rows = self.rows();
        for (key, value) in sent {
            let total = rows.values.entry(key).or_default();
            *total = total.saturating_add(value);
        }
        rows.oldest.get_or_insert_with(Instant::now);
    }
}

#[cfg(test)]
mod tests;
