//! Notification pings: when a write gives a webhook a payload, the emulator POSTs Airtable's ping to the
//! webhook's `notificationUrl` — if it has one and its notifications are enabled (`enableNotifications`).
//!
//! The ping is Airtable's (the webhooks overview, "Webhook notification delivery"; pyairtable's
//! `WebhookNotification.from_request` checks it the same way):
//!
//! - body: `{"base":{"id":"app…"},"webhook":{"id":"ach…"},"timestamp":"2022-02-01T21:25:05.663Z"}` — compact
//!   JSON in that key order, UTC with milliseconds; no change data (the receiver lists the payloads);
//! - `Content-Type: application/json`;
//! - `X-Airtable-Content-MAC: hmac-sha256=<hex>`: the lowercase hex HMAC-SHA256 of the exact body bytes, keyed
//!   by the webhook's base64-decoded `macSecretBase64`.
//!
//! A 2xx answer is a delivery. Sending never holds up the write that caused it: [`Emulator::commit`] only
//! spawns a task, and the task locks the world only for short bookkeeping, never across the network call.
//!
//! Coalescing: a webhook has at most one ping under way, and a ping occupies its webhook for at least
//! [`SPACING`] (its send, its retries, then the rest of the window). Payloads added meanwhile owe exactly one
//! follow-up ping, sent when the window ends — so a burst of writes makes two or three pings, not one per
//! write, and the last ping always follows the last write.
//!
//! Failures (no connection, a timeout after [`TIMEOUT`], a non-2xx answer, a redirect) are retried: at most
//! [`ATTEMPTS`] sends in all, the first retry [`BACKOFF`] after the failure, each next one twice as long. Each
//! attempt's outcome is the webhook's `lastNotificationResult` in list webhooks — `{success,
//! completionTimestamp, durationMs, retryNumber}`, on a failure with `error: {message}` and `willBeRetried` —
//! and each delivery sets `lastSuccessfulNotificationTime`. Disabling notifications, or deleting the webhook,
//! stops its retries and follow-ups.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;

use crate::ids::now_timestamp;
use crate::model::Base;
use crate::state::Emulator;
use crate::webhooks::{Change, Webhook};

/// Tries per ping: the first send and its retries.
pub const ATTEMPTS: u32 = 3;
/// The wait before the first retry; each further retry waits twice as long as the one before.
pub const BACKOFF: Duration = Duration::from_millis(100);
/// The longest one send may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest time from one ping's start to the next for the same webhook (the coalescing window).
pub const SPACING: Duration = Duration::from_secs(1);

/// The header carrying the body's MAC.
pub const MAC_HEADER: &str = "X-Airtable-Content-MAC";

/// What a webhook knows of its pings: the last outcome (for list webhooks) and whether one is under way.
#[derive(Clone, Debug, Default)]
pub struct Notifications {
    /// A task is sending a ping for this webhook, or waiting out its [`SPACING`].
    in_flight: bool,
    /// A payload arrived while `in_flight`: one follow-up ping is owed.
    owed: bool,
    /// `lastNotificationResult`.
    last_result: Option<Value>,
    /// `lastSuccessfulNotificationTime`.
    last_success: Option<String>,
}

impl Notifications {
    /// List webhooks' `lastNotificationResult`: the latest attempt's outcome, `null` before the first.
    pub fn last_result(&self) -> Value {
        self.last_result.clone().unwrap_or(Value::Null)
    }

    /// List webhooks' `lastSuccessfulNotificationTime`: when the latest delivery completed, `null` before one.
    pub fn last_success(&self) -> Value {
        self.last_success.as_ref().map_or(Value::Null, |t| json!(t))
    }

