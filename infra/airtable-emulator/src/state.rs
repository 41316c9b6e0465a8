//! The emulator's state: the bases (one mutex: every request is a short critical section, never held
//! across an `.await`), its configuration, the traffic it has seen, and who may call it (tokens, users,
//! OAuth integrations and grants; one more mutex, never held together with the bases').

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::attachments::Attachments;
use crate::auth::{BaseReach, EmulatorUser, TokenGrant, TokenKind, Tokens};
use crate::config::{ConfigPatch, EmulatorConfig};
use crate::error::{AirtableError, AirtableResult};
use crate::list::Iterators;
use crate::model::Base;
use crate::oauth::{OAuth, OAuthClient};
use crate::pings::Pinger;
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

/// The emulator's own user ([`EmulatorUser::emulator`]): the owner of the tokens [`Emulator::new`] accepts,
/// the default consenting user of an OAuth authorization, and the author of every comment and webhook payload.
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
    auth: Mutex<Auth>,
    /// How far [`Emulator::advance_clock`] moved the emulator's clock.
    clock_offset: Mutex<Duration>,
    /// What sends webhooks' notification pings ([`crate::pings`]).
    pinger: Pinger,
    started: Instant,
}

/// Who may call: the registered tokens, the users OAuth consent may name, the OAuth integrations and grants.
#[derive(Default)]
pub(crate) struct Auth {
    pub tokens: Tokens,
    pub users: BTreeMap<String, EmulatorUser>,
    pub oauth: OAuth,
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
    /// An emulator holding `bases`, accepting `tokens` as `Authorization: Bearer …`: personal access tokens of
    /// the emulator's user ([`EmulatorUser::emulator`]) reaching every base, with [`crate::auth::DEFAULT_SCOPES`].
    pub fn new(bases: Vec<Base>, tokens: Vec<String>, config: EmulatorConfig) -> Self {
        let mut auth = Auth::default();
        let user = EmulatorUser::emulator();
        auth.users.insert(user.id.clone(), user);
        for token in &tokens {
            auth.tokens.insert(token, TokenGrant::personal_default());
        }
        Self {
            inner: Arc::new(Inner {
                world: Mutex::new(World {
                    bases,
                    iterators: Iterators::default(),
                    attachments: Attachments::default(),
                }),
                config: Mutex::new(config),
                traffic: Mutex::new(Traffic::default()),
                auth: Mutex::new(auth),
                clock_offset: Mutex::new(Duration::ZERO),
                pinger: Pinger::default(),
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

    /// Whether `token` is a registered token (and, for an OAuth access token, not expired). Tokens are found by
    /// their SHA-256, in time independent of where a presented token differs from a registered one.
    pub fn accepts(&self, token: &str) -> bool {
        self.grant(token).is_some()
    }

    /// What `token` may do: its user, scopes, reach and kind; `None` for an unknown, revoked or expired token.
    pub fn grant(&self, token: &str) -> Option<TokenGrant> {
        let now = self.now();
        self.auth().tokens.get(token, now).cloned()
    }

    /// A new personal access token (`pat…`, as [`random_token`]) for `user`, reaching `bases` with `scopes`.
    /// It works until [`Emulator::revoke_token`]. The user need not be registered.
    pub fn issue_token(&self, user: EmulatorUser, bases: BaseReach, scopes: Vec<String>) -> String {
        let token = random_token();
        self.auth().tokens.insert(&token, TokenGrant { user, scopes, bases, kind: TokenKind::Personal });
        token
    }

    /// Stops `token` working: a personal access token or an OAuth access token; an OAuth refresh token revokes
    /// its whole grant (the access token it last answered included). An unknown token is ignored.
    pub fn revoke_token(&self, token: &str) {
        let mut auth = self.auth();
        let auth = &mut *auth;
        if !auth.oauth.revoke_refresh_token(&mut auth.tokens, token) {
            auth.tokens.remove(token);
        }
    }

    /// Registers (or replaces) a user an OAuth authorization may name with `user=`.
    pub fn register_user(&self, user: EmulatorUser) {
        self.auth().users.insert(user.id.clone(), user);
    }

    /// Registers (or replaces) an OAuth integration: `client_secret` `None` for a public client (it names
    /// itself with `client_id` in the token request), else it authenticates with HTTP Basic. An authorization
    /// may request any of Airtable's scopes ([`crate::auth::KNOWN_SCOPES`]) and must name one of
    /// `redirect_uris` exactly.
    pub fn register_oauth_client(&self, client_id: &str, client_secret: Option<&str>, redirect_uris: Vec<String>) {
        self.auth().oauth.register_client(OAuthClient {
            id: client_id.to_string(),
            secret: client_secret.map(String::from),
            redirect_uris,
        });
    }

    pub(crate) fn pinger(&self) -> &Pinger {
        &self.inner.pinger
    }

    /// Who may call (tokens, users, OAuth). Never lock the world while holding it.
    pub(crate) fn auth(&self) -> MutexGuard<'_, Auth> {
        lock(&self.inner.auth)
    }

    /// The emulator's clock: now, plus however far [`Emulator::advance_clock`] moved it. OAuth codes, access
    /// tokens and refresh tokens expire by it (nothing else does: rate limits, iterators and webhooks keep
    /// real time).
    pub fn now(&self) -> Instant {
        Instant::now() + *lock(&self.inner.clock_offset)
    }

    /// Moves the emulator's clock forward by `by` (for tests of OAuth expiry).
    pub fn advance_clock(&self, by: Duration) {
        *lock(&self.inner.clock_offset) += by;
    }

    /// A deep copy of base `source_id` (tables, fields, views, records, field descriptions and options) named
    /// `name`, under a fresh `app…` id, which it answers. Its table, field, view and record ids are the
    /// source's (ids are only ever looked up within a base, and list offsets are bound to their base); its
    /// comments and webhooks are not copied. The copy shares nothing with the source: a write to either never
    /// shows in the other. Tokens reaching [`BaseReach::All`] reach the copy; others reach it once issued with it.
    pub fn copy_base(&self, source_id: &str, name: &str) -> AirtableResult<String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AirtableError::invalid("INVALID_REQUEST_UNKNOWN", "A base name must be non-empty"));
        }
        let mut world = self.world();
        let mut copy = world.base(&BaseReach::All, source_id)?.clone();
        let id = loop {
            let id = crate::ids::new_id("app");
            if world.bases.iter().all(|b| b.id != id) {
                break id;
            }
        };
        copy.id = id.clone();
        copy.name = name.to_string();
        copy.comments.clear();
        copy.webhooks.clear();
        copy.transaction = 0;
        world.bases.push(copy);
        Ok(id)
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl World {
    /// A base by id, if `reach` (the request's token's) covers it; a missing base and one out of reach are both
    /// Airtable's 403 (it does not tell missing from forbidden). See [`BaseReach::find`].
    pub fn base(&self, reach: &BaseReach, id: &str) -> AirtableResult<&Base> {
        reach.find(&self.bases, id)
    }

    pub fn base_mut(&mut self, reach: &BaseReach, id: &str) -> AirtableResult<&mut Base> {
        reach.find_mut(&mut self.bases, id)
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
