//! Who a token is and what it reaches: the token registry, its users, and the reach every `/v0` request is
//! held to.
//!
//! A token is registered with a [`TokenGrant`]: the [`EmulatorUser`] it acts for, its scopes, the bases it
//! reaches ([`BaseReach`]), and its kind (a personal access token, or an OAuth access token that expires).
//! Tokens are kept by their SHA-256, so finding one takes the same time wherever a presented token differs
//! from a registered one (the digest of an unknown token says nothing about which registered token is near).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{AirtableError, AirtableResult};
use crate::model::Base;
use crate::state::{USER_EMAIL, USER_ID, USER_NAME};

/// Every scope Airtable defines (an OAuth authorization may request only these).
pub const KNOWN_SCOPES: &[&str] = &[
    "data.records:read",
    "data.records:write",
    "data.records:manage",
    "data.recordComments:read",
    "data.recordComments:write",
    "schema.bases:read",
    "schema.bases:write",
    "webhook:manage",
    "block:manage",
    "user.email:read",
    "workspacesAndBases:read",
    "workspacesAndBases:write",
    "workspacesAndBases:manage",
    "workspacesAndBases.shares:manage",
    "enterprise.usersAndGroups:manage",
    "enterprise.scim.usersAndGroups:manage",
    "enterprise.auditLogs:read",
    "enterprise.changeEvents:read",
    "enterprise.exports:manage",
    "enterprise.account:read",
    "enterprise.account:write",
    "enterprise.user:read",
    "enterprise.user:write",
    "enterprise.groups:read",
    "enterprise.groups:manage",
    "hyperDB.records:read",
    "hyperDB.records:write",
    "automation.runs:read",
    "automation.actionRuns:read",
];

/// The scopes of the tokens [`crate::Emulator::new`] accepts: everything the emulator serves.
pub const DEFAULT_SCOPES: &[&str] = &[
    "data.records:read",
    "data.records:write",
    "data.recordComments:read",
    "data.recordComments:write",
    "schema.bases:read",
    "schema.bases:write",
    "webhook:manage",
    "user.email:read",
];

/// The scope that lets `/v0/meta/whoami` answer the user's email, as on Airtable.
pub const EMAIL_SCOPE: &str = "user.email:read";

/// An Airtable user (`usr…`) a token acts for: whom `/v0/meta/whoami` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmulatorUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl EmulatorUser {
    pub fn new(id: impl Into<String>, email: impl Into<String>, name: impl Into<String>) -> Self {
        Self { id: id.into(), email: email.into(), name: name.into() }
    }

    /// The emulator's own user ([`USER_ID`]): the owner of the tokens [`crate::Emulator::new`] accepts, and
    /// whoever consents to an OAuth authorization that names no `user=`.
    pub fn emulator() -> Self {
        Self::new(USER_ID, USER_EMAIL, USER_NAME)
    }
}

/// Which bases a token reaches: a personal access token's "Access", or the bases a user ticked when
/// consenting to an OAuth integration. A base outside the reach answers as a missing base does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseReach {
    /// Every base, including ones created (or copied) later.
    All,
    /// Only these base ids.
    Only(BTreeSet<String>),
}

impl BaseReach {
    /// A reach of exactly these base ids.
    pub fn only<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Only(ids.into_iter().map(Into::into).collect())
    }

    pub fn reaches(&self, base: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.contains(base),
        }
    }

    /// Base `id` among `bases`, if this reach covers it: the one place a request finds its base. A base out
    /// of reach is Airtable's 403, exactly as a missing one (Airtable does not tell them apart).
    pub fn find<'b>(&self, bases: &'b [Base], id: &str) -> AirtableResult<&'b Base> {
        bases.iter().find(|b| b.id == id && self.reaches(id)).ok_or_else(AirtableError::base_not_found)
    }

    pub fn find_mut<'b>(&self, bases: &'b mut [Base], id: &str) -> AirtableResult<&'b mut Base> {
        bases.iter_mut().find(|b| b.id == id && self.reaches(id)).ok_or_else(AirtableError::base_not_found)
    }
}

/// How a token came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token: it never expires (it works until revoked).
    Personal,
    /// An OAuth access token: it stops working at `expires_at` (on the emulator's clock,
    /// [`crate::Emulator::now`]), or when its refresh token is used.
    OAuth { expires_at: Instant },
}

/// What a registered token is: its user, scopes, reach and kind. The traffic middleware puts the request's
/// grant into the request, and every handler finds bases through its [`BaseReach`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    pub user: EmulatorUser,
    pub scopes: Vec<String>,
    pub bases: BaseReach,
    pub kind: TokenKind,
}

impl TokenGrant {
    /// A personal access token of the emulator's user, reaching every base with [`DEFAULT_SCOPES`].
    pub fn personal_default() -> Self {
        Self {
            user: EmulatorUser::emulator(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            bases: BaseReach::All,
            kind: TokenKind::Personal,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn live(&self, now: Instant) -> bool {
        match self.kind {
            TokenKind::Personal => true,
            TokenKind::OAuth { expires_at } => now < expires_at,
        }
    }
}

/// The SHA-256 of a secret: how tokens, codes and refresh tokens are kept and found.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether two secrets are equal, in time independent of where they differ (their digests are compared).
pub fn same_secret(a: &str, b: &str) -> bool {
    digest(a).iter().zip(digest(b)).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The registered tokens, by digest.
#[derive(Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], TokenGrant>,
}

impl Tokens {
    pub fn insert(&mut self, token: &str, grant: TokenGrant) {
        self.by_digest.insert(digest(token), grant);
    }

    pub fn remove(&mut self, token: &str) {
        self.remove_digest(&digest(token));
    }

    pub fn remove_digest(&mut self, token_digest: &[u8; 32]) {
        self.by_digest.remove(token_digest);
    }

    /// The grant of `token` if it is registered and not expired at `now`.
    pub fn get(&self, token: &str, now: Instant) -> Option<&TokenGrant> {
        self.by_digest.get(&digest(token)).filter(|g| g.live(now))
    }

    /// Forgets expired OAuth access tokens.
    pub fn purge_expired(&mut self, now: Instant) {
        self.by_digest.retain(|_, g| g.live(now));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_reach_finds_only_its_bases_and_answers_others_as_missing() {
        let bases = crate::seed::demo_bases();
        let only_demo = BaseReach::only([crate::seed::DEMO_BASE]);
        assert!(only_demo.find(&bases, crate::seed::DEMO_BASE).is_ok());
        let out_of_reach = only_demo.find(&bases, crate::seed::OPS_BASE).err();
        let missing = only_demo.find(&bases, "appMissing0000001").err();
        assert_eq!(out_of_reach, Some(AirtableError::base_not_found()));
        assert_eq!(out_of_reach, missing);
        assert!(BaseReach::All.find(&bases, crate::seed::OPS_BASE).is_ok());
    }

    #[test]
    fn an_oauth_token_stops_working_at_its_expiry() {
        let now = Instant::now();
        let mut tokens = Tokens::default();
        let kind = TokenKind::OAuth { expires_at: now + Duration::from_secs(60) };
        tokens.insert("oaaX", TokenGrant { kind, ..TokenGrant::personal_default() });
        tokens.insert("patY", TokenGrant::personal_default());
        assert!(tokens.get("oaaX", now).is_some());
        assert!(tokens.get("oaaX", now + Duration::from_secs(60)).is_none());
        assert!(tokens.get("patY", now + Duration::from_secs(86_400 * 365)).is_some());
        tokens.purge_expired(now + Duration::from_secs(61));
        assert_eq!(tokens.by_digest.len(), 1);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "abcd"));
    }
}
