//! Text secrets at rest for one purpose, each bound to its tenant and its record: sealed by the keys port with
//! the encryption context `{purpose, tenant_id, <record>: id}`, so a sealed value copied to another tenant's or
//! another record's row does not open. Stored as base64; the plain text never leaves a [`SecretString`].

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use crate::keys::{EncryptionContext, Keys};

#[derive(Clone)]
pub struct Sealer {
    keys: Arc<dyn Keys>,
    /// The context's `purpose` (`airtable-connection`, `webhook-endpoint`, …).
    purpose: &'static str,
    /// The context's name for the record's id (`connection_id`, `endpoint_id`, …).
    record: &'static str,
}

impl Sealer {
    pub fn new(keys: Arc<dyn Keys>, purpose: &'static str, record: &'static str) -> Self {
        Self { keys, purpose, record }
    }

    fn context(&self, tenant: &str, id: &str) -> EncryptionContext {
        EncryptionContext::from([
            ("purpose".to_string(), self.purpose.to_string()),
            ("tenant_id".to_string(), tenant.to_string()),
            (self.record.to_string(), id.to_string()),
        ])
    }

    /// The stored form of `secret` for record `id` of `tenant`.
    pub async fn seal(&self, tenant: &str, id: &str, secret: &SecretString) -> anyhow::Result<String> {
        let envelope = self.keys.encrypt(secret.expose_secret().as_bytes(), &self.context(tenant, id)).await?;
        Ok(STANDARD.encode(envelope))
    }

    /// The secret, if `stored` was sealed for exactly this purpose, tenant and record (else an error: a value
    /// moved between tenants or records, or tampered with).
    pub async fn open(&self, tenant: &str, id: &str, stored: &str) -> anyhow::Result<SecretString> {
        let purpose = self.purpose;
        let envelope =
            STANDARD.decode(stored).map_err(|_| anyhow::anyhow!("a sealed {purpose} secret is not base64"))?;
        let plain = self.keys.decrypt(&envelope, &self.context(tenant, id)).await?;
        let text = std::str::from_utf8(plain.expose_secret())
            .map_err(|_| anyhow::anyhow!("a sealed {purpose} secret is not text"))?
            .to_string();
        Ok(SecretString::from(text))
    }
}
