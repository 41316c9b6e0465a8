#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::sqs::SqsMessage;
use events::{Action, Origin};

use super::*;
use crate::store::Endpoint;

fn endpoint(id: &str, types: &[&str], enabled: bool) -> Endpoint {
    Endpoint {
        id: id.into(),
        tenant_id: "t1".into(),
        url: "https://hooks.example.com/in".into(),
        description: None,
        event_types: types.iter().map(|t| t.to_string()).collect(),
        enabled,
        disabled_reason: None,
        secret: "sealed".into(),
        previous_secret: None,
        previous_secret_expires_at_ms: None,
        failing_since_ms: None,
        created_by: "u1".into(),
        created_at: String::new(),
        updated_at: String::new(),
        version: 0,
    }
}

fn state() -> (FanoutState, std::sync::Arc<dyn storage::queue::Queue>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("webhooks-fanout-{}", uuid::Uuid::new_v4()));
    let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
    let queue = env.queue(jobs::queue_spec());
    (FanoutState { store: WebhookStore::new(env.table(store::TABLE)), jobs: Jobs::new(queue.clone()) }, queue, dir)
}

fn event(tenant: Option<&str>) -> Event {
    let mut event = Event::new(Action::WorkspaceCreated, &Origin { request_id: "r1".into(), ip: None })
        .actor("u1")
        .detail("workspace_id", "w1");
    event.tenant_id = tenant.map(String::from);
    event
}

fn sqs(records: &[(&str, String)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (id, body) in records {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.to_string());
        record.body = Some(body.clone());
        event.records.push(record);
    }
    event
}

#[tokio::test]
async fn an_event_reaches_each_enabled_endpoint_whose_filter_takes_it_once_however_often_it_arrives() {
    let (state, queue, dir) = state();
    for e in [
        endpoint("ep_all", &[], true),
        endpoint("ep_ws", &["workspace.created"], true),
        endpoint("ep_other", &["user.updated"], true),
        endpoint("ep_off", &[], false),
    ] {
        state.store.create_endpoint(&e).await.unwrap();
    }
    let event = event(Some("t1"));
    let body = serde_json::to_string(&event).unwrap();

    let response = handle(&state, sqs(&[("m1", body.clone()), ("poison", "{}".into())])).await;

    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison"]);
    let jobs = queue.receive(10, std::time::Duration::from_secs(30), std::time::Duration::ZERO).await.unwrap();
    let mut endpoints: Vec<String> =
        jobs.iter().map(|m| serde_json::from_str::<Job>(&m.body).unwrap().endpoint).collect();
    endpoints.sort();
    assert_eq!(endpoints, ["ep_all", "ep_ws"]);
    let listed = state.store.messages("t1", "ep_ws", 10, None).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    let payload: serde_json::Value = serde_json::from_str(&listed[0].payload).unwrap();
    assert_eq!(payload["id"], event.event_id.as_str(), "the envelope as published");
    assert_eq!(payload["type"], "workspace.created");
    assert_eq!(payload["data"]["workspace_id"], "w1");

    // Redelivered before any attempt: no second message, the job again (the first may never have gone out).
    let again = fan_out(&state.store, &event).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(state.store.messages("t1", "ep_ws", 10, None).await.unwrap().items.len(), 1);
    // Once attempted, a redelivery changes nothing.
    let mut attempted = listed[0].clone();
    attempted.attempt_count = 1;
    attempted.status = Status::Delivered;
    state.store.update_message(&attempted).await.unwrap();
    let after = fan_out(&state.store, &event).await.unwrap();
    assert_eq!(after.iter().map(|j| j.endpoint.as_str()).collect::<Vec<_>>(), ["ep_all"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_event_of_no_tenant_or_of_another_tenant_reaches_nothing() {
    let (state, _, dir) = state();
    state.store.create_endpoint(&endpoint("ep_all", &[], true)).await.unwrap();
    assert!(fan_out(&state.store, &event(None)).await.unwrap().is_empty());
    assert!(fan_out(&state.store, &event(Some("t2"))).await.unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
