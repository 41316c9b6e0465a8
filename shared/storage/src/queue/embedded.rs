//! The queue port on redb, for `cargo run`.
//!
//! A queue is two redb tables: the messages by id, and a `(visible_at, id)` index that orders them by when
//! they may next be received. A receive takes the due entries and pushes them `visibility` into the future
//! in one write transaction, so two consumers never get the same message inside its visibility window.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::queue::{OutgoingMessage, Queue, QueueSpec, ReceivedMessage, validate_message};
use crate::{StoreError, StoreResult, now_millis};

type VisibleKey = (i64, &'static str);

#[derive(Serialize, Deserialize)]
struct Stored {
    body: String,
    attributes: BTreeMap<String, String>,
    sent_at_millis: i64,
    receive_count: u32,
    visible_at: i64,
    /// Renewed on every receive and part of the receipt handle, so a stale receipt (the consumer that
    /// timed out) cannot delete the message someone else has since received.
    token: String,
}

pub struct EmbeddedQueue {
    db: Arc<redb::Database>,
    spec: QueueSpec,
    notify: Arc<Notify>,
}

impl EmbeddedQueue {
    pub fn new(db: Arc<redb::Database>, spec: QueueSpec) -> Self {
        let notify = notifier(&db, &spec.name);
        Self { db, spec, notify }
    }

    fn wake(&self, queue: &str) {
        notifier(&self.db, queue).notify_waiters();
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().context("Failed to begin a write transaction")?;
            let out = f(&txn)?;
            txn.commit().context("Failed to commit a write transaction")?;
            Ok(out)
        })
        .await
        .context("The embedded queue's worker thread failed")?
    }

    async fn insert(&self, messages: Vec<OutgoingMessage>) -> StoreResult<Vec<String>> {
        messages.iter().try_for_each(validate_message)?;
        let name = self.spec.name.clone();
        let ids = self
            .write(move |txn| {
                let mut queue = Tables::open(txn, &name)?;
                let now = now_millis();
                let mut ids = Vec::with_capacity(messages.len());
                for m in messages {
                    let id = uuid::Uuid::now_v7().to_string();
                    let delay = m.delay.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    let stored = Stored {
                        body: m.body,
                        attributes: m.attributes,
                        sent_at_millis: now,
                        receive_count: 0,
                        visible_at: now.saturating_add(delay),
                        token: String::new(),
                    };
                    queue.put(&id, &stored)?;
                    ids.push(id);
                }
                Ok(ids)
            })
            .await?;
        self.wake(&self.spec.name);
        Ok(ids)
    }

    /// One non-waiting receive. Also returns when the next message becomes visible.
    async fn receive_now(&self, max: usize, visibility: Duration) -> StoreResult<(Vec<ReceivedMessage>, Option<i64>)> {
        let spec = self.spec.clone();
        let visibility = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        let (received, next, moved) = self
            .write(move |txn| {
                let mut queue = Tables::open(txn, &spec.name)?;
                let mut dead_letter = match &spec.dead_letter {
                    Some(d) if d.queue == spec.name => {
                        return Err(StoreError::Invalid("a queue cannot be its own dead-letter queue".into()));
                    }
                    Some(d) => Some((Tables::open(txn, &d.queue)?, d.max_receive_count)),
                    None => None,
                };
                let now = now_millis();
                let (mut received, mut moved) = (Vec::new(), false);
                while received.len() < max {
                    let due = queue.due(now, max - received.len())?;
                    if due.is_empty() {
                        break;
                    }
                    for (at, id) in due {
                        let Some(mut m) = queue.take(at, &id)? else {
                            continue;
                        };
                        if let Some((dlq, max_receives)) = &mut dead_letter
                            && m.receive_count >= *max_receives
                        {
                            // Like SQS, the message keeps its id, sent time and receive count.
                            m.visible_at = now;
                            dlq.put(&id, &m)?;
                            moved = true;
                            continue;
                        }
                        m.receive_count = m.receive_count.saturating_add(1);
                        m.visible_at = now.saturating_add(visibility);
                        m.token = uuid::Uuid::new_v4().simple().to_string();
                        queue.put(&id, &m)?;
                        received.push(ReceivedMessage {
                            receipt_handle: format!("{id}.{}", m.token),
                            message_id: id,
                            body: m.body,
                            attributes: m.attributes,
                            receive_count: m.receive_count,
                            sent_at_millis: m.sent_at_millis,
                        });
                    }
                }
                let next = queue.visible.first().context("Failed to read the queue")?.map(|(k, _)| k.value().0);
                Ok((received, next, moved))
            })
            .await?;
        if let (true, Some(d)) = (moved, &self.spec.dead_letter) {
            self.wake(&d.queue);
        }
        Ok((received, next))
    }
}

/// One `Notify` per (database, queue name).
type Notifiers = Mutex<HashMap<(usize, String), Arc<Notify>>>;

/// Handles of one queue share a `Notify`, so a send through one handle wakes long polls on another.
fn notifier(db: &Arc<redb::Database>, queue: &str) -> Arc<Notify> {
    static REGISTRY: OnceLock<Notifiers> = OnceLock::new();
    let mut registry = REGISTRY.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    registry.entry((Arc::as_ptr(db) as usize, queue.to_owned())).or_default().clone()
}

#[async_trait]
impl Queue for EmbeddedQueue {
    fn name(&self) -> &str {
        &self.spec.name
    }

