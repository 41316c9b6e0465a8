//! A gateway in front of an in-process emulator, driven through its router with the caller injected the
//! way API Gateway (or the local runner's gateway) injects it: a `RequestContext` carrying the
//! authorizer's context.

use std::sync::Arc;

use airtable_emulator::{ConfigPatch, DEV_TOKEN, Emulator};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::request::RequestContext;
use platform::Caller;
use platform::caller::AuthType;
use secrecy::SecretString;
use serde_json::Value;
use storage::cache::Cache;
use tower::ServiceExt;

use crate::{AirtableSettings, Gateway, Metrics, PlatformCredential};

#[derive(Clone, Copy, Debug)]
pub enum Adapter {
    Memory,
    Redis,
}

pub struct Harness {
    pub app: axum::Router,
    pub emulator: Emulator,
    pub gateway: Gateway,
    settings: AirtableSettings,
    cache: Arc<dyn Cache>,
    namespace: String,
}

pub fn caller(tenant: &str) -> Caller {
    Caller {
        user_id: format!("usr-{tenant}"),
        tenant_id: tenant.into(),
        roles: vec!["member".into()],
        session_id: "s1".into(),
        auth_type: AuthType::ApiKey,
        plan: None,
        key_scope: platform::caller::KeyScope::default(),
    }
}

async fn cache(adapter: Adapter) -> Arc<dyn Cache> {
    match adapter {
        Adapter::Memory => Arc::new(storage::cache::embedded::MemoryCache::new()),
        Adapter::Redis => {
            let url = std::env::var("REDIS_URL")
                .unwrap_or_else(|_| panic!("REDIS_URL is not set: run with infra/test.sh (or services.sh start)"));
            Arc::new(storage::cache::aws::RedisCache::connect(&url).await.unwrap())
        }
    }
}

impl Harness {
    pub async fn start(adapter: Adapter, tweak: impl FnOnce(&mut AirtableSettings)) -> Self {
        let running =
            airtable_emulator::spawn(Emulator::demo(DEV_TOKEN.into()), ([127, 0, 0, 1], 0).into()).await.unwrap();
        let mut settings = AirtableSettings::new(running.url(), Some(SecretString::from(DEV_TOKEN)));
        tweak(&mut settings);
        // A namespace per harness: tests sharing one redis-server never see each other's keys.
        let namespace = format!("test-{}-", airtable_emulator::ids::new_id("ns"));
        let cache = cache(adapter).await;
        let (app, gateway) = instance(&settings, cache.clone(), &namespace);
        Self { app, emulator: running.emulator, gateway, settings, cache, namespace }
    }

    /// Another instance (a second Lambda) of the same function: its own process state, the same cache.
    pub fn another_instance(&self) -> Self {
        let (app, gateway) = instance(&self.settings, self.cache.clone(), &self.namespace);
        Self {
            app,
            gateway,
            emulator: self.emulator.clone(),
            settings: self.settings.clone(),
            cache: self.cache.clone(),
            namespace: self.namespace.clone(),
        }
    }

    pub fn stage(&self, patch: ConfigPatch) {
        self.emulator.configure(patch);
    }

    pub fn upstream_requests(&self) -> u64 {
        self.emulator.stats().requests
    }

    pub async fn call(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.authorizer.fields = caller.to_context().into_iter().collect();
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let mut request = request.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
        request.extensions_mut().insert(RequestContext::ApiGatewayV1(context));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, caller: &Caller, path: &str) -> Reply {
        self.call(caller, "GET", path, None, &[]).await
    }
}

fn instance(settings: &AirtableSettings, cache: Arc<dyn Cache>, namespace: &str) -> (axum::Router, Gateway) {
    let credentials = Arc::new(PlatformCredential::new(SecretString::from(DEV_TOKEN)));
    let gateway = Gateway::new(settings, cache, namespace, credentials, Metrics::local()).unwrap();
    let (router, _) = super::super::router(gateway.clone()).split_for_parts();
    (platform::app::finish(router, &platform::config::HttpSettings::default()), gateway)
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn cache(&self) -> &str {
        self.headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Runs each scenario against both cache adapters: `memory::name` and `redis::name`.
macro_rules! both_caches {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness::Adapter::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness::Adapter::Redis).await;
                }
            )*
        }
    };
}
pub(crate) use both_caches;
