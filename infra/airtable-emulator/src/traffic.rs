//! What every API request passes before a handler: counting, the bearer token, a staged outage, Airtable's
//! rate limits, and optional latency.
//!
//! The per-base limit is a token bucket (`base_burst` requests at once, refilled at `base_rps`): a client
//! that spaces its requests evenly at the rate is never refused, however its requests jitter in transit,
//! while a burst beyond the bucket is. A refusal penalises the base for `penalty_ms`, as Airtable does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::EmulatorConfig;
use crate::error::AirtableError;
use crate::state::Emulator;

#[derive(Default)]
pub struct Buckets {
    bases: HashMap<String, Bucket>,
    tokens: HashMap<String, Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    penalised_until: Option<Instant>,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self { tokens: burst, at: now, penalised_until: None }
    }

    /// Takes one request, or refuses it with how long until the bucket admits again.
    fn take(&mut self, now: Instant, rps: f64, burst: f64, penalty: Duration) -> Result<(), Duration> {
        if let Some(until) = self.penalised_until {
            if now < until {
                return Err(until - now);
            }
            self.penalised_until = None;
        }
        if rps <= 0.0 {
            return Ok(());
        }
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rps).min(burst.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if !penalty.is_zero() {
            self.penalised_until = Some(now + penalty);
        }
        Err(penalty.max(Duration::from_secs_f64(1.0 / rps)))
    }
}

impl Buckets {
    fn admit(
        &mut self,
        base: Option<&str>,
        token: &str,
        config: &EmulatorConfig,
        now: Instant,
    ) -> Result<(), Duration> {
        let per_token = self.tokens.entry(token.to_string()).or_insert_with(|| Bucket::full(config.token_rps, now));
        per_token.take(now, config.token_rps, config.token_rps, Duration::ZERO)?;
        if let Some(base) = base {
            let penalty = Duration::from_millis(config.penalty_ms);
            let per_base = self.bases.entry(base.to_string()).or_insert_with(|| Bucket::full(config.base_burst, now));
            per_base.take(now, config.base_rps, config.base_burst, penalty)?;
        }
        Ok(())
    }
}

/// The base a request is for: `/v0/{app…}/…` or `/v0/meta/bases/{app…}/tables`.
pub fn base_of(path: &str) -> Option<String> {
    let mut segments = path.strip_prefix("/v0/")?.split('/');
    let first = segments.next()?;
    let candidate = if first == "meta" {
        segments.next().filter(|s| *s == "bases")?;
        segments.next()?
    } else {
        first
    };
    candidate.starts_with("app").then(|| candidate.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

pub async fn middleware(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/v0/") {
        return next.run(request).await;
    }
    let base = base_of(&path);
    let is_write = request.method() != Method::GET && !path.ends_with("/listRecords");
    let config = emulator.config();
    let at_ms = emulator.elapsed_ms();
    let verdict = {
        let mut traffic = emulator.traffic();
        let traffic = &mut *traffic;
        traffic.stats.requests += 1;
        if let Some(base) = &base {
            let entry = traffic.stats.bases.entry(base.clone()).or_default();
            entry.requests += 1;
            entry.writes += u64::from(is_write);
        }
        match bearer(request.headers()).filter(|t| emulator.accepts(t)) {
            None => {
                traffic.stats.unauthorized += 1;
                Err(AirtableError::unauthenticated().into_response())
            }
            Some(_) if config.outage => {
                traffic.stats.failed += 1;
                Err(AirtableError::unavailable().into_response())
            }
            Some(token) => match traffic.buckets.admit(base.as_deref(), token, &config, Instant::now()) {
                Ok(()) => {
                    if let Some(base) = &base {
                        traffic.stats.bases.entry(base.clone()).or_default().admitted_at_ms.push(at_ms);
                    }
                    Ok(())
                }
                Err(retry_after) => {
                    traffic.stats.rate_limited += 1;
                    if let Some(base) = &base {
                        traffic.stats.bases.entry(base.clone()).or_default().rate_limited += 1;
                    }
                    Err(rate_limited(retry_after))
                }
            },
        }
    };
    if let Err(response) = verdict {
        return response;
    }
    let delay = config.latency_ms + if is_write { config.write_latency_ms } else { 0 };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    next.run(request).await
}

fn rate_limited(retry_after: Duration) -> Response {
    let mut response = AirtableError::rate_limited().into_response();
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_found_on_record_and_schema_paths_only() {
        assert_eq!(base_of("/v0/appA/tblB/recC").as_deref(), Some("appA"));
        assert_eq!(base_of("/v0/meta/bases/appA/tables").as_deref(), Some("appA"));
        assert_eq!(base_of("/v0/meta/bases"), None);
        assert_eq!(base_of("/v0/meta/whoami"), None);
    }

    #[test]
    fn an_evenly_spaced_client_is_never_refused_but_a_burst_is_and_is_penalised() {
        let config = EmulatorConfig::default();
        let start = Instant::now();
        let mut buckets = Buckets::default();
        for i in 0..50u64 {
            let at = start + Duration::from_millis(200 * i);
            assert!(buckets.admit(Some("appA"), "t", &config, at).is_ok(), "request {i}");
        }
        let mut burst = Buckets::default();
        let refused = (0..10).filter(|_| burst.admit(Some("appB"), "t", &config, start).is_err()).count();
        assert_eq!(refused, 5);
        let later = start + Duration::from_secs(10);
        assert!(burst.admit(Some("appB"), "t", &config, later).is_err(), "still penalised after 10 s");
        assert!(burst.admit(Some("appB"), "t", &config, start + Duration::from_secs(31)).is_ok());
    }
}
