//! Commits platform events with the changes they record (through the outbox, [`crate::outbox`]) and publishes
//! them on the bus right after, inline (a Lambda may be frozen as soon as it has answered, so nothing is left to
//! a background task; what the fast path misses, the outbox sweep publishes).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use storage::bus::Bus;
use storage::table::{Condition, Table};

use crate::Event;
use crate::outbox;

/// The metric counting events that could not even be stored (template.yaml alarms on it).
pub const PUBLISH_FAILURES_METRIC: &str = "EventPublishFailures";

/// Fault injection for the commit-then-crash test: `EVENTS_FAILPOINT=abort-after-commit` aborts the process
/// right after a change and its event committed, before the event is published.
pub const FAILPOINT_VAR: &str = "EVENTS_FAILPOINT";

fn abort_after_commit() -> bool {
    static SET: OnceLock<bool> = OnceLock::new();
    *SET.get_or_init(|| std::env::var(FAILPOINT_VAR).is_ok_and(|v| v == "abort-after-commit"))
}

#[derive(Clone)]
pub struct Publisher {
    bus: Arc<dyn Bus>,
    /// The service's table, opened through [`outbox::table`].
    outbox: Arc<dyn Table>,
}

/// Publishes `event` on `bus` now, with no outbox: for a producer whose source can be read again (Airtable's
/// webhook payloads, read from a cursor the producer advances only after this succeeds) and whose event ids
/// and times derive from that source, so a repeat is the same event and every consumer drops it.
pub async fn publish_replayable(bus: &dyn Bus, event: &Event) -> anyhow::Result<()> {
    let message = outbox::message(event).ok_or_else(|| anyhow::anyhow!("the event does not serialise"))?;
    bus.publish(message).await?;
    Ok(())
}

impl Publisher {
    /// `outbox`: the service's table as [`outbox::table`] wraps it (its store must use the same handle, so
    /// that its writes carry the staged events).
    pub fn new(bus: Arc<dyn Bus>, outbox: Arc<dyn Table>) -> Self {
        Self { bus, outbox }
    }

    /// The service's `table` with its outbox (give it to the service's store) and a publisher on the bus
    /// committing into it.
    pub async fn open(resources: &platform::group::Resources, table: &str) -> anyhow::Result<(Arc<dyn Table>, Self)> {
        let table = outbox::table(resources.table(table).await?);
        let bus = resources.bus(&crate::routing::bus_spec()).await?;
        Ok((table.clone(), Self::new(bus, table)))
    }

    /// Runs `write` (the store call that makes the change) with `event` staged: the change and the event's
    /// outbox item commit in one table transaction, or neither does. Then publishes the event. When `write`
    /// wrote nothing yet succeeded, the event is stored on its own.
    pub async fn commit<T, E>(&self, event: Event, write: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        self.commit_all(vec![event], write).await
    }

    /// [`Publisher::commit`] with any number of events (none: just the write).
    pub async fn commit_all<T, E>(
        &self,
        events: Vec<Event>,
        write: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if events.is_empty() {
            return write.await;
        }
        let (out, staging) = outbox::staged(events, write).await;
        let mut committed = staging.committed;
        if out.is_ok() {
            for event in staging.staged {
                if self.store(&event).await {
                    committed.push(event);
                }
            }
        }
        if !committed.is_empty() && abort_after_commit() {
            tracing::error!("{FAILPOINT_VAR}=abort-after-commit: aborting between commit and publish");
            std::process::abort();
        }
        for event in &committed {
            self.dispatch(event).await;
        }
        out
    }

    /// An event that records no change of the service's table (a failed login): stored in the outbox, then
    /// published.
    pub async fn publish(&self, event: Event) {
        _ = self.commit(event, async { Ok::<(), ()>(()) }).await;
    }

