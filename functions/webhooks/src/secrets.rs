//! Endpoint secrets at rest: sealed by the keys port (KMS on AWS, the data dir's key under `cargo run`) with
//! the tenant and the endpoint as encryption context, so a sealed secret copied to another tenant's or
//! endpoint's record does not open. Stored as base64; answered only when created or rotated; never logged.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use storage::keys::{EncryptionContext, Keys};

#[derive(Clone)]
pub struct EndpointSecrets {
    keys: Arc<dyn Keys>,
}

fn context(tenant: &str, endpoint: &str) -> EncryptionContext {
    EncryptionContext::from([
        ("purpose".to_string(), "webhook-endpoint".to_string()),
        ("tenant_id".to_string(), tenant.to_string()),
        ("endpoint_id".to_string(), endpoint.to_string()),
    ])
}

impl EndpointSecrets {
    pub fn new(keys: Arc<dyn Keys>) -> Self {
        Self { keys }
    }

    pub async fn seal(&self, tenant: &str, endpoint: &str, secret: &SecretString) -> anyhow::Result<String> {
        let envelope = self.keys.encrypt(secret.expose_secret().as_bytes(), &context(tenant, endpoint)).await?;
        Ok(STANDARD.encode(envelope))
    }

    /// The secret, if `stored` was sealed for exactly this tenant and endpoint.
    pub async fn open(&self, tenant: &str, endpoint: &str, stored: &str) -> anyhow::Result<SecretString> {
        let envelope = STANDARD.decode(stored).map_err(|_| anyhow::anyhow!("a stored webhook secret is not base64"))?;
        let plain = self.keys.decrypt(&envelope, &context(tenant, endpoint)).await?;
        let text = std::str::from_utf8(plain.expose_secret())
            .map_err(|_| anyhow::anyhow!("a stored webhook secret is not text"))?
            .to_string();
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn a_sealed_secret_opens_for_its_own_tenant_and_endpoint_only() {
        let dir = std::env::temp_dir().join(format!("webhook-secrets-{}", uuid::Uuid::new_v4()));
        let secrets = EndpointSecrets::new(Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap()));
        let secret = crate::signing::generate_secret().unwrap();
        let sealed = secrets.seal("t1", "ep1", &secret).await.unwrap();
        assert!(!sealed.contains(secret.expose_secret()));
        assert_eq!(secrets.open("t1", "ep1", &sealed).await.unwrap().expose_secret(), secret.expose_secret());
        assert!(secrets.open("t2", "ep1", &sealed).await.is_err());
        assert!(secrets.open("t1", "ep2", &sealed).await.is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
