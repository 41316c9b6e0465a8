#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

use super::*;
use crate::store::{Endpoint, Message, Status, Trigger, event_message_id};

/// An answer: status, headers, body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, &'static str);

/// What the receiver answers, in order (the last one repeats); what it received.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub answers: Arc<Mutex<VecDeque<Answer>>>,
    pub received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    pub async fn start(answers: Vec<Answer>) -> (Self, String) {
        let receiver = Self { answers: Arc::new(Mutex::new(answers.into())), ..Self::default() };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                state.received.lock().unwrap().push((headers, body));
                let mut answers = state.answers.lock().unwrap();
                let (status, headers, body) =
                    if answers.len() > 1 { answers.pop_front().unwrap() } else { answers.front().cloned().unwrap() };
                let mut response = axum::response::Response::new(axum::body::Body::from(body));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

pub(crate) struct World {
    pub state: DeliveryState,
    pub queue: Arc<dyn storage::queue::Queue>,
    pub dir: std::path::PathBuf,
}

pub(crate) async fn world(settings: WebhookSettings) -> World {
    let dir = std::env::temp_dir().join(format!("webhooks-delivery-{}", uuid::Uuid::new_v4()));
    let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
    let queue = env.queue(jobs::queue_spec());
    let keys = Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap());
    let table = events::outbox::table(env.table(crate::store::TABLE));
    let bus = Arc::new(storage::bus::embedded::EmbeddedBus::new("type".into(), Vec::new()));
    let state = DeliveryState {
        store: WebhookStore::new(table.clone()),
        events: events::Publisher::new(bus, table),
        secrets: crate::secrets::endpoint_secrets(keys),
        jobs: Jobs::new(queue.clone()),
        sender: Sender::new(settings.allowed.clone(), settings.timeout).unwrap(),
        settings,
    };
    World { state, queue, dir }
}

fn local_settings(schedule: &str) -> WebhookSettings {
    WebhookSettings {
        allowed: "127.0.0.0/8".parse().unwrap(),
        retry_schedule: schedule.parse().unwrap(),
        timeout: Duration::from_secs(5),
        ..WebhookSettings::default()
    }
}

/// An endpoint at `url` and one pending message for it; the secret and the message's job.
async fn endpoint_with_message(world: &World, url: &str) -> (secrecy::SecretString, Job) {
    endpoint_with_message_as(world, "ep_1", url).await
}

async fn endpoint_with_message_as(world: &World, id: &str, url: &str) -> (secrecy::SecretString, Job) {
    let secret = crate::signing::generate_secret().unwrap();
    let endpoint = Endpoint {
        id: id.into(),
        tenant_id: "t1".into(),
        url: url.into(),
        description: None,
        event_types: Vec::new(),
        enabled: true,
        disabled_reason: None,
        secret: world.state.secrets.seal("t1", id, &secret).await.unwrap(),
        previous_secret: None,
        previous_secret_expires_at_ms: None,
        failing_since_ms: None,
        created_by: "u1".into(),
        created_at: String::new(),
        updated_at: String::new(),
        version: 0,
    };
    world.state.store.create_endpoint(&endpoint).await.unwrap();
    let now = storage::now_millis();
    let message = Message {
        id: event_message_id("e1", now, id),
        tenant_id: "t1".into(),
        endpoint_id: id.into(),
        event_id: Some("e1".into()),
        event_type: "workspace.created".into(),
        payload: r#"{"id":"e1","type":"workspace.created"}"#.into(),
        status: Status::Pending,
        created_at_ms: now,
        attempt_count: 0,
        retries_used: 0,
        next_attempt_at_ms: Some(now),
        token: Some(new_token()),
        lease_until_ms: None,
        last_error: None,
        attempts: Vec::new(),
        version: 0,
    };
    world.state.store.create_message(&message).await.unwrap();
    (secret, Job::for_message(&message, Trigger::Event).unwrap())
}

async fn stored(world: &World, job: &Job) -> Message {
    world.state.store.message(&job.tenant, &job.endpoint, &job.message).await.unwrap().unwrap()
}

