//! What every API request passes before a handler: counting, the bearer token, a staged outage, Airtable's
//! rate limits, and optional latency. An admitted request carries its token's [`TokenGrant`] (a request
//! extension) to the handlers, which find bases through its reach.
//!
//! The per-base limit is a token bucket by default (`base_burst` requests at once, refilled at `base_rps`): a
//! client that spaces its requests evenly at the rate is never refused, however its requests jitter in
//! transit, while a burst beyond the bucket is. With `sliding_window` it is strict instead, as an upstream
//! that counts a sliding window is: at most `base_rps` requests in any 1-second window, counted as requests
//! arrive, so 6 requests within 1 s at 5/s are refused even when they are 190 ms apart. Either way, a refusal
//! penalises the base for `penalty_ms`, as Airtable does.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::TokenGrant;
use crate::config::EmulatorConfig;
use crate::error::AirtableError;
use crate::state::Emulator;

/// The window the strict mode counts in.
const WINDOW: Duration = Duration::from_secs(1);
/// The most arrivals one base remembers (a window's worth at any sane rate).
const MAX_REMEMBERED: usize = 100_000;

#[derive(Default)]
pub struct Buckets {
    bases: HashMap<String, Bucket>,
    tokens: HashMap<String, Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    penalised_until: Option<Instant>,
    /// When the requests admitted within the last [`WINDOW`] arrived, oldest first (kept in both modes, so
    /// turning the strict mode on takes effect at once).
    recent: VecDeque<Instant>,
}

/// How a bucket limits.
#[derive(Clone, Copy)]
struct Limit {
    rps: f64,
    burst: f64,
    penalty: Duration,
    sliding_window: bool,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self { tokens: burst, at: now, penalised_until: None, recent: VecDeque::new() }
    }

    /// Takes one request, or refuses it with how long until the bucket admits again.
    fn take(&mut self, now: Instant, limit: Limit) -> Result<(), Duration> {
        if let Some(until) = self.penalised_until {
            if now < until {
                return Err(until - now);
            }
            self.penalised_until = None;
        }
        if limit.rps <= 0.0 {
            return Ok(());
        }
        while self.recent.front().is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW) {
            self.recent.pop_front();
        }
        self.tokens =
            (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * limit.rps).min(limit.burst.max(1.0));
        self.at = now;
        let admitted = if limit.sliding_window {
            let most = limit.rps.floor().clamp(1.0, MAX_REMEMBERED as f64) as usize;
            self.recent.len() < most
        } else {
            self.tokens >= 1.0
        };
        if admitted {
            self.tokens = (self.tokens - 1.0).max(0.0);
            if self.recent.len() >= MAX_REMEMBERED {
                self.recent.pop_front();
            }
            self.recent.push_back(now);
            return Ok(());
        }
        if !limit.penalty.is_zero() {
            self.penalised_until = Some(now + limit.penalty);
        }
        let until_free = match (limit.sliding_window, self.recent.front()) {
            (true, Some(oldest)) => (*oldest + WINDOW).saturating_duration_since(now),
            _ => Duration::from_secs_f64(1.0 / limit.rps),
        };
        Err(limit.penalty.max(until_free))
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
        let token_limit =
            Limit { rps: config.token_rps, burst: config.token_rps, penalty: Duration::ZERO, sliding_window: false };
        per_token.take(now, token_limit)?;
        if let Some(base) = base {
            let limit = Limit {
                rps: config.base_rps,
                burst: config.base_burst,
                penalty: Duration::from_millis(config.penalty_ms),
                sliding_window: config.sliding_window,
            };
            let per_base = self.bases.entry(base.to_string()).or_insert_with(|| Bucket::full(config.base_burst, now));
            per_base.take(now, limit)?;
        }
        Ok(())
    }
}

