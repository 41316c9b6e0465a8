//! Per-tenant API rate limits by plan: every protected request of a tenant passes its plan's token bucket
//! (`api_requests_per_second` sustained, `api_burst` at once), and what passed or was refused is counted per
//! calendar month (UTC) for the tenant's usage.
//!
//! The bucket is GCRA on the cache's [`Cache::reserve`]: one event per `interval = 1 s / rps`, admitted while
//! its slot is at most `tolerance = (burst − 1) × interval` ahead of now. A quiet tenant therefore has
//! `burst` requests at once, then one per interval; a refused request reserves nothing, and its
//! Retry-After is the time until the next slot comes within the tolerance. The schedule and the counters
//! live in the shared cache (Redis under `CACHE_URL`), so every runner process sharing it shares the limit.
//!
//! On AWS, API Gateway enforces the same numbers with a usage plan per plan; this is the local gateway's
//! part ([`platform::gateway::TenantLimiter`]). A cache failure admits (an outage of the cache must not take
//! the API down) and is logged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use platform::gateway::{Admission, TenantLimiter};
use storage::StoreResult;
use storage::cache::{Cache, Reservation};

use crate::plans::{Limits, Plans};

/// Counters are keyed by month; each lives a little longer than any month.
const MONTH_WINDOW: Duration = Duration::from_secs(32 * 86_400);

/// The token bucket of a plan as a GCRA schedule: `(interval, tolerance)`.
pub fn schedule(limits: &Limits) -> (Duration, Duration) {
    let rps = u32::try_from(limits.api_requests_per_second.max(1)).unwrap_or(u32::MAX);
    let interval = Duration::from_secs(1) / rps;
    let extra = u32::try_from(limits.api_burst.max(1) - 1).unwrap_or(u32::MAX);
    (interval, interval.saturating_mul(extra))
}

/// A tenant's API requests this month (UTC), as its gateway counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiUse {
    /// Every protected request that passed the authorizer, refused ones included.
    pub requests: u64,
    /// Those refused with 429 for the plan's rate.
    pub throttled: u64,
}

#[derive(Clone)]
pub struct ApiRateLimiter {
    cache: Arc<dyn Cache>,
    plans: Plans,
    /// Prefixes every key, so deployments (or test runs) sharing one cache do not share limits.
    namespace: String,
}

impl ApiRateLimiter {
    pub fn new(cache: Arc<dyn Cache>, plans: Plans, namespace: &str) -> Self {
        Self { cache, plans, namespace: namespace.to_string() }
    }

    fn rate_key(&self, tenant_id: &str) -> String {
        format!("{}api-rate:{tenant_id}", self.namespace)
    }

    fn count_key(&self, what: &str, tenant_id: &str, month: &str) -> String {
        format!("{}api-{what}:{tenant_id}:{month}", self.namespace)
    }

    /// Takes a slot on the tenant's schedule if one is within the plan's burst.
    pub async fn check(&self, tenant_id: &str, plan: &str) -> StoreResult<Admission> {
        let (interval, tolerance) = schedule(self.plans.limits(plan));
        Ok(match self.cache.reserve(&self.rate_key(tenant_id), interval, tolerance).await? {
            Reservation::Granted { .. } => Admission::Admitted,
            Reservation::Denied { retry_after } => Admission::Refused { retry_after },
        })
    }

    /// The tenant's counts for the current month.
    pub async fn this_month(&self, tenant_id: &str) -> StoreResult<ApiUse> {
        let month = current_month();
        let (requests, throttled) =
            (self.count_key("requests", tenant_id, &month), self.count_key("throttled", tenant_id, &month));
        let (requests, throttled) =
            tokio::try_join!(self.cache.window_count(&requests), self.cache.window_count(&throttled))?;
        Ok(ApiUse { requests, throttled })
    }

    async fn count(&self, what: &str, tenant_id: &str, month: &str) {
        if let Err(e) = self.cache.incr_window(&self.count_key(what, tenant_id, month), MONTH_WINDOW).await {
            tracing::warn!(error = ?e, what, "could not count a tenant's API request");
        }
    }
}

