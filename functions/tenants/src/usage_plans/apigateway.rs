//! The API Gateway adapter (AWS, and moto in the tests): keys, usage plan keys and, when storage provisions,
//! the usage plans themselves.

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_apigateway::error::DisplayErrorContext;
use aws_sdk_apigateway::types::ThrottleSettings;
use identity::plans::Plans;

use super::{GatewayKey, UsagePlanGateway};

/// A page of API Gateway's listings (it allows at most 500).
const PAGE: i32 = 500;

pub struct ApiGatewayUsagePlans {
    client: aws_sdk_apigateway::Client,
}

impl ApiGatewayUsagePlans {
    pub async fn new(settings: &storage::aws::AwsSettings) -> Self {
        let config = storage::aws::sdk_config(settings).await;
        Self { client: aws_sdk_apigateway::Client::new(&config) }
    }

    /// Emulators and tests: a usage plan `<namespace>-<plan>` per plan (found by name, else created with the
    /// plan's API rate as its throttle); plan → usage plan id.
    pub async fn provision(&self, namespace: &str, plans: &Plans) -> anyhow::Result<BTreeMap<String, String>> {
        let mut existing = BTreeMap::new();
        let mut position = None;
        loop {
            let page = self
                .client
                .get_usage_plans()
                .limit(PAGE)
                .set_position(position)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetUsagePlans failed: {}", DisplayErrorContext(e)))?;
            for plan in page.items() {
                if let (Some(name), Some(id)) = (plan.name(), plan.id()) {
                    existing.insert(name.to_string(), id.to_string());
                }
            }
            position = page.position().map(String::from);
            if position.is_none() || page.items().is_empty() {
                break;
            }
        }
        let mut ids = BTreeMap::new();
        for plan in plans.names() {
            let name = format!("{}-{plan}", namespace.trim_end_matches('-'));
            let id = match existing.get(&name) {
                Some(id) => id.clone(),
                None => {
                    let limits = plans.limits(plan);
                    let throttle = ThrottleSettings::builder()
                        .rate_limit(limits.api_requests_per_second as f64)
                        .burst_limit(i32::try_from(limits.api_burst).unwrap_or(i32::MAX))
                        .build();
                    let created =
                        self.client.create_usage_plan().name(&name).throttle(throttle).send().await.map_err(|e| {
                            anyhow::anyhow!("CreateUsagePlan {name} failed: {}", DisplayErrorContext(e))
                        })?;
                    created.id().context("CreateUsagePlan answered no id")?.to_string()
                }
            };
            ids.insert(plan.to_string(), id);
        }
        Ok(ids)
    }
}

#[async_trait]
impl UsagePlanGateway for ApiGatewayUsagePlans {
    async fn find_key(&self, name: &str) -> anyhow::Result<Option<GatewayKey>> {
        let mut position = None;
        loop {
            // nameQuery matches by prefix: the exact name is picked below.
            let page = self
                .client
                .get_api_keys()
                .name_query(name)
                .include_values(true)
                .limit(PAGE)
                .set_position(position)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetApiKeys failed: {}", DisplayErrorContext(e)))?;
            let found = page.items().iter().find(|k| k.name() == Some(name));
            if let Some(key) = found {
                let id = key.id().context("GetApiKeys answered a key without an id")?;
                let value = key.value().context("GetApiKeys answered a key without its value")?;
                return Ok(Some(GatewayKey { id: id.to_string(), value: value.to_string() }));
            }
            position = page.position().map(String::from);
            if position.is_none() || page.items().is_empty() {
                return Ok(None);
            }
        }
    }

    async fn create_key(&self, name: &str, value: &str, customer_id: &str) -> anyhow::Result<GatewayKey> {
        let created = self
            .client
            .create_api_key()
            .name(name)
            .value(value)
            .customer_id(customer_id)
            .enabled(true)
            .description("The tenant's usage key: API Gateway meters its requests by it (the authorizer answers it).")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateApiKey {name} failed: {}", DisplayErrorContext(e)))?;
        let id = created.id().context("CreateApiKey answered no id")?;
        Ok(GatewayKey { id: id.to_string(), value: value.to_string() })
    }

    async fn plans_of(&self, key_id: &str) -> anyhow::Result<Vec<String>> {
        let mut plans = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .client
                .get_usage_plans()
                .key_id(key_id)
                .limit(PAGE)
                .set_position(position)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetUsagePlans of a key failed: {}", DisplayErrorContext(e)))?;
            plans.extend(page.items().iter().filter_map(|p| p.id()).map(String::from));
            position = page.position().map(String::from);
            if position.is_none() || page.items().is_empty() {
                return Ok(plans);
            }
        }
    }

    async fn attach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()> {
        let created = self
            .client
            .create_usage_plan_key()
            .usage_plan_id(usage_plan_id)
            .key_id(key_id)
            .key_type("API_KEY")
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("CreateUsagePlanKey on {usage_plan_id} failed: {}", DisplayErrorContext(e))),
        }
    }

    async fn detach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()> {
        let deleted = self.client.delete_usage_plan_key().usage_plan_id(usage_plan_id).key_id(key_id).send().await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found_exception()) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("DeleteUsagePlanKey on {usage_plan_id} failed: {}", DisplayErrorContext(e))),
        }
    }
}
