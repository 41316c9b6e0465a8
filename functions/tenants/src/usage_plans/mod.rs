//! The per-tenant API rate on AWS: API Gateway meters each request by the `usageIdentifierKey` the authorizer
//! answers, against the usage plan that key is attached to (one usage plan per plan: template.yaml's
//! `FreeUsagePlan`, `ProUsagePlan`, `EnterpriseUsagePlan`, their throttles the plans' `api_requests_per_second`
//! and `api_burst`). This consumer of the bus's `events-usage-plans` queue (`user.registered`,
//! `tenant.plan_changed`) gives each tenant its own API Gateway key, named `<namespace>-tenant-<tenant id>`
//! (found by name first, so a retry after a crash finds the key it made), attached to exactly the usage plan of
//! the tenant's current plan, and records it in the identity table ([`identity::UsageKey`]) for the authorizer.
//! A plan without a usage plan (a custom `TENANT_PLANS` plan) is metered on the free one (logged).
//!
//! At least once and idempotent: each event re-reads the tenant and converges on its current plan, so a
//! redelivered or reordered event changes nothing more. Until the key exists (the first seconds after a
//! registration) the authorizer answers the stack's shared fallback key, attached to the free usage plan.
//!
//! Under `cargo run` with embedded storage there is no API Gateway: the consumer makes and records nothing (the
//! local gateway enforces the same numbers itself, [`identity::api_rate`]).

mod apigateway;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::Event;
use identity::plans::{DEFAULT_PLAN, Plans};
use identity::{IdentityStore, UsageKey};
use platform::config::{ConfigError, var};
use platform::group::{Resources, Setting};
use storage::backend::StorageMode;

pub use apigateway::ApiGatewayUsagePlans;

/// The consumer's settings: `USAGE_PLAN_IDS` (JSON `{"free": "<usage plan id>", …}`, the free plan's
/// required; template.yaml sets the three usage plans'), `TENANT_PLANS` (the plans, for the throttles of the
/// usage plans provisioned against an emulator).
pub const SETTINGS: &[Setting] = &[Setting::required("USAGE_PLAN_IDS"), Setting::optional("TENANT_PLANS")];

#[derive(Clone, Debug, Default)]
pub struct UsagePlanSettings {
    /// Plan name → API Gateway usage plan id. Unset: created (`<namespace>-<plan>`) when storage provisions
    /// (emulators, tests), else an error on AWS.
    pub usage_plan_ids: Option<BTreeMap<String, String>>,
    pub plans: Plans,
}

impl UsagePlanSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            usage_plan_ids: var("USAGE_PLAN_IDS").map(|raw| parse_ids(&raw)).transpose()?,
            plans: Plans::from_env()?,
        })
    }
}

/// `USAGE_PLAN_IDS`: a JSON object of plan → usage plan id, naming the free plan's.
pub fn parse_ids(raw: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "USAGE_PLAN_IDS".into(), reason };
    let ids: BTreeMap<String, String> = serde_json::from_str(raw)
        .map_err(|e| invalid(format!("expected {{\"free\": \"<usage plan id>\", …}}: {e}")))?;
    match ids.get(DEFAULT_PLAN) {
        Some(id) if !id.trim().is_empty() => {}
        _ => return Err(invalid(format!("the {DEFAULT_PLAN} plan's usage plan is required"))),
    }
    if let Some((plan, _)) = ids.iter().find(|(_, id)| id.trim().is_empty()) {
        return Err(invalid(format!("plan {plan}: an empty usage plan id")));
    }
    Ok(ids)
}

/// An API Gateway key: its id and value.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayKey {
    pub id: String,
    pub value: String,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey").field("id", &self.id).field("value", &"<redacted>").finish()
    }
}

/// The API Gateway operations the consumer needs (a seam for the unit tests; [`ApiGatewayUsagePlans`] on AWS).
#[async_trait]
pub trait UsagePlanGateway: Send + Sync {
    /// The key named exactly `name`, if one exists.
    async fn find_key(&self, name: &str) -> anyhow::Result<Option<GatewayKey>>;
    /// A new enabled key.
    async fn create_key(&self, name: &str, value: &str, customer_id: &str) -> anyhow::Result<GatewayKey>;
    /// The usage plans the key is attached to.
    async fn plans_of(&self, key_id: &str) -> anyhow::Result<Vec<String>>;
    /// Attaches the key (already attached: done).
    async fn attach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()>;
    /// Detaches the key (not attached: done).
    async fn detach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()>;
}

pub struct UsagePlansState {
    identity: IdentityStore,
    /// `None` under embedded storage: no API Gateway.
    gateway: Option<Arc<dyn UsagePlanGateway>>,
    usage_plans: BTreeMap<String, String>,
    namespace: String,
}

