//! The schedules port on redb, for `cargo run`: the schedules live in the embedded store (so they outlive a
//! restart), each with its pending fire time, and [`EmbeddedSchedules::tick`] sends every due one into the
//! embedded queue it was given. [`EmbeddedSchedules::run`] ticks every second on the real clock; tests (and a
//! runner's test-only control) call `tick` with the time they choose.
//!
//! As on EventBridge Scheduler: a rate fires first at once, a one-time schedule fires once and is deleted, a
//! disabled schedule never fires, the context keywords in the input are replaced at each fire. A tick sends at
//! most one message per schedule: after downtime, the first missed fire is sent and the rest are skipped (a
//! rate keeps its phase). A message is sent before its schedule moves on, so a crash between the two sends
//! it again at the next tick, with the same scheduled time and execution id: consumers de-duplicate on them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreResult;
use crate::queue::{OutgoingMessage, Queue};
use crate::schedules::{
    ATTEMPT_NUMBER, EXECUTION_ID, Expression, SCHEDULE_ARN, SCHEDULED_TIME, Schedule, Schedules, at_instant, period,
    validate_group, validate_key,
};

type Def<'a> = TableDefinition<'a, &'static str, &'static [u8]>;

/// A schedule at rest, keyed `{group}/{name}` (neither may hold a `/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    /// The user's form ([`Expression::parse`] reads it back).
    expression: String,
    time_zone: String,
    input: String,
    enabled: bool,
    /// The pending fire, epoch milliseconds; `None`: none (disabled, or no fire ever again).
    next: Option<i64>,
}

impl Stored {
    fn schedule(&self, group: &str, name: &str) -> anyhow::Result<Schedule> {
        Ok(Schedule {
            group: group.to_owned(),
            name: name.to_owned(),
            expression: Expression::parse(&self.expression)
                .with_context(|| format!("Schedule {group}/{name} holds an unreadable expression"))?,
            time_zone: self.time_zone.clone(),
            input: self.input.clone(),
            enabled: self.enabled,
        })
    }
}

/// One message a tick sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub group: String,
    pub name: String,
    /// The fire time it stands for (what [`SCHEDULED_TIME`] became in the body).
    pub scheduled: DateTime<Utc>,
    /// Stable per (schedule, scheduled time): what [`EXECUTION_ID`] became in the body.
    pub execution_id: String,
    /// The queue's id of the message.
    pub message_id: String,
}

pub struct EmbeddedSchedules {
    db: Arc<redb::Database>,
    queue: Arc<dyn Queue>,
    table: Arc<str>,
    /// One tick at a time per handle (the run loop and a test control may both call it).
    ticking: tokio::sync::Mutex<()>,
}

fn key(group: &str, name: &str) -> String {
    format!("{group}/{name}")
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn instant(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).with_context(|| format!("{ms} is not a time"))
}

fn decode(bytes: &[u8]) -> anyhow::Result<Stored> {
    serde_json::from_slice(bytes).context("Failed to decode a schedule")
}

/// The local look-alike of a schedule's ARN.
pub fn local_arn(group: &str, name: &str) -> String {
    format!("arn:aws:scheduler:local:000000000000:schedule/{group}/{name}")
}

/// The execution id of a schedule's fire: stable per (schedule, scheduled time).
pub fn execution_id(group: &str, name: &str, scheduled: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!("{group}/{name}@{}", millis(scheduled)).as_bytes());
    hex::encode(&digest[..16])
}

