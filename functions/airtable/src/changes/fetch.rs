//! Reading a webhook's payloads from its cursor: invalidate, publish, then move the cursor on.

use axum::http::Method;

use super::payloads::{self, PayloadPage, Touched};
use super::{Capture, Job};
use crate::ids::{BaseId, TableRef};
use crate::upstream::UpstreamRequest;

/// Pages one fetch job reads before it queues the next (so one busy base cannot hold a worker for long).
pub const MAX_PAGES: usize = 10;
/// Airtable's largest page.
pub const PAGE_LIMIT: u32 = 50;

/// What one fetch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    pub payloads: usize,
    pub events: usize,
    /// Another job was queued for the rest.
    pub continued: bool,
}

impl Capture {
    /// Reads `tenant`'s webhook `webhook` of `base` from its cursor. A job for a webhook that is no longer the
    /// link's (unlinked, registered again) does nothing.
    pub async fn fetch(&self, tenant: &str, base: &str, webhook: &str) -> anyhow::Result<Fetched> {
        // Cleared first: a ping from now on queues another fetch, which reads what this one may miss.
        if let Err(e) = self.shared.delete(&self.pending_key(tenant, base)).await {
            tracing::warn!(error = ?e, "change capture: the pending-fetch marker stays until it expires");
        }
        let mut fetched = Fetched::default();
        let Some(mut hook) = self.hooks.get(tenant, base).await? else { return Ok(fetched) };
        if hook.webhook_id != webhook {
            return Ok(fetched);
        }
        let Some(base_id) = BaseId::parse(base) else { return Ok(fetched) };
        let credential =
            self.credentials.for_link(tenant, &super::hooks::link_of(&hook)).await.map_err(anyhow::Error::new)?;
        for _ in 0..MAX_PAGES {
            let request = UpstreamRequest {
                method: Method::GET,
                segments: ["v0", "bases", base, "webhooks", webhook, "payloads"].map(String::from).to_vec(),
                query: vec![("cursor".into(), hook.cursor.to_string()), ("limit".into(), PAGE_LIMIT.to_string())],
                body: None,
                base: Some(base_id.clone()),
                read: true,
            };
            let page: PayloadPage = serde_json::from_slice(&self.upstream.send(&credential, &request).await?)?;
            let origin = payloads::Origin { tenant, workspace: &hook.workspace_id, base, webhook };
            let mut touched = Touched::default();
            let mut events = Vec::new();
            for (i, payload) in page.payloads.iter().enumerate() {
                events.extend(payloads::events(&origin, hook.cursor + i as u64, payload, &mut touched));
            }
            // Invalidate before anyone hears of the change, so a reader woken by the event reads it.
            for table in &touched.tables {
                if let Some(table) = TableRef::parse(table) {
                    self.cache.invalidate(&base_id, &table).await;
                }
            }
            if touched.schema {
                self.cache.invalidate_schema(&base_id).await;
            }
            for event in &events {
                events::publisher::publish_replayable(self.bus.as_ref(), event).await?;
            }
            fetched.payloads += page.payloads.len();
            fetched.events += events.len();
            if page.cursor != hook.cursor {
                hook.cursor = page.cursor;
                if !self.hooks.update(&hook).await? {
                    // Another worker moved it on: it reads the rest.
                    return Ok(fetched);
                }
                hook.version += 1;
            }
            if !page.might_have_more {
                return Ok(fetched);
            }
        }
        let job = Job::Fetch { tenant: tenant.into(), base: base.into(), webhook: webhook.into() };
        self.queue.send(job.message()?).await?;
        fetched.continued = true;
        Ok(fetched)
    }
}