/// The one job on the queue (waiting out its delay).
async fn next_job(world: &World) -> Job {
    let received = world.queue.receive(1, Duration::from_secs(30), Duration::from_secs(5)).await.unwrap();
    assert_eq!(received.len(), 1, "one job queued");
    world.queue.delete(&received[0].receipt_handle).await.unwrap();
    serde_json::from_str(&received[0].body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_delivers_the_message_signed_with_its_id_and_the_current_secret() {
    let (receiver, url) = Receiver::start(vec![(204, vec![], "")]).await;
    let world = world(local_settings("1s")).await;
    let (secret, job) = endpoint_with_message(&world, &url).await;

    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Delivered));

    let (headers, body) = receiver.received.lock().unwrap()[0].clone();
    assert_eq!(headers["webhook-id"], job.message.as_str());
    assert_eq!(headers["content-type"], "application/json");
    let timestamp: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    assert!((storage::now_secs() - timestamp).abs() < 5);
    let expected = crate::signing::sign(&job.message, timestamp, &body, &[secret]).unwrap();
    assert_eq!(headers["webhook-signature"], expected.signature.as_str());
    let message = stored(&world, &job).await;
    assert_eq!((message.status, message.attempt_count, message.token), (Status::Delivered, 1, None));
    assert_eq!(message.attempts[0].status_code, Some(204));
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Stale, "a redelivered job sends nothing");
    assert_eq!(receiver.count(), 1);
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_schedules_retries_until_the_schedule_is_spent_then_the_message_has_failed() {
    let long = "x".repeat(5_000);
    let (receiver, url) = Receiver::start(vec![(500, vec![], long.leak())]).await;
    let world = world(local_settings("0s,1s")).await;
    let (_, job) = endpoint_with_message(&world, &url).await;

    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Failed));
    let after_first = stored(&world, &job).await;
    assert_eq!((after_first.status, after_first.retries_used), (Status::Pending, 1));
    assert_eq!(after_first.attempts[0].response.len(), http::EXCERPT_BYTES, "a kilobyte of the answer");
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Stale, "the old job is spent");
    let retry = next_job(&world).await;
    assert_eq!((retry.trigger, Some(retry.token.clone())), (Trigger::Retry, after_first.token));
    assert_eq!(process(&world.state, &retry).await.unwrap(), Handled::Attempted(Verdict::Failed));
    let last = next_job(&world).await;
    let started = std::time::Instant::now();
    assert_eq!(process(&world.state, &last).await.unwrap(), Handled::Attempted(Verdict::Failed));
    assert!(started.elapsed() < Duration::from_secs(2));

    let failed = stored(&world, &job).await;
    assert_eq!((failed.status, failed.attempt_count, failed.token), (Status::Failed, 3, None));
    assert!(failed.last_error.as_deref().unwrap().starts_with("retries exhausted"), "{:?}", failed.last_error);
    assert_eq!(receiver.count(), 3);
    let endpoint = world.state.store.endpoint("t1", "ep_1").await.unwrap().unwrap();
    assert!(endpoint.failing_since_ms.is_some() && endpoint.enabled, "failing, not yet for days");
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_postpones_the_next_attempt() {
    let (_receiver, url) = Receiver::start(vec![(503, vec![("retry-after", "120".into())], "busy")]).await;
    let world = world(local_settings("1s")).await;
    let (_, job) = endpoint_with_message(&world, &url).await;
    process(&world.state, &job).await.unwrap();
    let message = stored(&world, &job).await;
    let wait = message.next_attempt_at_ms.unwrap() - storage::now_millis();
    assert!((115_000..=121_000).contains(&wait), "next attempt in {wait} ms");
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_endpoint_and_fails_the_message_without_retries() {
    let (_receiver, url) = Receiver::start(vec![(410, vec![], "gone")]).await;
    let world = world(local_settings("1s,1s")).await;
    let (_, job) = endpoint_with_message(&world, &url).await;
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Gone));
    assert_eq!(stored(&world, &job).await.status, Status::Failed);
    let endpoint = world.state.store.endpoint("t1", "ep_1").await.unwrap().unwrap();
    assert!(!endpoint.enabled);
    assert!(endpoint.disabled_reason.unwrap().contains("410"));
    assert!(world.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_loopback_unless_allowed_and_a_redirect_to_the_metadata_address() {
    let world_refusing =
        world(WebhookSettings { allowed: crate::ssrf::AllowList::default(), ..local_settings("1s") }).await;
    let (receiver, url) = Receiver::start(vec![(200, vec![], "")]).await;
    let (_, job) = endpoint_with_message(&world_refusing, &url.replace("127.0.0.1", "localhost")).await;
    assert_eq!(process(&world_refusing.state, &job).await.unwrap(), Handled::Attempted(Verdict::Refused));
    let refused = stored(&world_refusing, &job).await;
    assert_eq!(refused.status, Status::Failed);
    assert!(refused.last_error.unwrap().contains("loopback"));
    assert_eq!(receiver.count(), 0, "nothing reached the receiver");

    let location = vec![("location", "http://169.254.169.254/latest/meta-data/".to_string())];
    let (redirecting, url) = Receiver::start(vec![(307, location, "")]).await;
    let world = world(local_settings("1s")).await;
    let (_, job) = endpoint_with_message(&world, &url).await;
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Refused));
    assert!(stored(&world, &job).await.last_error.unwrap().contains("169.254.169.254"));
    assert_eq!(redirecting.count(), 1);
    for dir in [&world.dir, &world_refusing.dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_to_an_allowed_address_at_most_three_times() {
    let (target, target_url) = Receiver::start(vec![(200, vec![], "ok")]).await;
    let (_hop, hop_url) = Receiver::start(vec![(308, vec![("location", target_url.clone())], "")]).await;
    let world = world(local_settings("1s")).await;
    let (_, job) = endpoint_with_message(&world, &hop_url).await;
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Delivered));
    assert_eq!(target.count(), 1);
    assert!(target.received.lock().unwrap()[0].0.contains_key("webhook-signature"));

    let (looping, loop_url) = Receiver::start(vec![(302, vec![("location", "/again".into())], "")]).await;
    let (_, job) = endpoint_with_message_as(&world, "ep_2", &loop_url).await;
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Attempted(Verdict::Failed));
    assert_eq!(looping.count(), 1 + http::MAX_REDIRECTS, "the first request and three redirects");
    let message = stored(&world, &job).await;
    assert!(message.attempts[0].error.as_deref().unwrap().contains("redirects"), "{:?}", message.attempts);
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_leased_by_another_attempt_waits_and_one_due_later_hops() {
    let (receiver, url) = Receiver::start(vec![(200, vec![], "")]).await;
    let world = world(local_settings("1s")).await;
    let (_, job) = endpoint_with_message(&world, &url).await;
    let message = stored(&world, &job).await;
    let leased = Message { lease_until_ms: Some(storage::now_millis() + 30_000), ..message };
    let leased = world.state.store.update_message(&leased).await.unwrap();
    assert_eq!(process(&world.state, &job).await.unwrap(), Handled::Busy);
    world.state.store.update_message(&Message { lease_until_ms: None, ..leased }).await.unwrap();

    let later = Job { due_ms: storage::now_millis() + 3_600_000, ..job.clone() };
    assert_eq!(process(&world.state, &later).await.unwrap(), Handled::Hopped);
    let hop = world.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.unwrap();
    assert!(hop.is_empty(), "sent on with SQS's longest delay, not visible now");
    assert_eq!(receiver.count(), 0);
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_both_secrets_sign() {
    let (receiver, url) = Receiver::start(vec![(200, vec![], "")]).await;
    let world = world(local_settings("1s")).await;
    let (old, job) = endpoint_with_message(&world, &url).await;
    let new = crate::signing::generate_secret().unwrap();
    let mut endpoint = world.state.store.endpoint("t1", "ep_1").await.unwrap().unwrap();
    endpoint.previous_secret = Some(endpoint.secret.clone());
    endpoint.previous_secret_expires_at_ms = Some(storage::now_millis() + 60_000);
    endpoint.secret = world.state.secrets.seal("t1", "ep_1", &new).await.unwrap();
    world.state.store.update_endpoint(&endpoint).await.unwrap();

    process(&world.state, &job).await.unwrap();

    let (headers, body) = receiver.received.lock().unwrap()[0].clone();
    let timestamp: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let both = crate::signing::sign(&job.message, timestamp, &body, &[new, old]).unwrap();
    assert_eq!(headers["webhook-signature"], both.signature.as_str());
    assert_eq!(both.signature.split(' ').count(), 2);
    let _ = std::fs::remove_dir_all(&world.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_reports_only_the_jobs_that_failed() {
    let world = world(local_settings("1s")).await;
    let mut event = SqsEvent::default();
    for (id, body) in [
        ("good", r#"{"tenant":"t1","endpoint":"ep_x","message":"msg_x","token":"t","due_ms":0,"trigger":"event"}"#),
        ("poison", "not a job"),
    ] {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body.into());
        event.records.push(record);
    }
    let response = handle(&world.state, event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison"], "a job for a missing message is stale, not a failure");
    let _ = std::fs::remove_dir_all(&world.dir);
}
