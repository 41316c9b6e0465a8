//! The OpenAPI document is the contract, checked by schemathesis (PyPI, in `.venv`) with all its checks
//! against the local runner: every status an operation answers is documented, every constraint the server
//! enforces is in the schema (schema-valid requests are accepted, schema-invalid ones refused with a 4xx),
//! responses match their schemas, and nothing answers 5xx.
//!
//! Two runs, with a fixed seed:
//! - everything but the operations that can lock the caller out, as user A (an API key; the API-key
//!   operations with A's access token, since an API key may not manage API keys);
//! - those operations — `PUT /api/v1/users/me`, `PUT /api/v1/users/{id}` and `DELETE /api/v1/users/{id}`, with
//!   which a tenant admin may disable, demote or delete itself — as user B, alone, so that when B locks itself
//!   out mid-run (401 from then on, which is documented) nothing else loses its credential.
//!
//! Every check runs (schemathesis 4's default; `--checks all` on the command line would also override the
//! per-operation settings below), with these exceptions, each explained in [`config`]: `unsupported_method`
//! is off for `/v0` (Airtable answers an undeclared method as an unknown route, 404 `NOT_FOUND`, and so does
//! the gateway); registration may answer 400 to a schema-valid body (the password policy's list of well-known
//! passwords is not a schema) and so may accepting an invitation or confirming a password reset or a registration (their tokens are
//! server-issued secrets); record reads may refuse a combination of parameters that OpenAPI cannot state
//! (`cellFormat=string` without `timeZone`); 413 and 414 (the body and URL limits) are acceptable answers anywhere; pagination
//! tokens (`cursor` on /api/v1, `offset`) are left empty (server-issued).
//!
//! One worker: schemathesis's coverage phase on Python 3.11 fails with "AST constructor recursion depth
//! mismatch" in worker threads on the free-form `fields` objects of the record bodies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storage::backend::{StorageMode, StorageSettings};

/// Test cases per operation in the fuzzing phase (the coverage phase adds its own, a fixed set: about 3,500
/// in all with this).
const MAX_EXAMPLES: u32 = 20;
const SEED: u64 = 20_260_901;
/// A guard against a hung run, not a speed target: about two minutes alone on 2 cores with every group's routes
/// (automations' among them), more beside the rest of the suite.
const BUDGET: Duration = Duration::from_secs(420);
const MIN_TEST_CASES: u64 = 1000;

/// What may lock the caller out (by operationId): run separately, as another user.
const SELF_DESTRUCTIVE: [&str; 3] = ["users_update_me", "users_update_user", "users_delete_user"];

fn schemathesis() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(bin.exists(), "{} is missing: run infra/scripts/services.sh venv", bin.display());
    bin
}

/// `schemathesis.toml`: the credentials (per operation where they differ) and the `/v0` exception.
fn config(key: &str, access: &str) -> String {
    format!(
        r#"
[headers]
Authorization = "Bearer {key}"

# Pagination tokens are issued by the server (`next_cursor` on /api/v1, Airtable's `offset`): a generated one is
# refused (400 / 422 INVALID_OFFSET_VALUE, as Airtable does), so the run reads first pages. (The webhook payloads'
# `cursor` is a number, not a token: generated.)
[parameters]
"query.offset" = ""

[[operations]]
include-path-regex = "^/api/v1/"
parameters = {{ "query.cursor" = "" }}

# The body limit (MAX_BODY_BYTES) and the URL limit (16000 characters, Airtable's) are the HTTP shell's, for
# every operation, not schema constraints: a body or URL over them is 413 / 414 whether or not it is
# schema-valid (a 16384-character formula of multi-byte characters, percent-encoded, is a far longer URL).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "414", "429"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429"]

# An API key may not manage API keys (403 by design): these operations run with an access token.
[[operations]]
include-path-regex = "^/api/v1/auth/api-keys"
headers = {{ Authorization = "Bearer {access}" }}

# The password policy refuses well-known passwords and ones equal to the email: beyond what a schema says.
[[operations]]
include-operation-id = "auth_register"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "409", "413", "414", "429"]

# An invitation token is a server-issued secret: any other string is schema-valid and refused (400
# `invalid_invitation`), as are weak passwords.
[[operations]]
include-operation-id = "auth_accept"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "403", "409", "413", "414", "429"]