#[async_trait]
impl TenantLimiter for ApiRateLimiter {
    async fn admit(&self, tenant_id: &str, plan: Option<&str>) -> Admission {
        let month = current_month();
        let plan = plan.unwrap_or(crate::plans::DEFAULT_PLAN);
        let (checked, ()) = tokio::join!(self.check(tenant_id, plan), self.count("requests", tenant_id, &month));
        match checked {
            Ok(Admission::Admitted) => Admission::Admitted,
            Ok(refused @ Admission::Refused { .. }) => {
                self.count("throttled", tenant_id, &month).await;
                tracing::info!(tenant_id, plan, "tenant over its plan's API rate");
                refused
            }
            Err(e) => {
                tracing::warn!(error = ?e, "tenant rate limit unavailable; letting the request through");
                Admission::Admitted
            }
        }
    }
}

/// `YYYY-MM`, UTC.
fn current_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use storage::cache::embedded::MemoryCache;

    use super::*;

    fn limits(rps: u64, burst: u64) -> Limits {
        let mut limits = Plans::default().limits("free").clone();
        limits.api_requests_per_second = rps;
        limits.api_burst = burst;
        limits
    }

    fn limiter(rps: u64, burst: u64) -> ApiRateLimiter {
        ApiRateLimiter::new(Arc::new(MemoryCache::new()), Plans::default().with_api_rate(rps, burst), "test-")
    }

    fn refused(admission: Admission) -> Option<Duration> {
        match admission {
            Admission::Refused { retry_after } => Some(retry_after),
            Admission::Admitted => None,
        }
    }

    #[test]
    fn a_plans_bucket_is_one_slot_per_interval_with_burst_minus_one_slots_of_tolerance() {
        assert_eq!(schedule(&limits(1, 2)), (Duration::from_secs(1), Duration::from_secs(1)));
        assert_eq!(schedule(&limits(5, 10)), (Duration::from_millis(200), Duration::from_millis(1_800)));
        assert_eq!(schedule(&limits(100, 1)), (Duration::from_millis(10), Duration::ZERO));
        assert_eq!(schedule(&limits(4, 0)), (Duration::from_millis(250), Duration::ZERO), "burst 0 reads as 1");
        assert_eq!(schedule(&limits(0, 3)).0, Duration::from_secs(1), "rate 0 reads as 1");
    }

    #[tokio::test]
    async fn a_quiet_tenant_has_its_burst_then_waits_about_one_interval() {
        let limiter = limiter(2, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check("t1", "free").await.unwrap(), Admission::Admitted);
        }
        let wait = refused(limiter.check("t1", "free").await.unwrap()).unwrap();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::from_millis(400), "{wait:?}");
        // A refusal reserves nothing: the wait does not grow.
        let again = refused(limiter.check("t1", "free").await.unwrap()).unwrap();
        assert!(again <= wait, "{again:?} after {wait:?}");

        tokio::time::sleep(wait).await;
        assert_eq!(limiter.check("t1", "free").await.unwrap(), Admission::Admitted);
        assert!(refused(limiter.check("t1", "free").await.unwrap()).is_some());
    }

    #[tokio::test]
    async fn tenants_have_separate_buckets_and_their_plans_rates() {
        let plans = Plans::default().with_api_rate(1, 1);
        let limiter = ApiRateLimiter::new(Arc::new(MemoryCache::new()), plans, "test-");
        assert_eq!(limiter.check("t1", "free").await.unwrap(), Admission::Admitted);
        assert!(refused(limiter.check("t1", "free").await.unwrap()).is_some());
        assert_eq!(limiter.check("t2", "free").await.unwrap(), Admission::Admitted);

        let limiter = ApiRateLimiter::new(Arc::new(MemoryCache::new()), Plans::default(), "test-");
        let mut admitted = 0;
        while limiter.check("t3", "pro").await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
        assert!((50..=51).contains(&admitted), "pro's burst of 50 (one more may refill meanwhile): {admitted}");
        let mut admitted = 0;
        while limiter.check("t4", "gone").await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
        assert!((10..=11).contains(&admitted), "an unknown plan gets free's burst of 10: {admitted}");
    }

    #[tokio::test]
    async fn admit_counts_every_request_and_the_refused_ones_per_tenant() {
        let limiter = limiter(1, 2);
        let verdicts = [
            limiter.admit("t1", Some("free")).await,
            limiter.admit("t1", None).await,
            limiter.admit("t1", Some("free")).await,
            limiter.admit("t1", Some("free")).await,
        ];
        assert_eq!(verdicts.iter().filter(|a| **a == Admission::Admitted).count(), 2);
        assert_eq!(limiter.this_month("t1").await.unwrap(), ApiUse { requests: 4, throttled: 2 });
        assert_eq!(limiter.this_month("t2").await.unwrap(), ApiUse::default());
    }
}
