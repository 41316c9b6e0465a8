//! The queue port's suite: each case is written once against a [`Backend`] that opens queues, and run on
//! the embedded adapter (redb in a temporary directory) and on the SQS adapter (fresh queues in moto).
//! Visibility timeouts are 1–2 s, so waiting them out keeps the suite fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storage::StoreError;
use storage::embedded::EmbeddedEnv;
use storage::queue::aws::{SqsQueue, ensure_queue};
use storage::queue::{DeadLetter, MAX_BODY_BYTES, MAX_DELAY, OutgoingMessage, Queue, QueueSpec, ReceivedMessage};

use crate::support;

const NO_WAIT: Duration = Duration::ZERO;
const SECOND: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(30);

enum Backend {
    /// The directory lives as long as the store in it.
    Embedded {
        env: EmbeddedEnv,
        _dir: support::TempDir,
    },
    Aws(aws_sdk_sqs::Client),
}

impl Backend {
    async fn embedded() -> Self {
        let dir = support::TempDir::new();
        Self::Embedded { env: EmbeddedEnv::open(&dir.0).unwrap(), _dir: dir }
    }

    async fn aws() -> Self {
        Self::Aws(storage::aws::sqs(&support::moto_config().await))
    }

    async fn open(&self, spec: QueueSpec) -> Arc<dyn Queue> {
        match self {
            Self::Embedded { env, .. } => env.queue(spec),
            Self::Aws(client) => {
                let url = ensure_queue(client, &spec).await.unwrap();
                Arc::new(SqsQueue::new(client.clone(), spec.name, url))
            }
        }
    }

    async fn queue(&self) -> Arc<dyn Queue> {
        self.open(QueueSpec { name: support::unique("queue"), dead_letter: None }).await
    }
}

macro_rules! suite {
    ($($case:ident),+ $(,)?; embedded only: $($local:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(&super::Backend::embedded().await).await;
            })+
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $local() {
                super::$local(&super::Backend::embedded().await).await;
            })*
        }
        mod aws {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(&super::Backend::aws().await).await;
            })+
        }
    };
}

suite!(
    send_receive_delete_round_trip_keeps_attributes,
    a_batch_of_25_is_sent_and_delivered_whole,
    an_undeleted_message_comes_back_after_its_visibility_timeout_and_not_before,
    a_deleted_message_never_comes_back,
    a_message_moves_to_the_dead_letter_queue_after_max_receives,
    a_long_poll_returns_as_soon_as_a_message_arrives,
    empty_or_oversized_bodies_and_bad_receives_are_invalid,
    two_consumers_never_receive_the_same_message_within_its_visibility,
    a_delayed_message_is_received_after_its_delay_and_not_before,
    ready_succeeds;
    // SQS only says a superseded receipt handle "might not" delete the message, and moto deletes with any
    // handle the message ever had; the embedded queue makes the stronger promise, tested here.
    embedded only: a_stale_receipt_cannot_delete_a_redelivered_message,
);

async fn receive_all(q: &dyn Queue, count: usize, visibility: Duration) -> Vec<ReceivedMessage> {
    let (mut all, deadline) = (Vec::new(), Instant::now() + Duration::from_secs(10));
    while all.len() < count && Instant::now() < deadline {
        all.extend(q.receive(10, visibility, SECOND).await.unwrap());
    }
    all
}

async fn send_receive_delete_round_trip_keeps_attributes(b: &Backend) {
    let q = b.queue().await;
    let before = storage::now_millis();
    let message = OutgoingMessage::new(r#"{"job":"sync","base":"app1"}"#).attribute("request_id", "req-1");
    let id = q.send(message.clone().attribute("tenant", "t-1")).await.unwrap();

    let received = q.receive(10, LONG, SECOND).await.unwrap();

    assert_eq!(received.len(), 1);
    let m = &received[0];
    assert_eq!((m.message_id.as_str(), m.body.as_str(), m.receive_count), (id.as_str(), message.body.as_str(), 1));
    assert_eq!(m.attributes, message.attribute("tenant", "t-1").attributes);
    assert!((before - 1000..=storage::now_millis() + 1000).contains(&m.sent_at_millis), "{}", m.sent_at_millis);
    q.delete(&m.receipt_handle).await.unwrap();
    assert_eq!(q.receive(10, LONG, NO_WAIT).await.unwrap(), []);
}

async fn a_batch_of_25_is_sent_and_delivered_whole(b: &Backend) {
    let q = b.queue().await;
    let bodies: Vec<String> = (0..25).map(|i| format!("message {i}")).collect();

    let ids = q.send_batch(bodies.iter().map(|b| OutgoingMessage::new(b).attribute("n", b)).collect()).await.unwrap();
    let received = receive_all(&*q, 25, LONG).await;

    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25);
    let by_id: HashSet<_> = received.iter().map(|m| (m.message_id.clone(), m.body.clone())).collect();
    assert_eq!(by_id, ids.into_iter().zip(bodies).collect::<HashSet<_>>());
    assert!(received.iter().all(|m| m.attributes["n"] == m.body));
    assert_eq!(received.len(), 25, "no duplicates within the visibility timeout");
}

