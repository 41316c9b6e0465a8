//! Single-flight: concurrent identical cache misses share one upstream call.
//!
//! Within an instance, the first miss spawns the fetch and the others await the same shared future. The
//! fetch runs as its own task, so it completes (and fills the cache) even if every waiting client hangs
//! up, and it removes itself from the table when done. Across instances, see [`crate::gateway`]'s fill
//! lock (`set_if_absent` on the cache port).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::error::{Failure, GatewayError};

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
