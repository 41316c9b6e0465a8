//! The gateway's metrics: cache hits/misses/stale/bypass, upstream calls and 429s, time spent waiting in
//! the limiter. Counted in-process always (Prometheus text at `/metrics` in the local runner); on Lambda
//! each event is also printed as a CloudWatch Embedded Metric Format line, which CloudWatch turns into
//! metrics without an agent or an API call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use platform::usage;

use crate::cache::CacheStatus;
use crate::ids::BaseId;

#[derive(Default)]
pub struct Metrics {
    emf: bool,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    bypass: AtomicU64,
    upstream_calls: AtomicU64,
    upstream_429s: AtomicU64,
    upstream_errors: AtomicU64,
    limiter_waits: AtomicU64,
    limiter_wait_micros: AtomicU64,
    limiter_refusals: AtomicU64,
    limiter_late: AtomicU64,
}

/// A point-in-time copy, for tests and dashboards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypass: u64,
    pub upstream_calls: u64,
    pub upstream_429s: u64,
    pub upstream_errors: u64,
    pub limiter_refusals: u64,
    pub limiter_late: u64,
}

impl Metrics {
    /// Counters only (the local runner serves them at `/metrics`).
    pub fn local() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counters plus one EMF line per event on stdout (Lambda).
    pub fn emf() -> Arc<Self> {
        Arc::new(Self { emf: true, ..Self::default() })
    }

    /// A read's cache outcome; also metered for the request's tenant (by outcome and base).
    pub fn cache(&self, status: CacheStatus, base: Option<&BaseId>) {
        let (counter, name, outcome) = match status {
            CacheStatus::Hit => (&self.hits, "CacheHit", "hit"),
            CacheStatus::Miss => (&self.misses, "CacheMiss", "miss"),
            CacheStatus::Stale => (&self.stale, "CacheStale", "stale"),
            CacheStatus::Bypass => (&self.bypass, "CacheBypass", "bypass"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.emit(name, 1.0, "Count");
        let base = base.map(ToString::to_string);
        let mut dimensions = vec![("outcome", outcome)];
        dimensions.extend(base.as_deref().map(|b| ("base", b)));
        usage::add(usage::AIRTABLE_CACHE, 1, &dimensions);
    }

    /// A call to Airtable, after `waited` in the limiter; also metered for the request's tenant (by base).
    pub fn upstream_call(&self, base: Option<&BaseId>, waited: Duration) {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        self.emit("UpstreamCall", 1.0, "Count");
        let base = base.map(ToString::to_string);
        let dimensions: Vec<(&'static str, &str)> = base.as_deref().map(|b| ("base", b)).into_iter().collect();
        usage::add(usage::AIRTABLE_UPSTREAM_CALLS, 1, &dimensions);
        let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        if waited_ms > 0 {
            usage::add(usage::AIRTABLE_LIMITER_WAITS, 1, &dimensions);
            usage::add(usage::AIRTABLE_LIMITER_WAIT_MS, waited_ms, &dimensions);
        }
    }

    pub fn upstream_429(&self) {
        self.upstream_429s.fetch_add(1, Ordering::Relaxed);
        self.emit("Upstream429", 1.0, "Count");
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
        self.emit("UpstreamError", 1.0, "Count");
    }

    pub fn limiter_wait(&self, waited: Duration) {
        self.limiter_waits.fetch_add(1, Ordering::Relaxed);
        self.limiter_wait_micros.fetch_add(u64::try_from(waited.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.emit("LimiterWait", waited.as_secs_f64() * 1000.0, "Milliseconds");
    }

    pub fn limiter_refusal(&self) {
        self.limiter_refusals.fetch_add(1, Ordering::Relaxed);
        self.emit("LimiterRefusal", 1.0, "Count");
    }

    /// A request woke too late for its slot and took a new one (the sliding-window guarantee).
    pub fn limiter_late(&self) {
        self.limiter_late.fetch_add(1, Ordering::Relaxed);
        self.emit("LimiterLateSlot", 1.0, "Count");
    }

    pub fn snapshot(&self) -> Snapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            hits: read(&self.hits),
            misses: read(&self.misses),
            stale: read(&self.stale),
            bypass: read(&self.bypass),
            upstream_calls: read(&self.upstream_calls),
            upstream_429s: read(&self.upstream_429s),
            upstream_errors: read(&self.upstream_errors),
            limiter_refusals: read(&self.limiter_refusals),
            limiter_late: read(&self.limiter_late),
        }
    }

    fn emit(&self, name: &str, value: f64, unit: &str) {
        if self.emf {
            platform::emf::emit("airtable", name, value, unit);
        }
    }

    /// The Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        counter(
            "airtable_cache_requests_total",
            "Reads by cache outcome.",
            &[
                ("{result=\"hit\"}", read(&self.hits)),
                ("{result=\"miss\"}", read(&self.misses)),
                ("{result=\"stale\"}", read(&self.stale)),
                ("{result=\"bypass\"}", read(&self.bypass)),
            ],
        );
        counter("airtable_upstream_requests_total", "Requests sent to Airtable.", &[("", read(&self.upstream_calls))]);
        counter("airtable_upstream_rate_limited_total", "Airtable 429 answers.", &[("", read(&self.upstream_429s))]);
        counter(
            "airtable_upstream_errors_total",
            "Airtable failures (5xx, timeouts, unreachable).",
            &[("", read(&self.upstream_errors))],
        );
        counter(
            "airtable_limiter_refusals_total",
            "Requests refused because their slot was too far away.",
            &[("", read(&self.limiter_refusals))],
        );
        counter(
            "airtable_limiter_late_slots_total",
            "Upstream slots given up because the request woke too late for them.",
            &[("", read(&self.limiter_late))],
        );
        let wait = read(&self.limiter_wait_micros) as f64 / 1e6;
        out.push_str(&format!(
            "# HELP airtable_limiter_wait_seconds Time spent waiting for an upstream slot.\n# TYPE airtable_limiter_wait_seconds summary\nairtable_limiter_wait_seconds_sum {wait}\nairtable_limiter_wait_seconds_count {}\n",
            read(&self.limiter_waits)
        ));
        out
    }
}
