//! The automations table (logical name `automations`), through the table port, with its outbox. Every read
//! is one partition, strongly consistent.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | automation | `{tenant}#AUTO` | `{workspace}#{automation}` | — |
//! | trigger index (enabled event and record triggers) | `{tenant}#AUTOTRIG` | `{event type}#{workspace}#{automation}` | — |
//! | incoming webhook token (its SHA-256) | `AUTOHOOK#{sha256}` | `HOOK` | — |
//! | run (definition snapshot, trigger data, step log) | `{tenant}#RUNS#{automation}` | `RUN#{run}` | 30 days |
//! | run lookup (run → workspace, automation) | `{tenant}#RUN` | `{run}` | 30 days |
//! | runs this month | `{tenant}#AUTOUSE` | `{YYYY-MM}` | 400 days |
//! | runs in progress per automation | `{tenant}#AUTOCONC` | `{automation}` | — |
//! | the automation that last wrote a record (loop guard) | `{tenant}#AUTOWROTE` | `{record}` | 10 minutes |
//!
//! A run id is `run_` + 12 hex digits of its creation time in ms + 20 of a hash of what started it (the
//! automation and the event id, the scheduled time, or a random value), so a trigger delivered twice finds its
//! run already there, and runs list newest first.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use storage::StoreError;
use storage::table::{Condition, Item, Key, Query, Table, WriteOp};

use crate::model::Definition;

pub const TABLE: &str = "automations";
/// How long runs are kept.
pub const RUN_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// A run slot not released for this long (its worker died and nothing resumed it) is taken back.
pub const SLOT_STALE_MS: i64 = 3_600_000;

pub use platform::records::{Listing, StoreFailure, StoreResult};
use platform::records::{decode, encode};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Automation {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    pub definition: Definition,
    pub max_concurrent_runs: u32,
    /// Whose rights the actions use.
    pub created_by: String,
    /// SHA-256 (hex) of the incoming webhook token (webhook triggers).
    #[serde(default)]
    pub hook_token_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a slot (the automation's concurrency limit) or its first job.
    Queued,
    Running,
    /// In a wait step.
    Waiting,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Claimed by a worker, its outcome not recorded yet.
    Running,
    /// Failed, another attempt is scheduled.
    Retrying,
    Waiting,
    Succeeded,
    Failed,
}

/// One step's execution in a run's log (`path`: `2`, `3.then.0`, `4.each.7.1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepEntry {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: StepStatus,
    pub attempts: u32,
    /// What it was given (rendered), cut to 1 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub input: Option<Value>,
    /// What it gave (later steps see it as `steps.<id>`), cut to 2 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    /// Until when a wait waits, or when the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    /// When the running attempt was claimed (its lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub automation_id: String,
    pub automation_name: String,
    pub status: RunStatus,
    pub trigger_type: String,
    /// The trigger's data (`trigger` in templates).
    pub trigger: Value,
    /// The definition as it was when the run started (edits apply to later runs).
    pub definition: Definition,
    pub acts_as: String,
    /// The automation's concurrency limit when the run started.
    pub max_concurrent_runs: u32,
    pub log: Vec<StepEntry>,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at_ms: i64,
    #[serde(default)]
    pub started_at_ms: Option<i64>,
    #[serde(default)]
    pub finished_at_ms: Option<i64>,
    /// Times the run was retried after failing.
    #[serde(default)]
    pub retries: u32,
    #[serde(skip)]
    pub version: u64,
}

impl Run {
    pub fn entry(&self, path: &str) -> Option<&StepEntry> {
        self.log.iter().find(|e| e.path == path)
    }

    pub fn entry_mut(&mut self, path: &str) -> Option<&mut StepEntry> {
        self.log.iter_mut().find(|e| e.path == path)
    }
}

