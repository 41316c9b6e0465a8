//! Rate limits on the public auth routes, in the shared cache so they hold across Lambda instances:
//! - every public route: a fixed window of requests per client IP;
//! - login: three counts of failed attempts over one window (`LOGIN_FAILURE_WINDOW_SECS`, 900 s), each of
//!   which, at its threshold, sets a lock for the rest of its window; while any lock that applies stands,
//!   login answers 429 before checking any password:
//!
//!   | count | key | threshold (default) | what a lock stops |
//!   | --- | --- | --- | --- |
//!   | per account and IP | the email's digest + the client IP | `LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP` (10) | that IP, for that email only |
//!   | per IP | the client IP | `LOGIN_MAX_FAILURES_PER_IP` (50) | that IP, for every email |
//!   | per account | the email's digest | `LOGIN_MAX_FAILURES_PER_ACCOUNT` (100) | that email, from every IP |
//!
//!   One attacker guessing one account's password is stopped by the first lock after 10 guesses, and locks out
//!   only itself: the owner, signing in from another address, is not refused (before this scheme, ten wrong
//!   passwords from anywhere locked the account for everyone). One attacker spraying many accounts is stopped
//!   by the per-IP lock. A distributed attack on one account (many addresses, 10 guesses each) is still
//!   bounded by the per-account lock, at a threshold ten addresses must reach together within one window:
//!   the one case where the owner is locked out too.
//!
//!   Accounts are the normalised email, known or not, so the limits reveal nothing about which emails exist.
//!   Locked sources are refused before their attempt is counted, so a locked attacker cannot push the
//!   per-account count on.
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

    /// Counts one password reset request for `email` from `ip`; 429 beyond either limit. The email's count is
    /// kept whether or not it has an account, so the answer tells nothing about that.
    pub async fn reset_request(&self, ip: &str, email: &str) -> ApiResult<()> {
        self.email_request(["reset-ip", "reset-account"], ip, email).await
    }

    /// Counts one registration request (REGISTRATION_MODE=verify_email) for `email` from `ip`, as
    /// [`Self::reset_request`] does (the same limits, counted apart): each sends an email.
    pub async fn registration_request(&self, ip: &str, email: &str) -> ApiResult<()> {
        self.email_request(["register-ip", "register-account"], ip, email).await
    }

    async fn email_request(&self, [per_ip, per_email]: [&str; 2], ip: &str, email: &str) -> ApiResult<()> {
        let window = self.settings.reset_window;
        let counts = [
            (per_ip, ip.to_string(), self.settings.resets_per_ip),
            (per_email, digest(email), self.settings.resets_per_email),
        ];
        let mut longest: Option<Duration> = None;
        for (kind, subject, limit) in counts {
            match self.cache.incr_window(&self.key(kind, &subject), window).await {
                Ok(hits) if hits.count > limit => longest = longest.max(Some(hits.resets_in)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, kind, "email request limit unavailable; letting the request through")
                }
            }
        }
        match longest {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }

    /// The failure counts a login attempt by `email` from `ip` falls under, with their thresholds.
    fn login_subjects(&self, ip: &str, email: &str) -> [(&'static str, String, u64); 3] {
        let account = digest(email);
        [
            ("account-ip", format!("{account}:{ip}"), self.settings.failures_per_account_and_ip),
            ("ip", ip.to_string(), self.settings.failures_per_ip),
            ("account", account, self.settings.failures_per_account),
        ]
    }

    /// 429 while the (account, IP) pair, the IP or the account is locked out; Retry-After is the last of
    /// the locks that stand to lift.
    pub async fn check_login(&self, ip: &str, email: &str) -> ApiResult<()> {
        let mut longest: Option<i64> = None;
        for (kind, subject, _) in self.login_subjects(ip, email) {
            let key = self.key(&format!("login-lock-{kind}"), &subject);
            let lock = self.cache.get(&key).await.context("Failed to read a login lock")?;
            if let Some(until) = lock.and_then(|v| String::from_utf8(v).ok()).and_then(|v| v.parse::<i64>().ok()) {
                longest = longest.max(Some(until));
            }
        }
        match longest {
            Some(until) => {
                let left = (until - storage::now_millis()).max(1000);
                Err(too_many(Duration::from_millis(left.unsigned_abs())))
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login; at a threshold, locks the pair, the IP or the account for the rest of its window.
    pub async fn login_failed(&self, ip: &str, email: &str) -> anyhow::Result<()> {
        for (kind, subject, limit) in self.login_subjects(ip, email) {
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
        limiter_with_pairs(per_account.min(10), per_account, per_ip)
    }

    fn limiter_with_pairs(per_pair: u64, per_account: u64, per_ip: u64) -> Limiter {
        let settings = ThrottleSettings {
            failures_per_account_and_ip: per_pair,
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
    async fn one_ips_failures_lock_that_ip_out_of_the_account_but_not_the_owner_elsewhere() {
        let limiter = limiter_with_pairs(3, 100, 50);
        for _ in 0..3 {
            limiter.check_login("10.0.0.66", "ann@example.com").await.unwrap();
            limiter.login_failed("10.0.0.66", "ann@example.com").await.unwrap();
        }
        let wait = retry_after(limiter.check_login("10.0.0.66", "ann@example.com").await).unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        // The owner from another address, and the attacker's IP on another account, are let through.
        assert!(limiter.check_login("10.0.0.1", "ann@example.com").await.is_ok());
        assert!(limiter.check_login("10.0.0.66", "bob@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn a_distributed_attack_still_meets_the_per_account_bound() {
        let limiter = limiter_with_pairs(2, 6, 50);
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            for _ in 0..2 {
                limiter.check_login(ip, "ann@example.com").await.unwrap();
                limiter.login_failed(ip, "ann@example.com").await.unwrap();
            }
        }
        assert!(retry_after(limiter.check_login("10.0.0.4", "ann@example.com").await).is_some());
        assert!(limiter.check_login("10.0.0.4", "bob@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn retry_after_is_that_of_the_last_lock_to_lift() {
        let limiter = limiter_with_pairs(1, 100, 50);
        limiter.login_failed("10.0.0.5", "ann@example.com").await.unwrap();
        // A longer lock on the IP, set by hand: the answer must wait for it, not for the pair's.
        let until = storage::now_millis() + 3_600_000;
        let lock = limiter.key("login-lock-ip", "10.0.0.5");
        limiter.cache.set(&lock, until.to_string().as_bytes(), Duration::from_secs(3600)).await.unwrap();
        let wait = retry_after(limiter.check_login("10.0.0.5", "ann@example.com").await).unwrap();
        assert!(wait > 900, "{wait}");
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
    async fn password_resets_are_limited_per_email_and_per_ip() {
        let settings = ThrottleSettings { resets_per_email: 2, resets_per_ip: 3, ..ThrottleSettings::default() };
        let limiter = Limiter::new(Arc::new(MemoryCache::new()), settings, "test-");
        assert!(limiter.reset_request("10.0.0.1", "ann@example.com").await.is_ok());
        assert!(limiter.reset_request("10.0.0.2", "ann@example.com").await.is_ok());
        assert!(retry_after(limiter.reset_request("10.0.0.3", "ann@example.com").await).is_some());
        assert!(limiter.reset_request("10.0.0.1", "bob@example.com").await.is_ok());
        assert!(limiter.reset_request("10.0.0.1", "cy@example.com").await.is_ok());
        assert!(retry_after(limiter.reset_request("10.0.0.1", "dan@example.com").await).is_some());
        assert!(limiter.reset_request("10.0.0.9", "dee@example.com").await.is_ok());
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
