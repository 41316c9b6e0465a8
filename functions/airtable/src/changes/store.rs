//! The webhooks change capture registered, in the workspaces table (beside the links they serve):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a link's webhook (secret sealed, cursor) | `{tenant}#AIRHOOK` | `BASE#{base}` |
//! | the same, for the refresh schedule to enumerate | `AIRHOOKS` | `{tenant}#{base}` |
//!
//! Both are written and deleted in one transaction; the cursor moves on the first only, under its version, so
//! two workers reading the same page cannot move it backwards.

use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use storage::StoreError;
use storage::table::{Attributes, Condition, Item, Key, Query, Table, WriteOp};

/// Enumeration of every tenant's webhooks (refresh), with no secret in it.
const ALL: &str = "AIRHOOKS";

/// A base link's Airtable webhook.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hook {
    pub tenant_id: String,
    pub workspace_id: String,
    pub base_id: String,
    pub connection_id: String,
    /// Airtable's webhook id (`ach…`).
    pub webhook_id: String,
    /// The MAC secret, sealed by the keys port (purpose `airtable-webhook-mac`, bound to tenant and webhook).
    pub mac_secret: String,
    /// The next payload to read.
    pub cursor: u64,
    /// Airtable's `expirationTime` (RFC 3339; `expires_at` is the table's TTL attribute).
    pub expiration_time: String,
    pub created_at: String,
    #[serde(skip)]
    pub version: u64,
}

#[derive(Clone)]
pub struct HookStore {
    table: Arc<dyn Table>,
}

fn key(tenant: &str, base: &str) -> Key {
    Key::new(format!("{tenant}#AIRHOOK"), format!("BASE#{base}"))
}

fn listed(tenant: &str, base: &str) -> Key {
    Key::new(ALL, format!("{tenant}#{base}"))
}

fn encode(hook: &Hook) -> anyhow::Result<Attributes> {
    match serde_json::to_value(hook)? {
        serde_json::Value::Object(attrs) => Ok(attrs),
        _ => anyhow::bail!("a hook encodes as an object"),
    }
}

impl HookStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(&self, tenant: &str, base: &str) -> anyhow::Result<Option<Hook>> {
        let Some(item) = self.table.get(&key(tenant, base)).await.context("Failed to read a webhook")? else {
            return Ok(None);
        };
        let mut hook: Hook = serde_json::from_value(serde_json::Value::Object(item.attrs))?;
        hook.version = item.version;
        Ok(Some(hook))
    }

    /// Stores a new hook; false when the link has one already (someone registered it first).
    pub async fn create(&self, hook: &Hook) -> anyhow::Result<bool> {
        let entry = serde_json::json!({"tenant_id": hook.tenant_id, "base_id": hook.base_id});
        let entry = match entry {
            serde_json::Value::Object(attrs) => attrs,
            _ => Attributes::new(),
        };
        let ops = vec![
            WriteOp::Put {
                item: Item::new(key(&hook.tenant_id, &hook.base_id), encode(hook)?),
                condition: Condition::MustNotExist,
            },
            WriteOp::Put {
                item: Item::new(listed(&hook.tenant_id, &hook.base_id), entry),
                condition: Condition::Always,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e).context("Failed to store a webhook"),
        }
    }

    /// Writes `hook` back if nobody wrote it since it was read; false otherwise.
    pub async fn update(&self, hook: &Hook) -> anyhow::Result<bool> {
        let mut item = Item::new(key(&hook.tenant_id, &hook.base_id), encode(hook)?);
        item.version = hook.version;
        match self.table.update(item).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e).context("Failed to update a webhook"),
        }
    }

    pub async fn delete(&self, tenant: &str, base: &str) -> anyhow::Result<()> {
        let ops = vec![
            WriteOp::Delete { key: key(tenant, base), condition: Condition::Always },
            WriteOp::Delete { key: listed(tenant, base), condition: Condition::Always },
        ];
        self.table.transact(ops).await.context("Failed to delete a webhook")
    }

    /// Every (tenant, base) with a webhook, a page at a time.
    pub async fn page(&self, cursor: Option<String>) -> anyhow::Result<(Vec<(String, String)>, Option<String>)> {
        let page = self.table.query(Query::partition(ALL).limit(100).cursor(cursor)).await?;
        let pairs = page
            .items
            .iter()
            .filter_map(|item| {
                let tenant = item.attrs.get("tenant_id")?.as_str()?;
                let base = item.attrs.get("base_id")?.as_str()?;
                Some((tenant.to_string(), base.to_string()))
            })
            .collect();
        Ok((pairs, page.next_cursor))
    }
}
