//! Airtable's OAuth, as its OAuth reference describes it: integrations (clients, public or with a secret),
//! authorization codes bound to a client, a redirect URI and a PKCE S256 challenge (single use, 10 minutes),
//! and the grants codes become: an access token (1 hour) and a refresh token (60 days) that rotates — each
//! refresh answers a new pair and the old pair stops working.
//!
//! This module keeps the state and its rules; `routes::oauth` speaks HTTP (`/oauth2/v1/authorize`,
//! `/oauth2/v1/token`). Every secret (code, access token, refresh token) is kept by its SHA-256 only.
//! Times are the emulator's clock ([`crate::Emulator::now`]), so tests move them with
//! [`crate::Emulator::advance_clock`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{BaseReach, EmulatorUser, TokenGrant, TokenKind, Tokens, digest, same_secret};

/// How long an authorization code may be exchanged.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long an access token works (the token endpoint's `expires_in`).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a refresh token works (`refresh_expires_in`: 60 days).
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 24 * 60 * 60);

/// A registered OAuth integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: String,
    /// `None`: a public client (it names itself with `client_id` in the token request body); otherwise it
    /// authenticates with HTTP Basic (`client_id:client_secret`).
    pub secret: Option<String>,
    /// The redirect URIs an authorization may name, matched exactly.
    pub redirect_uris: Vec<String>,
}

/// An OAuth error answer: `{"error", "error_description"}` (RFC 6749 §5.2), 401 with `WWW-Authenticate` for
/// `invalid_client`, 400 otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_client() -> Self {
        Self { status: StatusCode::UNAUTHORIZED, ..Self::new("invalid_client", "Client authentication failed") }
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", description)
    }

    pub fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::new("unsupported_grant_type", format!("grant_type {grant_type:?} is not supported"))
    }

    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"airtable\""));
        }
        response
    }
}

/// What a user consented to at `/oauth2/v1/authorize`, kept with the code it answered.
#[derive(Clone, Debug)]
pub struct Consent {
    pub client_id: String,
    pub redirect_uri: String,
    /// The request's `code_challenge` (S256: base64url of the SHA-256 of the verifier, unpadded).
    pub code_challenge: String,
    pub user: EmulatorUser,
    pub scopes: Vec<String>,
    pub bases: BaseReach,
}

struct Code {
    consent: Consent,
    expires_at: Instant,
    /// Once presented, a code is spent; the grant it became (if it became one) is revoked if it is presented
    /// again (RFC 6749 §4.1.2).
    spent: Option<Option<u64>>,
}

/// A user's consent to a client, alive while its refresh token is.
struct Grant {
    client_id: String,
    user: EmulatorUser,
    scopes: Vec<String>,
    bases: BaseReach,
    access: [u8; 32],
    refresh: [u8; 32],
    refresh_expires_at: Instant,
}

/// What the token endpoint answers.
#[derive(Clone, Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    /// The access token's scopes.
    pub scopes: Vec<String>,
}

impl Issued {
    /// Airtable's token answer.
    pub fn body(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "scope": self.scopes.join(" "),
            "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
            "refresh_expires_in": REFRESH_TOKEN_LIFETIME.as_secs(),
        })
    }
}

/// The base64url (unpadded) SHA-256 of a PKCE code verifier: what its S256 `code_challenge` is.
pub fn s256_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A code verifier as RFC 7636 §4.1 has it: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A S256 code challenge: 43 characters of base64url.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn secret(prefix: &str, len: usize) -> String {
    let suffix: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect();
    format!("{prefix}{suffix}")
}

#[derive(Default)]
pub struct OAuth {
    clients: HashMap<String, OAuthClient>,
    codes: HashMap<[u8; 32], Code>,
    grants: HashMap<u64, Grant>,
    by_refresh: HashMap<[u8; 32], u64>,
    next_grant: u64,
}

impl OAuth {
    /// Registers (or replaces) an integration.
    pub fn register_client(&mut self, client: OAuthClient) {
        self.clients.insert(client.id.clone(), client);
    }

    pub fn client(&self, id: &str) -> Option<&OAuthClient> {
        self.clients.get(id)
    }

    /// Client authentication at the token endpoint: a client with a secret must present it (HTTP Basic); a
    /// public one must present none.
    pub fn authenticate(&self, client_id: &str, presented: Option<&str>) -> Result<(), OAuthError> {
        let client = self.clients.get(client_id).ok_or_else(OAuthError::invalid_client)?;
        let authenticated = match (&client.secret, presented) {
            (Some(secret), Some(presented)) => same_secret(secret, presented),
            (None, None) => true,
            (None, Some(presented)) => presented.is_empty(),
            (Some(_), None) => false,
        };
        if authenticated { Ok(()) } else { Err(OAuthError::invalid_client()) }
    }

    /// A fresh authorization code for `consent`, valid for [`CODE_LIFETIME`].
    pub fn issue_code(&mut self, consent: Consent, now: Instant) -> String {
        self.codes.retain(|_, c| c.expires_at > now);
        let code = secret("", 40);
        self.codes.insert(digest(&code), Code { consent, expires_at: now + CODE_LIFETIME, spent: None });
        code
    }

