//! Every file in events/ replayed through its function's real binary (the lambda_http / lambda_runtime entry
//! point, not the Router), running against a loopback Lambda Runtime API. `lambda_sim::replay` loads each
//! `events/<binary>/` directory, orders the binaries by their expected.json's `"after"` (a binary replays after
//! the ones whose captured `${NAME}` values or writes its events use), and checks every answer against
//! expected.json (its module documentation describes the format, and the compact form of API events).
//! Every function shares one set of tables in moto, one signing key, and an Airtable emulator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sim::replay::{self, Captured, Fixtures, Plan};
use lambda_sim::{Function, RuntimeApi};
use platform::group::{Inventory, Kind};
use serde_json::Value;

/// The signing key every replayed function shares (auth signs, the authorizer verifies).
const JWT_SIGNING_KEY: &str = "replay-signing-key-0123456789abcdef0123456789abcdef";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn events_dir() -> PathBuf {
    repo_root().join("events")
}

/// target/<profile>/ — where this test binary's sibling executables are.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Environment `binary` gets in these replays: AWS adapters against moto (provisioning what it opens, under
/// this run's table prefix), cache on redis-server, Airtable at `airtable_url`.
fn function_env(binary: &str, airtable_url: &str) -> Vec<(String, String)> {
    let mut env = vec![("STORAGE".to_string(), "aws".to_string()), ("STORAGE_PROVISION".into(), "true".into())];
    for name in ["MOTO_ENDPOINT_URL", "REDIS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        if let Ok(value) = std::env::var(name) {
            let key = match name {
                "MOTO_ENDPOINT_URL" => "AWS_ENDPOINT_URL",
                "REDIS_URL" => "CACHE_URL",
                other => other,
            };
            env.push((key.into(), value));
        }
    }
    let prefix = format!("replay{}-", std::process::id());
    env.push(("TABLE_PREFIX".into(), prefix.clone()));
    // A test-only HMAC key (≥ 32 bytes) for the functions that issue or verify tokens.
    env.push(("JWT_SIGNING_KEY".into(), JWT_SIGNING_KEY.into()));
    env.push(("BCRYPT_COST".into(), "10".into()));
    env.push(("AIRTABLE_ENDPOINT_URL".into(), airtable_url.into()));
    env.push(("AIRTABLE_API_KEY".into(), airtable_emulator::DEV_TOKEN.into()));
    if binary == "health" {
        // As template.yaml configures it: /ready checks every table and queue the groups declare, the very
        // tables the other functions use. Each queue's URL comes from provisioning (`STORAGE_PROVISION`).
        let inventory = Inventory::of(&local_runner::declarations());
        let tables: Vec<&str> = inventory.tables.iter().copied().collect();
        let queues: Vec<&str> = inventory.queues.iter().copied().collect();
        env.push(("READY_TABLES".into(), tables.join(",")));
        env.push(("READY_QUEUES".into(), queues.join(",")));
        for table in tables {
            env.push((platform::group::table_var(table), format!("{prefix}{table}")));
        }
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_events_is_answered_as_expected_by_its_function_binary() {
    let plan = Plan::load(&events_dir()).unwrap_or_else(|e| panic!("{e:#}"));
    let airtable = airtable_emulator::spawn(
        airtable_emulator::Emulator::demo(airtable_emulator::DEV_TOKEN.into()),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let mut captured = Captured::new();
    let mut replayed = 0;
    for fixtures in plan.groups() {
        let binary = fixtures.binary.as_str();
        let api = RuntimeApi::start().await.unwrap();
        let env = function_env(binary, &airtable.url());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut process = Function::spawn(&binaries_dir().join(binary), &api, binary, &env).unwrap();
        if let Err(e) = process.wait_ready(&api, Duration::from_secs(20)).await {
            panic!("{binary} did not start: {e:#}\nit printed:\n{}", printed(process).await);
        }
        match replay::replay(&api, fixtures, &mut captured, Duration::from_secs(20)).await {
            Ok(count) => replayed += count,
            Err(e) => panic!("{e:#}\n{binary} printed:\n{}", printed(process).await),
        }
    }
    assert!(replayed > 0, "no events replayed");
}

/// What a function printed, once stopped (for a failure's message).
async fn printed(mut process: Function) -> String {
    use tokio::io::AsyncReadExt;
    let _ = process.child.start_kill();
    let mut out = String::new();
    if let Some(mut stdout) = process.child.stdout.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), stdout.read_to_string(&mut out)).await;
    }
    if let Some(mut stderr) = process.child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut out)).await;
    }
    out
}

/// Checked without running anything: the replay order is the dependency order, whatever the names.
#[test]
fn binaries_replay_after_the_ones_whose_captured_values_they_use() {
    let plan = Plan::load(&events_dir()).unwrap_or_else(|e| panic!("{e:#}"));
    let order: Vec<&str> = plan.groups().iter().map(|f| f.binary.as_str()).collect();
    let position = |binary: &str| order.iter().position(|b| *b == binary).unwrap_or_else(|| panic!("{binary}"));
    for fixtures in plan.groups() {
        for before in &fixtures.after {
            assert!(position(before) < position(&fixtures.binary), "{before} replays before {}", fixtures.binary);
        }
    }
    assert!(position("auth") < position("users") && position("auth") < position("authorizer"), "{order:?}");
}

