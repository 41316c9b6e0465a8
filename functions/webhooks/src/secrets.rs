//! Endpoint secrets at rest: sealed by the keys port (KMS on AWS, the data dir's key under `cargo run`) with
//! the tenant and the endpoint as encryption context, so a sealed secret copied to another tenant's or
//! endpoint's record does not open. Stored as base64; answered only when created or rotated; never logged.

use std::sync::Arc;

use storage::keys::{Keys, Sealer};

/// Endpoint secrets: sealed for purpose `webhook-endpoint`, bound to the tenant and `endpoint_id`.
pub type EndpointSecrets = Sealer;

pub fn endpoint_secrets(keys: Arc<dyn Keys>) -> EndpointSecrets {
    Sealer::new(keys, "webhook-endpoint", "endpoint_id")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use secrecy::ExposeSecret;

    use super::*;

    #[tokio::test]
    async fn a_sealed_secret_opens_for_its_own_tenant_and_endpoint_only() {
        let dir = std::env::temp_dir().join(format!("webhook-secrets-{}", uuid::Uuid::new_v4()));
        let secrets = endpoint_secrets(Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap()));
        let secret = crate::signing::generate_secret().unwrap();
        let sealed = secrets.seal("t1", "ep1", &secret).await.unwrap();
        assert!(!sealed.contains(secret.expose_secret()));
        assert_eq!(secrets.open("t1", "ep1", &sealed).await.unwrap().expose_secret(), secret.expose_secret());
        assert!(secrets.open("t2", "ep1", &sealed).await.is_err());
        assert!(secrets.open("t1", "ep2", &sealed).await.is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