# A password reset token is a server-issued secret too: any other string is schema-valid and refused (400
# `invalid_reset_token`), as are weak passwords.
[[operations]]
include-operation-id = "auth_confirm"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "409", "413", "414", "429"]

# So is a registration's verification token (400 `invalid_verification_token`).
[[operations]]
include-operation-id = "auth_verify"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "409", "413", "414", "429"]

# And an email change's confirmation token (400 `invalid_email_change_token`).
[[operations]]
include-operation-id = "users_confirm"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "409", "413", "414", "429"]

# Record reads take parameters that constrain one another, which OpenAPI cannot state for query parameters:
# `cellFormat=string` needs `timeZone` and `userLocale`, `sort[i][direction]` needs `sort[i][field]`, and on
# /api/v1 the `filter[…]` conditions and `filterByFormula` together are at most 16384 characters. Airtable
# refuses such a combination with 422 (/v0); /api/v1 answers 400 `invalid_query`.
[[operations]]
include-name-regex = '^GET /v0/\{{baseId\}}/\{{tableIdOrName\}}(/\{{recordId\}})?$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "414", "422", "429"]
[[operations]]
include-name-regex = '^POST /v0/\{{baseId\}}/\{{tableIdOrName\}}/listRecords$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "414", "422", "429"]
[[operations]]
include-name-regex = '^GET /api/v1/airtable/bases/\{{baseId\}}/tables/\{{tableId\}}/records(/\{{recordId\}})?$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "414", "429"]

# Workspaces and permissions take strings with grammars a schema does not state (scope strings such as
# `workspace:…/base:…/table:…`, permission and role names, names that must not be blank once trimmed, ids the
# server issued), so schema-valid values may be refused with 400; the OAuth start answers 503 while no Airtable
# OAuth client is configured (documented), and its callback 400 for a state it did not issue.
[[operations]]
include-path-regex = "^/api/v1/(workspaces|permissions|oauth)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "414", "429", "503"]
[[operations]]
include-path-regex = "/connections/oauth$"
checks.not_a_server_error.enabled = false

# Webhook endpoint URLs have rules a schema does not state (http or https, a host, no credentials, no fragment, no
# address the SSRF guard refuses), and `since` of a recovery must fall within the 30 days messages are kept: a
# schema-valid value may be refused with 400 `invalid_field`; a test or resend on a disabled endpoint is 409.
[[operations]]
include-path-regex = "^/api/v1/webhooks/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "414", "429"]

# Analytics ranges: `from` and `to` constrain one another (from ≤ to, at most 31 days of hours or 400 of days
# apart), which OpenAPI cannot state for query parameters: 400 `invalid_field`.
[[operations]]
include-path-regex = "^/api/v1/analytics/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "414", "429"]

# Airtable answers an undeclared method on a /v0 route as an unknown route: 404 NOT_FOUND, not 405.
[[operations]]
include-path-regex = "^/v0/"
checks.unsupported_method.enabled = false
"#
    )
}

struct Outcome {
    success: bool,
    test_cases: u64,
    output: String,
}

async fn run(runner: &Runner, config: &str, filters: &[String]) -> Outcome {
    let dir = std::env::temp_dir().join(format!("pyairtable-schemathesis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_file = dir.join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--config-file")
        .arg(&config_file)
        .arg("--no-color")
        .args(["run", &format!("{}/openapi.json", runner.url)])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", &SEED.to_string()])
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "too_slow,filter_too_much"])
        .args(["--output-truncate", "false"])
        .args(filters)
        .kill_on_drop(true);
    let output = tokio::time::timeout(BUDGET, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran past the {BUDGET:?} budget"))
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Outcome { success: output.status.success(), test_cases: generated(&text), output: text }
}

