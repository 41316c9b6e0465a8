//! Every helper the end-to-end scenarios share: `TestApp` (one running local runner per test, on fresh
//! storage, only the groups it needs), the adapter macros, the error-shape assertions; accounts and
//! authenticated calls (`accounts`); the Airtable client and emulator (`airtable`).

#![allow(dead_code)]

pub mod accounts;
pub mod airtable;

use std::path::PathBuf;

use storage::backend::{StorageMode, StorageSettings};

/// Every plan's API rate and burst in the scenarios' runners.
pub const GENEROUS_API_RATE: u64 = 100_000;

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    /// The runner's storage settings (to open what it opened: the schedules on moto, say).
    pub storage: StorageSettings,
    running: Option<local_runner::Running>,
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug)]
pub enum Adapters {
    Embedded,
    Aws,
}

impl TestApp {
    pub async fn spawn(adapters: Adapters) -> Self {
        Self::spawn_with(adapters, |_| {}).await
    }

    /// Starts a runner; `tweak` may adjust the settings first.
    pub async fn spawn_with(adapters: Adapters, tweak: impl FnOnce(&mut local_runner::Settings)) -> Self {
        // RUST_LOG=… shows the runner's logs (with --nocapture).
        static LOGS: std::sync::Once = std::sync::Once::new();
        if std::env::var_os("RUST_LOG").is_some() {
            LOGS.call_once(|| platform::telemetry::init("e2e"));
        }
        let unique = format!("t{}", uuid::Uuid::new_v4().simple());
        let data_dir = std::env::temp_dir().join(format!("pyairtable-e2e-{unique}"));
        let mut storage = StorageSettings::defaults(StorageMode::Embedded);
        storage.data_dir = data_dir.clone();
        storage.table_prefix = format!("{unique}-");
        if let Adapters::Aws = adapters {
            storage.mode = StorageMode::Aws;
            storage.provision = true;
            storage.aws.endpoint_url = Some(env_or_panic("MOTO_ENDPOINT_URL"));
            storage.aws.region = Some("us-east-1".into());
            storage.cache_url = Some(env_or_panic("REDIS_URL"));
        }
        let mut settings = local_runner::Settings::defaults(storage);
        // bcrypt's minimum cost: production's 12 would spend seconds per test in a debug build.
        settings.auth.bcrypt_cost = 4;
        // Scenarios send bursts (fifty concurrent writers): the plans' API rates must not be what they test,
        // except in rate_limits.rs, whose tweak sets tight ones.
        settings.tenants.plans = settings.tenants.plans.clone().with_api_rate(GENEROUS_API_RATE, GENEROUS_API_RATE);
        // A platform admin exists in every runner: it attaches the emulator's bases to the gateway's tenants.
        accounts::with_admin(&mut settings);
        tweak(&mut settings);
        let storage = settings.storage.clone();
        let running = local_runner::start(settings).await.unwrap();
        Self {
            url: running.url(),
            client: reqwest::Client::new(),
            storage,
            running: Some(running),
            data_dir: Some(data_dir),
        }
    }

    /// The runner's embedded Airtable emulator (to issue tokens, register OAuth clients, move its clock).
    pub fn emulator(&self) -> airtable_emulator::Emulator {
        self.running.as_ref().and_then(|r| r.emulator.clone()).expect("the runner started an emulator")
    }

    /// The runner's embedded schedules (its clock, for tests to tick); `None` with the AWS adapters.
    /// The runner's storage (the embedded store is the runner's alone while it runs: reach it through here).
    pub fn backend(&self) -> std::sync::Arc<storage::backend::Backend> {
        self.running.as_ref().map(|r| r.backend.clone()).expect("a running runner")
    }

    pub fn schedules(&self) -> Option<std::sync::Arc<storage::schedules::embedded::EmbeddedSchedules>> {
        self.running.as_ref().and_then(|r| r.schedules.clone())
    }

    /// The routes the runner serves (from the groups' OpenAPI document).
    pub fn routes(&self) -> &[platform::gateway::Route] {
        self.running.as_ref().map(|r| r.routes.routes()).unwrap_or_default()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.at(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client.post(self.at(path)).json(body).send().await.unwrap()
    }

    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn env_or_panic(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with infra/test.sh, which starts moto_server and redis-server")
    })
}

/// Asserts the platform's error shape and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let header_id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "code in {body}");
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    assert_eq!(body["request_id"].as_str().map(String::from), header_id, "request_id in {body}");
    body
}

/// Instantiates each listed async scenario `fn name(app: TestApp)` for both adapter sets:
/// `embedded::name` and `aws::name`. `groups [..];` first boots only those groups (and the authorizer).
#[macro_export]
macro_rules! both_adapters {
    (groups [$($group:literal),* $(,)?]; $($name:ident),* $(,)?) => {
        fn only_these_groups(settings: &mut local_runner::Settings) {
            settings.groups = Some(vec![$($group.to_string()),*]);
        }
        $crate::both_adapters_in!(only_these_groups; $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        fn every_group(_: &mut local_runner::Settings) {}
        $crate::both_adapters_in!(every_group; $($name),*);
    };
}

#[macro_export]
macro_rules! both_adapters_in {
    ($tweak:ident; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::support::TestApp::spawn_with($crate::support::Adapters::Embedded, super::$tweak).await;
                    super::$name(app).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::support::TestApp::spawn_with($crate::support::Adapters::Aws, super::$tweak).await;
                    super::$name(app).await;
                }
            )*
        }
    };
}

/// Asserts Airtable's `{"error": {"type", "message"}}` and the X-Request-ID header; returns the body.
pub async fn assert_airtable_error(response: reqwest::Response, status: u16, kind: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    assert!(id.is_some_and(|id| platform::request_id::is_well_formed(&id)), "X-Request-ID");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], kind, "type in {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    assert!(body.get("code").is_none() && body.get("request_id").is_none(), "the platform's fields in {body}");
    body
}
