//! The upstream rate limiter: every request to Airtable first takes a slot on its base's schedule (5/s)
//! and its token's (50/s). The schedules live in the cache (`Cache::reserve`, GCRA — atomic in Redis), so
//! every Lambda instance shares them. A request whose slot is further away than the bound is refused
//! with a Retry-After rather than queued forever.
//!
//! After Airtable answers 429 the base is penalised: a marker in the cache says until when, and nothing is
//! sent to that base meanwhile (reads are then answered from a stale copy where one exists).
//!
//! If the shared cache fails, the limiter falls back to an in-process schedule: each instance then keeps
//! its own pace, which is still far better than none.

use std::sync::Arc;
use std::time::Duration;

use storage::cache::embedded::MemoryCache;
use storage::cache::{Cache, Reservation};

use crate::error::GatewayError;
use crate::ids::BaseId;
use crate::metrics::Metrics;
use crate::settings::AirtableSettings;

pub struct Limiter {
    shared: Arc<dyn Cache>,
    fallback: MemoryCache,
    namespace: String,
    base_interval: Duration,
    token_interval: Duration,
    max_wait: Duration,
    penalty: Duration,
    metrics: Arc<Metrics>,
}

impl Limiter {
    pub fn new(shared: Arc<dyn Cache>, namespace: &str, settings: &AirtableSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            shared,
            fallback: MemoryCache::new(),
            namespace: namespace.to_string(),
            base_interval: Duration::from_secs_f64(1.0 / settings.base_rps),
            token_interval: Duration::from_secs_f64(1.0 / settings.token_rps),
            max_wait: settings.max_wait,
            penalty: settings.penalty,
            metrics,
        }
    }

    fn penalty_key(&self, base: &BaseId) -> String {
        format!("{}at:penalty:{base}", self.namespace)
    }

    /// Waits for this request's turn; returns how long it waited.
    pub async fn acquire(&self, base: Option<&BaseId>, token_identity: &str) -> Result<Duration, GatewayError> {
        if let Some(base) = base {
            self.refuse_if_penalised(base).await?;
        }
        let base_wait = match base {
            Some(base) => self.reserve(&format!("{}at:rate:base:{base}", self.namespace), self.base_interval).await?,
            None => Duration::ZERO,
        };
        let token_key = format!("{}at:rate:token:{token_identity}", self.namespace);
        let wait = base_wait.max(self.reserve(&token_key, self.token_interval).await?);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.metrics.limiter_wait(wait);
        // Airtable may have answered 429 to another request while this one waited.
        if let Some(base) = base {
            self.refuse_if_penalised(base).await?;
        }
        Ok(wait)
    }

    async fn reserve(&self, key: &str, interval: Duration) -> Result<Duration, GatewayError> {
        let reservation = match self.shared.reserve(key, interval, self.max_wait).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = ?e, "the shared limiter failed; pacing this instance on its own");
                self.fallback
                    .reserve(key, interval, self.max_wait)
                    .await
                    .map_err(|e| GatewayError::Unexpected(e.into()))?
            }
        };
        match reservation {
            Reservation::Granted { wait } => Ok(wait),
            Reservation::Denied { retry_after } => {
                self.metrics.limiter_refusal();
                Err(GatewayError::RateLimited {
                    retry_after,
                    message: "Too many requests for this Airtable base right now; retry after the indicated time"
                        .into(),
                })
            }
        }
    }

    /// Marks the base penalised after Airtable's 429.
    pub async fn penalise(&self, base: &BaseId) {
        let until = storage::now_millis() + i64::try_from(self.penalty.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = self.shared.set(&self.penalty_key(base), until.to_string().as_bytes(), self.penalty).await {
            tracing::warn!(error = ?e, base = %base, "could not record the base's penalty in the shared cache");
        }
        let _ = self.fallback.set(&self.penalty_key(base), until.to_string().as_bytes(), self.penalty).await;
    }

    async fn refuse_if_penalised(&self, base: &BaseId) -> Result<(), GatewayError> {
        let key = self.penalty_key(base);
        let marker = match self.shared.get(&key).await {
            Ok(marker) => marker,
            Err(e) => {
                tracing::warn!(error = ?e, "could not read the base's penalty from the shared cache");
                self.fallback.get(&key).await.ok().flatten()
            }
        };
        let until = marker.and_then(|m| String::from_utf8(m).ok()).and_then(|m| m.parse::<i64>().ok());
        match until.map(|u| u - storage::now_millis()).filter(|left| *left > 0) {
            Some(left) => Err(GatewayError::RateLimited {
                retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
                message: "Airtable rate-limited this base; the gateway is holding off until the penalty ends".into(),
            }),
            None => Ok(()),
        }
    }
}