fn automations_pk(tenant: &str) -> String {
    format!("{tenant}#AUTO")
}
fn automation_key(tenant: &str, workspace: &str, automation: &str) -> Key {
    Key::new(automations_pk(tenant), format!("{workspace}#{automation}"))
}
fn trigger_key(tenant: &str, event_type: &str, workspace: &str, automation: &str) -> Key {
    Key::new(format!("{tenant}#AUTOTRIG"), format!("{event_type}#{workspace}#{automation}"))
}
fn hook_key(hash: &str) -> Key {
    Key::new(format!("AUTOHOOK#{hash}"), "HOOK")
}
fn run_key(tenant: &str, automation: &str, run: &str) -> Key {
    Key::new(format!("{tenant}#RUNS#{automation}"), format!("RUN#{run}"))
}
fn run_lookup_key(tenant: &str, run: &str) -> Key {
    Key::new(format!("{tenant}#RUN"), run.to_string())
}
fn usage_key(tenant: &str, month: &str) -> Key {
    Key::new(format!("{tenant}#AUTOUSE"), month.to_string())
}
fn wrote_key(tenant: &str, record: &str) -> Key {
    Key::new(format!("{tenant}#AUTOWROTE"), record.to_string())
}
/// How long a record remembers the automation that wrote it (the loop guard's window).
pub const WROTE_TTL_SECS: i64 = 600;
fn slots_key(tenant: &str, automation: &str) -> Key {
    Key::new(format!("{tenant}#AUTOCONC"), automation.to_string())
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `run_` + 12 hex digits of `at_ms` + 20 hex digits of `seed`'s hash.
pub fn run_id(at_ms: i64, seed: &str) -> String {
    let ms = u64::try_from(at_ms).unwrap_or(0).min(0xffff_ffff_ffff);
    format!("run_{ms:012x}{}", &sha256_hex(seed)[..20])
}

pub fn is_run_id(id: &str) -> bool {
    id.len() == 36 && id.starts_with("run_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn automation_of(item: Item) -> anyhow::Result<Automation> {
    let (mut automation, version): (Automation, u64) = decode(item)?;
    automation.version = version;
    Ok(automation)
}

fn run_of(item: Item) -> anyhow::Result<Run> {
    let (mut run, version): (Run, u64) = decode(item)?;
    run.version = version;
    Ok(run)
}

/// Where a trigger-index entry points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Indexed {
    pub workspace: String,
    pub automation: String,
}

/// Where an incoming webhook token leads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub tenant: String,
    pub workspace: String,
    pub automation: String,
}

/// Whether [`AutomationStore::create_run`] made the run.
#[derive(Debug)]
pub enum Started {
    New(Box<Run>),
    /// The trigger was seen before: its run exists.
    Existing,
    /// The month's runs are spent.
    OverLimit {
        allowed: u64,
    },
}

#[derive(Clone)]
pub struct AutomationStore {
    table: Arc<dyn Table>,
}