    fn record(&mut self, attempt: &Attempt, retry: u32, will_be_retried: bool) {
        let completion = now_timestamp();
        let duration_ms = (attempt.duration.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let mut result = json!({
            "success": attempt.error.is_none(),
            "completionTimestamp": completion,
            "durationMs": duration_ms,
            "retryNumber": retry,
        });
        match &attempt.error {
            None => self.last_success = Some(completion),
            Some(message) => {
                result["error"] = json!({ "message": message });
                result["willBeRetried"] = json!(will_be_retried);
            }
        }
        self.last_result = Some(result);
    }

    fn release(&mut self) {
        self.in_flight = false;
        self.owed = false;
    }
}

/// The HTTP client pings share, built on first use (a failure to build is every ping's failure).
#[derive(Default)]
pub(crate) struct Pinger {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Pinger {
    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    // Airtable follows no redirect, and reaches the URL directly, not through this machine's proxy.
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .build()
                    .map_err(|e| format!("Failed to build the notification client: {}", chain(&e)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The ping's body, in Airtable's key order.
#[derive(Serialize)]
struct Ping<'a> {
    base: Id<'a>,
    webhook: Id<'a>,
    timestamp: String,
}

#[derive(Serialize)]
struct Id<'a> {
    id: &'a str,
}

/// A ping's body: `{"base":{"id":…},"webhook":{"id":…},"timestamp":…}`, compact.
pub fn body(base: &str, webhook: &str, timestamp: String) -> Result<Vec<u8>, String> {
    let ping = Ping { base: Id { id: base }, webhook: Id { id: webhook }, timestamp };
    serde_json::to_vec(&ping).map_err(|e| format!("Failed to write the notification: {e}"))
}

/// The `X-Airtable-Content-MAC` value for `body`: `hmac-sha256=` and the lowercase hex HMAC-SHA256 of the body's
/// bytes, keyed by the (decoded) MAC secret.
pub fn content_mac(secret: &[u8], body: &[u8]) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| format!("Unusable MAC secret: {e}"))?;
    mac.update(body);
    Ok(format!("hmac-sha256={}", hex::encode(mac.finalize().into_bytes())))
}

/// An error and its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// One send's outcome.
struct Attempt {
    /// `None` for a delivery (a 2xx answer).
    error: Option<String>,
    duration: Duration,
}

/// Where to send a webhook's ping, read afresh before each attempt.
struct Target {
    url: String,
    secret: Result<Vec<u8>, String>,
}

impl Webhook {
    /// Whether this webhook is to be pinged: it has a `notificationUrl` and its notifications are enabled.
    fn pinged(&self) -> bool {
        self.notifications_enabled && self.notification_url.is_some()
    }

    fn target(&self) -> Option<Target> {
        let url = self.notification_url.clone().filter(|_| self.notifications_enabled)?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(&self.mac_secret_base64)
            .map_err(|e| format!("Unusable MAC secret: {e}"));
        Some(Target { url, secret })
    }
}

impl Emulator {
    /// Records one write transaction on `base` (its changes become payloads for the webhooks they concern, see
    /// `Base::commit`) and pings every webhook that got a payload: a new ping task when none is under way,
    /// else the one under way owes a follow-up. Never waits for a ping.
    pub fn commit(&self, base: &mut Base, changes: Vec<Change>) {
        let notified = base.commit(changes);
        for hook in base.webhooks.iter_mut().filter(|w| notified.contains(&w.id) && w.pinged()) {
            let notifications = &mut hook.notifications;
            if notifications.in_flight {
                notifications.owed = true;
                continue;
            }
            // Every write arrives through a handler, on the server's runtime.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    notifications.in_flight = true;
                    runtime.spawn(deliver(self.clone(), base.id.clone(), hook.id.clone()));
                }
                Err(_) => tracing::warn!(webhook = %hook.id, "no runtime to send a notification ping on"),
            }
        }
    }

    /// Runs `f` on the webhook, if it still exists.
    fn with_webhook<T>(&self, base: &str, webhook: &str, f: impl FnOnce(&mut Webhook) -> T) -> Option<T> {
        let mut world = self.world();
        let base = world.bases.iter_mut().find(|b| b.id == base)?;
        base.webhooks.iter_mut().find(|w| w.id == webhook).map(f)
    }

    /// Where the next attempt goes; `None` (and the webhook released) once it is deleted or no longer pinged.
    /// The first attempt of a ping (`first`) covers every payload so far: nothing is owed any more.
    fn next_target(&self, base: &str, webhook: &str, first: bool) -> Option<Target> {
        self.with_webhook(base, webhook, |hook| {
            let target = hook.target();
            match &target {
                Some(_) if first => hook.notifications.owed = false,
                Some(_) => {}
                None => hook.notifications.release(),
            }
            target
        })
        .flatten()
    }

    /// After a ping's window: whether a follow-up is owed (and still wanted); if not, the webhook is released.
    fn follow_up(&self, base: &str, webhook: &str) -> bool {
        self.with_webhook(base, webhook, |hook| {
            let again = hook.notifications.owed && hook.pinged();
            if !again {
                hook.notifications.release();
            }
            again
        })
        .unwrap_or(false)
    }
}