/// Every declared binary has events whose expectations say something: an HTTP function at least one 2xx
/// answer's body, a consumer its `batchItemFailures`, the authorizer an allow (a policy) and a refusal. And
/// every directory of events/ is a declared binary's.
#[test]
fn every_declared_binary_has_events_with_real_expectations() {
    let mut problems = Vec::new();
    let mut declared = BTreeSet::new();
    for function in local_runner::declarations().into_iter().flat_map(|g| g.functions) {
        let binary = function.binary;
        declared.insert(binary.to_string());
        let fixtures = match Fixtures::load(&events_dir(), binary) {
            Ok(fixtures) => fixtures,
            Err(e) => {
                problems.push(format!("{binary}: {e:#}"));
                continue;
            }
        };
        if fixtures.bench.is_empty() {
            problems
                .push(format!("events/{binary}/expected.json names no \"bench\" event (the cold-start benchmark's)"));
        }
        let expectations: Vec<&Value> = fixtures.events.iter().map(|e| &e.expected).collect();
        if expectations.is_empty() {
            problems.push(format!("events/{binary}/ has no events"));
            continue;
        }
        let has = |what: &str, test: &dyn Fn(&Value) -> bool| {
            (!expectations.iter().any(|e| test(e))).then(|| format!("events/{binary}/expected.json: no {what}"))
        };
        let missing = match function.kind {
            Kind::Http => vec![has("2xx expectation that checks a body_json field (only statuses)", &checks_a_body)],
            Kind::Authorizer => vec![
                has("allow (an expectation with a policyDocument)", &|e| e.get("policyDocument").is_some()),
                has("refusal (an expected error message)", &Value::is_string),
            ],
            Kind::Consumer { .. } => {
                vec![has("expectation on batchItemFailures", &|e| e.get("batchItemFailures").is_some())]
            }
            Kind::Schedule { .. } => Vec::new(),
        };
        problems.extend(missing.into_iter().flatten());
    }
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && !declared.contains(&name) {
            problems.push(format!("events/{name}/ is no declared binary's"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A 2xx expectation with a `body_json` that checks something (not `{}` or null).
fn checks_a_body(expected: &Value) -> bool {
    let status = expected.get("statusCode").and_then(Value::as_u64);
    let body = expected.get("body_json");
    let checks = body.is_some_and(|b| match b {
        Value::Object(fields) => !fields.is_empty(),
        Value::Null => false,
        _ => true,
    });
    status.is_some_and(|s| (200..300).contains(&s)) && checks
}

/// On Lambda a process is frozen between invocations, then shut down: what it metered since its last flush
/// goes to `analytics-requests` when Lambda sends SIGTERM (the binary registered the extension that makes
/// Lambda send one, against the sim's Extensions API here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_function_sends_its_tenants_usage_when_lambda_shuts_it_down() {
    use platform::usage::{API_REQUESTS, UsageMessage};
    use storage::backend::{Backend, StorageMode, StorageSettings};

    let prefix = format!("usage{}-", std::process::id());
    let mut env = function_env("analytics", "http://127.0.0.1:9");
    env.retain(|(k, _)| k != "TABLE_PREFIX");
    env.push(("TABLE_PREFIX".into(), prefix.clone()));
    // Longer than the test: only the shutdown flushes.
    env.push(("USAGE_FLUSH_SECS".into(), "300".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let api = RuntimeApi::start().await.unwrap();
    let mut process = Function::spawn(&binaries_dir().join("analytics"), &api, "analytics", &env).unwrap();
    if let Err(e) = process.wait_ready(&api, Duration::from_secs(20)).await {
        panic!("analytics did not start: {e:#}\nit printed:\n{}", printed(process).await);
    }
    let event = replay::expand_compact(&serde_json::json!({
        "compact": true, "method": "GET", "path": "/api/v1/analytics/usage?metric=events",
        "authorizer": {"principalId": "u-usage", "user_id": "u-usage", "tenant_id": "t-usage", "roles": "tenant_admin",
                       "session_id": "s", "auth_type": "jwt"}
    }))
    .unwrap();
    let answered = api.invoke(event, Duration::from_secs(20)).await.unwrap();
    let lambda_sim::Outcome::Response(response) = answered else { panic!("{answered:?}") };
    assert_eq!(response["statusCode"], 200, "{response}");

    let pid = process.child.id().expect("running");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let exited = tokio::time::timeout(Duration::from_secs(20), process.child.wait()).await;
    let status = exited.expect("it exits after SIGTERM").unwrap();
    assert!(status.success(), "a graceful shutdown: {status:?}");

    let mut settings = StorageSettings::defaults(StorageMode::Aws);
    settings.aws.endpoint_url = std::env::var("MOTO_ENDPOINT_URL").ok();
    settings.aws.region = Some("us-east-1".into());
    settings.table_prefix = prefix;
    settings.provision = true;
    let backend = Backend::open(&settings).await.unwrap();
    let queue = backend.queue(&platform::usage::queue_spec()).await.unwrap();
    let received = queue.receive(10, Duration::from_secs(30), Duration::from_secs(5)).await.unwrap();
    assert_eq!(received.len(), 1, "one tenant, one message");
    let usage: UsageMessage = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(usage.tenant_id, "t-usage");
    let requests: Vec<_> = usage.readings.iter().filter(|r| r.metric == API_REQUESTS).collect();
    assert_eq!(requests.len(), 1, "{usage:?}");
    let pairs = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(requests[0].value, 1);
    assert_eq!(
        requests[0].dimensions,
        pairs(&[("route", "GET /api/v1/analytics/usage"), ("status", "200"), ("user", "u-usage")])
    );
}
