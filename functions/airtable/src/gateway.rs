//! The gateway's core, shared by both surfaces: reads through the cache (single-flight, stale-if-error),
//! writes straight upstream (then invalidating the table), everything paced by the limiter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use platform::Caller;
use storage::cache::Cache;
use tracing::Instrument;

use crate::cache::{CacheStatus, Kind, ReadCache, ReadKey};
use crate::credentials::{Credential, CredentialResolver};
use crate::error::{Failure, GatewayError};
use crate::flight::{Flights, Outcome};
use crate::ids::{BaseId, TableRef};
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::query::canonical;
use crate::settings::AirtableSettings;
use crate::upstream::{Upstream, UpstreamRequest};

/// A read, as both surfaces describe it.
pub struct Read {
    pub kind: Kind,
    pub base: Option<BaseId>,
    pub table: Option<TableRef>,
    pub segments: Vec<String>,
    /// Normalised parameters: the cache key and the upstream query.
    pub query: Vec<(String, String)>,
}

/// What the client accepts: `Cache-Control: no-cache` bypasses the cache; `max-age=N` limits the age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freshness {
    pub bypass: bool,
    pub max_age: Option<Duration>,
}

pub struct ReadOutcome {
    pub body: Bytes,
    pub status: CacheStatus,
    pub age: Duration,
}

pub struct Write {
    pub base: BaseId,
    pub table: TableRef,
    pub request: UpstreamRequest,
}

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    upstream: Upstream,
    cache: ReadCache,
    flights: Flights,
    credentials: Arc<dyn CredentialResolver>,
    metrics: Arc<Metrics>,
    fill_budget: Duration,
}

/// How often a read waiting on another instance's fill looks for the result.
const FILL_POLL: Duration = Duration::from_millis(25);

impl Gateway {
    /// `namespace` prefixes every cache key (one Redis may serve several stacks).
    pub fn new(
        settings: &AirtableSettings,
        cache: Arc<dyn Cache>,
        namespace: &str,
        credentials: Arc<dyn CredentialResolver>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let limiter = Limiter::new(cache.clone(), namespace, settings, metrics.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                upstream: Upstream::new(settings, limiter, metrics.clone())?,
                cache: ReadCache::new(cache, namespace, settings),
                flights: Flights::default(),
                credentials,
                metrics,
                fill_budget: settings.fill_budget(),
            }),
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    #[tracing::instrument(skip_all, fields(kind = ?read.kind, base = ?read.base, tenant = %caller.tenant_id))]
    pub async fn read(&self, caller: &Caller, read: Read, freshness: Freshness) -> Result<ReadOutcome, Failure> {
        let inner = &self.inner;
        let credential = inner.credentials.resolve(caller, read.base.as_ref()).await?;
        let scope = format!("{}\u{0}{}", caller.tenant_id, credential.identity());
        let query = canonical(&read.query);
        let key_parts = ReadKey {
            kind: read.kind,
            scope: &scope,
            base: read.base.as_ref(),
            table: read.table.as_ref(),
            query: &query,
        };
        let key = inner.cache.key(&key_parts).await;
        let request = UpstreamRequest {
            method: axum::http::Method::GET,
            segments: read.segments,
            query: read.query,
            body: None,
            base: read.base,
            read: true,
        };
        if freshness.bypass {
            let body = inner.upstream.send(&credential, &request).await?;
            inner.cache.put(&key, read.kind, &body).await;
            return Ok(self.answer(body, CacheStatus::Bypass, Duration::ZERO));
        }

        let started_ms = storage::now_millis();
        let cached = inner.cache.get(&key).await;
        let fresh_for = inner.cache.ttl(read.kind).min(freshness.max_age.unwrap_or(Duration::MAX));
        if let Some(entry) = cached.as_ref().filter(|e| e.age(started_ms) < fresh_for) {
            return Ok(self.answer(entry.body.clone(), CacheStatus::Hit, entry.age(started_ms)));
        }
        let seen = Seen { started_ms, stored_at_ms: cached.as_ref().map(|e| e.stored_at_ms) };
        // The fill runs as its own task (it outlives a client that hangs up); it logs under this request.
        let fill = fill(self.clone(), key.clone(), read.kind, credential, request, seen).in_current_span();
        match inner.flights.run(&key, fill).await {
            (Ok(body), true) => Ok(self.answer(body, CacheStatus::Miss, Duration::ZERO)),
            (Ok(body), false) => Ok(self.answer(body, CacheStatus::Hit, Duration::ZERO)),
            (Err(e), _) => {
                let now = storage::now_millis();
                let usable = inner.cache.ttl(read.kind) + inner.cache.max_stale();
                match cached.filter(|entry| e.serves_stale() && entry.age(now) <= usable) {
                    Some(entry) => {
                        tracing::warn!(error = %e, age_ms = entry.age(now).as_millis(), "Airtable failed; serving a stale copy");
                        let age = entry.age(now);
                        Ok(self.answer(entry.body, CacheStatus::Stale, age))
                    }
                    None => Err(e),
                }
            }
        }
    }

