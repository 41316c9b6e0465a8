//! The emulator's state: the bases (one mutex: every request is a short critical section, never held
//! across an `.await`), its configuration, and the traffic it has seen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde::Serialize;

use crate::attachments::Attachments;
use crate::config::{ConfigPatch, EmulatorConfig};
use crate::error::{AirtableError, AirtableResult};
use crate::list::Iterators;
use crate::model::Base;
use crate::traffic::Buckets;

/// The token the standalone emulator (`cargo run -p airtable-emulator`) accepts unless told otherwise, and
/// the one tests that spawn their own emulator use. Not a secret: any local process may know it, which is why
/// the local runner gives its embedded emulator a [`random_token`] instead.
pub const DEV_TOKEN: &str = "patLocalEmulator.dev-token";

/// A token for one emulator's lifetime, for callers that hand it only to the client they mean to serve:
/// `pat` and 32 random alphanumerics (about 190 bits, from the thread-local CSPRNG).
pub fn random_token() -> String {
    use rand::Rng;
    let suffix: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect();
    format!("pat{suffix}")
}

/// The user every accepted token belongs to (`/v0/meta/whoami`, comment authors, webhook payloads).
pub const USER_ID: &str = "usrEmulatorUser01";
pub const USER_EMAIL: &str = "emulator@example.com";
pub const USER_NAME: &str = "Emulator User";

#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    world: Mutex<World>,
    config: Mutex<EmulatorConfig>,
    traffic: Mutex<Traffic>,
    tokens: Vec<String>,
    started: Instant,
}

pub struct World {
    pub bases: Vec<Base>,
    pub iterators: Iterators,
    /// Files `uploadAttachment` received, served back at `/_emulator/attachments/…`.
    pub attachments: Attachments,
}

#[derive(Default)]
pub struct Traffic {
    pub stats: Stats,
    pub buckets: Buckets,
}

/// What the tests read: every API request that arrived, and per base what was let through or refused.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    pub requests: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub failed: u64,
    pub bases: BTreeMap<String, BaseStats>,
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct BaseStats {
    pub requests: u64,
    pub writes: u64,
    pub rate_limited: u64,
    /// When each admitted request arrived, in ms since the emulator started (for rate measurements).
    pub admitted_at_ms: Vec<u64>,
}

impl Stats {
    pub fn base(&self, id: &str) -> BaseStats {
        self.bases.get(id).cloned().unwrap_or_default()
    }

    /// The most requests admitted to `base` within any window of `window_ms`.
    pub fn max_in_window(&self, base: &str, window_ms: u64) -> usize {
        let times = self.base(base).admitted_at_ms;
        (0..times.len())
            .map(|i| times[i..].iter().take_while(|t| **t < times[i] + window_ms).count())
            .max()
            .unwrap_or(0)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere cannot poison it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emulator {
    /// An emulator holding `bases`, accepting `tokens` as `Authorization: Bearer …`.
    pub fn new(bases: Vec<Base>, tokens: Vec<String>, config: EmulatorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                world: Mutex::new(World {
                    bases,
                    iterators: Iterators::default(),
                    attachments: Attachments::default(),
                }),
                config: Mutex::new(config),
                traffic: Mutex::new(Traffic::default()),
                tokens,
                started: Instant::now(),
            }),
        }
    }

    /// The demo base (and a second, smaller one), accepting `token`.
    pub fn demo(token: String) -> Self {
        Self::new(crate::seed::demo_bases(), vec![token], EmulatorConfig::default())
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.inner.world)
    }

    pub fn config(&self) -> EmulatorConfig {
        lock(&self.inner.config).clone()
    }

    pub fn configure(&self, patch: ConfigPatch) -> EmulatorConfig {
        let mut config = lock(&self.inner.config);
        config.apply(patch);
        config.clone()
    }

    pub fn traffic(&self) -> MutexGuard<'_, Traffic> {
        lock(&self.inner.traffic)
    }

    pub fn stats(&self) -> Stats {
        self.traffic().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.traffic().stats = Stats::default();
    }

    /// Whether `token` is one of the accepted tokens, compared in time independent of where they differ.
    pub fn accepts(&self, token: &str) -> bool {
        let same = |t: &String| {
            t.len() == token.len() && t.bytes().zip(token.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
        };
        self.inner.tokens.iter().fold(false, |found, t| found | same(t))
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl World {
    /// A base by id; a missing one is Airtable's 403 (it does not tell missing from forbidden).
    pub fn base(&self, id: &str) -> AirtableResult<&Base> {
        self.bases.iter().find(|b| b.id == id).ok_or_else(AirtableError::base_not_found)
    }

    pub fn base_mut(&mut self, id: &str) -> AirtableResult<&mut Base> {
        self.bases.iter_mut().find(|b| b.id == id).ok_or_else(AirtableError::base_not_found)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_random_token_is_new_each_time_and_the_only_one_accepted() {
        let (token, other) = (random_token(), random_token());
        assert_ne!(token, other);
        assert_eq!(token.len(), 35);
        assert!(token.starts_with("pat") && token[3..].chars().all(|c| c.is_ascii_alphanumeric()), "{token}");
        let emulator = Emulator::demo(token.clone());
        assert!(emulator.accepts(&token));
        for refused in [other.as_str(), DEV_TOKEN, &token[..34], "", &format!("{token}x")] {
            assert!(!emulator.accepts(refused), "{refused}");
        }
    }
}
