//! Connection secrets at rest: sealed by the keys port (KMS on AWS, the data dir's key under `cargo run`)
//! with the tenant and the connection as encryption context, so a stored secret copied to another tenant's
//! or another connection's record does not open. Stored as base64; never logged, never answered.

use std::sync::Arc;

use storage::keys::{Keys, Sealer};

/// Connection secrets: sealed for purpose `airtable-connection`, bound to the tenant and `connection_id`.
pub type Secrets = Sealer;

pub fn connection_secrets(keys: Arc<dyn Keys>) -> Secrets {
    Sealer::new(keys, "airtable-connection", "connection_id")
}

/// What an OAuth connection seals: the current access token and the refresh token (rotated together).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
}
