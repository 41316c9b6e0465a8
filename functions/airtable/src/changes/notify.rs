//! `POST /api/v1/airtable/webhooks/{tenantId}/notify`: Airtable's pings. Public (Airtable holds no token of
//! ours): a ping proves itself with `X-Airtable-Content-MAC`, `hmac-sha256=` and the hex HMAC-SHA256 of the
//! raw body keyed by the webhook's (base64-decoded) MAC secret. A ping carries no change, only "read my
//! payloads", so the answer is the same 204 whether a fetch is queued now or already was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use platform::ApiError;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use storage::cache::Cache;
use storage::keys::Sealer;
use storage::queue::Queue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::HookStore;
use super::{Job, pending_key};

/// Airtable's header.
pub const MAC_HEADER: &str = "x-airtable-content-mac";
/// How old (or how far ahead) a ping may be.
pub const WINDOW_SECS: i64 = 300;
/// How long a ping's MAC is remembered (longer than the window, so a replay inside it is always seen).
const REMEMBERED: Duration = Duration::from_secs(600);
/// How long a queued fetch holds off further ones (the fetch clears it when it starts).
const PENDING: Duration = Duration::from_secs(60);
/// The largest ping body (Airtable's are ~150 bytes).
pub const MAX_BODY: usize = 4096;

/// A ping, as Airtable sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Ping {
    pub base: IdOnly,
    pub webhook: IdOnly,
    /// RFC 3339; at most five minutes from now.
    pub timestamp: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IdOnly {
    pub id: String,
}

pub struct Notifier {
    pub hooks: HookStore,
    pub secrets: Sealer,
    pub shared: Arc<dyn Cache>,
    pub namespace: String,
    pub queue: Arc<dyn Queue>,
    /// Opened MAC secrets by webhook id (a webhook's secret never changes).
    opened: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Notifier {
    pub async fn build(resources: &platform::group::Resources) -> anyhow::Result<Self> {
        Ok(Self {
            hooks: HookStore::new(resources.table(tenancy::TABLE).await?),
            secrets: super::mac_secrets(resources.keys().await?),
            shared: resources.cache().await?,
            namespace: resources.namespace().to_string(),
            queue: resources.queue(&events::routing::queue_spec(super::QUEUE)).await?,
            opened: Mutex::new(HashMap::new()),
        })
    }

    async fn secret(&self, tenant: &str, webhook: &str, sealed: &str) -> anyhow::Result<Arc<Vec<u8>>> {
        if let Some(secret) = self.opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(webhook) {
            return Ok(secret.clone());
        }
        let opened = self.secrets.open(tenant, webhook, sealed).await?;
        let bytes = Arc::new(base64::engine::general_purpose::STANDARD.decode(opened.expose_secret())?);
        let mut opened = self.opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if opened.len() > 10_000 {
            opened.clear();
        }
        opened.insert(webhook.to_string(), bytes.clone());
        Ok(bytes)
    }
}

pub fn router(notifier: Arc<Notifier>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(notify))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(notifier)
}

fn invalid_signature() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "X-Airtable-Content-MAC does not match a webhook of this tenant",
    )
}

/// `hmac-sha256=<hex>` verified over `body` with `secret`, in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("hmac-sha256=") else { return false };
    let Ok(mac) = hex::decode(hex_mac) else { return false };
    let Ok(mut expected) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    expected.update(body);
    expected.verify_slice(&mac).is_ok()
}

/// Receive an Airtable webhook notification (ping).
#[utoipa::path(post, path = "/api/v1/airtable/webhooks/{tenantId}/notify", tag = "airtable", security(()),
    params(("tenantId" = String, Path, description = "The tenant whose base link registered the webhook")),
    request_body(content = Ping, content_type = "application/json", description = "Airtable's ping, signed by X-Airtable-Content-MAC"),
    responses(
        (status = 204, description = "Accepted: the webhook's payloads will be read (one fetch at a time per webhook)"),
        (status = 400, description = "Not a ping (`invalid_notification`)"),
        (status = 401, description = "No webhook of this tenant signs it so (`invalid_signature`), or its timestamp is more than five minutes from now (`notification_expired`)"),
        (status = 409, description = "This very ping was received before (`notification_replayed`)"),
        (status = 413, description = "Body over 4,096 bytes"),
    ))]
pub async fn notify(
    State(notifier): State<Arc<Notifier>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let ping: Ping = serde_json::from_slice(&body).map_err(|_| {
        ApiError::bad_request("invalid_notification", "The body must be an Airtable webhook notification")
    })?;
    let plain = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !plain(&tenant) || !plain(&ping.base.id) || !plain(&ping.webhook.id) {
        return Err(invalid_signature());
    }
    let header = headers.get(MAC_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(invalid_signature)?;
    let hook = notifier.hooks.get(&tenant, &ping.base.id).await.map_err(ApiError::Unexpected)?;
    let hook = hook.filter(|h| h.webhook_id == ping.webhook.id).ok_or_else(invalid_signature)?;
    let secret = notifier.secret(&tenant, &hook.webhook_id, &hook.mac_secret).await.map_err(ApiError::Unexpected)?;
    if !verify(&secret, &body, header) {
        return Err(invalid_signature());
    }
    let sent = super::hooks::expiry_secs(&ping.timestamp)
        .ok_or_else(|| ApiError::bad_request("invalid_notification", "timestamp must be an RFC 3339 time"))?;
    if (storage::now_secs() - sent).abs() > WINDOW_SECS {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "notification_expired",
            "The notification's timestamp is more than five minutes from now",
        ));
    }
    let seen = format!("{}:airhook-ping:{}", notifier.namespace, hex::encode(Sha256::digest(header.as_bytes())));
    if !notifier.shared.set_if_absent(&seen, b"1", REMEMBERED).await.map_err(anyhow::Error::new)? {
        return Err(ApiError::conflict("notification_replayed", "This notification was received before"));
    }
    let pending = pending_key(&notifier.namespace, &tenant, &ping.base.id);
    if notifier.shared.set_if_absent(&pending, b"1", PENDING).await.map_err(anyhow::Error::new)? {
        let job = Job::Fetch { tenant: tenant.clone(), base: hook.base_id.clone(), webhook: hook.webhook_id.clone() };
        if let Err(e) = notifier.queue.send(job.message()?).await {
            _ = notifier.shared.delete(&pending).await;
            _ = notifier.shared.delete(&seen).await;
            return Err(ApiError::Unexpected(anyhow::Error::new(e).context("Failed to queue a payload fetch")));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("hmac-sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn the_mac_is_checked_over_the_exact_body() {
        let body = br#"{"base":{"id":"app1"},"webhook":{"id":"ach1"},"timestamp":"2026-12-07T10:00:00.000Z"}"#;
        let header = sign(b"secret", body);
        assert!(verify(b"secret", body, &header));
        assert!(!verify(b"other", body, &header));
        let mut changed = body.to_vec();
        changed[10] ^= 1;
        assert!(!verify(b"secret", &changed, &header));
        assert!(!verify(b"secret", body, header.trim_start_matches("hmac-sha256=")));
        assert!(!verify(b"secret", body, "hmac-sha256=zz"));
        assert!(!verify(b"secret", body, &header.to_uppercase()));
    }
}