/// The input with EventBridge Scheduler's context keywords replaced.
fn body(input: &str, group: &str, name: &str, scheduled: DateTime<Utc>, execution_id: &str) -> String {
    input
        .replace(SCHEDULE_ARN, &local_arn(group, name))
        .replace(SCHEDULED_TIME, &scheduled.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .replace(EXECUTION_ID, execution_id)
        .replace(ATTEMPT_NUMBER, "1")
}

/// The first fire of a schedule written at `now`.
fn first_fire(s: &Schedule, now: DateTime<Utc>) -> Option<i64> {
    if !s.enabled {
        return None;
    }
    let at = match &s.expression {
        // EventBridge Scheduler starts a rate with no start date at once.
        Expression::Rate { .. } => Some(now),
        Expression::At { local } => at_instant(s.zone().ok()?, *local),
        Expression::Cron { .. } => s.next_fire(now),
    };
    at.map(millis)
}

/// What follows a fire at `scheduled` sent at `now`: `None` for a one-time schedule (deleted), else the next
/// pending fire after `now` (`Some(None)`: none ever again).
fn after_fire(s: &Schedule, scheduled: DateTime<Utc>, now: DateTime<Utc>) -> Option<Option<i64>> {
    match &s.expression {
        Expression::At { .. } => None,
        Expression::Rate { every, unit } => {
            // Keeps the phase: the first of scheduled + k·period after now.
            let step = period(*every, *unit).num_milliseconds().max(1);
            let behind = millis(now).saturating_sub(millis(scheduled)).max(0);
            Some(Some(millis(scheduled).saturating_add(step.saturating_mul(behind / step + 1))))
        }
        Expression::Cron { .. } => Some(s.next_fire(now).map(millis)),
    }
}

impl EmbeddedSchedules {
    /// Schedules kept in `db` that fire into `queue` (the store's table is named after the queue).
    pub fn new(db: Arc<redb::Database>, queue: Arc<dyn Queue>) -> Self {
        let table = Arc::from(format!("schedules/{}", queue.name()));
        Self { db, queue, table, ticking: tokio::sync::Mutex::new(()) }
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (db, table) = (self.db.clone(), self.table.clone());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().context("Failed to begin a write transaction")?;
            let out = {
                let mut t = txn.open_table(Def::new(&table)).context("Failed to open the schedules")?;
                f(&mut t)?
            };
            txn.commit().context("Failed to commit a write transaction")?;
            Ok(out)
        })
        .await
        .context("The embedded schedules' worker thread failed")?
    }

    /// `f` over the table, or `T::default()` while it does not exist yet.
    async fn read<T: Default + Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (db, table) = (self.db.clone(), self.table.clone());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().context("Failed to begin a read transaction")?;
            match txn.open_table(Def::new(&table)) {
                Ok(t) => f(&t),
                Err(TableError::TableDoesNotExist(_)) => Ok(T::default()),
                Err(e) => Err(anyhow::Error::new(e).context("Failed to open the schedules").into()),
            }
        })
        .await
        .context("The embedded schedules' worker thread failed")?
    }

    /// Sends every enabled schedule due at `now` (its pending fire at or before `now`) into the queue, once,
    /// and moves it on. Returns what was sent. A schedule that cannot be sent is logged and retried at the
    /// next tick; the others still fire.
    pub async fn tick(&self, now: DateTime<Utc>) -> StoreResult<Vec<Fired>> {
        let _one_at_a_time = self.ticking.lock().await;
        let due = self
            .read(move |t| {
                let mut due = Vec::new();
                for entry in t.iter().context("Failed to scan the schedules")? {
                    let (k, v) = entry.context("Failed to scan the schedules")?;
                    match decode(v.value()) {
                        Ok(s) if s.enabled && s.next.is_some_and(|at| at <= millis(now)) => {
                            due.push((k.value().to_owned(), s))
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(schedule = k.value(), error = %e, "skipping an unreadable schedule"),
                    }
                }
                Ok(due)
            })
            .await?;
        let mut fired = Vec::with_capacity(due.len());
        for (key, stored) in due {
            match self.fire(&key, stored, now).await {
                Ok(f) => fired.push(f),
                Err(e) => {
                    tracing::warn!(schedule = %key, error = %e, "a schedule did not fire; retrying at the next tick")
                }
            }
        }
        Ok(fired)
    }

    async fn fire(&self, key: &str, stored: Stored, now: DateTime<Utc>) -> StoreResult<Fired> {
        let (group, name) = key.split_once('/').with_context(|| format!("{key:?} is not a schedule key"))?;
        let schedule = stored.schedule(group, name)?;
        let pending = stored.next.context("a due schedule has no pending fire")?;
        let scheduled = instant(pending)?;
        let execution_id = execution_id(group, name, scheduled);
        let message = OutgoingMessage::new(body(&stored.input, group, name, scheduled, &execution_id));
        let message_id = self.queue.send(message).await?;
        let next = after_fire(&schedule, scheduled, now);
        let key_owned = key.to_owned();
        self.write(move |t| {
            let current = t.get(key_owned.as_str()).context("Failed to read a schedule")?.map(|g| decode(g.value()));
            // Deleted since it was read, or written with another timing (a put reset its fire): that write
            // decides. A new input alone keeps the fire just sent.
            let current = match current.transpose()? {
                Some(c)
                    if (&c.expression, &c.time_zone, c.enabled, c.next)
                        == (&stored.expression, &stored.time_zone, stored.enabled, stored.next) =>
                {
                    c
                }
                _ => return Ok(()),
            };
            match next {
                None => {
                    t.remove(key_owned.as_str()).context("Failed to delete a fired one-time schedule")?;
                }
                Some(next) => {
                    let moved = Stored { next, ..current };
                    let bytes = serde_json::to_vec(&moved).context("Failed to encode a schedule")?;
                    t.insert(key_owned.as_str(), bytes.as_slice()).context("Failed to write a schedule")?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(Fired { group: group.to_owned(), name: name.to_owned(), scheduled, execution_id, message_id })
    }

    /// Ticks every second on the real clock, for as long as the runtime runs it.
    pub async fn run(self: Arc<Self>) {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every_second.tick().await;
            if let Err(e) = self.tick(Utc::now()).await {
                tracing::warn!(error = %e, "the schedules' tick failed");
            }
        }
    }

    /// When the schedule fires next, if it is enabled and has a fire to come (for a "next run" shown locally).
    pub async fn pending(&self, group: &str, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
        validate_key(group, name)?;
        let k = key(group, name);
        let next = self
            .read(move |t| {
                let stored = t.get(k.as_str()).context("Failed to read a schedule")?.map(|g| decode(g.value()));
                Ok(stored.transpose()?.and_then(|s| s.next))
            })
            .await?;
        Ok(next.map(instant).transpose()?)
    }
}

#[async_trait]
impl Schedules for EmbeddedSchedules {
    #[tracing::instrument(skip_all, fields(group = %schedule.group, name = %schedule.name))]
    async fn put(&self, schedule: &Schedule) -> StoreResult<()> {
        let s = schedule.normalized()?;
        let now = Utc::now();
        let k = key(&s.group, &s.name);
        self.write(move |t| {
            let existing = t.get(k.as_str()).context("Failed to read a schedule")?.map(|g| decode(g.value()));
            let existing = existing.transpose()?;
            let expression = s.expression.to_string();
            // Rewriting a schedule that fires the same way keeps its pending fire (and a rate its phase).
            let next = match existing {
                Some(e) if e.expression == expression && e.time_zone == s.time_zone && e.enabled == s.enabled => e.next,
                _ => first_fire(&s, now),
            };
            let stored = Stored { expression, time_zone: s.time_zone, input: s.input, enabled: s.enabled, next };
            let bytes = serde_json::to_vec(&stored).context("Failed to encode a schedule")?;
            t.insert(k.as_str(), bytes.as_slice()).context("Failed to write a schedule")?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, group: &str, name: &str) -> StoreResult<()> {
        validate_key(group, name)?;
        let k = key(group, name);
        self.write(move |t| {
            t.remove(k.as_str()).context("Failed to delete a schedule")?;
            Ok(())
        })
        .await
    }

    async fn get(&self, group: &str, name: &str) -> StoreResult<Option<Schedule>> {
        validate_key(group, name)?;
        let (k, group, name) = (key(group, name), group.to_owned(), name.to_owned());
        self.read(move |t| {
            let stored = t.get(k.as_str()).context("Failed to read a schedule")?.map(|g| decode(g.value()));
            Ok(stored.transpose()?.map(|s| s.schedule(&group, &name)).transpose()?)
        })
        .await
    }

    async fn list(&self, group: &str) -> StoreResult<Vec<String>> {
        validate_group(group)?;
        // Keys `{group}/{name}`: the group's run from `{group}/` up to `{group}0` ('0' follows '/').
        let (from, to) = (format!("{group}/"), format!("{group}0"));
        self.read(move |t| {
            let range = t.range(from.as_str()..to.as_str()).context("Failed to scan the schedules")?;
            range
                .map(|entry| {
                    let (k, _) = entry.context("Failed to scan the schedules")?;
                    Ok(k.value().strip_prefix(from.as_str()).unwrap_or_default().to_owned())
                })
                .collect()
        })
        .await
    }
}