/// The base a request is for: `/v0/{app…}/…` or `/v0/meta/bases/{app…}/tables`.
pub fn base_of(path: &str) -> Option<String> {
    let mut segments = path.strip_prefix("/v0/")?.split('/');
    let first = segments.next()?;
    let candidate = match first {
        // `/v0/meta/bases/{baseId}/…` (schema) and `/v0/bases/{baseId}/webhooks…` count against the base too.
        "meta" => {
            segments.next().filter(|s| *s == "bases")?;
            segments.next()?
        }
        "bases" => segments.next()?,
        _ => first,
    };
    candidate.starts_with("app").then(|| candidate.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The base bucket a request takes from: its base's, unless its token does not reach that base. Then the
/// request answers as a missing base does, from a bucket of its own (its token's for that base id), so a
/// token cannot spend, or have penalised, the limit of a base it does not reach (another tenant's).
fn bucket_of(base: Option<&str>, grant: &TokenGrant, token: &str) -> Option<String> {
    base.map(|base| match grant.bases.reaches(base) {
        true => base.to_string(),
        false => format!("{base}\u{0}{token}"),
    })
}

pub async fn middleware(State(emulator): State<Emulator>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/v0/") {
        return next.run(request).await;
    }
    let base = base_of(&path);
    let is_write = request.method() != Method::GET && !path.ends_with("/listRecords");
    let config = emulator.config();
    let at_ms = emulator.elapsed_ms();
    let token = bearer(request.headers()).map(str::to_string);
    // Looked up before the traffic lock: the two locks are never held together.
    let grant = token.as_deref().and_then(|t| emulator.grant(t));
    let verdict = {
        let mut traffic = emulator.traffic();
        let traffic = &mut *traffic;
        traffic.stats.requests += 1;
        if let Some(base) = &base {
            let entry = traffic.stats.bases.entry(base.clone()).or_default();
            entry.requests += 1;
            entry.writes += u64::from(is_write);
        }
        match (token.as_deref(), grant) {
            (Some(token), Some(grant)) if !config.outage => {
                let bucket = bucket_of(base.as_deref(), &grant, token);
                match traffic.buckets.admit(bucket.as_deref(), token, &config, Instant::now()) {
                    Ok(()) => {
                        if let Some(base) = &base {
                            traffic.stats.bases.entry(base.clone()).or_default().admitted_at_ms.push(at_ms);
                        }
                        Ok(grant)
                    }
                    Err(retry_after) => {
                        traffic.stats.rate_limited += 1;
                        if let Some(base) = &base {
                            traffic.stats.bases.entry(base.clone()).or_default().rate_limited += 1;
                        }
                        Err(rate_limited(retry_after))
                    }
                }
            }
            (Some(_), Some(_)) => {
                traffic.stats.failed += 1;
                Err(AirtableError::unavailable().into_response())
            }
            _ => {
                traffic.stats.unauthorized += 1;
                Err(AirtableError::unauthenticated().into_response())
            }
        }
    };
    let grant = match verdict {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    // The handlers find bases through the grant's reach (`World::base`), and whoami answers its user.
    request.extensions_mut().insert(grant);
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_base_is_found_on_record_schema_webhook_and_upload_paths() {
        assert_eq!(base_of("/v0/appA/tblB/recC").as_deref(), Some("appA"));
        assert_eq!(base_of("/v0/meta/bases/appA/tables").as_deref(), Some("appA"));
        assert_eq!(base_of("/v0/bases/appA/webhooks/achB/payloads").as_deref(), Some("appA"));
        assert_eq!(base_of("/v0/appA/recB/fldC/uploadAttachment").as_deref(), Some("appA"));
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

    fn strict() -> EmulatorConfig {
        EmulatorConfig { sliding_window: true, ..EmulatorConfig::default() }
    }

    #[test]
    fn strictly_six_requests_190_ms_apart_are_one_too_many() {
        let start = Instant::now();
        // The token bucket lets them through (they are spaced wider than its refill needs)…
        let mut lenient = Buckets::default();
        let config = EmulatorConfig::default();
        for i in 0..6u64 {
            assert!(lenient.admit(Some("appA"), "t", &config, start + Duration::from_millis(190 * i)).is_ok());
        }
        // …a strict window does not: the 6th arrives 950 ms after the 1st.
        let mut buckets = Buckets::default();
        for i in 0..5u64 {
            let at = start + Duration::from_millis(190 * i);
            assert!(buckets.admit(Some("appA"), "t", &strict(), at).is_ok(), "request {i}");
        }
        let sixth = start + Duration::from_millis(950);
        let retry = buckets.admit(Some("appA"), "t", &strict(), sixth).unwrap_err();
        assert_eq!(retry, Duration::from_secs(30), "refused with the penalty");
        // …and the base is then penalised, like a strict Airtable.
        assert!(buckets.admit(Some("appA"), "t", &strict(), start + Duration::from_secs(20)).is_err());
        assert!(buckets.admit(Some("appA"), "t", &strict(), sixth + Duration::from_secs(30)).is_ok());
        // Another base is not affected.
        assert!(buckets.admit(Some("appB"), "t", &strict(), sixth).is_ok());
    }

    #[test]
    fn strictly_five_a_second_evenly_spaced_is_never_refused() {
        let start = Instant::now();
        let mut buckets = Buckets::default();
        for i in 0..15u64 {
            let at = start + Duration::from_millis(200 * i);
            assert!(buckets.admit(Some("appA"), "t", &strict(), at).is_ok(), "request {i} at {} ms", 200 * i);
        }
        assert_eq!(buckets.bases["appA"].recent.len(), 5, "only the last second is remembered");
    }

    #[test]
    fn strictly_a_burst_of_five_then_one_a_second_later_is_admitted() {
        let start = Instant::now();
        let config = EmulatorConfig { penalty_ms: 0, ..strict() };
        let mut buckets = Buckets::default();
        for _ in 0..5 {
            assert!(buckets.admit(Some("appA"), "t", &config, start).is_ok());
        }
        let retry = buckets.admit(Some("appA"), "t", &config, start + Duration::from_millis(400)).unwrap_err();
        assert_eq!(retry, Duration::from_millis(600), "without a penalty: until the oldest leaves the window");
        assert!(buckets.admit(Some("appA"), "t", &config, start + Duration::from_millis(999)).is_err());
        assert!(buckets.admit(Some("appA"), "t", &config, start + Duration::from_secs(1)).is_ok());
    }

    #[tokio::test]
    async fn the_strict_mode_is_turned_on_over_http_and_refuses_what_the_bucket_would_admit() {
        use axum::body::Body;
        use tower::ServiceExt;

        use crate::seed::{DEMO_BASE, PROJECTS};
        use crate::state::DEV_TOKEN;

        // A bucket of 10 would admit 6 at once; the strict window admits 5 in any second.
        let config = EmulatorConfig { base_burst: 10.0, ..EmulatorConfig::default() };
        let emulator = Emulator::new(crate::seed::demo_bases(), vec![DEV_TOKEN.into()], config);
        let send = |method: &str, uri: String, body: &str| {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {DEV_TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            crate::router(emulator.clone()).oneshot(request)
        };
        let patched = send("PATCH", "/_emulator/config".into(), r#"{"sliding_window": true}"#).await.unwrap();
        assert_eq!(patched.status(), axum::http::StatusCode::OK);
        assert!(emulator.config().sliding_window);
        let mut statuses = Vec::new();
        let mut retry_after = None;
        for _ in 0..6 {
            let response = send("GET", format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), "").await.unwrap();
            statuses.push(response.status().as_u16());
            retry_after = response.headers().get(header::RETRY_AFTER).cloned().or(retry_after);
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
        assert_eq!(retry_after.unwrap(), "30", "refused with the penalty");
        assert_eq!(emulator.stats().base(DEMO_BASE).rate_limited, 1);
    }
}
