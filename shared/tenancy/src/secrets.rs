//! Connection secrets at rest: sealed by the keys port (KMS on AWS, the data dir's key under `cargo run`)
//! with the tenant and the connection as encryption context, so a stored secret copied to another tenant's
//! or another connection's record does not open. Stored as base64; never logged, never answered.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use storage::keys::{EncryptionContext, Keys};

#[derive(Clone)]
pub struct Secrets {
    keys: Arc<dyn Keys>,
}

fn context(tenant: &str, connection: &str) -> EncryptionContext {
    EncryptionContext::from([
        ("purpose".to_string(), "airtable-connection".to_string()),
        ("tenant_id".to_string(), tenant.to_string()),
        ("connection_id".to_string(), connection.to_string()),
    ])
}

impl Secrets {
    pub fn new(keys: Arc<dyn Keys>) -> Self {
        Self { keys }
    }

    /// The stored form of `secret` for `connection` of `tenant`.
    pub async fn seal(&self, tenant: &str, connection: &str, secret: &SecretString) -> anyhow::Result<String> {
        let envelope = self.keys.encrypt(secret.expose_secret().as_bytes(), &context(tenant, connection)).await?;
        Ok(STANDARD.encode(envelope))
    }

    /// The secret, if `stored` was sealed for exactly this tenant and connection (else an error: a record
    /// moved between tenants or connections, or tampered with).
    pub async fn open(&self, tenant: &str, connection: &str, stored: &str) -> anyhow::Result<SecretString> {
        let envelope = STANDARD.decode(stored).map_err(|_| anyhow::anyhow!("a stored secret is not base64"))?;
        let plain = self.keys.decrypt(&envelope, &context(tenant, connection)).await?;
        let text = std::str::from_utf8(plain.expose_secret())
            .map_err(|_| anyhow::anyhow!("a stored secret is not text"))?
            .to_string();
        Ok(SecretString::from(text))
    }
}

/// What an OAuth connection seals: the current access token and the refresh token (rotated together).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
}
