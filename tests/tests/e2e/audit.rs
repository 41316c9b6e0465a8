//! The audit trail: every auth and user action reaches the audit table through the events queue (the
//! runner's poller calling the consumer), once; who may read it; and the consumer's own guarantees
//! (redelivery, poison messages) driven directly against both storage sets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use events::{Action, Event, Origin};
use reqwest::Method;
use serde_json::{Value, json};
use storage::backend::{Backend, StorageMode, StorageSettings};

use crate::support::accounts::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, call, eventually, get_as, join, login, login_ok, register, unique_email,
    with_admin,
};
use crate::support::{Adapters, TestApp, assert_error};

async fn entries(app: &TestApp, query: &str, credential: &str) -> Value {
    let response = get_as(app, &format!("/api/v1/audit-logs?{query}"), credential).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// How many entries of each action the query finds (100 at most).
async fn counts(app: &TestApp, query: &str, credential: &str) -> BTreeMap<String, usize> {
    let page = entries(app, &format!("{query}&limit=100"), credential).await;
    let mut counts = BTreeMap::new();
    for entry in page["audit_logs"].as_array().unwrap() {
        *counts.entry(entry["action"].as_str().unwrap().to_string()).or_default() += 1;
    }
    counts
}

crate::both_adapters!(groups ["auth", "users", "tenants", "audit"];
    tenant_admins_read_only_their_tenant_and_members_nothing,
    audit_logs_filter_by_action_and_page_with_a_cursor,
);

crate::both_adapters_with!(as_platform_admin, with_admin;
    every_auth_and_user_action_leaves_exactly_one_entry_with_its_request_id,
    the_platform_admin_reads_every_tenant_and_tenantless_entries,
);

async fn every_auth_and_user_action_leaves_exactly_one_entry_with_its_request_id(app: TestApp) {
    let email = unique_email();
    let registered = app
        .client
        .post(app.at("/api/v1/auth/register"))
        .header("X-Request-ID", "register-req-1")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let user_id = registered.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_string();
    assert_eq!(login(&app, &email, "wrong wrong wrong").await.status(), 401);
    let session = login_ok(&app, &email, PASSWORD).await;
    let rotated: Value =
        app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": session.refresh})).await.json().await.unwrap();
    let key: Value = call(&app, Method::POST, "/api/v1/auth/api-keys", &session.access, Some(json!({"name": "k"})))
        .await
        .json()
        .await
        .unwrap();
    let key_path = format!("/api/v1/auth/api-keys/{}", key["id"].as_str().unwrap());
    assert_eq!(call(&app, Method::DELETE, &key_path, &session.access, None).await.status(), 204);
    let version =
        get_as(&app, "/api/v1/users/me", &session.access).await.json::<Value>().await.unwrap()["version"].clone();
    let body = json!({"version": version, "first_name": "Audited"});
    assert_eq!(call(&app, Method::PUT, "/api/v1/users/me", &session.access, Some(body)).await.status(), 200);
    let logout = json!({"refresh_token": rotated["refresh_token"]});
    assert_eq!(app.post_json("/api/v1/auth/logout", &logout).await.status(), 204);
    // Reuse of a rotated token in another session revokes that session.
    let second = login_ok(&app, &email, PASSWORD).await;
    assert_eq!(app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": second.refresh})).await.status(), 200);
    assert_eq!(app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": second.refresh})).await.status(), 401);
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        call(&app, Method::DELETE, &format!("/api/v1/users/{user_id}"), &admin.access, None).await.status(),
        204
    );

    let expected: BTreeMap<String, usize> = [
        ("user.registered", 1),
        ("auth.login_failed", 1),
        ("auth.login_succeeded", 2),
        ("auth.token_refreshed", 2),
        ("api_key.created", 1),
        ("api_key.revoked", 1),
        ("user.updated", 1),
        ("auth.logged_out", 1),
        ("auth.session_revoked", 1),
        ("user.deleted", 1),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_string(), n))
    .collect();
    let total: usize = expected.values().sum();
    let query = format!("user_id={user_id}");
    eventually(|| async { counts(&app, &query, &admin.access).await.values().sum::<usize>() >= total }).await;
    // Give a duplicate time to show up, were the consumer not idempotent.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(counts(&app, &query, &admin.access).await, expected);

    let registered = entries(&app, &format!("{query}&action=user.registered"), &admin.access).await;
    let entry = &registered["audit_logs"][0];
    assert_eq!(entry["request_id"], "register-req-1");
    assert_eq!(entry["actor_id"], user_id.as_str());
    assert!(entry["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let deleted = entries(&app, &format!("{query}&action=user.deleted"), &admin.access).await;
    assert_eq!(deleted["audit_logs"][0]["actor_id"], admin.user_id.as_str());
}

async fn tenant_admins_read_only_their_tenant_and_members_nothing(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    eventually(|| async {
        !entries(&app, "action=user.registered", &a.access).await["audit_logs"].as_array().unwrap().is_empty()
    })
    .await;
    let page = entries(&app, "limit=100", &a.access).await;
    let logs = page["audit_logs"].as_array().unwrap();
    assert!(logs.iter().all(|e| e["tenant_id"] == a.tenant_id.as_str()), "{page}");
    assert!(!page.to_string().contains(&b.user_id));
    // Asking for another tenant's user finds nothing rather than an error.
    assert!(
        entries(&app, &format!("user_id={}", b.user_id), &a.access).await["audit_logs"].as_array().unwrap().is_empty()
    );

    // A member of the tenant (joined by invitation) reads nothing.
    let member = join(&app, &a.access, "member").await;
    assert_error(get_as(&app, "/api/v1/audit-logs", &member.access).await, 403, "forbidden").await;
}

async fn audit_logs_filter_by_action_and_page_with_a_cursor(app: TestApp) {
    let account = register(&app).await;
    for _ in 0..3 {
        login_ok(&app, &account.email, PASSWORD).await;
    }
    let query = "action=auth.login_succeeded";
    eventually(|| async { counts(&app, query, &account.access).await.get("auth.login_succeeded") == Some(&3) }).await;

    let mut seen = Vec::new();
    let mut page = entries(&app, &format!("{query}&limit=2"), &account.access).await;
    loop {
        let logs = page["audit_logs"].as_array().unwrap();
        assert!(logs.len() <= 2 && logs.iter().all(|e| e["action"] == "auth.login_succeeded"));
        seen.extend(logs.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        page = entries(&app, &format!("{query}&limit=2&cursor={cursor}"), &account.access).await;
    }
    assert_eq!(seen.len(), 3);
    seen.dedup();
    assert_eq!(seen.len(), 3);
    assert_error(get_as(&app, "/api/v1/audit-logs?action=user.exploded", &account.access).await, 400, "invalid_action")
        .await;
}

async fn the_platform_admin_reads_every_tenant_and_tenantless_entries(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    let stranger = unique_email();
    assert_eq!(login(&app, &stranger, "wrong wrong wrong").await.status(), 401);
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for user in [&a.user_id, &b.user_id] {
        let query = format!("user_id={user}&action=user.registered");
        eventually(|| async {
            !entries(&app, &query, &admin.access).await["audit_logs"].as_array().unwrap().is_empty()
        })
        .await;
    }
    let failed =
        |page: Value| page["audit_logs"].as_array().unwrap().iter().any(|e| e["details"]["email"] == stranger.as_str());
    eventually(|| async { failed(entries(&app, "action=auth.login_failed&limit=100", &admin.access).await) }).await;
}

/// Storage for driving the consumer directly (fresh tables, as the runner's would be).
/// Storage as the audit-consumer binary may open it.
async fn backend(adapters: Adapters) -> (platform::group::Resources, PathBuf) {
    let unique = format!("t{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(format!("pyairtable-e2e-{unique}"));
    let mut storage = StorageSettings::defaults(StorageMode::Embedded);
    storage.data_dir = dir.clone();
    storage.table_prefix = format!("{unique}-");
    if let Adapters::Aws = adapters {
        storage.mode = StorageMode::Aws;
        storage.provision = true;
        storage.aws.endpoint_url = Some(std::env::var("MOTO_ENDPOINT_URL").unwrap());
        storage.aws.region = Some("us-east-1".into());
    }
    let backend = std::sync::Arc::new(Backend::open(&storage).await.unwrap());
    (platform::group::Resources::for_function(backend, audit::GROUP.function("audit-consumer").unwrap()), dir)
}

fn message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.into());
    message.body = Some(body.into());
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some("req-redelivered".into());
    attribute.data_type = Some("String".into());
    message.message_attributes.insert(events::REQUEST_ID_ATTRIBUTE.into(), attribute);
    message
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

macro_rules! consumer_scenarios {
    ($($name:ident),* $(,)?) => {
        mod consumer {
            mod embedded {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::super::$name(crate::support::Adapters::Embedded).await; })*
            }
            mod aws {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::super::$name(crate::support::Adapters::Aws).await; })*
            }
        }
    };
}