async fn an_undeleted_message_comes_back_after_its_visibility_timeout_and_not_before(b: &Backend) {
    let q = b.queue().await;
    let id = q.send(OutgoingMessage::new("work")).await.unwrap();
    let first = q.receive(1, 2 * SECOND, SECOND).await.unwrap();
    let received_at = Instant::now();
    assert_eq!(first.len(), 1);

    assert_eq!(q.receive(1, 2 * SECOND, NO_WAIT).await.unwrap(), []);
    assert_eq!(q.receive(1, 2 * SECOND, SECOND).await.unwrap(), [], "still invisible 1 s in");
    assert!(received_at.elapsed() < 2 * SECOND, "the test itself ran too slowly to prove anything");
    tokio::time::sleep((2 * SECOND + Duration::from_millis(200)).saturating_sub(received_at.elapsed())).await;
    let again = q.receive(1, 2 * SECOND, SECOND).await.unwrap();

    assert_eq!(again.len(), 1);
    assert_eq!((again[0].message_id.as_str(), again[0].receive_count), (id.as_str(), 2));
    assert_ne!(again[0].receipt_handle, first[0].receipt_handle);
}

async fn a_deleted_message_never_comes_back(b: &Backend) {
    let q = b.queue().await;
    q.send(OutgoingMessage::new("once")).await.unwrap();
    let received = q.receive(1, SECOND, SECOND).await.unwrap();

    q.delete(&received[0].receipt_handle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    assert_eq!(q.receive(10, SECOND, SECOND).await.unwrap(), []);
    q.delete(&received[0].receipt_handle).await.unwrap();
}

async fn a_message_moves_to_the_dead_letter_queue_after_max_receives(b: &Backend) {
    let dlq_name = support::unique("dlq");
    let dead_letter = Some(DeadLetter { queue: dlq_name.clone(), max_receive_count: 2 });
    let q = b.open(QueueSpec { name: support::unique("queue"), dead_letter }).await;
    let dlq = b.open(QueueSpec { name: dlq_name, dead_letter: None }).await;
    let id = q.send(OutgoingMessage::new("poison").attribute("k", "v")).await.unwrap();

    for attempt in 1..=2 {
        let received = q.receive(1, SECOND, 2 * SECOND).await.unwrap();
        assert_eq!(received.len(), 1, "attempt {attempt}");
        assert_eq!(received[0].receive_count, attempt);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert_eq!(q.receive(10, SECOND, SECOND).await.unwrap(), [], "a third delivery");
    let dead = dlq.receive(10, LONG, 2 * SECOND).await.unwrap();

    // Receive counts after the move are not part of the contract (both carry the source's count on).
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].message_id.as_str(), dead[0].body.as_str()), (id.as_str(), "poison"));
    assert_eq!(dead[0].attributes["k"], "v");
    assert_eq!(q.receive(10, SECOND, NO_WAIT).await.unwrap(), []);
}

async fn a_long_poll_returns_as_soon_as_a_message_arrives(b: &Backend) {
    let q = b.queue().await;
    let started = Instant::now();
    assert_eq!(q.receive(1, LONG, SECOND).await.unwrap(), []);
    assert!(started.elapsed() >= Duration::from_millis(900), "an empty long poll waits its whole window");

    let started = Instant::now();
    let (received, _) = tokio::join!(q.receive(1, LONG, 10 * SECOND), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        q.send(OutgoingMessage::new("wake up")).await.unwrap()
    });

    let elapsed = started.elapsed();
    assert_eq!(received.unwrap().len(), 1);
    assert!(elapsed >= Duration::from_millis(450) && elapsed < 5 * SECOND, "returned after {elapsed:?}");
}

