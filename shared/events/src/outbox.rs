//! The transactional outbox: no committed change without its event.
//!
//! A service's table is opened through [`table`], which wraps it in [`OutboxTable`]. A handler commits a change
//! and its event together with [`crate::Publisher::commit`]: the event is staged for the duration of the write
//! (a task-local), and the first write the store makes inside it — a put, a delete or a transaction — carries
//! the event's outbox item in the *same* table transaction. So the change and its event commit together or
//! not at all. Right after the commit the publisher publishes the event on the bus and deletes its outbox item
//! (the fast path). If the process dies in between, the item stays, and [`sweep`] publishes it later: the
//! runner sweeps every few seconds, on AWS the `event-relay` function on a schedule. Delivery is therefore at
//! least once; every consumer is idempotent on the event id.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | an event not yet published | `OUTBOX#{0..SHARDS}` (from the event id) | `{event id}` (UUIDv7: time-ordered) |

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use storage::StoreResult;
use storage::bus::Bus;
use storage::queue::OutgoingMessage;
use storage::table::{Condition, Item, Key, Page, Query, Table, WriteOp};

use crate::Event;
use crate::routing::TYPE_ATTRIBUTE;

/// Outbox partitions: spread over a few so one busy table never has a single hot outbox partition.
pub const SHARDS: u32 = 4;
const PREFIX: &str = "OUTBOX#";

tokio::task_local! {
    static STAGING: RefCell<Staging>;
}

#[derive(Default)]
pub(crate) struct Staging {
    /// Events waiting for the next write.
    pub(crate) staged: Vec<Event>,
    /// Events whose outbox items a write committed.
    pub(crate) committed: Vec<Event>,
}

/// Runs `write` with `events` staged: the first table write through an [`OutboxTable`] inside it carries them.
pub(crate) async fn staged<T>(events: Vec<Event>, write: impl Future<Output = T>) -> (T, Staging) {
    let cell = RefCell::new(Staging { staged: events, committed: Vec::new() });
    STAGING
        .scope(cell, async {
            let out = write.await;
            let staging = STAGING.with(|s| s.take());
            (out, staging)
        })
        .await
}

fn take_staged() -> Vec<Event> {
    STAGING.try_with(|s| std::mem::take(&mut s.borrow_mut().staged)).unwrap_or_default()
}

fn restage(events: Vec<Event>) {
    _ = STAGING.try_with(|s| {
        let mut staging = s.borrow_mut();
        let mut events = events;
        events.append(&mut staging.staged);
        staging.staged = events;
    });
}

fn committed(events: Vec<Event>) {
    _ = STAGING.try_with(|s| s.borrow_mut().committed.extend(events));
}

fn shard(event_id: &str) -> u32 {
    event_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % SHARDS
}

pub(crate) fn key(event: &Event) -> Key {
    Key::new(format!("{PREFIX}{}", shard(&event.event_id)), event.event_id.clone())
}

/// The event's outbox item.
pub(crate) fn item(event: &Event) -> StoreResult<Item> {
    let body = serde_json::to_string(event).map_err(|e| storage::StoreError::Invalid(e.to_string()))?;
    let mut attrs = Map::new();
    attrs.insert("body".into(), Value::String(body));
    attrs.insert("at_ms".into(), Value::from(storage::now_millis()));
    Ok(Item::new(key(event), attrs))
}

/// The service's table with the outbox in it.
pub fn table(inner: Arc<dyn Table>) -> Arc<dyn Table> {
    Arc::new(OutboxTable { inner })
}

/// A table whose writes carry the events staged around them (see the module docs).
pub struct OutboxTable {
    inner: Arc<dyn Table>,
}

impl OutboxTable {
    /// Writes `ops` plus the staged events' outbox items in one transaction; without staged events, `alone`.
    async fn with_staged<T>(
        &self,
        ops: Vec<WriteOp>,
        alone: impl Future<Output = StoreResult<T>>,
        done: impl FnOnce() -> T,
    ) -> StoreResult<T> {
        let events = take_staged();
        if events.is_empty() {
            return alone.await;
        }
        let mut all = ops;
        for event in &events {
            match item(event) {
                Ok(item) => all.push(WriteOp::Put { item, condition: Condition::MustNotExist }),
                Err(e) => {
                    restage(events);
                    return Err(e);
                }
            }
        }
        match self.inner.transact(all).await {
            Ok(()) => {
                committed(events);
                Ok(done())
            }
            Err(e) => {
                // Nothing was written: the events wait for the next write (or are dropped with the change).
                restage(events);
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Table for OutboxTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.inner.get(key).await
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
        let mut stored = item.clone();
        stored.version += 1;
        let ops = vec![WriteOp::Put { item: item.clone(), condition }];
        self.with_staged(ops, self.inner.put(item, condition), || stored).await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        let ops = vec![WriteOp::Delete { key: key.clone(), condition }];
        self.with_staged(ops, self.inner.delete(key, condition), || ()).await
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        self.inner.query(query).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        self.with_staged(ops.clone(), self.inner.transact(ops), || ()).await
    }

    async fn ready(&self) -> StoreResult<()> {
        self.inner.ready().await
    }
}

/// The bus message of an event.
pub(crate) fn message(event: &Event) -> Option<OutgoingMessage> {
    let body = serde_json::to_string(event).ok()?;
    Some(
        OutgoingMessage::new(body)
            .attribute(crate::REQUEST_ID_ATTRIBUTE, event.request_id.clone())
            .attribute(TYPE_ATTRIBUTE, event.action.as_str()),
    )
}

/// Publishes every outbox item older than `older_than` (the fast path has had its chance) and deletes it;
/// returns how many were published. Items that fail to publish stay for the next sweep.
pub async fn sweep(table: &dyn Table, bus: &dyn Bus, older_than: Duration) -> anyhow::Result<usize> {
    let cutoff = storage::now_millis() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let mut published = 0;
    for shard in 0..SHARDS {
        let mut cursor = None;
        loop {
            let query = Query::partition(format!("{PREFIX}{shard}")).limit(100).cursor(cursor);
            let page = table.query(query).await?;
            for item in &page.items {
                let at = item.attrs.get("at_ms").and_then(Value::as_i64).unwrap_or(0);
                if at > cutoff {
                    continue;
                }
                let Some(body) = item.attrs.get("body").and_then(Value::as_str) else { continue };
                let event: Event = match serde_json::from_str(body) {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::error!(error = %e, key = %item.key.sk, "an outbox item is not an event; left in place");
                        continue;
                    }
                };
                let Some(message) = message(&event) else { continue };
                match bus.publish(message).await {
                    Ok(()) => {
                        table.delete(&item.key, Condition::Always).await?;
                        published += 1;
                        tracing::info!(event_id = %event.event_id, kind = event.action.as_str(), "outbox: published a left-over event");
                    }
                    Err(e) => {
                        tracing::warn!(error = ?e, event_id = %event.event_id, "outbox: publishing failed; the next sweep retries")
                    }
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(published)
}