    /// `grant_type=authorization_code` for an authenticated client.
    pub fn exchange_code(
        &mut self,
        tokens: &mut Tokens,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        now: Instant,
    ) -> Result<Issued, OAuthError> {
        let invalid_code = || OAuthError::invalid_grant("The authorization code is invalid, expired or already used");
        self.purge(tokens, now);
        let key = digest(code);
        let entry = self.codes.get_mut(&key).ok_or_else(invalid_code)?;
        if entry.consent.client_id != client_id {
            return Err(invalid_code());
        }
        if let Some(issued) = entry.spent {
            // A code presented twice: whatever it became is revoked.
            if let Some(grant) = issued {
                self.revoke_grant(tokens, grant);
            }
            return Err(invalid_code());
        }
        entry.spent = Some(None);
        if entry.expires_at <= now {
            return Err(invalid_code());
        }
        if entry.consent.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        if !same_secret(&s256_challenge(verifier), &entry.consent.code_challenge) {
            return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
        }
        let consent = entry.consent.clone();
        let id = self.next_grant;
        self.next_grant += 1;
        if let Some(entry) = self.codes.get_mut(&key) {
            entry.spent = Some(Some(id));
        }
        self.grants.insert(
            id,
            Grant {
                client_id: consent.client_id,
                user: consent.user,
                scopes: consent.scopes,
                bases: consent.bases,
                access: [0; 32],
                refresh: [0; 32],
                refresh_expires_at: now + REFRESH_TOKEN_LIFETIME,
            },
        );
        self.rotate(tokens, id, None, now).ok_or_else(invalid_code)
    }

    /// `grant_type=refresh_token` for an authenticated client: a new access token and a new refresh token;
    /// the old pair stops working. `scope` may narrow the new access token's scopes (never widen them).
    pub fn refresh(
        &mut self,
        tokens: &mut Tokens,
        client_id: &str,
        refresh_token: &str,
        scope: Option<Vec<String>>,
        now: Instant,
    ) -> Result<Issued, OAuthError> {
        let invalid = || OAuthError::invalid_grant("The refresh token is invalid, expired or revoked");
        self.purge(tokens, now);
        let id = *self.by_refresh.get(&digest(refresh_token)).ok_or_else(invalid)?;
        let grant = self.grants.get(&id).ok_or_else(invalid)?;
        if grant.client_id != client_id {
            return Err(invalid());
        }
        if let Some(requested) = &scope
            && let Some(extra) = requested.iter().find(|s| !grant.scopes.contains(s))
        {
            return Err(OAuthError::invalid_scope(format!("Scope {extra} was not granted")));
        }
        self.rotate(tokens, id, scope, now).ok_or_else(invalid)
    }

    /// Whether `token` is a live refresh token (then revoking it revokes its grant).
    pub fn revoke_refresh_token(&mut self, tokens: &mut Tokens, token: &str) -> bool {
        match self.by_refresh.get(&digest(token)).copied() {
            Some(id) => {
                self.revoke_grant(tokens, id);
                true
            }
            None => false,
        }
    }

    /// New tokens for grant `id`, replacing its current ones (`None`: no such grant).
    fn rotate(&mut self, tokens: &mut Tokens, id: u64, scope: Option<Vec<String>>, now: Instant) -> Option<Issued> {
        let grant = self.grants.get_mut(&id)?;
        let access_token = secret("oaa", 32);
        let refresh_token = secret("oar", 48);
        tokens.remove_digest(&grant.access);
        self.by_refresh.remove(&grant.refresh);
        let scopes = scope.unwrap_or_else(|| grant.scopes.clone());
        tokens.insert(
            &access_token,
            TokenGrant {
                user: grant.user.clone(),
                scopes: scopes.clone(),
                bases: grant.bases.clone(),
                kind: TokenKind::OAuth { expires_at: now + ACCESS_TOKEN_LIFETIME },
            },
        );
        grant.access = digest(&access_token);
        grant.refresh = digest(&refresh_token);
        grant.refresh_expires_at = now + REFRESH_TOKEN_LIFETIME;
        self.by_refresh.insert(grant.refresh, id);
        Some(Issued { access_token, refresh_token, scopes })
    }

    fn revoke_grant(&mut self, tokens: &mut Tokens, id: u64) {
        if let Some(grant) = self.grants.remove(&id) {
            tokens.remove_digest(&grant.access);
            self.by_refresh.remove(&grant.refresh);
        }
    }

    /// Forgets grants whose refresh token expired, and expired access tokens.
    fn purge(&mut self, tokens: &mut Tokens, now: Instant) {
        let expired: Vec<u64> =
            self.grants.iter().filter(|(_, g)| g.refresh_expires_at <= now).map(|(id, _)| *id).collect();
        for id in expired {
            self.revoke_grant(tokens, id);
        }
        tokens.purge_expired(now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256_challenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(is_code_verifier(verifier) && is_s256_challenge(&s256_challenge(verifier)));
        assert!(!is_code_verifier("short") && !is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{verifier}+")));
    }

    #[test]
    fn clients_authenticate_with_their_secret_or_none() {
        let mut oauth = OAuth::default();
        let uris = vec!["http://localhost/cb".to_string()];
        oauth.register_client(OAuthClient {
            id: "conf".into(),
            secret: Some("s3cret".into()),
            redirect_uris: uris.clone(),
        });
        oauth.register_client(OAuthClient { id: "pub".into(), secret: None, redirect_uris: uris });
        assert!(oauth.authenticate("conf", Some("s3cret")).is_ok());
        assert_eq!(oauth.authenticate("conf", Some("wrong")).unwrap_err().error, "invalid_client");
        assert_eq!(oauth.authenticate("conf", None).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert!(oauth.authenticate("pub", None).is_ok());
        assert!(oauth.authenticate("pub", Some("")).is_ok());
        assert!(oauth.authenticate("pub", Some("x")).is_err());
        assert!(oauth.authenticate("nobody", None).is_err());
    }
}
