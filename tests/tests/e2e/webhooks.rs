//! Outgoing webhooks end to end: endpoints (CRUD, validation, roles, other tenants), deliveries to a loopback
//! receiver verified by the Standard Webhooks reference library (PyPI `standardwebhooks`, through
//! tests/python/verify_webhooks.py), retries on a fast schedule, failure after exhaustion, resend, recover,
//! 410, the SSRF guard, an event from the bus, and the secret kept out of every answer but two and of the logs.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::accounts::{Account, call, eventually, get_as, join, register};
use crate::support::{TestApp, assert_error};

/// The groups these scenarios need, deliveries allowed to loopback IPv4 (the receivers), retries 1 s apart.
fn webhook_groups(settings: &mut local_runner::Settings) {
    settings.groups = Some(["auth", "tenants", "workspaces", "webhooks", "audit"].map(String::from).to_vec());
    settings.webhooks.allowed = "127.0.0.0/8".parse().unwrap();
    settings.webhooks.retry_schedule = "1s,1s".parse().unwrap();
}

/// As configured in production: no allow-list.
fn guarded(settings: &mut local_runner::Settings) {
    webhook_groups(settings);
    settings.webhooks.allowed = webhooks::ssrf::AllowList::default();
}

crate::both_adapters_in!(webhook_groups;
    endpoints_are_created_listed_changed_and_deleted_and_bad_input_is_a_4xx,
    another_tenants_endpoints_and_messages_are_404s_that_change_nothing,
    a_member_without_webhooks_manage_is_refused_every_webhooks_route,
    deliveries_verify_with_the_reference_library_and_carry_both_signatures_during_a_rotation,
    a_failing_receiver_gets_retries_then_the_message_fails_and_resend_and_recover_deliver_it,
    a_410_disables_the_endpoint,
    redirects_to_forbidden_addresses_are_refused,
    a_workspace_event_from_the_bus_reaches_a_subscribed_endpoint,
);

/// Every subscriber of the bus running: audit, notifications, webhooks.
fn every_subscriber(settings: &mut local_runner::Settings) {
    webhook_groups(settings);
    settings.groups.get_or_insert_with(Vec::new).push("notifications".into());
}

crate::both_adapters_with!(fan_out, every_subscriber;
    one_event_reaches_audit_notifications_and_webhooks_once_each,
);

crate::both_adapters_with!(production_guard, guarded;
    the_ssrf_guard_refuses_metadata_private_and_loopback_addresses_unless_allowed,
);

// ---------------------------------------------------------------- the receiver