consumer_scenarios!(
    an_event_delivered_twice_is_recorded_once,
    a_poison_message_is_reported_alone_for_redelivery,
    a_consumer_killed_mid_batch_loses_nothing_and_repeats_no_effect,
);

async fn an_event_delivered_twice_is_recorded_once(adapters: Adapters) {
    let (backend, dir) = backend(adapters).await;
    let state = audit::AuditState::build(&backend).await.unwrap();
    let origin = Origin { request_id: "req-redelivered".into(), ip: Some("198.51.100.7".into()) };
    let event = Event::new(Action::LoggedOut, &origin).tenant("tenant-1").actor("user-1");
    let body = serde_json::to_string(&event).unwrap();

    // In one batch (SQS may hand the same message twice) and again in a later one (redelivery).
    let first = audit::consumer::handle(&state, batch(vec![message("m1", &body), message("m1-dup", &body)])).await;
    let second = audit::consumer::handle(&state, batch(vec![message("m1-again", &body)])).await;
    assert!(first.batch_item_failures.is_empty() && second.batch_item_failures.is_empty());

    let scope = audit::store::Scope::Tenant("tenant-1".into());
    let listed = state.store.list(&scope, &audit::store::Filter::default(), 10, None).await.unwrap();
    assert_eq!(listed.events, vec![event]);
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_poison_message_is_reported_alone_for_redelivery(adapters: Adapters) {
    let (backend, dir) = backend(adapters).await;
    let state = audit::AuditState::build(&backend).await.unwrap();
    let origin = Origin { request_id: "req-ok".into(), ip: None };
    let good = serde_json::to_string(&Event::new(Action::Registered, &origin).tenant("tenant-2").actor("u")).unwrap();
    let response =
        audit::consumer::handle(&state, batch(vec![message("poison", "{not json"), message("good", &good)])).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, vec!["poison"]);
    let scope = audit::store::Scope::Tenant("tenant-2".into());
    let listed = state.store.list(&scope, &audit::store::Filter::default(), 10, None).await.unwrap();
    assert_eq!(listed.events.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// The consumer dies mid-batch: it has recorded half the batch and deleted nothing. The queue hands the whole
/// batch back after its visibility timeout; the next run records the rest, and the half already recorded is
/// not recorded twice.
async fn a_consumer_killed_mid_batch_loses_nothing_and_repeats_no_effect(adapters: Adapters) {
    use std::time::Duration;
    use storage::queue::OutgoingMessage;

    let (resources, dir) = backend(adapters).await;
    let state = audit::AuditState::build(&resources).await.unwrap();
    let queue = resources.queue(&events::routing::queue_spec(events::routing::AUDIT)).await.unwrap();
    let tenant = format!("tenant-{}", uuid::Uuid::new_v4().simple());
    let origin = Origin { request_id: "req-batch".into(), ip: None };
    let mut sent = Vec::new();
    for _ in 0..6 {
        let event = Event::new(Action::UserUpdated, &origin).tenant(&tenant).actor("u1");
        queue.send(OutgoingMessage::new(serde_json::to_string(&event).unwrap())).await.unwrap();
        sent.push(event.event_id);
    }
    let to_sqs = |m: &storage::queue::ReceivedMessage| message(&m.message_id, &m.body);
    let mut first = Vec::new();
    while first.len() < 6 {
        first.extend(queue.receive(10, Duration::from_secs(2), Duration::from_secs(1)).await.unwrap());
    }
    // Killed after handling three: nothing reported, nothing deleted.
    let handled = audit::consumer::handle(&state, batch(first.iter().take(3).map(to_sqs).collect())).await;
    assert!(handled.batch_item_failures.is_empty());
    // The queue gives everything back; this run completes the batch and deletes what succeeded.
    let mut again = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while again.len() < 6 && std::time::Instant::now() < deadline {
        again.extend(queue.receive(10, Duration::from_secs(30), Duration::from_secs(1)).await.unwrap());
    }
    assert_eq!(again.len(), 6, "every message came back");
    let response = audit::consumer::handle(&state, batch(again.iter().map(to_sqs).collect())).await;
    assert!(response.batch_item_failures.is_empty());
    for m in &again {
        queue.delete(&m.receipt_handle).await.unwrap();
    }
    let scope = audit::store::Scope::Tenant(tenant);
    let listed = state.store.list(&scope, &audit::store::Filter::default(), 100, None).await.unwrap();
    let mut recorded: Vec<String> = listed.events.into_iter().map(|e| e.event_id).collect();
    recorded.sort();
    sent.sort();
    assert_eq!(recorded, sent, "each event exactly once");
    assert!(queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.unwrap().is_empty(), "nothing left");
    let _ = std::fs::remove_dir_all(dir);
}