async fn empty_or_oversized_bodies_and_bad_receives_are_invalid(b: &Backend) {
    let q = b.queue().await;
    let too_big = "x".repeat(MAX_BODY_BYTES + 1);
    for body in ["", too_big.as_str()] {
        let result = q.send(OutgoingMessage::new(body)).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{} bytes: {result:?}", body.len());
    }
    let mut batch: Vec<_> = (0..12).map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
    batch.push(OutgoingMessage::new(""));
    let result = q.send_batch(batch).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    for (max, wait) in [(0, NO_WAIT), (11, NO_WAIT), (1, 21 * SECOND)] {
        let result = q.receive(max, SECOND, wait).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "max {max}, wait {wait:?}: {result:?}");
    }
    assert_eq!(q.receive(10, SECOND, NO_WAIT).await.unwrap(), [], "a refused batch sends nothing");

    q.send(OutgoingMessage::new("x".repeat(MAX_BODY_BYTES))).await.unwrap();
    assert_eq!(q.receive(1, SECOND, SECOND).await.unwrap()[0].body.len(), MAX_BODY_BYTES);
}

async fn two_consumers_never_receive_the_same_message_within_its_visibility(b: &Backend) {
    let q = b.queue().await;
    let total = 30;
    q.send_batch((0..total).map(|i| OutgoingMessage::new(format!("m{i}"))).collect()).await.unwrap();
    let seen = Mutex::new(Vec::new());
    let consumer = || async {
        let deadline = Instant::now() + Duration::from_secs(15);
        while seen.lock().unwrap().len() < total && Instant::now() < deadline {
            let received = q.receive(3, LONG, Duration::from_millis(200)).await.unwrap();
            seen.lock().unwrap().extend(received.into_iter().map(|m| m.message_id));
        }
    };

    tokio::join!(consumer(), consumer());

    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), total, "every message delivered");
    assert_eq!(seen.len(), total, "no message delivered twice");
}

async fn a_delayed_message_is_received_after_its_delay_and_not_before(b: &Backend) {
    let q = b.queue().await;
    let sent_at = Instant::now();
    q.send(OutgoingMessage::new("later").delay(2 * SECOND)).await.unwrap();
    q.send_batch(vec![OutgoingMessage::new("now"), OutgoingMessage::new("later too").delay(2 * SECOND)]).await.unwrap();

    let first = q.receive(10, LONG, SECOND).await.unwrap();
    assert_eq!(first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["now"], "only the undelayed one");
    assert_eq!(q.receive(10, LONG, NO_WAIT).await.unwrap(), []);
    assert!(sent_at.elapsed() < 2 * SECOND, "the test itself ran too slowly to prove anything");
    let later = receive_all(&*q, 2, LONG).await;

    let mut bodies: Vec<&str> = later.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["later", "later too"]);
    assert!(sent_at.elapsed() >= Duration::from_millis(1900), "received after {:?}", sent_at.elapsed());
    let too_long = q.send(OutgoingMessage::new("never").delay(MAX_DELAY + SECOND)).await;
    assert!(matches!(too_long, Err(StoreError::Invalid(_))), "{too_long:?}");
}

async fn ready_succeeds(b: &Backend) {
    b.queue().await.ready().await.unwrap();
}

async fn a_stale_receipt_cannot_delete_a_redelivered_message(b: &Backend) {
    let q = b.queue().await;
    q.send(OutgoingMessage::new("slow job")).await.unwrap();
    let stale = q.receive(1, SECOND, SECOND).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let current = q.receive(1, SECOND, SECOND).await.unwrap().remove(0);

    q.delete(&stale.receipt_handle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let again = q.receive(1, SECOND, SECOND).await.unwrap();
    assert_eq!(again.len(), 1, "the stale receipt deleted the message");
    assert_eq!((again[0].message_id.as_str(), again[0].receive_count), (current.message_id.as_str(), 3));
    let malformed = q.delete("not a receipt").await;
    assert!(matches!(malformed, Err(StoreError::Invalid(_))), "{malformed:?}");
}