type Answer = (u16, Vec<(&'static str, String)>);

/// A loopback HTTP receiver: answers with the current answer (`set`), records every request.
#[derive(Clone)]
struct Receiver {
    url: String,
    answer: Arc<Mutex<VecDeque<Answer>>>,
    received: Arc<Mutex<Vec<(HeaderMap, String, Instant)>>>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let answer: Arc<Mutex<VecDeque<Answer>>> = Arc::new(Mutex::new(VecDeque::from([(status, Vec::new())])));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (answer.clone(), received.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (answer, received) = (a.clone(), r.clone());
            async move {
                received.lock().unwrap().push((headers, body, Instant::now()));
                let (status, headers) = answer.lock().unwrap().front().cloned().unwrap();
                let mut response = axum::response::Response::new(axum::body::Body::from(format!("answer {status}")));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/in", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, answer, received }
    }

    fn set(&self, status: u16, headers: Vec<(&'static str, String)>) {
        *self.answer.lock().unwrap() = VecDeque::from([(status, headers)]);
    }

    fn requests(&self) -> Vec<(HeaderMap, String, Instant)> {
        self.received.lock().unwrap().clone()
    }

    /// The requests carrying message `id`. Assertions count these, not every request: a port freed by a
    /// finished test can be bound again here while another test's runner still retries to it.
    fn of(&self, id: &str) -> Vec<(HeaderMap, String, Instant)> {
        self.requests().into_iter().filter(|(h, _, _)| h.get("webhook-id").is_some_and(|v| v == id)).collect()
    }
}

// ---------------------------------------------------------------- helpers

async fn json_of(response: reqwest::Response, status: u16, what: &str) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{what}: {body}");
    body
}

/// `(endpoint id, secret)`.
async fn create_endpoint(app: &TestApp, who: &Account, url: &str, types: &[&str]) -> (String, String) {
    let body = json!({"url": url, "description": "Receiver", "event_types": types});
    let created = json_of(
        call(app, Method::POST, "/api/v1/webhooks/endpoints", &who.access, Some(body)).await,
        201,
        "creating an endpoint",
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (created["endpoint"]["id"].as_str().unwrap().to_string(), secret)
}

async fn send_test(app: &TestApp, who: &Account, endpoint: &str) -> String {
    let path = format!("/api/v1/webhooks/endpoints/{endpoint}/test");
    let queued = json_of(call(app, Method::POST, &path, &who.access, None).await, 202, "a test event").await;
    assert_eq!(queued["status"], "pending");
    queued["id"].as_str().unwrap().to_string()
}

async fn messages(app: &TestApp, who: &Account, endpoint: &str) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/endpoints/{endpoint}/messages?limit=100");
    let page = json_of(get_as(app, &path, &who.access).await, 200, "the messages").await;
    page["messages"].as_array().unwrap().clone()
}

async fn message(app: &TestApp, who: &Account, endpoint: &str, id: &str) -> Value {
    messages(app, who, endpoint).await.into_iter().find(|m| m["id"] == id).unwrap_or(Value::Null)
}

/// Waits until message `id` has `status` and at least `attempts` attempts; returns it.
async fn settled(app: &TestApp, who: &Account, endpoint: &str, id: &str, status: &str, attempts: u64) -> Value {
    eventually(|| async {
        let m = message(app, who, endpoint, id).await;
        m["status"] == status && m["attempt_count"].as_u64().unwrap_or(0) >= attempts
    })
    .await;
    message(app, who, endpoint, id).await
}

/// Runs tests/python/verify_webhooks.py on the captures: the reference library's verdicts.
async fn verify_with_reference_library(captures: &[Value]) -> Value {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let python = repo.join(".venv/bin/python");
    assert!(python.exists(), "no {}: run infra/scripts/services.sh install", python.display());
    let file = std::env::temp_dir().join(format!("webhook-captures-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, serde_json::to_vec(captures).unwrap()).unwrap();
    let output = tokio::process::Command::new(python)
        .arg(repo.join("tests/python/verify_webhooks.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    line.and_then(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| {
        panic!("verify_webhooks.py printed no summary: {stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    })
}

fn capture(name: &str, request: &(HeaderMap, String, Instant), secret: &str, valid: bool) -> Value {
    let headers: serde_json::Map<String, Value> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .map(|h| (h.to_string(), Value::String(request.0[h].to_str().unwrap().to_string())))
        .collect();
    json!({"name": name, "headers": headers, "body": request.1, "secret": secret, "valid": valid})
}

// ---------------------------------------------------------------- scenarios

async fn endpoints_are_created_listed_changed_and_deleted_and_bad_input_is_a_4xx(app: TestApp) {
    let owner = register(&app).await;
    let o = &owner.access;
    let (first, secret) = create_endpoint(&app, &owner, "https://hooks.example.com/a", &["workspace.created"]).await;
    let (second, _) = create_endpoint(&app, &owner, "https://hooks.example.com/b", &[]).await;

    let page = json_of(get_as(&app, "/api/v1/webhooks/endpoints?limit=1", o).await, 200, "page 1").await;
    assert_eq!(page["endpoints"][0]["id"], first.as_str());
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest =
        json_of(get_as(&app, &format!("/api/v1/webhooks/endpoints?limit=1&cursor={cursor}"), o).await, 200, "page 2")
            .await;
    assert_eq!(rest["endpoints"][0]["id"], second.as_str());
    assert_eq!(rest["next_cursor"], Value::Null);
    let path = format!("/api/v1/webhooks/endpoints/{first}");
    let got = json_of(get_as(&app, &path, o).await, 200, "one endpoint").await;
    assert_eq!(got["event_types"], json!(["workspace.created"]));
    assert_eq!((got["enabled"].as_bool(), got["url"].as_str()), (Some(true), Some("https://hooks.example.com/a")));
    assert!(!got.to_string().contains(&secret) && got.get("secret").is_none(), "the secret is shown once");

    let change = json!({"url": "https://hooks.example.com/c", "event_types": [], "enabled": false, "description": "", "version": got["version"]});
    let changed = json_of(call(&app, Method::PATCH, &path, o, Some(change)).await, 200, "a change").await;
    assert_eq!(
        (changed["url"].as_str(), changed["enabled"].as_bool()),
        (Some("https://hooks.example.com/c"), Some(false))
    );
    assert_eq!((changed["event_types"].clone(), changed["description"].clone()), (json!([]), Value::Null));
    let stale = json!({"enabled": true, "version": got["version"]});
    assert_error(call(&app, Method::PATCH, &path, o, Some(stale)).await, 409, "version_conflict").await;

    let bad_bodies = [
        (json!({"url": "ftp://hooks.example.com/"}), "invalid_field"),
        (json!({"url": "https://user:pw@hooks.example.com/"}), "invalid_field"),
        (json!({"url": "http://169.254.169.254/latest/meta-data"}), "invalid_field"),
        (json!({"url": "https://hooks.example.com/", "event_types": ["user.exploded"]}), "invalid_field"),
        (json!({"url": "https://hooks.example.com/", "description": "x".repeat(1001)}), "invalid_field"),
        (json!({"url": format!("https://hooks.example.com/{}", "a".repeat(2100))}), "invalid_field"),
        (json!({"url": "https://hooks.example.com/", "secret": "whsec_mine"}), "invalid_body"),
        (json!({"event_types": []}), "invalid_body"),
    ];
    for (body, code) in bad_bodies {
        let response = call(&app, Method::POST, "/api/v1/webhooks/endpoints", o, Some(body.clone())).await;
        let error = assert_error(response, 400, code).await;
        assert!(!error["error"].as_str().unwrap().is_empty(), "{body}: {error}");
    }
    let malformed = app
        .client
        .post(app.at("/api/v1/webhooks/endpoints"))
        .bearer_auth(o)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(malformed, 400, "malformed_json").await;
    assert_error(call(&app, Method::PATCH, &path, o, Some(json!({"url": "nope"}))).await, 400, "invalid_field").await;
    assert_error(get_as(&app, "/api/v1/webhooks/endpoints?limit=0", o).await, 400, "invalid_limit").await;
    assert_error(get_as(&app, "/api/v1/webhooks/endpoints?cursor=forged", o).await, 400, "invalid_cursor").await;
    let recover = format!("/api/v1/webhooks/endpoints/{second}/recover");
    for since in ["yesterday", "2999-01-01T00:00:00Z", "2001-01-01T00:00:00Z"] {
        let response = call(&app, Method::POST, &recover, o, Some(json!({"since": since}))).await;
        assert_error(response, 400, "invalid_field").await;
    }
    assert_error(call(&app, Method::POST, &format!("{path}/test"), o, None).await, 409, "endpoint_disabled").await;
    assert_error(get_as(&app, "/api/v1/webhooks/endpoints/..%2F..", o).await, 404, "not_found").await;
    assert_error(
        call(&app, Method::POST, "/api/v1/webhooks/messages/msg_nope/resend", o, None).await,
        404,
        "not_found",
    )
    .await;

    let rotated =
        json_of(call(&app, Method::POST, &format!("{path}/rotate-secret"), o, None).await, 200, "a rotation").await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated["previous_secret_valid_until"].is_string());
    let listing = get_as(&app, "/api/v1/webhooks/endpoints", o).await.text().await.unwrap();
    assert!(!listing.contains(&secret) && !listing.contains(new_secret), "no secret in a listing");

    assert_eq!(call(&app, Method::DELETE, &path, o, None).await.status(), 204);
    assert_error(get_as(&app, &path, o).await, 404, "not_found").await;
    assert_error(call(&app, Method::DELETE, &path, o, None).await, 404, "not_found").await;

    // Every change is a platform event in the audit trail, never with a secret.
    for (action, count) in
        [("webhook.endpoint_created", 2), ("webhook.secret_rotated", 1), ("webhook.endpoint_deleted", 1)]
    {
        let audit = format!("/api/v1/audit-logs?action={action}");
        let mut entries = Value::Null;
        for _ in 0..100 {
            entries = json_of(get_as(&app, &audit, o).await, 200, "the audit trail").await["audit_logs"].clone();
            if entries.as_array().is_some_and(|e| e.len() >= count) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(entries.as_array().map(Vec::len), Some(count), "{action}: {entries}");
        let text = entries.to_string();
        assert!(!text.contains(&secret) && !text.contains(new_secret), "no secret in {action}'s entries");
    }

    // The catalogue, for any signed-in user.
    let catalogue = json_of(get_as(&app, "/api/v1/events/types", o).await, 200, "the catalogue").await;
    let types = catalogue["types"].as_array().unwrap();
    assert_eq!(types.len(), events::Action::ALL.len());
    let created = types.iter().find(|t| t["type"] == "workspace.created").unwrap();
    assert_eq!((created["category"].as_str(), created["version"].as_u64()), (Some("workspace"), Some(1)));
    assert!(created["description"].as_str().unwrap().ends_with('.'));
    assert_error(app.get("/api/v1/events/types").await, 401, "unauthorized").await;
}

async fn another_tenants_endpoints_and_messages_are_404s_that_change_nothing(app: TestApp) {
    let receiver = Receiver::start(200).await;
    let owner = register(&app).await;
    let outsider = register(&app).await;
    let (endpoint, _) = create_endpoint(&app, &owner, &receiver.url, &[]).await;
    let message = send_test(&app, &owner, &endpoint).await;
    settled(&app, &owner, &endpoint, &message, "delivered", 1).await;
    let before =
        json_of(get_as(&app, &format!("/api/v1/webhooks/endpoints/{endpoint}"), &owner.access).await, 200, "").await;

    let e = format!("/api/v1/webhooks/endpoints/{endpoint}");
    let routes = [
        (Method::GET, e.clone(), None),
        (Method::PATCH, e.clone(), Some(json!({"enabled": false}))),
        (Method::DELETE, e.clone(), None),
        (Method::POST, format!("{e}/rotate-secret"), None),
        (Method::POST, format!("{e}/test"), None),
        (Method::GET, format!("{e}/messages"), None),
        (Method::POST, format!("{e}/recover"), Some(json!({"since": chrono_now_minus_secs(60)}))),
        (Method::POST, format!("/api/v1/webhooks/messages/{message}/resend"), None),
    ];
    for (method, path, body) in routes {
        let response = call(&app, method.clone(), &path, &outsider.access, body).await;
        assert_error(response, 404, "not_found").await;
    }
    let after = json_of(get_as(&app, &e, &owner.access).await, 200, "").await;
    assert_eq!(before, after, "nothing changed");
    assert_eq!(receiver.requests().len(), 1, "nothing was sent");
    let theirs = json_of(get_as(&app, "/api/v1/webhooks/endpoints", &outsider.access).await, 200, "").await;
    assert_eq!(theirs["endpoints"], json!([]));
}

async fn a_member_without_webhooks_manage_is_refused_every_webhooks_route(app: TestApp) {
    let owner = register(&app).await;
    let admin = join(&app, &owner.access, "admin").await;
    let member = join(&app, &owner.access, "member").await;
    let (endpoint, _) = create_endpoint(&app, &admin, "https://hooks.example.com/in", &[]).await;
    let e = format!("/api/v1/webhooks/endpoints/{endpoint}");
    let routes = [
        (Method::GET, "/api/v1/webhooks/endpoints".to_string(), None),
        (Method::POST, "/api/v1/webhooks/endpoints".to_string(), Some(json!({"url": "https://hooks.example.com/x"}))),
        (Method::GET, e.clone(), None),
        (Method::PATCH, e.clone(), Some(json!({"enabled": false}))),
        (Method::DELETE, e.clone(), None),
        (Method::POST, format!("{e}/rotate-secret"), None),
        (Method::POST, format!("{e}/test"), None),
        (Method::GET, format!("{e}/messages"), None),
        (Method::POST, format!("{e}/recover"), Some(json!({"since": chrono_now_minus_secs(60)}))),
        (Method::POST, "/api/v1/webhooks/messages/msg_000000000000abc/resend".to_string(), None),
    ];
    for (method, path, body) in routes {
        let response = call(&app, method.clone(), &path, &member.access, body).await;
        let error = assert_error(response, 403, "forbidden").await;
        assert!(error["error"].as_str().unwrap().contains("webhooks:manage"), "{method} {path}: {error}");
    }
    assert_eq!(get_as(&app, &e, &owner.access).await.status(), 200, "the owner manages webhooks");
    assert_eq!(get_as(&app, "/api/v1/events/types", &member.access).await.status(), 200, "the catalogue is for all");
}

async fn deliveries_verify_with_the_reference_library_and_carry_both_signatures_during_a_rotation(app: TestApp) {
    let receiver = Receiver::start(200).await;
    let owner = register(&app).await;
    let (endpoint, old_secret) = create_endpoint(&app, &owner, &receiver.url, &[]).await;
    let first = send_test(&app, &owner, &endpoint).await;
    let delivered = settled(&app, &owner, &endpoint, &first, "delivered", 1).await;
    assert_eq!(delivered["attempts"][0]["status_code"], 200);
    assert_eq!(delivered["attempts"][0]["response"], "answer 200");
    assert_eq!(delivered["payload"]["type"], "webhook.test");

    let path = format!("/api/v1/webhooks/endpoints/{endpoint}/rotate-secret");
    let rotated = json_of(call(&app, Method::POST, &path, &owner.access, None).await, 200, "a rotation").await;
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    let second = send_test(&app, &owner, &endpoint).await;
    settled(&app, &owner, &endpoint, &second, "delivered", 1).await;

    let (one, two) = (receiver.of(&first).remove(0), receiver.of(&second).remove(0));
    assert_eq!(one.0["content-type"], "application/json");
    assert_eq!(one.0["webhook-signature"].to_str().unwrap().split(' ').count(), 1);
    assert_eq!(two.0["webhook-signature"].to_str().unwrap().split(' ').count(), 2, "both signatures in the overlap");
    let body: Value = serde_json::from_str(&one.1).unwrap();
    let mut fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["actor", "data", "id", "ip", "request_id", "subject", "tenant", "time", "type", "version"]);
    let tampered = (one.0.clone(), one.1.replace("webhook.test", "webhook.best"), one.2);
    let summary = verify_with_reference_library(&[
        capture("before the rotation", &one, &old_secret, true),
        capture("after it, with the new secret", &two, &new_secret, true),
        capture("after it, with the previous secret (overlap)", &two, &old_secret, true),
        capture("a tampered body is refused", &tampered, &old_secret, false),
        capture("another secret is refused", &one, &new_secret, false),
    ])
    .await;
    assert_eq!(summary["failed"], json!([]), "{summary}");
    assert_eq!(summary["checks"], 5, "{summary}");
    assert!(summary["version"].as_str().is_some_and(|v| v.starts_with("1.")), "{summary}");
}

async fn a_failing_receiver_gets_retries_then_the_message_fails_and_resend_and_recover_deliver_it(app: TestApp) {
    let receiver = Receiver::start(500).await;
    let owner = register(&app).await;
    let since = json!(chrono_now_minus_secs(5));
    let (endpoint, _) = create_endpoint(&app, &owner, &receiver.url, &[]).await;
    let first = send_test(&app, &owner, &endpoint).await;
    let failed = settled(&app, &owner, &endpoint, &first, "failed", 3).await;
    let attempts = failed["attempts"].as_array().unwrap();
    let triggers: Vec<&str> = attempts.iter().map(|a| a["trigger"].as_str().unwrap()).collect();
    assert_eq!(triggers, ["test", "retry", "retry"], "one attempt and the schedule's two retries");
    assert!(attempts.iter().all(|a| a["status_code"] == 500 && a["response"] == "answer 500"));
    assert!(failed["last_error"].as_str().unwrap().contains("retries exhausted"), "{failed}");
    let sent = receiver.of(&first);
    assert_eq!(sent.len(), 3);
    for pair in sent.windows(2) {
        let gap = pair[1].2.duration_since(pair[0].2);
        assert!(gap >= Duration::from_millis(900), "retries follow the 1 s schedule: {gap:?}");
    }
    let second = send_test(&app, &owner, &endpoint).await;
    settled(&app, &owner, &endpoint, &second, "failed", 3).await;
    let endpoint_view =
        json_of(get_as(&app, &format!("/api/v1/webhooks/endpoints/{endpoint}"), &owner.access).await, 200, "").await;
    assert!(endpoint_view["failing_since"].is_string());

    receiver.set(200, Vec::new());
    let resend = format!("/api/v1/webhooks/messages/{first}/resend");
    json_of(call(&app, Method::POST, &resend, &owner.access, None).await, 202, "a resend").await;
    let resent = settled(&app, &owner, &endpoint, &first, "delivered", 4).await;
    assert_eq!(resent["attempts"][3]["trigger"], "manual");
    let recover = format!("/api/v1/webhooks/endpoints/{endpoint}/recover");
    let recovered = json_of(
        call(&app, Method::POST, &recover, &owner.access, Some(json!({"since": since}))).await,
        202,
        "a recovery",
    )
    .await;
    assert_eq!(recovered, json!({"resent": 1, "more": false}), "only the failed one");
    settled(&app, &owner, &endpoint, &second, "delivered", 4).await;
    assert!(receiver.of(&second).iter().all(|(h, _, _)| h["webhook-id"] == second.as_str()), "one id per message");
    let healthy =
        json_of(get_as(&app, &format!("/api/v1/webhooks/endpoints/{endpoint}"), &owner.access).await, 200, "").await;
    assert_eq!(healthy["failing_since"], Value::Null, "a success ends the run of failures");
}

async fn a_410_disables_the_endpoint(app: TestApp) {
    let receiver = Receiver::start(410).await;
    let owner = register(&app).await;
    let (endpoint, _) = create_endpoint(&app, &owner, &receiver.url, &[]).await;
    let message = send_test(&app, &owner, &endpoint).await;
    let failed = settled(&app, &owner, &endpoint, &message, "failed", 1).await;
    assert_eq!(failed["attempt_count"], 1, "no retries after 410");
    let path = format!("/api/v1/webhooks/endpoints/{endpoint}");
    let disabled = json_of(get_as(&app, &path, &owner.access).await, 200, "").await;
    assert_eq!(disabled["enabled"], false);
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("410"), "{disabled}");
    assert_error(
        call(&app, Method::POST, &format!("{path}/test"), &owner.access, None).await,
        409,
        "endpoint_disabled",
    )
    .await;
    let resend = format!("/api/v1/webhooks/messages/{message}/resend");
    assert_error(call(&app, Method::POST, &resend, &owner.access, None).await, 409, "endpoint_disabled").await;
    let enabled = call(&app, Method::PATCH, &path, &owner.access, Some(json!({"enabled": true}))).await;
    let enabled = json_of(enabled, 200, "re-enabled").await;
    assert_eq!((enabled["enabled"].as_bool(), enabled["disabled_reason"].clone()), (Some(true), Value::Null));
    assert_eq!(receiver.of(&message).len(), 1);
}

async fn redirects_to_forbidden_addresses_are_refused(app: TestApp) {
    let owner = register(&app).await;
    for target in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:9/"] {
        let receiver = Receiver::start(307).await;
        receiver.set(307, vec![("location", target.to_string())]);
        let (endpoint, _) = create_endpoint(&app, &owner, &receiver.url, &[]).await;
        let message = send_test(&app, &owner, &endpoint).await;
        let failed = settled(&app, &owner, &endpoint, &message, "failed", 1).await;
        assert_eq!(failed["attempt_count"], 1, "a refusal is not retried");
        let error = failed["attempts"][0]["error"].as_str().unwrap();
        assert!(error.starts_with("refused to connect"), "{target}: {error}");
        assert_eq!(receiver.of(&message).len(), 1, "only the first hop was sent");
    }
}

async fn the_ssrf_guard_refuses_metadata_private_and_loopback_addresses_unless_allowed(app: TestApp) {
    let owner = register(&app).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]:8080/hook",
        "http://127.0.0.1:8080/",
    ] {
        let body = json!({"url": url});
        let response = call(&app, Method::POST, "/api/v1/webhooks/endpoints", &owner.access, Some(body)).await;
        let error = assert_error(response, 400, "invalid_field").await;
        assert!(error["error"].as_str().unwrap().contains("WEBHOOK_ALLOWED_CIDRS"), "{url}: {error}");
    }
    // A name is checked when it is resolved, at delivery.
    let receiver = Receiver::start(200).await;
    let (endpoint, _) = create_endpoint(&app, &owner, &receiver.url.replace("127.0.0.1", "localhost"), &[]).await;
    let message = send_test(&app, &owner, &endpoint).await;
    let failed = settled(&app, &owner, &endpoint, &message, "failed", 1).await;
    let error = failed["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("localhost") && error.contains("loopback"), "{error}");
    assert!(receiver.of(&message).is_empty(), "nothing reached the receiver");
}

async fn a_workspace_event_from_the_bus_reaches_a_subscribed_endpoint(app: TestApp) {
    let receiver = Receiver::start(200).await;
    let owner = register(&app).await;
    let (endpoint, secret) = create_endpoint(&app, &owner, &receiver.url, &["workspace.created"]).await;
    let (other, _) = create_endpoint(&app, &owner, &receiver.url, &["user.updated"]).await;
    let body = json!({"name": "Hooked"});
    let workspace =
        json_of(call(&app, Method::POST, "/api/v1/workspaces", &owner.access, Some(body)).await, 201, "").await;

    eventually(|| async { !messages(&app, &owner, &endpoint).await.is_empty() }).await;
    let listed = messages(&app, &owner, &endpoint).await;
    assert_eq!(listed.len(), 1, "one message per event: {listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let delivered = settled(&app, &owner, &endpoint, &id, "delivered", 1).await;
    assert_eq!(delivered["event_type"], "workspace.created");
    let request = receiver.of(&id).remove(0);
    let payload: Value = serde_json::from_str(&request.1).unwrap();
    assert_eq!(payload["type"], "workspace.created");
    assert_eq!(payload["tenant"], owner.tenant_id.as_str());
    assert_eq!(payload["data"]["workspace_id"], workspace["id"]);
    let summary = verify_with_reference_library(&[capture("a bus event", &request, &secret, true)]).await;
    assert_eq!(summary["failed"], json!([]), "{summary}");
    assert!(messages(&app, &owner, &other).await.is_empty(), "the other endpoint's filter refuses it");
}

fn chrono_now_minus_secs(secs: i64) -> String {
    webhooks::api::rfc3339(storage::now_millis() - secs * 1000)
}

/// The real `cargo run` binary with debug logs: a secret (as created, as rotated) appears in neither its
/// logs nor any answer but the two that hand it out.
#[tokio::test]
async fn a_webhook_secret_never_appears_in_the_runners_logs() {
    use std::process::Stdio;

    use tokio::io::{AsyncBufReadExt, BufReader};

    let receiver = Receiver::start(200).await;
    let binary = std::env::current_exe().unwrap().parent().and_then(|p| p.parent()).unwrap().join("pyairtable-local");
    assert!(binary.exists(), "{} missing: run `cargo build --workspace --bins` first", binary.display());
    let data_dir = std::env::temp_dir().join(format!("pyairtable-webhook-logs-{}", uuid::Uuid::new_v4().simple()));
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("DATA_DIR", &data_dir)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("BCRYPT_COST", "10")
        .env("WEBHOOK_ALLOWED_CIDRS", "127.0.0.0/8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let sink = logs.clone();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) =
                serde_json::from_str::<Value>(&line).ok().and_then(|l| l["url"].as_str().map(String::from))
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url);
            }
            sink.lock().unwrap().push_str(&line);
        }
    });
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            sink.lock().unwrap().push_str(&line);
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(60), rx).await.unwrap().unwrap();
    let client = reqwest::Client::new();
    let credentials =
        json!({"email": crate::support::accounts::unique_email(), "password": crate::support::accounts::PASSWORD});
    let registered: Value = client
        .post(format!("{url}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["access_token"].as_str().unwrap();
    let created: Value = client
        .post(format!("{url}/api/v1/webhooks/endpoints"))
        .bearer_auth(token)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (endpoint, first) = (created["endpoint"]["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    let rotated: Value = client
        .post(format!("{url}/api/v1/webhooks/endpoints/{endpoint}/rotate-secret"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = rotated["secret"].as_str().unwrap();
    let test = client.post(format!("{url}/api/v1/webhooks/endpoints/{endpoint}/test")).bearer_auth(token).send().await;
    assert_eq!(test.unwrap().status(), 202);
    let mut answers = String::new();
    for _ in 0..100 {
        answers = client
            .get(format!("{url}/api/v1/webhooks/endpoints/{endpoint}/messages"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if answers.contains("\"delivered\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers.contains("\"delivered\""), "the test event was delivered: {answers}");
    answers.push_str(
        &client
            .get(format!("{url}/api/v1/webhooks/endpoints/{endpoint}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let _ = child.start_kill();
    let _ = child.wait().await;
    let logs = logs.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(logs.contains("webhook attempt"), "the attempt was logged (debug logs captured)");
    for secret in [first, second] {
        let key = secret.trim_start_matches("whsec_");
        assert!(!logs.contains(key), "a secret in the logs");
        assert!(!answers.contains(key), "a secret in an answer");
    }
}

/// The bus's fan-out end to end: one `api_key.created` (a change committed with its event) reaches each
/// subscriber once — one audit entry, one security notice in the inbox, one webhook delivery.
async fn one_event_reaches_audit_notifications_and_webhooks_once_each(app: TestApp) {
    let owner = register(&app).await;
    let receiver = Receiver::start(200).await;
    create_endpoint(&app, &owner, &receiver.url, &["api_key.created"]).await;
    crate::support::airtable::api_key(&app, &owner).await;
    let audit = "/api/v1/audit-logs?action=api_key.created";
    let inbox = "/api/v1/notifications?limit=100";
    let notices = |page: &Value| {
        page["notifications"].as_array().map_or(0, |n| n.iter().filter(|n| n["type"] == "api_key.created").count())
    };
    eventually(|| {
        let receiver = receiver.clone();
        let (app, owner) = (&app, &owner);
        async move {
            let audited = json_of(get_as(app, audit, &owner.access).await, 200, "audit").await;
            let page = json_of(get_as(app, inbox, &owner.access).await, 200, "inbox").await;
            !receiver.requests().is_empty()
                && audited["audit_logs"].as_array().is_some_and(|a| !a.is_empty())
                && notices(&page) > 0
        }
    })
    .await;
    // Long enough for a duplicate to show (deliveries are milliseconds apart here).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let delivered: Vec<Value> =
        receiver.requests().iter().map(|(_, body, _)| serde_json::from_str(body).unwrap()).collect();
    assert_eq!(delivered.len(), 1, "one webhook delivery: {delivered:?}");
    assert_eq!(delivered[0]["type"], "api_key.created");
    let audited = json_of(get_as(&app, audit, &owner.access).await, 200, "audit").await;
    assert_eq!(audited["audit_logs"].as_array().map(Vec::len), Some(1), "one audit entry: {audited}");
    assert_eq!(audited["audit_logs"][0]["id"], delivered[0]["id"], "the same event");
    let page = json_of(get_as(&app, inbox, &owner.access).await, 200, "inbox").await;
    assert_eq!(notices(&page), 1, "one notice: {page}");
}
