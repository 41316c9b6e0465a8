//! Which Airtable credential serves a request. In this phase the platform holds one token; with
//! workspaces and permissions (phase 2) the resolver will pick a tenant's own credential, or refuse a base
//! the caller may not reach — the seam is here, asked once per request.

use std::sync::Arc;

use async_trait::async_trait;
use platform::Caller;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::GatewayError;
use crate::ids::BaseId;

/// A token, and an identity for it that is safe to put in cache keys and limiter keys (a hash prefix:
/// two credentials never share cached data, and the token itself never leaves this struct).
pub struct Credential {
    identity: String,
    token: SecretString,
}

impl Credential {
    pub fn new(token: SecretString) -> Self {
        let digest = Sha256::digest(token.expose_secret().as_bytes());
        Self { identity: format!("cred-{}", hex::encode(&digest[..8])), token }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn token(&self) -> &SecretString {
        &self.token
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("identity", &self.identity).finish_non_exhaustive()
    }
}

#[async_trait]
pub trait CredentialResolver: Send + Sync {
    /// The credential for `caller` to reach `base` (`None`: the base list and whoami).
    async fn resolve(&self, caller: &Caller, base: Option<&BaseId>) -> Result<Arc<Credential>, GatewayError>;
}

/// Phase 1: every caller uses the platform's credential.
pub struct PlatformCredential(Arc<Credential>);

impl PlatformCredential {
    pub fn new(token: SecretString) -> Self {
        Self(Arc::new(Credential::new(token)))
    }
}

#[async_trait]
impl CredentialResolver for PlatformCredential {
    async fn resolve(&self, _: &Caller, _: Option<&BaseId>) -> Result<Arc<Credential>, GatewayError> {
        Ok(self.0.clone())
    }
}

/// No token configured (a stack deployed without one): every Airtable request is answered 503.
pub struct NoCredential;

#[async_trait]
impl CredentialResolver for NoCredential {
    async fn resolve(&self, _: &Caller, _: Option<&BaseId>) -> Result<Arc<Credential>, GatewayError> {
        Err(GatewayError::Invalid {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            kind: "SERVICE_UNAVAILABLE",
            message: "The gateway has no Airtable token configured (AIRTABLE_API_KEY)".into(),
        })
    }
}

/// The platform credential when a token is configured, else [`NoCredential`].
pub fn from_settings(api_key: Option<SecretString>) -> Arc<dyn CredentialResolver> {
    match api_key {
        Some(token) => Arc::new(PlatformCredential::new(token)),
        None => Arc::new(NoCredential),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_stable_distinct_and_never_the_token() {
        let a = Credential::new(SecretString::from("patA.secret"));
        let b = Credential::new(SecretString::from("patB.secret"));
        assert_eq!(a.identity(), Credential::new(SecretString::from("patA.secret")).identity());
        assert_ne!(a.identity(), b.identity());
        assert!(!format!("{a:?}").contains("secret"));
    }
}
