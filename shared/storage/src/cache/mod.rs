//! The cache port: what the Airtable gateway's cache and the rate limiters need.
//!
//! A Redis-protocol server (ElastiCache on AWS) when one is configured, in AWS or embedded mode alike, else
//! in-process. Besides plain get/set with TTL it offers:
//! - key groups with O(1) invalidation: callers embed [`Cache::generation`] in their keys, and
//!   [`Cache::bump_generation`] makes every older key unreachable (they then expire on their own TTL);
//! - two atomic primitives for limiters shared by every Lambda instance: a fixed-window counter
//!   ([`Cache::incr_window`], read back with [`Cache::window_count`]) and a GCRA slot reservation
//!   ([`Cache::reserve`]; with `max_wait` = (burst − 1) × interval it is a token bucket of that burst).

#[cfg(feature = "aws")]
pub mod aws;
/// The in-process cache. Always built (it needs only std): the local runner's default, and the cache of a
/// Lambda with neither `CACHE_URL` nor ElastiCache discovery; not part of the `embedded` feature.
pub mod embedded;

use std::time::Duration;

use async_trait::async_trait;

use crate::StoreResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// Time until the window resets.
    pub resets_in: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A slot is yours: start after waiting this long (zero: now).
    Granted { wait: Duration },
    /// The next free slot is beyond `max_wait`; nothing was reserved.
    Denied { retry_after: Duration },
}

#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()>;
    /// Sets only if absent (a lock or a marker); true when this call set it.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool>;
    async fn delete(&self, key: &str) -> StoreResult<()>;

    /// The group's current generation (0 until first bumped).
    async fn generation(&self, group: &str) -> StoreResult<u64>;
    /// Invalidates the group in O(1); returns the new generation.
    async fn bump_generation(&self, group: &str) -> StoreResult<u64>;

    /// Counts a hit in a fixed window that starts at the key's first hit.
    async fn incr_window(&self, key: &str, window: Duration) -> StoreResult<WindowCount>;
    /// The hits [`Cache::incr_window`] counted so far in the key's current window, without counting one
    /// (0 when the window is over or never started).
    async fn window_count(&self, key: &str) -> StoreResult<u64>;

    /// Reserves the next slot of a schedule that allows one event per `interval` (GCRA, no burst),
    /// if that slot starts within `max_wait`. Atomic across every client of the same cache.
    async fn reserve(&self, key: &str, interval: Duration, max_wait: Duration) -> StoreResult<Reservation>;

    async fn ready(&self) -> StoreResult<()>;
}