/// A webhook's ping task: one ping (with its retries), the rest of its [`SPACING`], then a follow-up while one
/// is owed.
async fn deliver(emulator: Emulator, base: String, webhook: String) {
    loop {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let Some(target) = emulator.next_target(&base, &webhook, retry == 0) else {
                return;
            };
            let attempt = send(&emulator, &target, &base, &webhook).await;
            let will_be_retried = attempt.error.is_some() && retry + 1 < ATTEMPTS;
            if let Some(error) = &attempt.error {
                tracing::debug!(%webhook, retry, will_be_retried, %error, "notification ping failed");
            }
            let recorded = emulator.with_webhook(&base, &webhook, |hook| {
                hook.notifications.record(&attempt, retry, will_be_retried);
            });
            if recorded.is_none() {
                return;
            }
            if !will_be_retried {
                break;
            }
            tokio::time::sleep(BACKOFF * 2u32.saturating_pow(retry)).await;
            retry += 1;
        }
        tokio::time::sleep_until(started + SPACING).await;
        if !emulator.follow_up(&base, &webhook) {
            return;
        }
    }
}

/// POSTs one ping to `target`: a fresh timestamp, its MAC.
async fn send(emulator: &Emulator, target: &Target, base: &str, webhook: &str) -> Attempt {
    let started = Instant::now();
    let error = post(emulator, target, base, webhook).await.err();
    Attempt { error, duration: started.elapsed() }
}

async fn post(emulator: &Emulator, target: &Target, base: &str, webhook: &str) -> Result<(), String> {
    let client = emulator.pinger().client()?;
    let secret = target.secret.as_ref().map_err(Clone::clone)?;
    let body = body(base, webhook, now_timestamp())?;
    let mac = content_mac(secret, &body)?;
    let response = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(MAC_HEADER, mac)
        .body(body)
        .send()
        .await
        .map_err(|e| match e.is_timeout() {
            true => format!("The notification URL did not answer within {} s", TIMEOUT.as_secs()),
            false => format!("Failed to reach the notification URL: {}", chain(&e)),
        })?;
    let status = response.status();
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("The notification URL answered HTTP {}", status.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_body_is_compact_in_airtables_key_order() {
        let body = body("app00000000000000", "ach00000000000000", "2022-02-01T21:25:05.663Z".into()).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}"#
        );
    }

    #[test]
    fn the_mac_is_hmac_sha256_in_lowercase_hex() {
        // RFC 4231, test case 2.
        let mac = content_mac(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(mac, "hmac-sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn a_failure_records_its_message_and_whether_it_will_be_retried() {
        let mut notifications = Notifications::default();
        assert_eq!((notifications.last_result(), notifications.last_success()), (Value::Null, Value::Null));
        let failed = Attempt { error: Some("HTTP 500".into()), duration: Duration::from_micros(2603) };
        notifications.record(&failed, 1, true);
        let result = notifications.last_result();
        assert_eq!(result["success"], false);
        assert_eq!(result["error"], json!({"message": "HTTP 500"}));
        assert_eq!((result["retryNumber"].clone(), result["willBeRetried"].clone()), (json!(1), json!(true)));
        assert_eq!(result["durationMs"], 2.603);
        assert!(notifications.last_success().is_null());
        notifications.record(&Attempt { error: None, duration: Duration::ZERO }, 2, false);
        let result = notifications.last_result();
        assert_eq!(result["success"], true);
        assert!(result.get("error").is_none() && result.get("willBeRetried").is_none(), "{result}");
        assert_eq!(notifications.last_success(), result["completionTimestamp"]);
    }
}
