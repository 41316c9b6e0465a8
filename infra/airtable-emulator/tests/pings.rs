//! Webhook notification pings, end to end: the emulator serving on a loopback port, a receiver on another,
//! webhooks created and records written over HTTP as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airtable_emulator::pings::{ATTEMPTS, SPACING};
use airtable_emulator::seed::{DEMO_BASE, PROJECTS};
use airtable_emulator::{DEV_TOKEN, Emulator, EmulatorConfig};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;

/// What the receiver was sent, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
    answered: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// The status it answers (0: 200).
    status: Arc<AtomicU16>,
}

impl Receiver {
    fn on(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let answered = match receiver.status.load(Ordering::SeqCst) {
        0 => 200,
        status => status,
    };
    let at = Instant::now();
    receiver.received.lock().unwrap().push(Received { path, headers, body, at, answered });
    StatusCode::from_u16(answered).unwrap()
}

struct Harness {
    client: reqwest::Client,
    api: String,
    receiver: Receiver,
    receiver_url: String,
}

impl Harness {
    async fn start() -> Self {
        let config = EmulatorConfig { base_rps: 0.0, token_rps: 0.0, ..EmulatorConfig::default() };
        let emulator = Emulator::new(airtable_emulator::seed::demo_bases(), vec![DEV_TOKEN.into()], config);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let running = airtable_emulator::spawn(emulator, loopback).await.unwrap();

        let receiver = Receiver::default();
        let app = axum::Router::new().route("/{path}", axum::routing::post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind(loopback).await.unwrap();
        let receiver_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self { client, api: running.url(), receiver, receiver_url }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.api)).bearer_auth(DEV_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A webhook on the demo base's records, pinging the receiver at `/{path}` (no URL if `None`): its id and
    /// decoded MAC secret.
    async fn webhook(&self, path: Option<&str>) -> (String, Vec<u8>) {
        let mut body = json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}});
        if let Some(path) = path {
            body["notificationUrl"] = json!(format!("{}/{path}", self.receiver_url));
        }
        let created = self.call(reqwest::Method::POST, &format!("/v0/bases/{DEMO_BASE}/webhooks"), Some(body)).await;
        let secret = created["macSecretBase64"].as_str().unwrap();
        let secret = base64::engine::general_purpose::STANDARD.decode(secret).unwrap();
        (created["id"].as_str().unwrap().to_string(), secret)
    }

    async fn enable(&self, id: &str, enable: bool) {
        let path = format!("/v0/bases/{DEMO_BASE}/webhooks/{id}/enableNotifications");
        assert_eq!(self.call(reqwest::Method::POST, &path, Some(json!({ "enable": enable }))).await, json!({}));
    }

    async fn create_record(&self, name: &str) -> String {
        let body = json!({"fields": {"Name": name}});
        let created = self.call(reqwest::Method::POST, &format!("/v0/{DEMO_BASE}/{PROJECTS}"), Some(body)).await;
        created["id"].as_str().unwrap().to_string()
    }

    async fn listed(&self, id: &str) -> Value {
        let list = self.call(reqwest::Method::GET, &format!("/v0/bases/{DEMO_BASE}/webhooks"), None).await;
        list["webhooks"].as_array().unwrap().iter().find(|w| w["id"] == id).cloned().unwrap()
    }

    /// The webhook as listed, once `done` holds of it (within a few seconds).
    async fn listed_when(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let hook = self.listed(id).await;
            if done(&hook) {
                return hook;
            }
            assert!(Instant::now() < deadline, "timed out; last listed: {hook}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The pings to `/{path}`, once there are at least `n` (within a few seconds).
    async fn pings(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pings = self.receiver.on(path);
            if pings.len() >= n {
                return pings;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {n} pings to /{path}; got {}", pings.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The MAC the ping must carry, computed here from the secret the create answer gave.
fn expected_mac(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("hmac-sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Checks one ping: its headers, its MAC over the raw body, and its body naming the base and webhook.
fn check_ping(ping: &Received, webhook: &str, secret: &[u8]) {
    assert_eq!(ping.headers.get("content-type").unwrap(), "application/json");
    let mac = ping.headers.get("x-airtable-content-mac").expect("a MAC header").to_str().unwrap();
    assert_eq!(mac, expected_mac(secret, &ping.body), "the MAC verifies with the webhook's secret");
    assert_ne!(mac, expected_mac(b"another secret", &ping.body));

    let body: Value = serde_json::from_slice(&ping.body).unwrap();
    assert_eq!(body["base"], json!({"id": DEMO_BASE}), "{body}");
    assert_eq!(body["webhook"], json!({"id": webhook}), "{body}");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
    let millis = timestamp.strip_suffix('Z').and_then(|t| t.rsplit_once('.')).map(|(_, ms)| ms);
    assert!(timestamp.len() == 24 && millis.is_some_and(|ms| ms.len() == 3), "UTC with milliseconds: {timestamp}");
    // Exactly Airtable's bytes: compact, in its key order.
    let raw = format!(r#"{{"base":{{"id":"{DEMO_BASE}"}},"webhook":{{"id":"{webhook}"}},"timestamp":"{timestamp}"}}"#);
    assert_eq!(std::str::from_utf8(&ping.body).unwrap(), raw);
}

#[tokio::test]
async fn a_record_write_pings_the_notification_url_with_a_body_its_mac_verifies() {
    let harness = Harness::start().await;
    let (id, secret) = harness.webhook(Some("hook")).await;
    assert!(harness.receiver.on("hook").is_empty(), "creating the webhook changed nothing");

    let record = harness.create_record("Pinged").await;
    let pings = harness.pings("hook", 1).await;
    check_ping(&pings[0], &id, &secret);

    // The ping is the cue to list payloads: the change is there from cursor 1.
    let page = harness
        .call(reqwest::Method::GET, &format!("/v0/bases/{DEMO_BASE}/webhooks/{id}/payloads?cursor=1"), None)
        .await;
    let created = &page["payloads"][0]["changedTablesById"][PROJECTS]["createdRecordsById"][&record];
    assert_eq!(created["cellValuesByFieldId"]["fldProName0000001"], "Pinged", "{page}");

    let hook = harness.listed_when(&id, |h| h["lastSuccessfulNotificationTime"].is_string()).await;
    assert_eq!(hook["areNotificationsEnabled"], true, "{hook}");
    let result = &hook["lastNotificationResult"];
    assert_eq!((result["success"].clone(), result["retryNumber"].clone()), (json!(true), json!(0)), "{hook}");
    assert!(result["durationMs"].is_number() && result.get("error").is_none(), "{hook}");
    assert_eq!(result["completionTimestamp"], hook["lastSuccessfulNotificationTime"], "{hook}");

    // An update pings too.
    let path = format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}");
    harness.call(reqwest::Method::PATCH, &path, Some(json!({"fields": {"Name": "Pinged again"}}))).await;
    let pings = harness.pings("hook", 2).await;
    check_ping(&pings[1], &id, &secret);
}

#[tokio::test]
async fn a_burst_of_writes_makes_a_few_pings_the_last_after_the_last_write() {
    let harness = Harness::start().await;
    let (id, secret) = harness.webhook(Some("burst")).await;

    let writes = 50;
    let burst = Instant::now();
    let mut last_write = burst;
    for i in 0..writes {
        last_write = Instant::now();
        harness.create_record(&format!("Burst {i}")).await;
    }
    // Settle: no ping for longer than a coalescing window.
    let mut seen = harness.pings("burst", 1).await.len();
    let quiet = SPACING + Duration::from_millis(500);
    let mut since = Instant::now();
    let deadline = since + Duration::from_secs(10);
    while since.elapsed() < quiet {
        assert!(Instant::now() < deadline, "pings never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = harness.receiver.on("burst").len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }

    let pings = harness.receiver.on("burst");
    let took = last_write - burst;
    assert!((1..=3).contains(&pings.len()), "{writes} writes in {took:?} made {} pings", pings.len());
    for ping in &pings {
        check_ping(ping, &id, &secret);
    }
    let last = pings.last().unwrap();
    assert!(last.at > last_write, "the last ping follows the last write");
    let hook = harness.listed(&id).await;
    assert_eq!(hook["cursorForNextPayload"], writes + 1, "every write is a payload: {hook}");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_recorded_and_pinged_again_after_it_recovers() {
    let harness = Harness::start().await;
    harness.receiver.answer(500);
    let (id, secret) = harness.webhook(Some("flaky")).await;
    harness.create_record("Refused").await;

    let hook = harness.listed_when(&id, |h| h["lastNotificationResult"]["willBeRetried"] == false).await;
    let result = &hook["lastNotificationResult"];
    assert_eq!(result["success"], false, "{hook}");
    assert_eq!(result["retryNumber"], ATTEMPTS - 1, "{hook}");
    assert!(result["error"]["message"].as_str().is_some_and(|m| m.contains("500")), "{hook}");
    assert!(result["completionTimestamp"].is_string() && result["durationMs"].is_number(), "{hook}");
    assert!(hook["lastSuccessfulNotificationTime"].is_null(), "{hook}");
    let attempts = harness.receiver.on("flaky");
    assert_eq!(attempts.len(), ATTEMPTS as usize, "the first send and its retries, no more");
    for attempt in &attempts {
        assert_eq!(attempt.answered, 500);
        check_ping(attempt, &id, &secret);
    }
    assert!(attempts.windows(2).all(|w| w[1].at - w[0].at >= Duration::from_millis(50)), "retries back off");

    harness.receiver.answer(200);
    harness.create_record("Accepted").await;
    let hook = harness.listed_when(&id, |h| h["lastSuccessfulNotificationTime"].is_string()).await;
    let result = &hook["lastNotificationResult"];
    assert_eq!((result["success"].clone(), result["retryNumber"].clone()), (json!(true), json!(0)), "{hook}");
    assert!(result.get("error").is_none(), "{hook}");
    let pings = harness.receiver.on("flaky");
    assert_eq!(pings.last().unwrap().answered, 200);
    check_ping(pings.last().unwrap(), &id, &secret);
}

#[tokio::test]
async fn disabled_notifications_send_no_ping_until_enabled_again() {
    let harness = Harness::start().await;
    let (on, _) = harness.webhook(Some("on")).await;
    let (off, off_secret) = harness.webhook(Some("off")).await;
    let (silent, _) = harness.webhook(None).await;
    harness.enable(&off, false).await;
    assert_eq!(harness.listed(&off).await["areNotificationsEnabled"], false);
    // Airtable lists a webhook without a notification URL as not notified.
    assert_eq!(harness.listed(&silent).await["areNotificationsEnabled"], false);

    harness.create_record("Quiet").await;
    // The enabled webhook's ping left with the same write; by the time it lands, a ping to the disabled one
    // would have too.
    harness.pings("on", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(harness.receiver.on("off").is_empty(), "no ping while notifications are disabled");
    let hook = harness.listed(&off).await;
    assert!(hook["lastNotificationResult"].is_null() && hook["lastSuccessfulNotificationTime"].is_null(), "{hook}");
    assert_eq!(hook["cursorForNextPayload"], 2, "the payload is kept all the same: {hook}");
    assert!(harness.listed(&on).await["lastSuccessfulNotificationTime"].is_string());

    harness.enable(&off, true).await;
    harness.create_record("Loud").await;
    let pings = harness.pings("off", 1).await;
    check_ping(&pings[0], &off, &off_secret);
}