    fn answer(&self, body: Bytes, status: CacheStatus, age: Duration) -> ReadOutcome {
        self.inner.metrics.cache(status);
        ReadOutcome { body, status, age }
    }

    /// Sends a write upstream, then invalidates the table's cached reads (also when the outcome is unknown:
    /// a timeout or a 5xx may still have changed the table).
    #[tracing::instrument(skip_all, fields(method = %write.request.method, base = %write.base, tenant = %caller.tenant_id))]
    pub async fn write(&self, caller: &Caller, write: Write) -> Result<Bytes, Failure> {
        let inner = &self.inner;
        let credential = inner.credentials.resolve(caller, Some(&write.base)).await?;
        let outcome = inner.upstream.send(&credential, &write.request).await;
        let may_have_changed = match &outcome {
            Ok(_) | Err(GatewayError::Unavailable { .. }) => true,
            Err(GatewayError::Upstream { status, .. }) => status.is_server_error(),
            Err(_) => false,
        };
        if may_have_changed {
            inner.cache.invalidate(&write.base, &write.table).await;
        }
        Ok(outcome?)
    }
}

/// What a read saw before deciding to fill: when it began, and the entry it found too old (if any).
struct Seen {
    started_ms: i64,
    stored_at_ms: Option<i64>,
}

impl Seen {
    /// Another filler's entry answers this read if it is newer than the one found too old, and was
    /// stored about when this read began or later (a little slack for clock skew between instances).
    fn answered_by(&self, stored_at_ms: i64) -> bool {
        self.stored_at_ms.is_none_or(|seen| stored_at_ms > seen) && stored_at_ms >= self.started_ms - 250
    }
}

/// Fills one cache entry from upstream. Across instances, a short lock (`set_if_absent`) elects one filler;
/// the others poll the cache for its result, and fetch themselves only if it never comes.
async fn fill(
    gateway: Gateway,
    key: String,
    kind: Kind,
    credential: Arc<Credential>,
    request: UpstreamRequest,
    seen: Seen,
) -> Outcome {
    let inner = &gateway.inner;
    let cache = inner.cache.port();
    let lock = format!("{key}:filling");
    let deadline = Instant::now() + inner.fill_budget;
    let answers_us = |stored_at_ms: i64| seen.answered_by(stored_at_ms);
    let mut holds_lock = false;
    loop {
        match cache.set_if_absent(&lock, b"1", inner.fill_budget).await {
            Ok(true) => {
                holds_lock = true;
                break;
            }
            Ok(false) if Instant::now() < deadline => {
                tokio::time::sleep(FILL_POLL).await;
                if let Some(entry) = inner.cache.get(&key).await.filter(|e| answers_us(e.stored_at_ms)) {
                    return Ok(entry.body);
                }
            }
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(error = ?e, "fill lock unavailable; fetching without it");
                break;
            }
        }
    }
    // Another instance may have filled it between our miss and our lock.
    if let Some(entry) = inner.cache.get(&key).await.filter(|e| answers_us(e.stored_at_ms)) {
        release(cache, &lock, holds_lock).await;
        return Ok(entry.body);
    }
    let outcome = inner.upstream.send(&credential, &request).await;
    if let Ok(body) = &outcome {
        inner.cache.put(&key, kind, body).await;
    }
    release(cache, &lock, holds_lock).await;
    Ok(outcome?)
}

async fn release(cache: &Arc<dyn Cache>, lock: &str, held: bool) {
    if held && let Err(e) = cache.delete(lock).await {
        tracing::warn!(error = ?e, "could not release a fill lock; it expires on its own");
    }
}
