//! JWTs as RFC 8725 asks: one algorithm per key from an allow-list, `kid` required, issuer and audience
//! checked, explicit typing (`typ` header and a `token_use` claim, so a refresh token never passes as an
//! access token or the reverse), short lifetimes, small leeway.

pub mod keys;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

pub use keys::KeySet;
pub use settings::{MAX_ACCESS_TTL, TokenSettings};

/// Longest token worth parsing (ours are well under 1 KB).
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    Access,
    Refresh,
}

impl TokenUse {
    /// The `typ` header: RFC 9068's media type for access tokens, a private one for refresh tokens.
    fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::Refresh => "refresh+jwt",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub tenant: String,
    pub roles: Vec<String>,
    /// The session (refresh token family) the token belongs to.
    pub sid: String,
    /// This token's id; a session accepts only its newest refresh token's.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub token_use: TokenUse,
}

/// Who a token is for.
#[derive(Clone, Debug)]
pub struct Subject {
    pub user_id: String,
    pub tenant_id: String,
    pub roles: Vec<String>,
    pub session_id: String,
}

#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

/// Why a token was refused; callers answer every variant with the same 401, the reason goes to debug logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token refused: {0}")]
pub struct TokenError(pub &'static str);

#[derive(Clone)]
pub struct TokenService {
    keys: Arc<KeySet>,
    settings: Arc<TokenSettings>,
}

impl TokenService {
    pub fn new(keys: KeySet, settings: TokenSettings) -> Self {
        Self { keys: Arc::new(keys), settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// An access token for the subject, valid for the configured access lifetime.
    pub fn issue_access(&self, subject: &Subject) -> anyhow::Result<IssuedToken> {
        let exp = now() + secs(self.settings.access_ttl);
        self.issue(subject, TokenUse::Access, exp)
    }

    /// A refresh token, valid for the refresh lifetime but never past the session's absolute end.
    pub fn issue_refresh(&self, subject: &Subject, session_ends_at: i64) -> anyhow::Result<IssuedToken> {
        let exp = (now() + secs(self.settings.refresh_ttl)).min(session_ends_at);
        self.issue(subject, TokenUse::Refresh, exp)
    }

    fn issue(&self, subject: &Subject, token_use: TokenUse, exp: i64) -> anyhow::Result<IssuedToken> {
        let (kid, algorithm, key) = &self.keys.signing;
        let mut header = Header::new(*algorithm);
        header.kid = Some(kid.clone());
        header.typ = Some(token_use.typ().into());
        let iat = now();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: subject.user_id.clone(),
            tenant: subject.tenant_id.clone(),
            roles: subject.roles.clone(),
            sid: subject.session_id.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            nbf: iat,
            exp,
            token_use,
        };
        let token = jsonwebtoken::encode(&header, &claims, key).context("Failed to sign a token")?;
        Ok(IssuedToken { token, jti: claims.jti, expires_at: exp })
    }

    /// The token's claims if it is a valid, unexpired token of the expected use, signed by a key we hold.
    pub fn verify(&self, token: &str, expected: TokenUse) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError("too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError("malformed header"))?;
        let kid = header.kid.as_deref().ok_or(TokenError("no kid"))?;
        let (algorithm, key) = self.keys.verifying.get(kid).ok_or(TokenError("unknown kid"))?;
        if header.alg != *algorithm {
            return Err(TokenError("algorithm does not match the key"));
        }
        if header.typ.as_deref() != Some(expected.typ()) {
            return Err(TokenError("wrong typ"));
        }
        if header.crit.is_some() {
            return Err(TokenError("unsupported critical header"));
        }
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway.as_secs();
        let claims =
            jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| TokenError(reason(e.kind())))?.claims;
        if claims.token_use != expected {
            return Err(TokenError("wrong token_use"));
        }
        if claims.iat > now() + secs(self.settings.leeway) {
            return Err(TokenError("issued in the future"));
        }
        Ok(claims)
    }
}

fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => "bad signature",
        K::ExpiredSignature => "expired",
        K::ImmatureSignature => "not yet valid",
        K::InvalidIssuer => "wrong issuer",
        K::InvalidAudience => "wrong audience",
        K::InvalidAlgorithm => "algorithm not allowed",
        K::MissingRequiredClaim(_) | K::InvalidClaimFormat(_) | K::Json(_) => "bad claims",
        _ => "malformed",
    }
}

pub fn now() -> i64 {
    storage::now_secs()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests;
