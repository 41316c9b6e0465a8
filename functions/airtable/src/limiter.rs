//! The upstream rate limiter: every request to Airtable first takes a slot on its base's schedule and its
//! token's. The schedules live in the cache (`Cache::reserve`, GCRA — atomic in Redis), so every Lambda
//! instance shares them. A request whose slot is further away than the bound is refused with a
//! Retry-After rather than queued forever.
//!
//! What Airtable counts is requests *arriving* in any sliding second, and arrivals jitter: a request
//! leaves a little after its slot (timer wake-up, the penalty check, the connection) and spends a varying
//! time in transit. Pacing at exactly 1/rps lets six requests land in one second. So, with a margin `m`
//! (`AIRTABLE_LIMITER_MARGIN_MS`):
//! - a base's slots are `(1 s + m) / rps` apart: any `rps + 1` slots span at least `1 s + m`;
//! - a request that is ready more than `m / 2` after its slot gives it up and takes the next one (its slot
//!   as this instance sees it: the cache's answer plus the wait, never before the cache's own reckoning,
//!   and after it by at most the cache's round trip).
//!
//! Any `rps + 1` requests then leave at least `1 s + m / 2` apart (first to last), so as long as their
//! transit times differ by less than `m / 2` they arrive more than 1 s apart: at most `rps` in any sliding
//! second. With rps 5 and m 80 ms that is 4.63 requests/s at most, per base.
//!
//! After Airtable answers 429 the base is penalised: a marker in the cache says until when, and nothing is
//! sent to that base meanwhile (reads are then answered from a stale copy where one exists).
//!
//! If the shared cache fails, the limiter falls back to an in-process schedule: each instance then keeps
//! its own pace, which is still far better than none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::cache::embedded::MemoryCache;
use storage::cache::{Cache, Reservation};

use crate::error::GatewayError;
use crate::ids::BaseId;
use crate::metrics::Metrics;
use crate::settings::AirtableSettings;

/// How many slots a request may give up for being late before it is refused (its slots were wasted on a
/// starved process; Airtable's penalty would cost far more).
const MAX_LATE_SLOTS: u32 = 8;

/// How long before its slot a request checks whether the base was penalised meanwhile (a cache round trip,
/// with room for a busy machine: a look that ends after the slot makes the request late).
const PENALTY_LOOKAHEAD: Duration = Duration::from_millis(25);

pub struct Limiter {
    shared: Arc<dyn Cache>,
    fallback: MemoryCache,
    namespace: String,
    base_interval: Duration,
    token_interval: Duration,
    /// How late a request may be for its base slot and still use it.
    tolerance: Duration,
    max_wait: Duration,
    penalty: Duration,
    metrics: Arc<Metrics>,
}

impl Limiter {
    pub fn new(shared: Arc<dyn Cache>, namespace: &str, settings: &AirtableSettings, metrics: Arc<Metrics>) -> Self {
        let window = Duration::from_secs(1) + settings.limiter_margin;
        Self {
            shared,
            fallback: MemoryCache::new(),
            namespace: namespace.to_string(),
            base_interval: window.div_f64(settings.base_rps),
            token_interval: window.div_f64(settings.token_rps),
            tolerance: settings.limiter_margin / 2,
            max_wait: settings.max_wait,
            penalty: settings.penalty,
            metrics,
        }
    }

    /// How long a base is left alone after Airtable's 429.
    pub fn penalty(&self) -> Duration {
        self.penalty
    }

    fn penalty_key(&self, base: &BaseId) -> String {
        format!("{}at:penalty:{base}", self.namespace)
    }

