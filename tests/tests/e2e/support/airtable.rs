//! The Airtable gateway's scenarios' helpers: a signed-in client with an API key, the emulator behind the
//! runner (found at `/_local/airtable-emulator`, where scenarios stage outages and read its traffic counters).

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::accounts::{Account, register};

pub const BASE: &str = airtable_emulator::seed::DEMO_BASE;
pub const PROJECTS: &str = airtable_emulator::seed::PROJECTS;

/// `/api/v1/airtable/bases/{demo}/tables/{Projects}/records` + `rest`.
pub fn records(rest: &str) -> String {
    format!("/api/v1/airtable/bases/{BASE}/tables/{PROJECTS}/records{rest}")
}

/// A signed-in user with an API key, and the emulator behind the runner.
pub struct Client {
    pub app: TestApp,
    pub account: Account,
    pub api_key: String,
    pub emulator: String,
}

impl Client {
    pub async fn start(app: TestApp) -> Self {
        let account = register(&app).await;
        attach_demo_bases(&app, &account.tenant_id).await;
        let api_key = api_key(&app, &account).await;
        let found: Value = app.get("/_local/airtable-emulator").await.json().await.unwrap();
        let emulator = found["url"]
            .as_str()
            .expect("the runner starts an emulator when AIRTABLE_ENDPOINT_URL is unset")
            .to_string();
        Self { app, account, api_key, emulator }
    }

    /// Another user (so another tenant) on the same runner, with the same bases attached.
    pub async fn another_tenant(&self) -> String {
        let other = register(&self.app).await;
        assert_ne!(other.tenant_id, self.account.tenant_id);
        attach_demo_bases(&self.app, &other.tenant_id).await;
        api_key(&self.app, &other).await
    }

    pub async fn send_as(
        &self,
        credential: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.app.client.request(method, self.app.at(path)).bearer_auth(credential);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.send_as(&self.api_key, method, path, body, &[]).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    /// Status, X-Cache and JSON body of a GET.
    pub async fn read(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
        let response = self.send_as(&self.api_key, Method::GET, path, None, headers).await;
        unpack(response).await
    }

    /// The emulator's counters (`/_emulator/stats`).
    pub async fn upstream(&self) -> airtable_emulator::Stats {
        self.app.client.get(format!("{}/_emulator/stats", self.emulator)).send().await.unwrap().json().await.unwrap()
    }

    /// Changes the emulator's behaviour (`PATCH /_emulator/config`).
    pub async fn stage(&self, patch: Value) {
        let response =
            self.app.client.patch(format!("{}/_emulator/config", self.emulator)).json(&patch).send().await.unwrap();
        assert_eq!(response.status(), 200, "staging {patch}");
    }
}

pub async fn unpack(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let cache = response.headers().get("x-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

/// The gateway's scenarios' runner: the gateway, the workspaces service that links bases, and the platform
/// admin who attaches the emulator's demo bases to a tenant.
pub fn gateway_settings(settings: &mut local_runner::Settings) {
    settings.groups = Some(vec!["auth".into(), "workspaces".into(), "airtable".into()]);
}

/// A platform admin attaches the emulator's two demo bases (reached by the platform's token) to `tenant`:
/// without a link in its tenant, no base is reachable.
pub async fn attach_demo_bases(app: &TestApp, tenant: &str) {
    use crate::support::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, login_ok};
    let admin = login_ok(app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let bases = json!({"bases": [
        {"id": airtable_emulator::seed::DEMO_BASE, "name": "Demo"},
        {"id": airtable_emulator::seed::OPS_BASE, "name": "Operations"},
    ]});
    let path = format!("/api/v1/tenants/{tenant}/platform-bases");
    let response = crate::support::accounts::call(app, Method::PUT, &path, &admin.access, Some(bases)).await;
    assert_eq!(response.status(), 201, "attaching the demo bases: {}", response.text().await.unwrap_or_default());
}

pub async fn api_key(app: &TestApp, account: &Account) -> String {
    let response = crate::support::accounts::call(
        app,
        Method::POST,
        "/api/v1/auth/api-keys",
        &account.access,
        Some(json!({"name": "airtable e2e"})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["key"].as_str().unwrap().to_string()
}

pub fn ids(page: &Value) -> Vec<String> {
    page["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}
