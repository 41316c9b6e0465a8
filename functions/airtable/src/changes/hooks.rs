//! Airtable's webhooks API, as change capture uses it: register a link's webhook, delete it, refresh it.

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use tenancy::BaseLink;

use super::Capture;
use super::store::Hook;
use crate::error::GatewayError;
use crate::ids::BaseId;
use crate::upstream::UpstreamRequest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    id: String,
    mac_secret_base64: String,
    expiration_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refreshed {
    expiration_time: Option<String>,
}

fn request(method: Method, base: &str, tail: &[&str], body: Option<serde_json::Value>) -> UpstreamRequest {
    let mut segments = vec!["v0".to_string(), "bases".into(), base.to_string(), "webhooks".into()];
    segments.extend(tail.iter().map(|s| s.to_string()));
    UpstreamRequest {
        method,
        segments,
        query: Vec::new(),
        body: body.map(|b| Bytes::from(b.to_string())),
        base: BaseId::parse(base),
        read: false,
    }
}

/// What registration did.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// A webhook now serves the link (`true`: created now).
    Yes(bool),
    /// Change capture is off (no public URL) or the link is gone.
    Skipped,
    /// Airtable refused it for good (a 4xx other than 429).
    Refused,
}

impl Capture {
    /// Gives `tenant`'s link of `base` a webhook, unless it has one. Errors are worth retrying (the queue
    /// redelivers); an Airtable refusal (a token without `webhook:manage`, ten webhooks on the base) is not.
    pub async fn register(&self, tenant: &str, base: &str) -> anyhow::Result<Registered> {
        let Some(url) = self.notify_url(tenant) else { return Ok(Registered::Skipped) };
        if self.hooks.get(tenant, base).await?.is_some() {
            return Ok(Registered::Yes(false));
        }
        let Some(link) = self.credentials.store().base_link(tenant, base).await? else {
            return Ok(Registered::Skipped);
        };
        let credential = self.credentials.for_link(tenant, &link).await.map_err(anyhow::Error::new)?;
        let body = json!({
            "notificationUrl": url,
            "specification": {"options": {
                "filters": {"dataTypes": ["tableData", "tableFields", "tableMetadata"]},
                "includes": {"includeCellValuesInFieldIds": "all", "includePreviousCellValues": true}
            }}
        });
        let answer = match self.upstream.send(&credential, &request(Method::POST, base, &[], Some(body))).await {
            Ok(answer) => answer,
            // Airtable refuses for good (a token without webhook:manage, ten webhooks on the base already): the
            // link has no change capture; the gateway's cache still learns of the base's changes from any
            // other tenant's webhook on it. Anything else is retried by the queue.
            Err(GatewayError::Upstream { status, body, .. })
                if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS =>
            {
                tracing::warn!(%tenant, %base, %status, answer = %String::from_utf8_lossy(&body), "change capture: Airtable refused the webhook; this link has none");
                return Ok(Registered::Refused);
            }
            Err(e) => return Err(e.into()),
        };
        let created: Created = serde_json::from_slice(&answer)?;
        let secret = SecretString::from(created.mac_secret_base64);
        let hook = Hook {
            tenant_id: tenant.to_string(),
            workspace_id: link.workspace_id.clone(),
            base_id: base.to_string(),
            connection_id: link.connection_id.clone(),
            mac_secret: self.secrets.seal(tenant, &created.id, &secret).await?,
            webhook_id: created.id,
            cursor: 1,
            expiration_time: created.expiration_time.unwrap_or_default(),
            created_at: tenancy::now_rfc3339(),
            version: 0,
        };
        if self.hooks.create(&hook).await? {
            tracing::info!(%tenant, %base, webhook = %hook.webhook_id, "change capture: webhook registered");
            return Ok(Registered::Yes(true));
        }
        // Registered twice at once: the other one stands.
        self.delete_upstream(&link, &hook).await;
        Ok(Registered::Yes(false))
    }

    /// Deletes `tenant`'s webhook of `base` (the link is gone; its connection may be too).
    pub async fn unregister(&self, tenant: &str, base: &str) -> anyhow::Result<()> {
        let Some(hook) = self.hooks.get(tenant, base).await? else { return Ok(()) };
        self.delete_upstream(&link_of(&hook), &hook).await;
        self.hooks.delete(tenant, base).await?;
        tracing::info!(%tenant, %base, webhook = %hook.webhook_id, "change capture: webhook deleted");
        Ok(())
    }

    /// Best effort: a webhook left at Airtable expires within seven days and its pings find no hook.
    async fn delete_upstream(&self, link: &BaseLink, hook: &Hook) {
        let deleted = match self.credentials.for_link(&hook.tenant_id, link).await {
            Ok(credential) => {
                let request = request(Method::DELETE, &hook.base_id, &[&hook.webhook_id], None);
                self.upstream.send(&credential, &request).await.map(drop)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::warn!(error = %e, webhook = %hook.webhook_id, "change capture: the Airtable webhook could not be deleted; it expires on its own");
        }
    }

    /// Refreshes every webhook expiring within `within_secs`; one Airtable no longer knows is registered again.
    /// Returns (refreshed, registered again, failed).
    pub async fn refresh_due(&self, within_secs: i64) -> anyhow::Result<(usize, usize, usize)> {
        let horizon = storage::now_secs() + within_secs;
        let (mut refreshed, mut again, mut failed) = (0, 0, 0);
        let mut cursor = None;
        loop {
            let (pairs, next) = self.hooks.page(cursor).await?;
            for (tenant, base) in pairs {
                let Some(mut hook) = self.hooks.get(&tenant, &base).await? else { continue };
                if expiry_secs(&hook.expiration_time).is_some_and(|at| at > horizon) {
                    continue;
                }
                match self.refresh(&mut hook).await {
                    Ok(true) => refreshed += 1,
                    Ok(false) => again += 1,
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(error = ?e, %tenant, %base, "change capture: refresh failed; the next run tries again");
                    }
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok((refreshed, again, failed)),
            }
        }
    }

    /// True when refreshed; false when registered again.
    async fn refresh(&self, hook: &mut Hook) -> anyhow::Result<bool> {
        let link = link_of(hook);
        let credential = self.credentials.for_link(&hook.tenant_id, &link).await.map_err(anyhow::Error::new)?;
        let request = request(Method::POST, &hook.base_id, &[&hook.webhook_id, "refresh"], None);
        match self.upstream.send(&credential, &request).await {
            Ok(answer) => {
                let refreshed: Refreshed = serde_json::from_slice(&answer)?;
                hook.expiration_time = refreshed.expiration_time.unwrap_or_default();
                self.hooks.update(hook).await?;
                Ok(true)
            }
            Err(GatewayError::Upstream { status: StatusCode::NOT_FOUND, .. }) => {
                self.hooks.delete(&hook.tenant_id, &hook.base_id).await?;
                if let Some(base) = BaseId::parse(&hook.base_id) {
                    self.cache.invalidate_base(&base).await;
                    self.cache.invalidate_schema(&base).await;
                }
                self.register(&hook.tenant_id, &hook.base_id).await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The link a hook serves, as far as its credential goes (the link itself may be gone).
pub(crate) fn link_of(hook: &Hook) -> BaseLink {
    BaseLink {
        base_id: hook.base_id.clone(),
        workspace_id: hook.workspace_id.clone(),
        project_id: None,
        connection_id: hook.connection_id.clone(),
        name: String::new(),
        linked_by: String::new(),
        linked_at: String::new(),
        version: 0,
    }
}

/// Epoch seconds of an RFC 3339 time.
pub fn expiry_secs(at: &str) -> Option<i64> {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}
