//! Change capture: an edit made at Airtable (here the emulator, written directly, never through the gateway)
//! reaches the platform as events and invalidates the gateway's cached reads at once; pings prove themselves.

use std::time::{Duration, Instant};

use airtable_emulator::auth::{BaseReach, EmulatorUser};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::TestApp;
use crate::support::airtable::{BASE, Client, PROJECTS, gateway_settings, records};

fn capture_settings(settings: &mut local_runner::Settings) {
    gateway_settings(settings);
    settings.groups.get_or_insert_with(Vec::new).push("audit".into());
    settings.change_capture = true;
    // An hour: whatever the gateway shows of a change within seconds, its TTL did not show it.
    settings.airtable.ttl.records = Duration::from_secs(3600);
}

crate::both_adapters_in!(capture_settings;
    an_edit_made_at_airtable_invalidates_the_cache_and_becomes_events,
    forged_stale_and_replayed_pings_are_refused,
);

/// The emulator's webhook on `base` (its id and MAC secret), once the link's registration has made it.
async fn webhook(app: &TestApp, base: &str) -> (String, Vec<u8>) {
    use base64::Engine;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let emulator = app.emulator();
        let found = {
            let world = emulator.world();
            let base = world.bases.iter().find(|b| b.id == base).expect("the demo base");
            base.webhooks.first().map(|w| (w.id.clone(), w.mac_secret_base64.clone(), w.notification_url.clone()))
        };
        if let Some((id, secret, url)) = found {
            let url = url.expect("a notification URL");
            assert!(url.starts_with(&app.url), "the runner's own notify route: {url}");
            assert!(url.ends_with("/notify"), "{url}");
            let secret = base64::engine::general_purpose::STANDARD.decode(secret).unwrap();
            // Stored too: a ping signed with it is taken.
            loop {
                let body = ping(&id, time::OffsetDateTime::now_utc());
                let tenant = url.rsplit('/').nth(1).unwrap();
                let path = format!("/api/v1/airtable/webhooks/{tenant}/notify");
                let answer = app
                    .client
                    .post(app.at(&path))
                    .header("X-Airtable-Content-MAC", signed(&secret, &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                if answer.status() == 204 {
                    return (id, secret);
                }
                assert!(Instant::now() < deadline, "the webhook was never stored: {}", answer.status());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert!(Instant::now() < deadline, "no webhook was registered on {base} for the link");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(listed: &Value) -> Vec<String> {
    listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["fields"]["Name"].as_str().map(String::from))
        .collect()
}

async fn an_edit_made_at_airtable_invalidates_the_cache_and_becomes_events(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    webhook(app, BASE).await;

    let path = records("?pageSize=100");
    let (status, _, before) = client.read(&path, &[]).await;
    assert_eq!(status, 200);
    let (_, cache, again) = client.read(&path, &[]).await;
    assert_eq!((cache.as_str(), &again), ("HIT", &before), "the list is cached");

    // Written at Airtable directly, with a token of the emulator's own: the gateway never sees this write.
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([BASE]), Vec::new());
    let name = format!("Made at Airtable {}", uuid::Uuid::new_v4());
    let created: Value = app
        .client
        .post(format!("{}/v0/{BASE}/{PROJECTS}", client.emulator))
        .bearer_auth(&token)
        .json(&json!({"fields": {"Name": name}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record = created["id"].as_str().expect("the emulator created it").to_string();

    let started = Instant::now();
    let seen = loop {
        let (status, _, listed) = client.read(&path, &[]).await;
        assert_eq!(status, 200);
        if names(&listed).contains(&name) {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the cached list never showed the change");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("change capture: an edit at Airtable was in the gateway's cached list after {seen:?}");

    // The change is a platform event of the tenant: in its audit trail, with the record and its fields.
    let access = &client.account.access;
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        let path = "/api/v1/audit-logs?action=airtable.record.created&limit=100";
        let response = crate::support::accounts::call(app, Method::GET, path, access, None).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        let found =
            page["audit_logs"].as_array().unwrap().iter().find(|e| e["details"]["record_id"] == record).cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no airtable.record.created event for {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(event["tenant_id"], client.account.tenant_id.as_str());
    assert_eq!(event["details"]["base_id"], BASE);
    assert_eq!(event["details"]["table_id"], PROJECTS);
    assert!(event["details"]["fields"].to_string().contains(&name), "{event}");

    // An update: its changed fields and previous values.
    let renamed = format!("{name} (renamed)");
    let patched = app
        .client
        .patch(format!("{}/v0/{BASE}/{PROJECTS}/{record}", client.emulator))
        .bearer_auth(&token)
        .json(&json!({"fields": {"Name": renamed}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let updated = loop {
        let path = "/api/v1/audit-logs?action=airtable.record.updated&limit=100";
        let page: Value =
            crate::support::accounts::call(app, Method::GET, path, access, None).await.json().await.unwrap();
        let found =
            page["audit_logs"].as_array().unwrap().iter().find(|e| e["details"]["record_id"] == record).cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no airtable.record.updated event for {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(updated["details"]["previous"].to_string().contains(&name), "previous values: {updated}");
    assert!(updated["details"]["fields"].to_string().contains(&renamed), "{updated}");
    assert_eq!(updated["details"]["changed_fields"].as_array().map(Vec::len), Some(1), "{updated}");

    // Another tenant on the same runner, with the same bases attached, hears of nothing of this tenant's.
    let other = crate::support::accounts::register(app).await;
    let path = "/api/v1/audit-logs?action=airtable.record.created&limit=100";
    let page: Value =
        crate::support::accounts::call(app, Method::GET, path, &other.access, None).await.json().await.unwrap();
    assert_eq!(page["audit_logs"], json!([]), "another tenant's audit trail holds none of these events");
}

fn signed(secret: &[u8], body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body.as_bytes());
    format!("hmac-sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn ping(webhook: &str, at: time::OffsetDateTime) -> String {
    let at = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    json!({"base": {"id": BASE}, "webhook": {"id": webhook}, "timestamp": at}).to_string()
}

async fn forged_stale_and_replayed_pings_are_refused(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let (webhook, secret) = webhook(app, BASE).await;
    let tenant = &client.account.tenant_id;
    let notify = |tenant: &str| app.at(&format!("/api/v1/airtable/webhooks/{tenant}/notify"));
    let send = |url: String, body: String, mac: Option<String>| {
        let mut request = app.client.post(url).header("content-type", "application/json").body(body);
        if let Some(mac) = mac {
            request = request.header("X-Airtable-Content-MAC", mac);
        }
        request.send()
    };
    let now = time::OffsetDateTime::now_utc();

    let body = ping(&webhook, now);
    let good = send(notify(tenant), body.clone(), Some(signed(&secret, &body))).await.unwrap();
    assert_eq!(good.status(), 204, "a ping signed with the webhook's secret");
    let replayed = send(notify(tenant), body.clone(), Some(signed(&secret, &body))).await.unwrap();
    crate::support::assert_error(replayed, 409, "notification_replayed").await;

    let forged = ping(&webhook, now + time::Duration::milliseconds(1));
    let refused = send(notify(tenant), forged.clone(), Some(signed(b"not the secret", &forged))).await.unwrap();
    crate::support::assert_error(refused, 401, "invalid_signature").await;
    let unsigned = send(notify(tenant), forged.clone(), None).await.unwrap();
    crate::support::assert_error(unsigned, 401, "invalid_signature").await;
    // The signature covers the body byte for byte.
    let tampered = forged.replace(&webhook, "achTAMPERED000000");
    let moved = send(notify(tenant), tampered, Some(signed(&secret, &forged))).await.unwrap();
    crate::support::assert_error(moved, 401, "invalid_signature").await;
    // Another tenant's route: its hooks do not hold this webhook.
    let other = crate::support::accounts::register(app).await;
    let elsewhere = send(notify(&other.tenant_id), forged.clone(), Some(signed(&secret, &forged))).await.unwrap();
    crate::support::assert_error(elsewhere, 401, "invalid_signature").await;

    let stale = ping(&webhook, now - time::Duration::minutes(10));
    let late = send(notify(tenant), stale.clone(), Some(signed(&secret, &stale))).await.unwrap();
    crate::support::assert_error(late, 401, "notification_expired").await;

    let junk = send(notify(tenant), "{\"not\": \"a ping\"}".into(), None).await.unwrap();
    crate::support::assert_error(junk, 400, "invalid_notification").await;
    let huge = send(notify(tenant), "x".repeat(10_000), None).await.unwrap();
    assert_eq!(huge.status(), 413);
}
