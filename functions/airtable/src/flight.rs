//! Single-flight: concurrent identical cache misses share one upstream call.
//!
//! Within an instance, the first miss spawns the fetch and the others await the same shared future. The
//! fetch runs as its own task, so it completes (and fills the cache) even if every waiting client hangs
//! up, and it removes itself from the table when done. Across instances, [`fill`] elects one filler with a
//! short lock (`set_if_absent` on the cache port).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use storage::cache::Cache;

use crate::cache::{Kind, ReadCache};
use crate::error::{Failure, GatewayError};

/// How often a read waiting on another instance's fill looks for the result.
const FILL_POLL: Duration = Duration::from_millis(25);

pub type Outcome = Result<Bytes, Failure>;

#[derive(Default, Clone)]
pub struct Flights {
    inflight: Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, Outcome>>>>>,
}

impl Flights {
    /// The outcome of `fetch` for `key`, and whether this call started it (false: it joined one).
    pub async fn run<F>(&self, key: &str, fetch: F) -> (Outcome, bool)
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let (flight, led) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match inflight.get(key) {
                Some(flight) => (flight.clone(), false),
                None => {
                    let table = self.inflight.clone();
                    let owned_key = key.to_string();
                    let task = tokio::spawn(async move {
                        let outcome = fetch.await;
                        table.lock().unwrap_or_else(PoisonError::into_inner).remove(&owned_key);
                        outcome
                    });
                    let flight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Arc::new(GatewayError::Unexpected(anyhow::anyhow!("a cache fill task failed: {e}"))))
                        })
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key.to_string(), flight.clone());
                    (flight, true)
                }
            }
        };
        (flight.await, led)
    }
}

/// What a read saw before deciding to fill: when it began, and the entry it found too old (if any).
pub struct Seen {
    pub started_ms: i64,
    pub stored_at_ms: Option<i64>,
}

impl Seen {
    /// Another filler's entry answers this read if it is newer than the one found too old, and was
    /// stored about when this read began or later (a little slack for clock skew between instances).
    fn answered_by(&self, stored_at_ms: i64) -> bool {
        self.stored_at_ms.is_none_or(|seen| stored_at_ms > seen) && stored_at_ms >= self.started_ms - 250
    }
}

/// Single-flight across instances: fills one cache entry with `fetch`'s answer. A short lock
/// (`set_if_absent`, held at most `budget`) elects one filler; the others poll the cache for its result, and
/// fetch themselves only if it never comes.
pub async fn fill(
    read_cache: &ReadCache,
    key: &str,
    kind: Kind,
    budget: Duration,
    seen: Seen,
    fetch: impl Future<Output = Outcome>,
) -> Outcome {
    let cache = read_cache.port();
    let lock = format!("{key}:filling");
    let deadline = Instant::now() + budget;
    let answers_us = |stored_at_ms: i64| seen.answered_by(stored_at_ms);
    let mut holds_lock = false;
    loop {
        match cache.set_if_absent(&lock, b"1", budget).await {
            Ok(true) => {
                holds_lock = true;
                break;
            }
            Ok(false) if Instant::now() < deadline => {
                tokio::time::sleep(FILL_POLL).await;
                if let Some(entry) = read_cache.get(key).await.filter(|e| answers_us(e.stored_at_ms)) {
                    return Ok(entry.body);
                }
            }
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(error = ?e, "fill lock unavailable; fetching without it");
                break;
            }
        }
    }
    // Another instance may have filled it between our miss and our lock.
    if let Some(entry) = read_cache.get(key).await.filter(|e| answers_us(e.stored_at_ms)) {
        release(cache, &lock, holds_lock).await;
        return Ok(entry.body);
    }
    let outcome = fetch.await;
    if let Ok(body) = &outcome {
        read_cache.put(key, kind, body).await;
    }
    release(cache, &lock, holds_lock).await;
    outcome
}

async fn release(cache: &Arc<dyn Cache>, lock: &str, held: bool) {
    if held && let Err(e) = cache.delete(lock).await {
        tracing::warn!(error = ?e, "could not release a fill lock; it expires on its own");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_identical_fetches_run_once_and_the_next_one_runs_again() {
        let flights = Flights::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let fetch = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Bytes::from_static(b"x"))
        };
        let runs = (0..20).map(|_| flights.run("k", fetch(calls.clone())));
        let outcomes = futures::future::join_all(runs).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes.iter().filter(|(_, led)| *led).count(), 1);
        assert!(outcomes.iter().all(|(o, _)| o.as_ref().is_ok_and(|b| b == "x")));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (again, led) = flights.run("k", fetch(calls.clone())).await;
        assert!(again.is_ok() && led);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
