//! Usage analytics end to end, on both adapter sets: after a known workload the tenant's counters equal it
//! exactly — by event type they equal the audit log, the other consumer of every event — and a redelivered
//! event counts once; only admins read them, and only platform admins another tenant's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use events::{Action, Event, Origin};
use reqwest::Method;
use serde_json::{Value, json};
use storage::queue::OutgoingMessage;

use crate::support::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, Account, call, join, login_ok, register};
use crate::support::airtable::Client;
use crate::support::{TestApp, assert_error};

/// The groups these scenarios need (with the consumers that meter their work: webhook deliveries to loopback
/// receivers, one retry a second later, and notifications); usage flushed every second.
fn analytics_settings(settings: &mut local_runner::Settings) {
    settings.groups = Some(
        ["auth", "tenants", "workspaces", "audit", "analytics", "airtable", "webhooks", "notifications"]
            .map(String::from)
            .to_vec(),
    );
    settings.usage_flush = Duration::from_secs(1);
    settings.webhooks.allowed = "127.0.0.0/8".parse().unwrap();
    settings.webhooks.retry_schedule = "1s".parse().unwrap();
    settings.notifications.invitation_url = "https://app.example.com/accept-invitation".into();
}

crate::both_adapters_in!(analytics_settings;
    a_known_workload_is_counted_exactly_even_with_redelivered_events,
    only_admins_read_analytics_and_only_platform_admins_another_tenants,
    requests_are_metered_per_tenant_by_route_status_and_user_and_a_redelivered_flush_counts_once,
    webhook_attempts_and_notifications_sent_are_metered_for_their_tenant,
);