impl UsagePlansState {
    pub async fn build(resources: &Resources, settings: UsagePlanSettings) -> anyhow::Result<Self> {
        let identity = IdentityStore::new(resources.table(identity::TABLE).await?);
        let namespace = resources.namespace().to_string();
        let backend = resources.usage_plans()?;
        let storage = backend.settings();
        match storage.mode {
            StorageMode::Embedded => {
                tracing::info!(
                    "embedded storage: no API Gateway usage keys (the local gateway enforces the plans' API rates)"
                );
                Ok(Self { identity, gateway: None, usage_plans: BTreeMap::new(), namespace })
            }
            StorageMode::Aws => {
                let gateway = ApiGatewayUsagePlans::new(&storage.aws).await;
                let usage_plans = match settings.usage_plan_ids {
                    Some(ids) => ids,
                    None if storage.provision => gateway.provision(&namespace, &settings.plans).await?,
                    None => anyhow::bail!("USAGE_PLAN_IDS is not set: the plans' API Gateway usage plans are unknown"),
                };
                Ok(Self::new(identity, Arc::new(gateway), usage_plans, &namespace))
            }
        }
    }

    /// Over any gateway (tests).
    pub fn new(
        identity: IdentityStore,
        gateway: Arc<dyn UsagePlanGateway>,
        usage_plans: BTreeMap<String, String>,
        namespace: &str,
    ) -> Self {
        Self { identity, gateway: Some(gateway), usage_plans, namespace: namespace.to_string() }
    }

    /// The usage plan of `plan`: its own, else the free plan's (logged).
    fn usage_plan_for(&self, plan: &str) -> anyhow::Result<String> {
        if let Some(id) = self.usage_plans.get(plan) {
            return Ok(id.clone());
        }
        tracing::warn!(plan, "the plan has no API Gateway usage plan: its tenants are metered on the free plan's");
        match self.usage_plans.get(DEFAULT_PLAN) {
            Some(id) => Ok(id.clone()),
            None => anyhow::bail!("no usage plan for the {DEFAULT_PLAN} plan"),
        }
    }
}

/// The API Gateway key's name for a tenant: `<namespace>-tenant-<tenant id>`.
pub fn key_name(namespace: &str, tenant_id: &str) -> String {
    format!("{}-tenant-{tenant_id}", namespace.trim_end_matches('-'))
}

/// A new key's value: 64 random hex characters (API Gateway takes 20 to 128).
fn new_value() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

pub async fn handle(state: &UsagePlansState, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("usage-plans", event, |record| async move { handle_one(state, &record).await }).await
}

async fn handle_one(state: &UsagePlansState, record: &SqsMessage) -> anyhow::Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let event: Event = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not a platform event: {e}"))?;
    if !events::routing::USAGE_PLAN_TYPES.contains(&event.action) {
        return Ok(());
    }
    let Some(tenant_id) = event.tenant_id.as_deref() else {
        tracing::info!(event_id = %event.event_id, "an event without a tenant: no usage key");
        return Ok(());
    };
    sync(state, tenant_id).await.map(drop)
}

/// Gives the tenant its key on its current plan's usage plan (and on no other), recorded for the authorizer;
/// the record as stored, `None` when there is nothing to do (no API Gateway, or no such tenant).
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn sync(state: &UsagePlansState, tenant_id: &str) -> anyhow::Result<Option<UsageKey>> {
    let Some(gateway) = &state.gateway else {
        tracing::debug!("no API Gateway under embedded storage: nothing to make");
        return Ok(None);
    };
    let (tenant, stored) = tokio::try_join!(state.identity.tenant(tenant_id), state.identity.usage_key(tenant_id))?;
    let Some(tenant) = tenant else {
        tracing::info!("the tenant no longer exists: no usage key");
        return Ok(None);
    };
    let usage_plan_id = state.usage_plan_for(&tenant.plan)?;
    let key = match &stored {
        Some(stored) => GatewayKey { id: stored.key_id.clone(), value: stored.value.clone() },
        None => {
            let name = key_name(&state.namespace, tenant_id);
            match gateway.find_key(&name).await? {
                Some(key) => key,
                None => gateway.create_key(&name, &new_value(), tenant_id).await?,
            }
        }
    };
    // API Gateway keeps a key on one usage plan per stage: off the others first, then on the plan's.
    let attached = gateway.plans_of(&key.id).await?;
    for other in attached.iter().filter(|p| **p != usage_plan_id) {
        gateway.detach(other, &key.id).await?;
    }
    if !attached.contains(&usage_plan_id) {
        gateway.attach(&usage_plan_id, &key.id).await?;
    }
    let record = UsageKey {
        tenant_id: tenant_id.to_string(),
        key_id: key.id,
        value: key.value,
        plan: tenant.plan,
        usage_plan_id,
        updated_at: identity::now_rfc3339(),
    };
    let unchanged = stored.as_ref().is_some_and(|s| {
        (&s.key_id, &s.value, &s.plan, &s.usage_plan_id)
            == (&record.key_id, &record.value, &record.plan, &record.usage_plan_id)
    });
    if !unchanged {
        state.identity.put_usage_key(&record).await?;
    }
    tracing::info!(key_id = %record.key_id, plan = %record.plan, usage_plan_id = %record.usage_plan_id, "usage key on its plan");
    Ok(Some(record))
}

#[cfg(test)]
mod tests;
