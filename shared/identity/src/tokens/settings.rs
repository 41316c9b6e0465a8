//! Token settings, read once at cold start. The signing key is a secret: never logged, never a constant.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use platform::config::{ConfigError, parse_or, secret, var};
use secrecy::SecretString;

/// Access tokens live at most this long (the authorizer's cache and a stolen token's use are bounded by it).
pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated between issuer and verifier; more would stretch every lifetime.
pub const MAX_LEEWAY: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// `JWT_ALGORITHM` (HS256): one of [`super::keys::ALLOWED`].
    pub algorithm: Algorithm,
    /// `JWT_SIGNING_KEY`: the HMAC secret (at least 32 bytes), or a PEM private key for ES256/EdDSA. Under
    /// the local runner it may be unset: a random key is made once and kept in the data dir.
    pub signing_key: Option<SecretString>,
    /// `JWT_VERIFYING_KEY`: the PEM public key for ES256/EdDSA.
    pub verifying_key: Option<String>,
    /// `JWT_KEY_ID`: the `kid` of the current key (default: derived from the key).
    pub key_id: Option<String>,
    /// `JWT_ISSUER` (pyairtable).
    pub issuer: String,
    /// `JWT_AUDIENCE` (pyairtable-api).
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS` (900, at most 900).
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS` (7 days): how long a refresh token stays usable unused.
    pub refresh_ttl: Duration,
    /// `SESSION_MAX_LIFETIME_SECS` (30 days): the absolute lifetime of a session, however often refreshed.
    pub session_lifetime: Duration,
    /// `JWT_LEEWAY_SECS` (30, at most 120).
    pub leeway: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::HS256,
            signing_key: None,
            verifying_key: None,
            key_id: None,
            issuer: "pyairtable".into(),
            audience: "pyairtable-api".into(),
            access_ttl: MAX_ACCESS_TTL,
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            leeway: Duration::from_secs(30),
        }
    }
}

impl TokenSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let secs = |name: &str, default: Duration| parse_or(name, default.as_secs()).map(Duration::from_secs);
        let algorithm = match var("JWT_ALGORITHM") {
            None => defaults.algorithm,
            Some(raw) => raw.parse().map_err(|_| invalid("JWT_ALGORITHM", "not a JWS algorithm name"))?,
        };
        let settings = Self {
            algorithm,
            signing_key: secret("JWT_SIGNING_KEY"),
            verifying_key: var("JWT_VERIFYING_KEY"),
            key_id: var("JWT_KEY_ID"),
            issuer: var("JWT_ISSUER").unwrap_or(defaults.issuer),
            audience: var("JWT_AUDIENCE").unwrap_or(defaults.audience),
            access_ttl: secs("ACCESS_TOKEN_TTL_SECS", defaults.access_ttl)?,
            refresh_ttl: secs("REFRESH_TOKEN_TTL_SECS", defaults.refresh_ttl)?,
            session_lifetime: secs("SESSION_MAX_LIFETIME_SECS", defaults.session_lifetime)?,
            leeway: secs("JWT_LEEWAY_SECS", defaults.leeway)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The bounds every runtime enforces, whatever built the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !super::keys::ALLOWED.contains(&self.algorithm) {
            return Err(invalid("JWT_ALGORITHM", "not on the allow-list (HS256, HS384, HS512, ES256, EdDSA)"));
        }
        if self.access_ttl.is_zero() || self.access_ttl > MAX_ACCESS_TTL {
            return Err(invalid("ACCESS_TOKEN_TTL_SECS", "must be 1 to 900 seconds"));
        }
        if self.refresh_ttl.is_zero() || self.refresh_ttl > self.session_lifetime {
            return Err(invalid("REFRESH_TOKEN_TTL_SECS", "must be positive and at most SESSION_MAX_LIFETIME_SECS"));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(invalid("JWT_LEEWAY_SECS", "must be at most 120 seconds"));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(invalid("JWT_ISSUER", "issuer and audience must not be empty"));
        }
        Ok(())
    }
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { name: name.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_defaults_are_valid_and_access_tokens_last_at_most_fifteen_minutes() {
        let settings = TokenSettings::default();
        assert!(settings.validate().is_ok());
        assert!(settings.access_ttl <= Duration::from_secs(900));
    }

    #[test]
    fn an_access_lifetime_over_fifteen_minutes_is_refused() {
        let settings = TokenSettings { access_ttl: Duration::from_secs(901), ..TokenSettings::default() };
        assert!(settings.validate().is_err());
    }

    #[test]
    fn an_algorithm_off_the_list_is_refused() {
        let settings = TokenSettings { algorithm: Algorithm::RS256, ..TokenSettings::default() };
        assert!(settings.validate().is_err());
    }
}