impl AutomationStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    // ---- automations ----

    fn automation_ops(&self, automation: &Automation, condition: Condition) -> anyhow::Result<Vec<WriteOp>> {
        let key = automation_key(&automation.tenant_id, &automation.workspace_id, &automation.id);
        let mut item = Item::new(key, encode(automation)?);
        item.version = automation.version;
        Ok(vec![WriteOp::Put { item, condition }])
    }

    fn index_ops(&self, automation: &Automation, add: bool) -> anyhow::Result<Vec<WriteOp>> {
        let mut ops = Vec::new();
        for event_type in automation.definition.trigger.event_types() {
            let key = trigger_key(&automation.tenant_id, event_type, &automation.workspace_id, &automation.id);
            if add && automation.enabled {
                let indexed = Indexed { workspace: automation.workspace_id.clone(), automation: automation.id.clone() };
                ops.push(WriteOp::Put { item: Item::new(key, encode(&indexed)?), condition: Condition::Always });
            } else {
                ops.push(WriteOp::Delete { key, condition: Condition::Always });
            }
        }
        Ok(ops)
    }

    fn hook_ops(&self, automation: &Automation, add: bool) -> anyhow::Result<Vec<WriteOp>> {
        let Some(hash) = &automation.hook_token_hash else { return Ok(Vec::new()) };
        Ok(vec![if add {
            let hook = Hook {
                tenant: automation.tenant_id.clone(),
                workspace: automation.workspace_id.clone(),
                automation: automation.id.clone(),
            };
            WriteOp::Put { item: Item::new(hook_key(hash), encode(&hook)?), condition: Condition::Always }
        } else {
            WriteOp::Delete { key: hook_key(hash), condition: Condition::Always }
        }])
    }

    pub async fn create(&self, automation: &Automation) -> StoreResult<Automation> {
        let mut ops = self.automation_ops(automation, Condition::MustNotExist)?;
        ops.extend(self.index_ops(automation, true)?);
        ops.extend(self.hook_ops(automation, true)?);
        self.table.transact(ops).await?;
        Ok(Automation { version: 1, ..automation.clone() })
    }

    /// Replaces `before` (read at its version) by `after`: the index and hook entries follow.
    pub async fn replace(&self, before: &Automation, after: &Automation) -> StoreResult<Automation> {
        let mut ops = self.automation_ops(after, Condition::VersionIs(before.version))?;
        let mut removed = self.index_ops(before, false)?;
        let added = self.index_ops(after, true)?;
        // A key both removed and added is only added (a transaction names each key once).
        removed.retain(|op| match op {
            WriteOp::Delete { key, .. } => {
                !added.iter().any(|a| matches!(a, WriteOp::Put { item, .. } if item.key == *key))
            }
            _ => true,
        });
        ops.extend(removed);
        ops.extend(added);
        if before.hook_token_hash != after.hook_token_hash {
            ops.extend(self.hook_ops(before, false)?);
            ops.extend(self.hook_ops(after, true)?);
        }
        self.table.transact(ops).await?;
        Ok(Automation { version: before.version + 1, ..after.clone() })
    }

    pub async fn delete(&self, automation: &Automation) -> StoreResult<()> {
        let key = automation_key(&automation.tenant_id, &automation.workspace_id, &automation.id);
        let mut ops = vec![WriteOp::Delete { key, condition: Condition::VersionIs(automation.version) }];
        ops.extend(self.index_ops(automation, false)?);
        ops.extend(self.hook_ops(automation, false)?);
        ops.push(WriteOp::Delete {
            key: slots_key(&automation.tenant_id, &automation.id),
            condition: Condition::Always,
        });
        self.table.transact(ops).await?;
        Ok(())
    }

    pub async fn automation(&self, tenant: &str, workspace: &str, id: &str) -> StoreResult<Option<Automation>> {
        match self.table.get(&automation_key(tenant, workspace, id)).await? {
            Some(item) => Ok(Some(automation_of(item)?)),
            None => Ok(None),
        }
    }

    pub async fn automations(
        &self,
        tenant: &str,
        workspace: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Automation>> {
        let query =
            Query::partition(automations_pk(tenant)).prefix(format!("{workspace}#")).limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.into_iter().map(automation_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// How many automations the tenant has, counting up to `at_most`.
    pub async fn count(&self, tenant: &str, at_most: usize) -> StoreResult<usize> {
        let mut count = 0;
        let mut cursor = None;
        loop {
            let query = Query::partition(automations_pk(tenant)).limit(100).cursor(cursor);
            let page = self.table.query(query).await?;
            count += page.items.len();
            if count >= at_most || page.next_cursor.is_none() {
                return Ok(count);
            }
            cursor = page.next_cursor;
        }
    }

    /// The enabled automations of the tenant whose trigger takes events of `event_type`.
    pub async fn triggered_by(&self, tenant: &str, event_type: &str) -> StoreResult<Vec<Indexed>> {
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(format!("{tenant}#AUTOTRIG"))
                .prefix(format!("{event_type}#"))
                .limit(100)
                .cursor(cursor);
            let page = self.table.query(query).await?;
            for item in page.items {
                found.push(decode::<Indexed>(item)?.0);
            }
            if page.next_cursor.is_none() || found.len() >= 1_000 {
                return Ok(found);
            }
            cursor = page.next_cursor;
        }
    }

    pub async fn hook(&self, token_hash: &str) -> StoreResult<Option<Hook>> {
        match self.table.get(&hook_key(token_hash)).await? {
            Some(item) => Ok(Some(decode::<Hook>(item)?.0)),
            None => Ok(None),
        }
    }

    // ---- runs ----

    /// Creates the run (unless its id exists) and counts it against the month's `allowed` runs, in one
    /// transaction.
    pub async fn create_run(&self, run: &Run, month: &str, allowed: u64) -> StoreResult<Started> {
        let key = run_key(&run.tenant_id, &run.automation_id, &run.id);
        let expires = run.created_at_ms / 1000 + RUN_RETENTION_SECS;
        for _ in 0..8 {
            if self.table.get(&key).await?.is_some() {
                return Ok(Started::Existing);
            }
            let usage = self.table.get(&usage_key(&run.tenant_id, month)).await?;
            let (count, version) = match &usage {
                Some(item) => (item.attrs.get("runs").and_then(Value::as_u64).unwrap_or(0), item.version),
                None => (0, 0),
            };
            if count >= allowed {
                return Ok(Started::OverLimit { allowed });
            }
            let mut counter =
                Item::new(usage_key(&run.tenant_id, month), encode(&serde_json::json!({"runs": count + 1}))?);
            counter.version = version;
            counter.expires_at = Some(run.created_at_ms / 1000 + 400 * 86_400);
            let counter_condition = if version == 0 { Condition::MustNotExist } else { Condition::VersionIs(version) };
            let mut item = Item::new(key.clone(), encode(run)?);
            item.expires_at = Some(expires);
            let lookup = Indexed { workspace: run.workspace_id.clone(), automation: run.automation_id.clone() };
            let mut lookup = Item::new(run_lookup_key(&run.tenant_id, &run.id), encode(&lookup)?);
            lookup.expires_at = Some(expires);
            let ops = vec![
                WriteOp::Put { item, condition: Condition::MustNotExist },
                WriteOp::Put { item: lookup, condition: Condition::MustNotExist },
                WriteOp::Put { item: counter, condition: counter_condition },
            ];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Started::New(Box::new(Run { version: 1, ..run.clone() }))),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }

    /// Runs counted this month.
    pub async fn runs_this_month(&self, tenant: &str, month: &str) -> StoreResult<u64> {
        let usage = self.table.get(&usage_key(tenant, month)).await?;
        Ok(usage.and_then(|i| i.attrs.get("runs").and_then(Value::as_u64)).unwrap_or(0))
    }

    pub async fn run(&self, tenant: &str, automation: &str, id: &str) -> StoreResult<Option<Run>> {
        match self.table.get(&run_key(tenant, automation, id)).await? {
            Some(item) => Ok(Some(run_of(item)?)),
            None => Ok(None),
        }
    }

    /// Where run `id` of the tenant belongs.
    pub async fn run_lookup(&self, tenant: &str, id: &str) -> StoreResult<Option<Indexed>> {
        match self.table.get(&run_lookup_key(tenant, id)).await? {
            Some(item) => Ok(Some(decode::<Indexed>(item)?.0)),
            None => Ok(None),
        }
    }

    /// Writes the run back if nobody wrote it since it was read.
    pub async fn save_run(&self, run: &Run) -> StoreResult<Run> {
        let mut item = Item::new(run_key(&run.tenant_id, &run.automation_id, &run.id), encode(run)?);
        item.version = run.version;
        item.expires_at = Some(run.created_at_ms / 1000 + RUN_RETENTION_SECS);
        let stored = self.table.update(item).await?;
        Ok(Run { version: stored.version, ..run.clone() })
    }

    pub async fn runs(
        &self,
        tenant: &str,
        automation: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Run>> {
        let query = Query::partition(format!("{tenant}#RUNS#{automation}"))
            .prefix("RUN#")
            .descending()
            .limit(limit)
            .cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.into_iter().map(run_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    // ---- the loop guard ----

    /// Remembers that `automation` just wrote `record` (for [`WROTE_TTL_SECS`]).
    pub async fn wrote(&self, tenant: &str, record: &str, automation: &str, now_ms: i64) -> StoreResult<()> {
        let mut item = Item::new(wrote_key(tenant, record), encode(&serde_json::json!({"automation": automation}))?);
        item.expires_at = Some(now_ms / 1000 + WROTE_TTL_SECS);
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    /// The automation that wrote `record` in the last [`WROTE_TTL_SECS`], if any.
    pub async fn written_by(&self, tenant: &str, record: &str) -> StoreResult<Option<String>> {
        let item = self.table.get(&wrote_key(tenant, record)).await?;
        Ok(item.and_then(|i| i.attrs.get("automation").and_then(Value::as_str).map(String::from)))
    }

    // ---- concurrency ----

    /// Takes a slot for `run` unless `max` runs of the automation hold one; true when the run holds one.
    pub async fn take_slot(
        &self,
        tenant: &str,
        automation: &str,
        run: &str,
        max: u32,
        now_ms: i64,
    ) -> StoreResult<bool> {
        for _ in 0..8 {
            let stored = self.table.get(&slots_key(tenant, automation)).await?;
            let (mut running, version): (BTreeMap<String, i64>, u64) = match stored {
                Some(item) => {
                    let version = item.version;
                    let running = item.attrs.get("running").cloned().unwrap_or(Value::Null);
                    (serde_json::from_value(running).unwrap_or_default(), version)
                }
                None => (BTreeMap::new(), 0),
            };
            if running.contains_key(run) {
                return Ok(true);
            }
            running.retain(|_, since| now_ms - *since < SLOT_STALE_MS);
            if running.len() >= max as usize {
                return Ok(false);
            }
            running.insert(run.to_string(), now_ms);
            let mut item = Item::new(slots_key(tenant, automation), encode(&serde_json::json!({"running": running}))?);
            item.version = version;
            match self.table.update(item).await {
                Ok(_) => return Ok(true),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }

    /// Gives the run's slot back (nothing if it holds none).
    pub async fn release_slot(&self, tenant: &str, automation: &str, run: &str) -> StoreResult<()> {
        for _ in 0..8 {
            let Some(item) = self.table.get(&slots_key(tenant, automation)).await? else { return Ok(()) };
            let version = item.version;
            let running = item.attrs.get("running").cloned().unwrap_or(Value::Null);
            let mut running: BTreeMap<String, i64> = serde_json::from_value(running).unwrap_or_default();
            if running.remove(run).is_none() {
                return Ok(());
            }
            let mut item = Item::new(slots_key(tenant, automation), encode(&serde_json::json!({"running": running}))?);
            item.version = version;
            match self.table.update(item).await {
                Ok(_) => return Ok(()),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Conflict)
    }
}
