//! The analytics table (logical name `analytics`): per tenant, per metric, one item per hour and one per day,
//! each with its total and its breakdown by dimension; and a marker per event metered, so a redelivered event
//! counts once.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | an hour's aggregate | `{tenant}#A#{metric}#H` | `YYYY-MM-DDTHH` | 100 days |
//! | a day's aggregate | `{tenant}#A#{metric}#D` | `YYYY-MM-DD` | 800 days |
//! | an event metered | `{tenant}#ASEEN` | `{event id}` | 15 days (beyond the DLQ's 14) |
//!
//! An event's marker and every aggregate it changes are written in one transaction guarded by each item's
//! version: all of it counts, once, or nothing does (and the delivery is retried).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::StoreError;
use storage::table::{Condition, Item, Key, Query, Table, WriteOp};

pub use platform::records::{StoreFailure, StoreResult};
use platform::records::{decode, encode};

use crate::meter::Reading;

pub const TABLE: &str = "analytics";
const SEEN_KEPT_SECS: i64 = 15 * 86_400;
/// Distinct values kept per dimension in one aggregate; the rest add up under [`OTHER`].
pub const MAX_VALUES: usize = 500;
pub const OTHER: &str = "(other)";
const ATTEMPTS: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    fn code(self) -> &'static str {
        match self {
            Self::Hour => "H",
            Self::Day => "D",
        }
    }

    /// The period holding epoch milliseconds `ms`: `YYYY-MM-DDTHH` or `YYYY-MM-DD` (UTC).
    pub fn period(self, ms: i64) -> String {
        let at = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match self {
            Self::Hour => at.format("%Y-%m-%dT%H").to_string(),
            Self::Day => at.format("%Y-%m-%d").to_string(),
        }
    }

    pub fn step_ms(self) -> i64 {
        match self {
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }

    fn kept_secs(self) -> i64 {
        match self {
            Self::Hour => 100 * 86_400,
            Self::Day => 800 * 86_400,
        }
    }
}

/// One period's aggregate of one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub period: String,
    pub value: u64,
    /// dimension → value → total.
    #[serde(default)]
    pub by: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Aggregate {
    fn add(&mut self, reading: &Reading) {
        self.value = self.value.saturating_add(reading.value);
        for (dimension, key) in &reading.dimensions {
            let values = self.by.entry((*dimension).to_string()).or_default();
            let key = if values.contains_key(key) || values.len() < MAX_VALUES { key.as_str() } else { OTHER };
            let total = values.entry(key.to_string()).or_default();
            *total = total.saturating_add(reading.value);
        }
    }
}

/// Whether an event counted now or had already.
#[derive(Debug, PartialEq, Eq)]
pub enum Metered {
    Counted,
    Duplicate,
}

#[derive(Clone)]
pub struct AnalyticsStore {
    table: Arc<dyn Table>,
}

fn aggregate_key(tenant: &str, metric: &str, granularity: Granularity, period: &str) -> Key {
    Key::new(format!("{tenant}#A#{metric}#{}", granularity.code()), period)
}

fn seen_key(tenant: &str, event: &str) -> Key {
    Key::new(format!("{tenant}#ASEEN"), event)
}

impl AnalyticsStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Adds `readings` of event `event_id` (which happened at `at_ms`) to the tenant's hour and day, once.
    pub async fn meter(&self, tenant: &str, event_id: &str, at_ms: i64, readings: &[Reading]) -> StoreResult<Metered> {
        let seen = seen_key(tenant, event_id);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // Another event of the same tenant and hour won the race: read again, after a moment.
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt as u64)).await;
            }
            if self.table.get(&seen).await?.is_some() {
                return Ok(Metered::Duplicate);
            }
            let mut marker = Item::new(seen.clone(), encode(&serde_json::json!({"at_ms": at_ms}))?);
            marker.expires_at = Some(storage::now_secs() + SEEN_KEPT_SECS);
            let mut ops = vec![WriteOp::Put { item: marker, condition: Condition::MustNotExist }];
            // One write per (metric, granularity): several readings of one metric add up in it.
            let mut changed: BTreeMap<(&str, Granularity), (Aggregate, u64)> = BTreeMap::new();
            for reading in readings {
                for granularity in [Granularity::Hour, Granularity::Day] {
                    let slot = match changed.entry((reading.metric, granularity)) {
                        std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::btree_map::Entry::Vacant(v) => {
                            let period = granularity.period(at_ms);
                            let key = aggregate_key(tenant, reading.metric, granularity, &period);
                            let current = match self.table.get(&key).await? {
                                Some(item) => decode::<Aggregate>(item)?,
                                None => (Aggregate { period, ..Aggregate::default() }, 0),
                            };
                            v.insert(current)
                        }
                    };
                    slot.0.add(reading);
                }
            }
            for ((metric, granularity), (aggregate, version)) in changed {
                let key = aggregate_key(tenant, metric, granularity, &aggregate.period);
                let mut item = Item::new(key, encode(&aggregate)?);
                item.version = version;
                item.expires_at = Some(at_ms / 1000 + granularity.kept_secs());
                let condition = if version == 0 { Condition::MustNotExist } else { Condition::VersionIs(version) };
                ops.push(WriteOp::Put { item, condition });
            }
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Metered::Counted),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }

    /// The tenant's aggregates of `metric` from period `from` to period `to` (inclusive), oldest first.
    pub async fn aggregates(
        &self,
        tenant: &str,
        metric: &str,
        granularity: Granularity,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<Aggregate>> {
        let partition = format!("{tenant}#A#{metric}#{}", granularity.code());
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(&partition).between(from, to).limit(1000).cursor(cursor);
            let page = self.table.query(query).await?;
            for item in page.items {
                out.push(decode::<Aggregate>(item)?.0);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }
}
