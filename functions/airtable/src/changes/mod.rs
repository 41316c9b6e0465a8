//! Change capture: what is edited in a linked base *at Airtable* (not through the gateway) becomes platform
//! events, and the gateway's cached reads of the changed tables are invalidated at once.
//!
//! 1. **Registration** — `workspace.base_linked` reaches the `events-airtable-changes` queue; the
//!    `airtable-changes` consumer creates an Airtable webhook on the base through the link's connection
//!    (`POST /v0/bases/{base}/webhooks`, every data type, cell values and previous values included) whose
//!    notification URL is this API's public route, and stores its id, cursor and MAC secret (sealed by the keys
//!    port, bound to the tenant and the webhook) beside the link ([`store`]). `workspace.base_unlinked` deletes
//!    it. Nothing registers when `AIRTABLE_WEBHOOKS_PUBLIC_URL` is unset (Airtable could not reach us); the
//!    runner sets it to its own URL.
//! 2. **Pings** — `POST /api/v1/airtable/webhooks/{tenantId}/notify` (public; [`notify`]) verifies
//!    `X-Airtable-Content-MAC` over the raw body with that webhook's secret, refuses pings older than five
//!    minutes and any ping seen before (its MAC remembered in the shared cache), and queues one fetch per
//!    webhook at a time: a storm of pings while a fetch is queued adds nothing.
//! 3. **Fetch** — the consumer reads payloads from the stored cursor (at most 50 a page while
//!    `mightHaveMore`, each request through the limiter like any gateway call), invalidates the cached reads of
//!    every table they touch (the schema too when fields or tables changed), publishes their events
//!    ([`payloads`]: ids and times derived from the payload, so a repeat is the same event), and only then
//!    moves the cursor on, under the hook's version. A crash in between reads the page again: at least once,
//!    never lost.
//! 4. **Refresh** — Airtable webhooks expire after seven days; the `airtable-webhooks-refresh` schedule
//!    refreshes each one due within three days, and registers again one that Airtable no longer knows (its
//!    missed changes are then unknowable, so the base's whole cache is invalidated).

pub mod consumer;
pub mod fetch;
pub mod hooks;
pub mod notify;
pub mod payloads;
pub mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::bus::Bus;
use storage::cache::Cache;
use storage::keys::Sealer;
use storage::queue::{OutgoingMessage, Queue};

use crate::cache::ReadCache;
use crate::credentials::TenantCredentials;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::settings::AirtableSettings;
use crate::upstream::Upstream;

/// The queue: the bus's link events and the notify route's fetches.
pub const QUEUE: &str = events::routing::AIRTABLE_CHANGES;
/// Where the notify route is under the API's public URL (`{tenant}` replaced).
pub const NOTIFY_PATH: &str = "/api/v1/airtable/webhooks/{tenant}/notify";

/// The schedule refreshes webhooks expiring within this (three days; the schedule runs every 12 hours).
pub const REFRESH_WITHIN_SECS: i64 = 3 * 24 * 3600;

/// A job the notify route (or a long fetch) queues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    Fetch { tenant: String, base: String, webhook: String },
}

impl Job {
    pub fn message(&self) -> anyhow::Result<OutgoingMessage> {
        Ok(OutgoingMessage::new(serde_json::to_string(self)?))
    }
}

/// The MAC secrets' sealer: purpose `airtable-webhook-mac`, bound to the tenant and the webhook id.
pub fn mac_secrets(keys: Arc<dyn storage::keys::Keys>) -> Sealer {
    Sealer::new(keys, "airtable-webhook-mac", "webhook_id")
}

/// Everything change capture uses.
pub struct Capture {
    pub hooks: store::HookStore,
    pub secrets: Sealer,
    pub credentials: Arc<TenantCredentials>,
    pub upstream: Upstream,
    pub cache: ReadCache,
    /// The shared cache: pending-fetch markers and remembered pings.
    pub shared: Arc<dyn Cache>,
    pub namespace: String,
    pub bus: Arc<dyn Bus>,
    pub queue: Arc<dyn Queue>,
    /// `AIRTABLE_WEBHOOKS_PUBLIC_URL`: the API's root as Airtable reaches it; `None` turns registration off.
    pub public_url: Option<String>,
}

impl Capture {
    pub async fn build(
        resources: &platform::group::Resources,
        settings: &AirtableSettings,
        credentials: Arc<TenantCredentials>,
        metrics: Arc<Metrics>,
        public_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let shared = resources.cache().await?;
        let namespace = resources.namespace().to_string();
        let limiter = Limiter::new(shared.clone(), &namespace, settings, metrics.clone());
        Ok(Self {
            hooks: store::HookStore::new(resources.table(tenancy::TABLE).await?),
            secrets: mac_secrets(resources.keys().await?),
            credentials,
            upstream: Upstream::new(settings, limiter, metrics)?,
            cache: ReadCache::new(shared.clone(), &namespace, settings),
            shared,
            namespace,
            bus: resources.bus(&events::routing::bus_spec()).await?,
            queue: resources.queue(&events::routing::queue_spec(QUEUE)).await?,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
        })
    }

    /// The notification URL of `tenant`'s webhooks.
    pub fn notify_url(&self, tenant: &str) -> Option<String> {
        let root = self.public_url.as_ref()?;
        Some(format!("{root}{}", NOTIFY_PATH.replace("{tenant}", tenant)))
    }

    pub(crate) fn pending_key(&self, tenant: &str, base: &str) -> String {
        pending_key(&self.namespace, tenant, base)
    }
}

/// The marker saying a fetch of `tenant`'s webhook of `base` is queued.
pub(crate) fn pending_key(namespace: &str, tenant: &str, base: &str) -> String {
    format!("{namespace}:airhook-pending:{tenant}:{base}")
}