    #[tracing::instrument(skip_all, fields(queue = %self.spec.name))]
    async fn send(&self, message: OutgoingMessage) -> StoreResult<String> {
        let ids = self.insert(vec![message]).await?;
        ids.into_iter().next().ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("a send returned no id")))
    }

    #[tracing::instrument(skip_all, fields(queue = %self.spec.name, count = messages.len()))]
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> StoreResult<Vec<String>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        self.insert(messages).await
    }

    #[tracing::instrument(skip_all, fields(queue = %self.spec.name))]
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        super::validate_receive(max, visibility, wait)?;
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (received, next_visible) = self.receive_now(max, visibility).await?;
            if !received.is_empty() || Instant::now() >= deadline {
                return Ok(received);
            }
            let until = next_visible.map_or(deadline, |at| {
                let delay = u64::try_from(at.saturating_sub(now_millis())).unwrap_or(0);
                deadline.min(Instant::now() + Duration::from_millis(delay + 1))
            });
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    #[tracing::instrument(skip_all, fields(queue = %self.spec.name))]
    async fn delete(&self, receipt_handle: &str) -> StoreResult<()> {
        let Some((id, token)) = receipt_handle.split_once('.').filter(|(i, t)| !i.is_empty() && !t.is_empty()) else {
            return Err(StoreError::Invalid("not a receipt handle of this queue".into()));
        };
        let (id, token, name) = (id.to_owned(), token.to_owned(), self.spec.name.clone());
        self.write(move |txn| {
            let mut queue = Tables::open(txn, &name)?;
            // Deleting twice, or with a receipt that has been superseded, is a no-op, as on SQS.
            if let Some(m) = queue.get(&id)?.filter(|m| m.token == token) {
                queue.take(m.visible_at, &id)?;
            }
            Ok(())
        })
        .await
    }

    async fn ready(&self) -> StoreResult<()> {
        self.db.begin_read().context("Failed to begin a read transaction")?;
        Ok(())
    }
}

/// Makes every message received by an earlier process visible again; returns how many. One process holds the
/// store (redb's lock), so when it opens nothing is in flight: a message received and not deleted was being
/// handled by a process that died, and SQS would make it visible once its visibility timeout passed. Here it
/// need not wait: a crashed runner's work goes on as soon as it is started again. Delayed messages (never
/// received) keep their time.
pub fn release_in_flight(db: &redb::Database) -> anyhow::Result<usize> {
    let txn = db.begin_write().context("Failed to begin a write transaction")?;
    let names: Vec<String> = txn
        .list_tables()
        .context("Failed to list the store's tables")?
        .map(|t| t.name().to_string())
        .filter_map(|name| name.strip_prefix("queue/")?.strip_suffix("/messages").map(String::from))
        .collect();
    let now = now_millis();
    let mut released = 0;
    for name in names {
        let mut queue = Tables::open(&txn, &name)?;
        let mut in_flight = Vec::new();
        for entry in queue.messages.iter().context("Failed to scan a queue")? {
            let (id, bytes) = entry.context("Failed to scan a queue")?;
            let m: Stored = serde_json::from_slice(bytes.value()).context("Failed to decode a message")?;
            if m.receive_count > 0 && m.visible_at > now {
                in_flight.push((id.value().to_string(), m.visible_at));
            }
        }
        for (id, at) in in_flight {
            if let Some(mut m) = queue.take(at, &id)? {
                m.visible_at = now;
                queue.put(&id, &m)?;
                released += 1;
            }
        }
    }
    txn.commit().context("Failed to commit a write transaction")?;
    Ok(released)
}

struct Tables<'t> {
    messages: redb::Table<'t, &'static str, &'static [u8]>,
    visible: redb::Table<'t, VisibleKey, ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction, queue: &str) -> anyhow::Result<Self> {
        let messages = format!("queue/{queue}/messages");
        let visible = format!("queue/{queue}/visible");
        Ok(Self {
            messages: txn.open_table(TableDefinition::new(&messages)).context("Failed to open the messages")?,
            visible: txn.open_table(TableDefinition::new(&visible)).context("Failed to open the visibility index")?,
        })
    }

    fn get(&self, id: &str) -> anyhow::Result<Option<Stored>> {
        let guard = self.messages.get(id).context("Failed to read a message")?;
        guard.map(|g| serde_json::from_slice(g.value()).context("Failed to decode a message")).transpose()
    }

    fn put(&mut self, id: &str, m: &Stored) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(m).context("Failed to encode a message")?;
        self.messages.insert(id, bytes.as_slice()).context("Failed to write a message")?;
        self.visible.insert((m.visible_at, id), ()).context("Failed to index a message")?;
        Ok(())
    }

    /// Removes the message (indexed as visible at `at`) and returns it.
    fn take(&mut self, at: i64, id: &str) -> anyhow::Result<Option<Stored>> {
        self.visible.remove((at, id)).context("Failed to unindex a message")?;
        let guard = self.messages.remove(id).context("Failed to remove a message")?;
        guard.map(|g| serde_json::from_slice(g.value()).context("Failed to decode a message")).transpose()
    }

    /// Up to `max` messages visible at `now`, longest-waiting first.
    fn due(&self, now: i64, max: usize) -> anyhow::Result<Vec<(i64, String)>> {
        let range = self.visible.range(..(now.saturating_add(1), "")).context("Failed to scan the queue")?;
        range
            .take(max)
            .map(|entry| {
                let (k, _) = entry.context("Failed to scan the queue")?;
                let (at, id) = k.value();
                Ok((at, id.to_owned()))
            })
            .collect()
    }
}