/// "N generated, …" from the summary's "Test cases:" (on its line, or the next).
fn generated(output: &str) -> u64 {
    let mut lines = output.lines().map(str::trim);
    let Some(first) = lines.by_ref().find_map(|line| line.strip_prefix("Test cases:")) else { return 0 };
    let rest = if first.trim().is_empty() { lines.next().unwrap_or_default() } else { first };
    rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The local runner as the e2e tests start it (embedded storage, the embedded emulator), with the rate
/// limits out of the way: the run sends hundreds of requests to a handful of generated bases, which a 5/s
/// per-base limit would stretch to minutes (the limiter has tests of its own).
struct Runner {
    url: String,
    client: reqwest::Client,
    running: Option<local_runner::Running>,
    data_dir: PathBuf,
}

impl Runner {
    async fn start() -> Self {
        let unique = format!("st{}", uuid::Uuid::new_v4().simple());
        let data_dir = std::env::temp_dir().join(format!("pyairtable-e2e-{unique}"));
        let mut storage = StorageSettings::defaults(StorageMode::Embedded);
        storage.data_dir = data_dir.clone();
        storage.table_prefix = format!("{unique}-");
        let mut auth = auth::AuthSettings { bcrypt_cost: 4, ..Default::default() };
        // The public routes' per-IP limits would answer most of the run 429 (documented, but nothing behind it
        // would be tested).
        auth.throttle.public_requests_per_ip = 1_000_000;
        auth.throttle.failures_per_ip = 1_000_000;
        auth.throttle.failures_per_account = 1_000_000;
        auth.throttle.failures_per_account_and_ip = 1_000_000;
        let mut settings = local_runner::Settings::defaults(storage);
        settings.auth = auth;
        // Likewise the plans' per-tenant API rates.
        settings.tenants.plans = settings.tenants.plans.clone().with_api_rate(100_000, 100_000);
        settings.airtable.base_rps = 10_000.0;
        settings.airtable.token_rps = 100_000.0;
        let running = local_runner::start(settings).await.unwrap();
        let runner = Self { url: running.url(), client: reqwest::Client::new(), running: Some(running), data_dir };
        let emulator: Value =
            runner.client.get(runner.at("/_local/airtable-emulator")).send().await.unwrap().json().await.unwrap();
        let config = format!("{}/_emulator/config", emulator["url"].as_str().unwrap());
        let response = runner.client.patch(config).json(&json!({"base_rps": 0, "token_rps": 0})).send().await.unwrap();
        assert_eq!(response.status(), 200, "turning the emulator's rate limits off");
        runner
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A new user's access token and API key.
    async fn user(&self) -> (String, String) {
        let email = format!("st-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({"email": email, "password": "correct horse battery staple"});
        let response = self.client.post(self.at("/api/v1/auth/register")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let tokens: Value = response.json().await.unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let response = self
            .client
            .post(self.at("/api/v1/auth/api-keys"))
            .bearer_auth(&access)
            .json(&json!({"name": "schemathesis"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        (access, created["key"].as_str().unwrap().to_string())
    }

    async fn me(&self, credential: &str) -> u16 {
        let response = self.client.get(self.at("/api/v1/users/me")).bearer_auth(credential).send().await.unwrap();
        response.status().as_u16()
    }

    async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_contract_violation() {
    let started = Instant::now();
    let runner = Runner::start().await;
    let (a_access, a_key) = runner.user().await;
    let (b_access, b_key) = runner.user().await;

    let mut excluded = Vec::new();
    let mut only = Vec::new();
    for id in SELF_DESTRUCTIVE {
        excluded.extend(["--exclude-operation-id".to_string(), id.to_string()]);
        only.extend(["--include-operation-id".to_string(), id.to_string()]);
    }
    let main = run(&runner, &config(&a_key, &a_access), &excluded).await;
    assert!(main.success, "schemathesis (all but the self-destructive operations):\n{}", main.output);

    // The run tested with a live credential throughout: A can still do what it did before.
    for credential in [&a_key, &a_access] {
        assert_eq!(runner.me(credential).await, 200, "user A's credential stopped working during the run");
    }

    let destructive = run(&runner, &config(&b_key, &b_access), &only).await;
    assert!(destructive.success, "schemathesis (the self-destructive operations):\n{}", destructive.output);

    let total = main.test_cases + destructive.test_cases;
    assert!(total >= MIN_TEST_CASES, "only {total} test cases:\n{}\n{}", main.output, destructive.output);
    runner.shutdown().await;
    assert!(started.elapsed() < BUDGET, "took {:?}, over the {BUDGET:?} CI budget", started.elapsed());
}
