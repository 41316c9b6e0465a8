//! The in-process cache, for a process with no Redis configured: one mutex-guarded state, so every operation is as atomic as the
//! Redis scripts of the AWS adapter. Nothing survives a restart, which is what a cache may do.
//!
//! The lock is never held across an `.await`, so a plain `std::sync::Mutex` is the right tool.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cache, Reservation, WindowCount};
use crate::StoreResult;

/// Expired entries are dropped lazily when touched, and swept out every this many writes so keys that are
/// never read again cannot grow the map without bound.
const SWEEP_EVERY: u64 = 1024;

#[derive(Default)]
pub struct MemoryCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    values: HashMap<String, Expiring<Vec<u8>>>,
    generations: HashMap<String, u64>,
    windows: HashMap<String, Expiring<u64>>,
    /// GCRA: the theoretical arrival time of the next event per key; stale once it is in the past.
    schedules: HashMap<String, Instant>,
    writes: u64,
}

struct Expiring<T> {
    value: T,
    expires_at: Instant,
}

impl<T> Expiring<T> {
    fn live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent, so a panic elsewhere cannot poison the data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.values.retain(|_, e| e.live(now));
            self.windows.retain(|_, e| e.live(now));
            self.schedules.retain(|_, tat| *tat > now);
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let state = self.lock();
        Ok(state.values.get(key).filter(|e| e.live(now)).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut state = self.lock();
        state.values.insert(key.to_owned(), Expiring { value: value.to_vec(), expires_at: now + ttl });
        state.wrote(now);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.values.get(key).is_some_and(|e| e.live(now)) {
            return Ok(false);
        }
        state.values.insert(key.to_owned(), Expiring { value: value.to_vec(), expires_at: now + ttl });
        state.wrote(now);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.lock().values.remove(key);
        Ok(())
    }

    async fn generation(&self, group: &str) -> StoreResult<u64> {
        Ok(self.lock().generations.get(group).copied().unwrap_or(0))
    }

    async fn bump_generation(&self, group: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let generation = state.generations.entry(group.to_owned()).or_insert(0);
        *generation += 1;
        Ok(*generation)
    }

    async fn incr_window(&self, key: &str, window: Duration) -> StoreResult<WindowCount> {
        let now = Instant::now();
        let mut state = self.lock();
        let entry = state.windows.entry(key.to_owned()).or_insert(Expiring { value: 0, expires_at: now });
        if !entry.live(now) {
            *entry = Expiring { value: 0, expires_at: now + window };
        }
        entry.value += 1;
        let counted = WindowCount { count: entry.value, resets_in: entry.expires_at - now };
        state.wrote(now);
        Ok(counted)
    }

    async fn window_count(&self, key: &str) -> StoreResult<u64> {
        let now = Instant::now();
        Ok(self.lock().windows.get(key).filter(|e| e.live(now)).map_or(0, |e| e.value))
    }

    async fn reserve(&self, key: &str, interval: Duration, max_wait: Duration) -> StoreResult<Reservation> {
        let now = Instant::now();
        let mut state = self.lock();
        let tat = state.schedules.get(key).copied().filter(|tat| *tat > now).unwrap_or(now);
        let wait = tat - now;
        if wait > max_wait {
            return Ok(Reservation::Denied { retry_after: wait - max_wait });
        }
        state.schedules.insert(key.to_owned(), tat + interval);
        state.wrote(now);
        Ok(Reservation::Granted { wait })
    }

    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
}
