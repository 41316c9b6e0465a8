//! Rate limits on the public auth routes, in the shared cache so they hold across Lambda instances:
//! - every public route: a fixed window of requests per client IP;
//! - login: failed attempts per IP and per account (the normalised email, known or not, so the limit
//!   reveals nothing about which emails exist). At the threshold a lock is set for the rest of the window;
//!   while it stands, login answers 429 before checking any password.
//!
//! Cache failures: the general limit fails open (an outage of the cache should not take sign-in down);
//! the login lock fails closed (an outage must not lift brute-force protection).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::{ApiError, ApiResult, ClientIp};
use sha2::{Digest, Sha256};
use storage::cache::Cache;

use crate::settings::ThrottleSettings;

#[derive(Clone)]
pub struct Limiter {
    cache: Arc<dyn Cache>,
    settings: ThrottleSettings,
    /// Prefixes every key, so deployments (or test runs) sharing one cache do not share counters.
    namespace: String,
}

impl Limiter {
    pub fn new(cache: Arc<dyn Cache>, settings: ThrottleSettings, namespace: &str) -> Self {
        Self { cache, settings, namespace: namespace.to_string() }
    }

    fn key(&self, kind: &str, subject: &str) -> String {
        format!("{}auth-limit:{kind}:{subject}", self.namespace)
    }

    /// Counts one request to a public route; 429 beyond the per-IP limit.
    pub async fn public_request(&self, ip: &str) -> ApiResult<()> {
        let key = self.key("public", ip);
        match self.cache.incr_window(&key, self.settings.public_window).await {
            Ok(hits) if hits.count > self.settings.public_requests_per_ip => Err(too_many(hits.resets_in)),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = ?e, "public rate limit unavailable; letting the request through");
                Ok(())
            }
        }
    }

    /// 429 while the IP or the account is locked out.
    pub async fn check_login(&self, ip: &str, email: &str) -> ApiResult<()> {
        for key in [self.key("login-lock-ip", ip), self.key("login-lock-account", &digest(email))] {
            let lock = self.cache.get(&key).await.context("Failed to read a login lock")?;
            if let Some(until) = lock.and_then(|v| String::from_utf8(v).ok()).and_then(|v| v.parse::<i64>().ok()) {
                let left = (until - storage::now_millis()).max(1000);
                return Err(too_many(Duration::from_millis(left.unsigned_abs())));
            }
        }
        Ok(())
    }

    /// Counts a failed login; at a threshold, locks the IP or the account for the rest of its window.
    pub async fn login_failed(&self, ip: &str, email: &str) -> anyhow::Result<()> {
        let subjects = [
            ("ip", ip.to_string(), self.settings.failures_per_ip),
            ("account", digest(email), self.settings.failures_per_account),
        ];
        for (kind, subject, limit) in subjects {
            let window = self.settings.failure_window;
            let hits = self.cache.incr_window(&self.key(&format!("login-failures-{kind}"), &subject), window).await?;
            if hits.count >= limit {
                let until = storage::now_millis() + i64::try_from(hits.resets_in.as_millis()).unwrap_or(i64::MAX / 2);
                let lock = self.key(&format!("login-lock-{kind}"), &subject);
                self.cache.set(&lock, until.to_string().as_bytes(), hits.resets_in.max(Duration::from_secs(1))).await?;
                tracing::warn!(kind, "failed-login threshold reached; locking");
            }
        }
        Ok(())
    }
}

/// Account keys hold a digest, not the email: cache keys end up in monitoring tools.
fn digest(email: &str) -> String {
    hex::encode(&Sha256::digest(email.as_bytes())[..16])
}

fn too_many(resets_in: Duration) -> ApiError {
    let secs = resets_in.as_secs() + u64::from(resets_in.subsec_nanos() > 0);
    ApiError::TooManyRequests { message: "Too many requests; try again later".into(), retry_after_secs: secs.max(1) }
}

/// Middleware for the public routes.
pub async fn public_limit(
    State(limiter): State<Limiter>,
    ClientIp(ip): ClientIp,
    req: Request,
    next: Next,
) -> Response {
    match limiter.public_request(&ip).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use storage::cache::embedded::MemoryCache;

    use super::*;

    fn limiter(per_account: u64, per_ip: u64) -> Limiter {
        let settings = ThrottleSettings {
            failures_per_account: per_account,
            failures_per_ip: per_ip,
            public_requests_per_ip: 2,
            ..ThrottleSettings::default()
        };
        Limiter::new(Arc::new(MemoryCache::new()), settings, "test-")
    }

    fn retry_after(result: ApiResult<()>) -> Option<u64> {
        match result {
            Err(ApiError::TooManyRequests { retry_after_secs, .. }) => Some(retry_after_secs),
            _ => None,
        }
    }

    #[tokio::test]
    async fn an_account_is_locked_after_its_threshold_of_failures_from_any_ip() {
        let limiter = limiter(3, 100);
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            limiter.check_login(ip, "ann@example.com").await.unwrap();
            limiter.login_failed(ip, "ann@example.com").await.unwrap();
        }
        let wait = retry_after(limiter.check_login("10.0.0.4", "ann@example.com").await).unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        assert!(limiter.check_login("10.0.0.4", "bob@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn an_ip_is_locked_after_its_threshold_of_failures_on_any_account() {
        let limiter = limiter(100, 2);
        limiter.login_failed("10.0.0.9", "a@example.com").await.unwrap();
        limiter.login_failed("10.0.0.9", "b@example.com").await.unwrap();
        assert!(retry_after(limiter.check_login("10.0.0.9", "c@example.com").await).is_some());
        assert!(limiter.check_login("10.0.0.10", "c@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn public_requests_beyond_the_limit_get_429() {
        let limiter = limiter(10, 10);
        assert!(limiter.public_request("10.0.0.1").await.is_ok());
        assert!(limiter.public_request("10.0.0.1").await.is_ok());
        assert!(retry_after(limiter.public_request("10.0.0.1").await).is_some());
        assert!(limiter.public_request("10.0.0.2").await.is_ok());
    }
}
