#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use storage::StoreResult;
use storage::queue::ReceivedMessage;

use super::*;

/// A queue that keeps what it was sent, and refuses everything while `down`. (The meter's own logic is under
/// test here; the real queues are the conformance suite's and the end-to-end tests'.)
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<UsageMessage>>,
    down: AtomicBool,
}

#[async_trait]
impl Queue for Recording {
    fn name(&self) -> &str {
        QUEUE
    }
    async fn send(&self, message: OutgoingMessage) -> StoreResult<String> {
        if self.down.load(Ordering::SeqCst) {
            return Err(storage::StoreError::Unexpected(anyhow::anyhow!("down")));
        }
        self.sent.lock().unwrap().push(serde_json::from_str(&message.body).unwrap());
        Ok("id".into())
    }
    async fn send_batch(&self, _: Vec<OutgoingMessage>) -> StoreResult<Vec<String>> {
        unreachable!("the meter sends each message alone")
    }
    async fn receive(&self, _: usize, _: Duration, _: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> StoreResult<()> {
        Ok(())
    }
    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// (tenant, metric, value, dimensions) of every reading sent, sorted.
type Totals = Vec<(String, String, u64, Vec<(String, String)>)>;

fn totals(sent: &[UsageMessage]) -> Totals {
    let mut out: Vec<_> = sent
        .iter()
        .flat_map(|m| m.readings.iter().map(|r| (m.tenant_id.clone(), r.metric.clone(), r.value, r.dimensions.clone())))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn readings_are_summed_per_tenant_and_dimensions_and_sent_once_per_tenant() {
    let queue = Arc::new(Recording::default());
    let meter = Meter::new(queue.clone(), Duration::from_secs(3600));
    assert!(!meter.due(), "nothing waits");
    for _ in 0..3 {
        meter.add("t1", API_REQUESTS, 1, &[("route", "GET /a"), ("status", "200")]);
    }
    meter.add("t1", API_REQUESTS, 1, &[("route", "GET /a"), ("status", "404")]);
    meter.add("t2", API_LATENCY_MS, 7, &[("route", "GET /a")]);
    meter.add("t2", API_LATENCY_MS, 0, &[("route", "GET /b")]);
    assert!(!meter.due(), "not yet an interval old");
    assert_eq!(meter.flush().await, 2, "one message per tenant");
    let sent = queue.sent.lock().unwrap().clone();
    let dims = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(
        totals(&sent),
        vec![
            ("t1".into(), API_REQUESTS.into(), 1, dims(&[("route", "GET /a"), ("status", "404")])),
            ("t1".into(), API_REQUESTS.into(), 3, dims(&[("route", "GET /a"), ("status", "200")])),
            ("t2".into(), API_LATENCY_MS.into(), 7, dims(&[("route", "GET /a")])),
        ]
    );
    assert_ne!(sent[0].id, sent[1].id, "each message has an id of its own");
    assert!(sent.iter().all(|m| m.at_ms % 3_600_000 == 0), "stamped with its hour");
    assert_eq!(meter.flush().await, 0, "sent once");
}

#[tokio::test]
async fn what_the_queue_refused_waits_for_the_next_flush_and_a_flush_is_due_by_age_or_size() {
    let queue = Arc::new(Recording::default());
    let meter = Meter::new(queue.clone(), Duration::from_millis(20));
    meter.add("t1", API_ERRORS, 2, &[("route", "GET /a"), ("status", "500")]);
    queue.down.store(true, Ordering::SeqCst);
    assert_eq!(meter.flush().await, 0);
    meter.add("t1", API_ERRORS, 1, &[("route", "GET /a"), ("status", "500")]);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(meter.due(), "the oldest reading is an interval old");
    queue.down.store(false, Ordering::SeqCst);
    assert_eq!(meter.flush().await, 1);
    let sent = queue.sent.lock().unwrap().clone();
    assert_eq!(sent[0].readings[0].value, 3, "nothing lost, nothing counted twice");

    let big = Meter::new(queue.clone(), Duration::from_secs(3600));
    for i in 0..MAX_ROWS {
        big.add("t1", API_REQUESTS, 1, &[("user", &format!("u{i}"))]);
    }
    assert!(big.due(), "too many rows wait");
    let told = tokio::time::timeout(Duration::from_millis(100), big.filled()).await;
    assert!(told.is_ok(), "the runner's flush task is told");
    assert_eq!(big.flush().await, MAX_ROWS.div_ceil(MAX_READINGS_PER_MESSAGE));
}

#[tokio::test]
async fn add_counts_for_the_tenant_of_the_scope_it_runs_in() {
    assert_eq!(current(), None);
    let queue = Arc::new(Recording::default());
    let meter = Meter::new(queue.clone(), Duration::from_secs(3600));
    let scope = Scope { tenant_id: "t9".into(), user_id: "u9".into() };
    let seen = within(scope.clone(), meter.clone(), async {
        add(AIRTABLE_CACHE, 1, &[("outcome", "hit")]);
        current()
    })
    .await;
    assert_eq!(seen, Some(scope));
    add(AIRTABLE_CACHE, 1, &[("outcome", "miss")]);
    assert_eq!(meter.flush().await, 1);
    let sent = queue.sent.lock().unwrap().clone();
    assert_eq!(totals(&sent), vec![("t9".into(), AIRTABLE_CACHE.into(), 1, vec![("outcome".into(), "hit".into())])]);
}