    /// Stores the event's outbox item alone; false (logged, counted) if that fails.
    async fn store(&self, event: &Event) -> bool {
        let stored = match outbox::item(event) {
            Ok(item) => self.outbox.put(item, Condition::MustNotExist).await.map(drop),
            Err(e) => Err(e),
        };
        match stored {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = ?e, event = ?event, "the event could not be stored; it is only in this log line");
                platform::emf::emit("events", PUBLISH_FAILURES_METRIC, 1.0, "Count");
                false
            }
        }
    }

    /// Publishes a committed event (retrying once) and clears its outbox item; a failure leaves the item for
    /// the sweep.
    async fn dispatch(&self, event: &Event) {
        let Some(message) = outbox::message(event) else { return };
        let mut failure = None;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match self.bus.publish(message.clone()).await {
                Ok(_) => {
                    if let Err(e) = self.outbox.delete(&outbox::key(event), Condition::Always).await {
                        tracing::warn!(error = ?e, event_id = %event.event_id, "a published event's outbox item stays (the sweep publishes it again)");
                    }
                    return;
                }
                Err(e) => failure = Some(e),
            }
        }
        tracing::warn!(error = ?failure, event_id = %event.event_id, "publishing failed; the outbox sweep publishes the event later");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use async_trait::async_trait;
    use storage::queue::OutgoingMessage;
    use storage::table::{Item, Key, Query};
    use storage::{StoreError, StoreResult};

    use super::*;
    use crate::routing::TYPE_ATTRIBUTE;
    use crate::{Action, Origin, REQUEST_ID_ATTRIBUTE};

    /// Fails while `down`, records the rest.
    #[derive(Default)]
    struct FlakyBus {
        down: Mutex<bool>,
        sent: Mutex<Vec<OutgoingMessage>>,
    }

    #[async_trait]
    impl Bus for FlakyBus {
        async fn publish(&self, message: OutgoingMessage) -> StoreResult<()> {
            if *self.down.lock().unwrap() {
                return Err(StoreError::Unexpected(anyhow::anyhow!("bus unavailable")));
            }
            self.sent.lock().unwrap().push(message);
            Ok(())
        }
        async fn ready(&self) -> StoreResult<()> {
            Ok(())
        }
    }

    struct Fixture {
        bus: Arc<FlakyBus>,
        table: Arc<dyn Table>,
        publisher: Publisher,
        _env: storage::embedded::EmbeddedEnv,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!("events-outbox-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        let table = outbox::table(env.table("service"));
        let bus = Arc::new(FlakyBus::default());
        let publisher = Publisher::new(bus.clone(), table.clone());
        Fixture { bus, table, publisher, _env: env, dir }
    }

    fn event() -> Event {
        Event::new(Action::UserUpdated, &Origin { request_id: "req-1".into(), ip: None }).actor("u1")
    }

    fn change() -> Item {
        Item::new(Key::new("USER#u1", "PROFILE"), serde_json::Map::new())
    }

    async fn outbox_items(table: &Arc<dyn Table>) -> usize {
        let mut n = 0;
        for shard in 0..outbox::SHARDS {
            n += table.query(Query::partition(format!("OUTBOX#{shard}"))).await.unwrap().items.len();
        }
        n
    }

    #[tokio::test]
    async fn a_change_and_its_event_commit_together_then_the_event_is_published_and_cleared() {
        let f = fixture();
        let stored = f.publisher.commit(event(), f.table.put(change(), Condition::MustNotExist)).await.unwrap();
        assert_eq!(stored.version, 1, "the put answers what it stored, as without an event");
        assert!(f.table.get(&change().key).await.unwrap().is_some());
        let sent = f.bus.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attributes[REQUEST_ID_ATTRIBUTE], "req-1");
        assert_eq!(sent[0].attributes[TYPE_ATTRIBUTE], "user.updated");
        assert_eq!(serde_json::from_str::<Event>(&sent[0].body).unwrap().actor_id.as_deref(), Some("u1"));
        assert_eq!(outbox_items(&f.table).await, 0, "the fast path clears the outbox");
    }

    #[tokio::test]
    async fn a_change_that_fails_leaves_no_event() {
        let f = fixture();
        f.table.put(change(), Condition::MustNotExist).await.unwrap();
        let refused = f.publisher.commit(event(), f.table.put(change(), Condition::MustNotExist)).await;
        assert!(matches!(refused, Err(StoreError::ConditionFailed)), "{refused:?}");
        assert!(f.bus.sent.lock().unwrap().is_empty());
        assert_eq!(outbox_items(&f.table).await, 0);
    }

    #[tokio::test]
    async fn an_event_the_bus_refused_stays_in_the_outbox_until_a_sweep_publishes_it() {
        let f = fixture();
        *f.bus.down.lock().unwrap() = true;
        f.publisher.commit(event(), f.table.put(change(), Condition::MustNotExist)).await.unwrap();
        assert_eq!(outbox_items(&f.table).await, 1, "committed, not published");
        assert_eq!(outbox::sweep(f.table.as_ref(), f.bus.as_ref(), Duration::ZERO).await.unwrap(), 0);
        *f.bus.down.lock().unwrap() = false;
        let young = outbox::sweep(f.table.as_ref(), f.bus.as_ref(), Duration::from_secs(60)).await.unwrap();
        assert_eq!(young, 0, "the sweep leaves what the fast path may still publish");
        assert_eq!(outbox::sweep(f.table.as_ref(), f.bus.as_ref(), Duration::ZERO).await.unwrap(), 1);
        assert_eq!(f.bus.sent.lock().unwrap().len(), 1);
        assert_eq!(outbox_items(&f.table).await, 0);
    }

    #[tokio::test]
    async fn an_event_without_a_change_is_stored_then_published() {
        let f = fixture();
        f.publisher.publish(event()).await;
        assert_eq!(f.bus.sent.lock().unwrap().len(), 1);
        assert_eq!(outbox_items(&f.table).await, 0);
    }

    #[tokio::test]
    async fn a_transaction_carries_the_event_and_only_the_first_write_does() {
        let f = fixture();
        let write = async {
            let ops = vec![storage::table::WriteOp::Put { item: change(), condition: Condition::MustNotExist }];
            f.table.transact(ops).await?;
            let mut second = change();
            second.key.sk = "OTHER".into();
            f.table.put(second, Condition::MustNotExist).await
        };
        f.publisher.commit(event(), write).await.unwrap();
        assert_eq!(f.bus.sent.lock().unwrap().len(), 1, "one event, once");
    }
}
