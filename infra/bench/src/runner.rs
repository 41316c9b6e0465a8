//! The release local runner (`target/release/pyairtable-local`) as its own process on a free loopback port,
//! on fresh embedded storage, with a registered user and an API key: what the HTTP and Airtable benchmarks
//! drive. Killed on drop.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::report::binaries_dir;

pub const TABLE: &str = airtable_emulator::seed::PROJECTS;

/// The free plan (every registered tenant's) with an API rate no benchmark reaches: the benchmarks measure
/// the runner with its per-tenant limiter in the path, not the limiter's 429s.
const TENANT_PLANS: &str = r#"{"free": {"members": 5, "workspaces": 3, "airtable_connections": 2,
    "airtable_requests_per_month": 100000, "automations": 5, "file_storage_bytes": 1073741824,
    "api_requests_per_second": 1000000, "api_burst": 1000000}}"#;

pub struct Runner {
    pub url: String,
    pub api_key: String,
    /// The tenant's own copy of the demo base (its "Demo" workspace, provisioned on its first listing).
    pub base: String,
    pub emulator: String,
    pub client: reqwest::Client,
    _child: tokio::process::Child,
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Runner {
    /// `/api/v1/airtable/bases/{the tenant's demo}/tables/{Projects}/records` + `query`.
    pub fn records(&self, query: &str) -> String {
        format!("/api/v1/airtable/bases/{}/tables/{TABLE}/records{query}", self.base)
    }

    /// Starts the runner; `env` adds to (or overrides) its defaults. Its log goes to `<data dir>.log`.
    pub async fn start(label: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let work = crate::report::work_dir()?;
        let data_dir = work.join(format!("runner-{label}-{}", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(data_dir.with_extension("log"))?;
        let binary = binaries_dir()?.join("pyairtable-local");
        if !binary.exists() {
            bail!("{} does not exist: build it first (cargo build --release -p local-runner)", binary.display());
        }
        let mut command = tokio::process::Command::new(&binary);
        // Only what this benchmark means: the shell may hold the tests' settings (moto, redis).
        for name in ["STORAGE", "CACHE_URL", "AWS_ENDPOINT_URL", "AIRTABLE_ENDPOINT_URL", "TABLE_PREFIX", "RUST_LOG"] {
            command.env_remove(name);
        }
        command
            .env("BIND", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATA_DIR", &data_dir)
            .env("TENANT_PLANS", TENANT_PLANS)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("Failed to start {}", binary.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client.get(format!("{url}/health")).send().await.is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the runner did not answer /health within 30 s; see {}",
                    data_dir.with_extension("log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let found: Value = client.get(format!("{url}/_local/airtable-emulator")).send().await?.json().await?;
        let emulator = found["url"].as_str().context("the runner started no Airtable emulator")?.to_string();
        let api_key = register(&client, &url).await?;
        let bases: Value =
            client.get(format!("{url}/v0/meta/bases")).bearer_auth(&api_key).send().await?.json().await?;
        let base = bases["bases"]
            .as_array()
            .and_then(|all| all.iter().find(|b| b["name"] == "Demo"))
            .and_then(|b| b["id"].as_str())
            .context("the tenant has no Demo base (DEMO_WORKSPACES off?)")?
            .to_string();
        Ok(Self { url, api_key, base, emulator, client, _child: child })
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// An authorized request (the API key as the bearer credential).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.at(path)).bearer_auth(&self.api_key)
    }

    /// Status and `X-Cache` of an authorized GET.
    pub async fn read(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self.request(reqwest::Method::GET, path).send().await?;
        let cache = response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Ok((response.status().as_u16(), cache))
    }

    /// The emulator's counters (`/_emulator/stats`).
    pub async fn upstream(&self) -> anyhow::Result<airtable_emulator::Stats> {
        Ok(self.client.get(format!("{}/_emulator/stats", self.emulator)).send().await?.json().await?)
    }

    /// Changes the emulator's behaviour (`PATCH /_emulator/config`).
    pub async fn stage(&self, patch: Value) -> anyhow::Result<()> {
        let response = self.client.patch(format!("{}/_emulator/config", self.emulator)).json(&patch).send().await?;
        if !response.status().is_success() {
            bail!("staging {patch} failed: {}", response.status());
        }
        Ok(())
    }

    /// `airtable_cache_requests_total{result="…"}` from the runner's `/metrics`.
    pub async fn cache_count(&self, result: &str) -> anyhow::Result<u64> {
        let text = self.client.get(self.at("/metrics")).send().await?.text().await?;
        let prefix = format!("airtable_cache_requests_total{{result=\"{result}\"}} ");
        Ok(text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0))
    }
}

/// Registers a user through the API and creates an API key for it; returns the key.
async fn register(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"email": email, "password": "correct horse battery staple", "first_name": "Bench"});
    let response = client.post(format!("{url}/api/v1/auth/register")).json(&body).send().await?;
    if response.status() != 201 {
        bail!("register answered {}: {}", response.status(), response.text().await?);
    }
    let registered: Value = response.json().await?;
    let access = registered["access_token"].as_str().context("no access_token in the register answer")?;
    let response = client
        .post(format!("{url}/api/v1/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({"name": "bench"}))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("creating an API key answered {}: {}", response.status(), response.text().await?);
    }
    let created: Value = response.json().await?;
    Ok(created["key"].as_str().context("no key in the API key answer")?.to_string())
}
