#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

pub(crate) fn store() -> (WebhookStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("webhooks-store-{}", uuid::Uuid::new_v4()));
    let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
    (WebhookStore::new(env.table(TABLE)), dir)
}

pub(crate) fn message(tenant: &str, endpoint: &str, id: String, at_ms: i64) -> Message {
    Message {
        id,
        tenant_id: tenant.into(),
        endpoint_id: endpoint.into(),
        event_id: Some("e1".into()),
        event_type: "workspace.created".into(),
        payload: "{}".into(),
        status: Status::Pending,
        created_at_ms: at_ms,
        attempt_count: 0,
        retries_used: 0,
        next_attempt_at_ms: Some(at_ms),
        token: Some("t".into()),
        lease_until_ms: None,
        last_error: None,
        attempts: Vec::new(),
        version: 0,
    }
}

#[test]
fn message_ids_sort_by_time_and_are_a_function_of_event_and_endpoint() {
    let a = event_message_id("e1", 1_000, "ep1");
    assert_eq!(a, event_message_id("e1", 1_000, "ep1"));
    assert_ne!(a, event_message_id("e1", 1_000, "ep2"));
    assert!(event_message_id("e2", 999, "ep1") < a && a < event_message_id("e0", 1_001, "ep1"));
    assert!(access::is_valid_id(&a) && a.len() == 36, "{a}");
    assert!(first_id_at(1_000) <= a && first_id_at(1_001) > a);
}

#[tokio::test]
async fn a_message_is_created_once_and_found_by_id_alone() {
    let (store, dir) = store();
    let now = storage::now_millis();
    let m = message("t1", "ep1", event_message_id("e1", now, "ep1"), now);
    assert!(matches!(store.create_message(&m).await.unwrap(), Created::New(_)));
    assert_eq!(store.create_message(&m).await.unwrap(), Created::Existing);
    let found = store.locate_message("t1", &m.id).await.unwrap().unwrap();
    assert_eq!((found.endpoint_id.as_str(), found.version), ("ep1", 1));
    assert!(store.locate_message("t2", &m.id).await.unwrap().is_none(), "another tenant's id");
    let stale = found.clone();
    store.update_message(&Message { status: Status::Delivered, ..found }).await.unwrap();
    assert!(matches!(store.update_message(&stale).await, Err(StoreFailure::Conflict)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn messages_list_newest_first_and_since_a_time_oldest_first() {
    let (store, dir) = store();
    // Within the retention: older messages have expired (TTL).
    let base = storage::now_millis() - 10_000;
    for (i, at) in [1_000, 2_000, 3_000, 4_000].into_iter().map(|t| base + t).enumerate() {
        let m = message("t1", "ep1", event_message_id(&format!("e{i}"), at, "ep1"), at);
        store.create_message(&m).await.unwrap();
    }
    store
        .create_message(&message("t1", "ep2", event_message_id("x", base + 2_500, "ep2"), base + 2_500))
        .await
        .unwrap();
    let first = store.messages("t1", "ep1", 3, None).await.unwrap();
    let times: Vec<i64> = first.items.iter().map(|m| m.created_at_ms - base).collect();
    assert_eq!(times, [4_000, 3_000, 2_000]);
    let rest = store.messages("t1", "ep1", 3, first.next_cursor).await.unwrap();
    assert_eq!(rest.items.iter().map(|m| m.created_at_ms - base).collect::<Vec<_>>(), [1_000]);
    assert!(rest.next_cursor.is_none());
    let since = store.messages_since("t1", "ep1", base + 2_000, 10, None).await.unwrap();
    assert_eq!(since.items.iter().map(|m| m.created_at_ms - base).collect::<Vec<_>>(), [2_000, 3_000, 4_000]);
    std::fs::remove_dir_all(dir).unwrap();
}