    /// Waits for this request's turn; returns how long it waited.
    pub async fn acquire(&self, base: Option<&BaseId>, token_identity: &str) -> Result<Duration, GatewayError> {
        let started = Instant::now();
        let token_key = format!("{}at:rate:token:{token_identity}", self.namespace);
        let Some(base) = base else {
            let wait = self.reserve(&token_key, self.token_interval, self.max_wait).await?;
            tokio::time::sleep(wait).await;
            self.metrics.limiter_wait(wait);
            return Ok(wait);
        };
        self.refuse_if_penalised(base).await?;
        let base_key = format!("{}at:rate:base:{base}", self.namespace);
        let mut token_due = None;
        for _ in 0..=MAX_LATE_SLOTS {
            let left = self.max_wait.saturating_sub(started.elapsed());
            let wait = self.reserve(&base_key, self.base_interval, left).await?;
            // The slot, counted from when the answer came: never early (the cache's clock read "now" a
            // little before), and late by at most the tolerance plus the cache's round trip.
            let slot = Instant::now() + wait;
            let token_at = match token_due {
                Some(due) => due,
                None => {
                    let wait = self.reserve(&token_key, self.token_interval, self.max_wait).await?;
                    *token_due.insert(Instant::now() + wait)
                }
            };
            let due = slot.max(token_at);
            // Airtable may have answered 429 to another request while this one waited: look just before
            // the slot, so the look does not make the request late.
            tokio::time::sleep_until(due.checked_sub(PENALTY_LOOKAHEAD).unwrap_or(due).into()).await;
            let (penalised, ()) = futures::join!(self.refuse_if_penalised(base), tokio::time::sleep_until(due.into()));
            penalised?;
            let late = Instant::now().saturating_duration_since(slot);
            if late <= self.tolerance {
                let waited = started.elapsed();
                self.metrics.limiter_wait(waited);
                return Ok(waited);
            }
            self.metrics.limiter_late();
            tracing::debug!(late_ms = late.as_millis(), %base, "too late for the base's slot; taking the next one");
        }
        self.metrics.limiter_refusal();
        Err(GatewayError::RateLimited {
            retry_after: self.base_interval,
            message: "The gateway could not send this request on its Airtable schedule; retry shortly".into(),
        })
    }

    async fn reserve(&self, key: &str, interval: Duration, max_wait: Duration) -> Result<Duration, GatewayError> {
        let reservation = match self.shared.reserve(key, interval, max_wait).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = ?e, "the shared limiter failed; pacing this instance on its own");
                self.fallback.reserve(key, interval, max_wait).await.map_err(|e| GatewayError::Unexpected(e.into()))?
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(base_rps: f64, token_rps: f64) -> (Limiter, Arc<Metrics>) {
        let mut settings = AirtableSettings::new("http://x", None);
        settings.base_rps = base_rps;
        settings.token_rps = token_rps;
        let metrics = Metrics::local();
        (Limiter::new(Arc::new(MemoryCache::new()), "t-", &settings, metrics.clone()), metrics)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn any_rps_plus_one_requests_leave_more_than_a_second_apart_yet_near_the_rate() {
        let (limiter, _) = limiter(20.0, 1000.0);
        let base = BaseId::parse("appDemoBase000001").unwrap();
        let started = Instant::now();
        let acquire = |_| async {
            limiter.acquire(Some(&base), "tok").await.unwrap();
            started.elapsed()
        };
        let mut sent: Vec<Duration> = futures::future::join_all((0..60).map(acquire)).await;
        sent.sort();
        let margin = AirtableSettings::new("http://x", None).limiter_margin;
        for window in sent.windows(21) {
            let span = window[20] - window[0];
            assert!(span >= Duration::from_secs(1) + margin / 2, "21 requests within {span:?}");
        }
        let rate = 59.0 / (sent[59] - sent[0]).as_secs_f64();
        assert!(rate > 20.0 * 0.9, "{rate:.2}/s");
    }

    #[tokio::test]
    async fn a_request_that_would_leave_late_for_its_base_slot_takes_a_new_one() {
        // The token's schedule (2/s) holds the second request back far past its base slot (20/s).
        let (limiter, metrics) = limiter(20.0, 2.0);
        let base = BaseId::parse("appDemoBase000001").unwrap();
        limiter.acquire(Some(&base), "tok").await.unwrap();
        assert_eq!(metrics.snapshot().limiter_late, 0);
        limiter.acquire(Some(&base), "tok").await.unwrap();
        assert_eq!(metrics.snapshot().limiter_late, 1, "the stale base slot was given up");
    }
}