async fn get(app: &TestApp, who: &str, path: &str) -> Value {
    let response = call(app, Method::GET, path, who, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The tenant's events by type, per analytics (`granularity`) and per the audit log.
async fn by_type(app: &TestApp, who: &Account, granularity: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let top = get(
        app,
        &who.access,
        &format!("/api/v1/analytics/top?metric=events&dimension=type&limit=100&granularity={granularity}"),
    )
    .await;
    let counted = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap().to_string(), i["value"].as_u64().unwrap()))
        .collect();
    let audit = get(app, &who.access, "/api/v1/audit-logs?limit=100").await;
    let mut audited = BTreeMap::new();
    for entry in audit["audit_logs"].as_array().unwrap() {
        *audited.entry(entry["action"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    (counted, audited)
}

/// Waits until analytics and the audit log agree and `check` holds; returns the counts.
async fn agreed(app: &TestApp, who: &Account, check: impl Fn(&BTreeMap<String, u64>) -> bool) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (counted, audited) = by_type(app, who, "hour").await;
        if counted == audited && check(&counted) {
            return counted;
        }
        assert!(Instant::now() < deadline, "analytics {counted:?} vs the audit log {audited:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_known_workload_is_counted_exactly_even_with_redelivered_events(app: TestApp) {
    let owner = register(&app).await;
    for i in 0..3 {
        let body = json!({"name": format!("Counted {i}")});
        assert_eq!(call(&app, Method::POST, "/api/v1/workspaces", &owner.access, Some(body)).await.status(), 201);
    }
    for i in 0..2 {
        let body = json!({"name": format!("key {i}")});
        assert_eq!(call(&app, Method::POST, "/api/v1/auth/api-keys", &owner.access, Some(body)).await.status(), 201);
    }
    let counted =
        agreed(&app, &owner, |c| c.get("workspace.created") == Some(&3) && c.get("api_key.created") == Some(&2)).await;

    // The same event delivered three times (as SQS may) counts once.
    let origin = Origin { request_id: "redelivered".into(), ip: None };
    let event = Event::new(Action::WorkspaceCreated, &origin).tenant(&owner.tenant_id).actor(&owner.user_id);
    let queue = app.backend().queue(&events::routing::queue_spec(events::routing::ANALYTICS)).await.unwrap();
    for _ in 0..3 {
        queue.send(OutgoingMessage::new(serde_json::to_string(&event).unwrap())).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, _) = by_type(&app, &owner, "hour").await;
        if now.get("workspace.created") == Some(&4) {
            break;
        }
        assert!(Instant::now() < deadline, "the redelivered event was never counted: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (now, _) = by_type(&app, &owner, "hour").await;
    let mut expected = counted.clone();
    *expected.get_mut("workspace.created").unwrap() += 1;
    assert_eq!(now, expected, "counted once, whatever the deliveries");
    let (by_day, _) = by_type(&app, &owner, "day").await;
    assert_eq!(by_day, expected, "days count what hours do");

    // The series adds up to the same total, and the caller's own activity is theirs.
    let usage = get(&app, &owner.access, "/api/v1/analytics/usage?metric=events&granularity=hour").await;
    let total: u64 = expected.values().sum();
    assert_eq!(usage["total"].as_u64(), Some(total), "{usage}");
    assert_eq!(usage["series"].as_array().unwrap().iter().map(|p| p["value"].as_u64().unwrap()).sum::<u64>(), total);
    assert_eq!(usage["series"].as_array().unwrap().len(), 25, "a day of hours, both ends included");
    let users = get(&app, &owner.access, "/api/v1/analytics/top?metric=events&dimension=user").await;
    assert_eq!(users["items"][0]["key"].as_str(), Some(owner.user_id.as_str()), "{users}");
}

async fn only_admins_read_analytics_and_only_platform_admins_another_tenants(app: TestApp) {
    let owner = register(&app).await;
    let path = "/api/v1/analytics/usage?metric=events";
    let mine = get(&app, &owner.access, path).await;
    assert_eq!(mine["tenant_id"].as_str(), Some(owner.tenant_id.as_str()));

    // A member is not an admin; a stranger may not name our tenant.
    let member = join(&app, &owner.access, "member").await;
    assert_error(call(&app, Method::GET, path, &member.access, None).await, 403, "forbidden").await;
    let stranger = register(&app).await;
    let theirs = format!("{path}&tenant_id={}", owner.tenant_id);
    assert_error(call(&app, Method::GET, &theirs, &stranger.access, None).await, 403, "forbidden").await;
    let top = format!("/api/v1/analytics/top?metric=events&dimension=type&tenant_id={}", owner.tenant_id);
    assert_error(call(&app, Method::GET, &top, &stranger.access, None).await, 403, "forbidden").await;
    // A platform admin may.
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let read = get(&app, &admin.access, &theirs).await;
    assert_eq!(read["tenant_id"].as_str(), Some(owner.tenant_id.as_str()));

    // Bad input: a 400 in the documented shape.
    for bad in [
        "/api/v1/analytics/usage?metric=nope",
        "/api/v1/analytics/usage",
        "/api/v1/analytics/usage?metric=events&granularity=minute",
        "/api/v1/analytics/top?metric=events&dimension=planet",
    ] {
        assert_error(call(&app, Method::GET, bad, &owner.access, None).await, 400, "invalid_query").await;
    }
    for bad in [
        "/api/v1/analytics/usage?metric=events&from=yesterday",
        "/api/v1/analytics/usage?metric=events&from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/api/v1/analytics/usage?metric=events&from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/api/v1/analytics/top?metric=events&dimension=type&limit=0",
    ] {
        assert_error(call(&app, Method::GET, bad, &owner.access, None).await, 400, "invalid_field").await;
    }
}

/// `metric`'s top values by `dimension` (this hour), as a map.
async fn top(app: &TestApp, who: &Account, metric: &str, dimension: &str) -> BTreeMap<String, u64> {
    let path = format!("/api/v1/analytics/top?metric={metric}&dimension={dimension}&limit=100&granularity=hour");
    let top = get(app, &who.access, &path).await;
    top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap().to_string(), i["value"].as_u64().unwrap()))
        .collect()
}

/// Polls `metric` by `dimension` until `check` holds (the meter flushes every second here).
async fn until(
    app: &TestApp,
    who: &Account,
    metric: &str,
    dimension: &str,
    check: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = top(app, who, metric, dimension).await;
        if check(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{metric} by {dimension}: {now:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn requests_are_metered_per_tenant_by_route_status_and_user_and_a_redelivered_flush_counts_once(app: TestApp) {
    use airtable_emulator::seed::{DEMO_BASE, TASKS};
    let client = Client::start(app).await;
    let (app, owner) = (&client.app, &client.account);
    let stranger = register(app).await;

    // The workload: 4 listings, 3 misses (404), 2 Airtable reads of one table (a miss, then a hit), and a
    // stranger's listing.
    let started = Instant::now();
    for _ in 0..4 {
        assert_eq!(call(app, Method::GET, "/api/v1/workspaces", &owner.access, None).await.status(), 200);
    }
    for _ in 0..3 {
        let missing = "/api/v1/workspaces/ws_00000000000000000000000000000000";
        assert_eq!(call(app, Method::GET, missing, &owner.access, None).await.status(), 404);
    }
    let table = format!("/api/v1/airtable/bases/{DEMO_BASE}/tables/{TASKS}/records?pageSize=3");
    let (first, cache, _) = client.read(&table, &[]).await;
    assert_eq!((first, cache.as_str()), (200, "MISS"));
    let (second, cache, _) = client.read(&table, &[]).await;
    assert_eq!((second, cache.as_str()), (200, "HIT"));
    let workload = started.elapsed();
    assert_eq!(call(app, Method::GET, "/api/v1/workspaces", &stranger.access, None).await.status(), 200);

    let list = "GET /api/v1/workspaces".to_string();
    let one = "GET /api/v1/workspaces/{id}".to_string();
    let read = "GET /api/v1/airtable/bases/{baseId}/tables/{tableId}/records".to_string();
    let routes =
        until(app, owner, "api_requests", "route", |r| r.get(&read) == Some(&2) && r.get(&one) == Some(&3)).await;
    assert_eq!((routes.get(&list), routes.get(&one), routes.get(&read)), (Some(&4), Some(&3), Some(&2)), "{routes:?}");
    let statuses = top(app, owner, "api_requests", "status").await;
    assert_eq!(statuses.get("404"), Some(&3), "only the misses answered 404: {statuses:?}");
    let users = top(app, owner, "api_requests", "user").await;
    assert_eq!(users.keys().collect::<Vec<_>>(), vec![&owner.user_id], "one user's requests, no one else's");
    let theirs = until(app, &stranger, "api_requests", "route", |r| r.get(&list) == Some(&1)).await;
    assert!(!theirs.contains_key(&read) && !theirs.contains_key(&one), "the stranger's counts are its own: {theirs:?}");

    // The gateway's side, for this tenant: one upstream call for the miss, the hit served from the cache.
    let cache = until(app, owner, "airtable_cache", "outcome", |c| c.values().sum::<u64>() >= 2).await;
    assert_eq!(cache, BTreeMap::from([("hit".to_string(), 1), ("miss".to_string(), 1)]));
    let calls = top(app, owner, "airtable_upstream_calls", "base").await;
    assert_eq!(calls, BTreeMap::from([(DEMO_BASE.to_string(), 1)]));
    // Latency: requests sent one after another cannot have taken longer to answer than the client waited.
    let latency = top(app, owner, "api_latency_ms", "route").await;
    let measured: u64 = [&list, &one, &read].iter().filter_map(|r| latency.get(*r)).sum();
    assert!(measured <= workload.as_millis() as u64 + 7, "{measured} ms answering, {workload:?} waiting");

    // The tenant's usage view reads the month's totals from here: between two readings of analytics.
    let month = || async {
        let first = format!("{}-01T00:00:00Z", &chrono_today()[..7]);
        let path = format!("/api/v1/analytics/usage?metric=api_requests&granularity=day&from={first}");
        get(app, &owner.access, &path).await["total"].as_u64().unwrap()
    };
    let before = month().await;
    let view = get(app, &owner.access, "/api/v1/tenants/current/usage").await;
    let after = month().await;
    let metered = view["metered"]["api_requests_this_month"].as_u64().unwrap();
    assert!(before <= metered && metered <= after, "{before} <= {metered} <= {after}");
    assert!(metered >= 9, "at least the workload: {view}");
    assert_eq!(view["metered"]["airtable_upstream_calls_this_month"], 1, "{view}");
    assert_eq!(view["metered"]["api_errors_this_month"], 0, "{view}");

    // A flush delivered three times (as SQS may) counts once.
    let message = platform::usage::UsageMessage {
        id: "redelivered-flush".into(),
        tenant_id: owner.tenant_id.clone(),
        at_ms: storage::now_millis(),
        readings: vec![platform::usage::Reading {
            metric: "api_requests".into(),
            value: 5,
            dimensions: vec![("route".into(), "GET /redelivered".into())],
        }],
    };
    let queue = app.backend().queue(&platform::usage::queue_spec()).await.unwrap();
    for _ in 0..3 {
        queue.send(OutgoingMessage::new(serde_json::to_string(&message).unwrap())).await.unwrap();
    }
    until(app, owner, "api_requests", "route", |r| r.get("GET /redelivered").is_some()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let routes = top(app, owner, "api_requests", "route").await;
    assert_eq!(routes.get("GET /redelivered"), Some(&5), "counted once, whatever the deliveries");
}

/// Today (UTC) as `YYYY-MM-DD`.
fn chrono_today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// A receiver answering `status` to every POST; returns its URL.
async fn receiver(status: u16) -> String {
    let answer = axum::http::StatusCode::from_u16(status).unwrap();
    let app = axum::Router::new().route("/hook", axum::routing::post(move || async move { answer }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Waits until `metric` by `dimension` stops changing for 2 s; returns it.
async fn settled_top(app: &TestApp, who: &Account, metric: &str, dimension: &str) -> BTreeMap<String, u64> {
    let mut last = top(app, who, metric, dimension).await;
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while since.elapsed() < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "{metric} by {dimension} kept changing: {last:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = top(app, who, metric, dimension).await;
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

async fn webhook_attempts_and_notifications_sent_are_metered_for_their_tenant(app: TestApp) {
    let owner = register(&app).await;
    let stranger = register(&app).await;
    let endpoint = |url: String| {
        let (app, access) = (&app, owner.access.clone());
        async move {
            // Subscribed to a type nothing here emits: the tests (sent whatever the filter) are all it gets.
            let body = json!({"url": url, "event_types": ["file.ready"]});
            let created = call(app, Method::POST, "/api/v1/webhooks/endpoints", &access, Some(body)).await;
            assert_eq!(created.status(), 201);
            let created: Value = created.json().await.unwrap();
            created["endpoint"]["id"].as_str().unwrap().to_string()
        }
    };
    let (ok, failing) = (endpoint(receiver(200).await).await, endpoint(receiver(503).await).await);
    let before = settled_top(&app, &owner, "notifications_sent", "channel").await;

    // Two tests to the answering endpoint, one to the failing one (an attempt and its retry), two invitations.
    for id in [&ok, &ok, &failing] {
        let path = format!("/api/v1/webhooks/endpoints/{id}/test");
        assert_eq!(call(&app, Method::POST, &path, &owner.access, None).await.status(), 202);
    }
    for _ in 0..2 {
        let body = json!({"email": crate::support::accounts::unique_email(), "role": "member"});
        let invited = call(&app, Method::POST, "/api/v1/tenants/current/invitations", &owner.access, Some(body)).await;
        assert_eq!(invited.status(), 201);
    }

    let outcomes = until(&app, &owner, "webhook_attempts", "outcome", |o| {
        o.get("delivered") == Some(&2) && o.get("failed") == Some(&2)
    })
    .await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let by_endpoint = top(&app, &owner, "webhook_attempts", "endpoint").await;
    assert_eq!(by_endpoint, BTreeMap::from([(ok.clone(), 2), (failing.clone(), 2)]));
    let emails = before.get("email").copied().unwrap_or(0) + 2;
    until(&app, &owner, "notifications_sent", "channel", |c| c.get("email") == Some(&emails)).await;
    let after = settled_top(&app, &owner, "notifications_sent", "channel").await;
    assert_eq!(after.get("email"), Some(&emails), "each invitation's email once: {before:?} then {after:?}");
    assert!(top(&app, &stranger, "webhook_attempts", "outcome").await.is_empty(), "nothing of ours is theirs");
}
