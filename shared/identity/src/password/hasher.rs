//! bcrypt, off the async runtime (a hash takes tens to hundreds of milliseconds of CPU).
//!
//! Login must cost the same whether or not the email exists, so an unknown email is verified against a
//! dummy hash of the same cost, made once at cold start: verifying costs what the hash's cost field says, so
//! the dummy is a cheap (cost 4) hash of a random string relabelled with the configured cost — the same work
//! per login without a full-cost bcrypt run at every cold start (≈ 0.25 s at cost 12; infra/bench/RESULTS.md).
//!
//! The policy guarantees at most 72 bytes, all of which bcrypt uses; the crate's `non_truncating_*` variants
//! would also refuse exactly 72 (they count the C string terminator), so the plain ones are called here.

use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use super::{MAX_BYTES, Password};

/// OWASP's floor for bcrypt; lower costs exist for tests only (see [`PasswordHasher::new`]).
pub const MIN_PRODUCTION_COST: u32 = 10;

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    dummy: Arc<str>,
}

impl PasswordHasher {
    /// `cost` 4..=31 (bcrypt's range); settings refuse less than [`MIN_PRODUCTION_COST`] outside tests.
    pub async fn new(cost: u32) -> anyhow::Result<Self> {
        if !(4..=31).contains(&cost) {
            anyhow::bail!("bcrypt cost {cost} is outside 4..=31");
        }
        let random = uuid::Uuid::new_v4().to_string();
        let cheap = bcrypt::hash(random, 4).context("Failed to make the dummy password hash")?;
        // `$2b$04$<salt and digest>` → `$2b$<cost>$<salt and digest>`.
        let dummy = format!("$2b${cost:02}{}", cheap.get(6..).unwrap_or_default());
        Ok(Self { cost, dummy: dummy.into() })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let (secret, cost) = (password.secret().clone(), self.cost);
        blocking(move || bcrypt::hash(secret.expose_secret(), cost).context("Failed to hash a password")).await
    }

    /// True when `candidate` matches `hash`. With no hash (unknown account) it checks against the dummy and
    /// answers false, spending the same time. A candidate longer than bcrypt reads can match nothing (such a
    /// password was never accepted), but is still checked against the dummy for the timing.
    pub async fn verify(&self, candidate: &SecretString, hash: Option<&str>) -> anyhow::Result<bool> {
        let too_long = candidate.expose_secret().len() > MAX_BYTES;
        let (target, real) = match hash {
            Some(hash) if !too_long => (Arc::<str>::from(hash), true),
            _ => (self.dummy.clone(), false),
        };
        let candidate = candidate.clone();
        let matched = blocking(move || {
            let bytes = candidate.expose_secret().as_bytes();
            let bytes = &bytes[..bytes.len().min(MAX_BYTES)];
            bcrypt::verify(bytes, &target).context("Failed to verify a password hash")
        })
        .await?;
        Ok(real && matched)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.context("the password hashing task failed")?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(SecretString::from(raw), None).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(4).await.unwrap();
        let hash = hasher.hash(&password("a fine passphrase")).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify(&SecretString::from("a fine passphrase"), Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&SecretString::from("a fine passphrasE"), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn every_one_of_72_bytes_counts() {
        let hasher = PasswordHasher::new(4).await.unwrap();
        let full = "p".repeat(71) + "q";
        let hash = hasher.hash(&password(&full)).await.unwrap();
        assert!(hasher.verify(&SecretString::from(full), Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&SecretString::from("p".repeat(72)), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_carries_the_configured_cost() {
        let hasher = PasswordHasher::new(6).await.unwrap();
        assert!(hasher.dummy.starts_with("$2b$06$") && hasher.dummy.len() == 60, "{}", hasher.dummy);
        assert!(PasswordHasher::new(32).await.is_err());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(4).await.unwrap();
        assert!(!hasher.verify(&SecretString::from("whatever it is"), None).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_costs_about_as_much_as_a_wrong_password() {
        let hasher = PasswordHasher::new(6).await.unwrap();
        let hash = hasher.hash(&password("the real passphrase")).await.unwrap();
        let wrong = SecretString::from("a wrong passphrase");
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        // Interleaved, medians: robust against a busy machine.
        for _ in 0..7 {
            let started = std::time::Instant::now();
            hasher.verify(&wrong, Some(&hash)).await.unwrap();
            known.push(started.elapsed());
            let started = std::time::Instant::now();
            hasher.verify(&wrong, None).await.unwrap();
            unknown.push(started.elapsed());
        }
        known.sort();
        unknown.sort();
        let ratio = unknown[3].as_secs_f64() / known[3].as_secs_f64();
        assert!((0.5..2.0).contains(&ratio), "unknown/known median ratio {ratio}");
    }

    #[tokio::test]
    async fn a_candidate_longer_than_72_bytes_never_matches_a_hash_of_its_prefix() {
        let hasher = PasswordHasher::new(4).await.unwrap();
        let prefix = "p".repeat(71) + "q";
        let hash = bcrypt::hash(&prefix, 4).unwrap();
        let longer = SecretString::from(format!("{prefix}-and-more"));
        assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
    }
}
