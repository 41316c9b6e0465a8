//! The webhooks table (logical name `webhooks`), through the table port. No secondary index: every read is
//! one partition, strongly consistent.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | endpoint | `{tenant}#WH` | `EP#{endpoint}` | — |
//! | message (with its attempts) | `{tenant}#WH#{endpoint}` | `MSG#{message}` | 30 days |
//! | message lookup (id → endpoint) | `{tenant}#WHMSG` | `MSG#{message}` | 30 days |
//!
//! A message id is `msg_` + its creation time (12 hex digits of epoch milliseconds) + 20 hex digits of a hash:
//! of the event and the endpoint for an event's message, so a redelivered event finds its messages already
//! there (the message and its lookup are written together, each `MustNotExist`); random for a test. Ids sort
//! by time, so an endpoint's messages are listed newest first, and "failed since" is a sort-key range. A
//! deleted endpoint's messages are unreachable (every route reads the endpoint first) and expire with the TTL.

mod records;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use storage::StoreError;
use storage::table::{Condition, Item, Key, Query, Table, WriteOp};

pub use records::{Attempt, Endpoint, MAX_LOGGED_ATTEMPTS, Message, Status, Trigger};

pub const TABLE: &str = "webhooks";
/// How long messages (and their attempts) are kept.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Clone)]
pub struct WebhookStore {
    table: Arc<dyn Table>,
}

pub use platform::records::{Listing, StoreFailure, StoreResult};
use platform::records::{decode, encode};

/// Whether [`WebhookStore::create_message`] wrote the message or found it there.
#[derive(Debug, PartialEq)]
pub enum Created {
    New(Box<Message>),
    Existing,
}

fn endpoints_pk(tenant: &str) -> String {
    format!("{tenant}#WH")
}
fn endpoint_key(tenant: &str, endpoint: &str) -> Key {
    Key::new(endpoints_pk(tenant), format!("EP#{endpoint}"))
}
fn messages_pk(tenant: &str, endpoint: &str) -> String {
    format!("{tenant}#WH#{endpoint}")
}
fn message_key(tenant: &str, endpoint: &str, message: &str) -> Key {
    Key::new(messages_pk(tenant, endpoint), format!("MSG#{message}"))
}
fn lookup_key(tenant: &str, message: &str) -> Key {
    Key::new(format!("{tenant}#WHMSG"), format!("MSG#{message}"))
}

/// `msg_` + 12 hex digits of `at_ms` + 20 hex digits of `seed`'s hash.
pub fn message_id(at_ms: i64, seed: &str) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    let ms = u64::try_from(at_ms).unwrap_or(0).min(0xffff_ffff_ffff);
    format!("msg_{ms:012x}{}", &hex(&hash)[..20])
}

/// The id of the message carrying event `event_id` (which happened at `at_ms`) to `endpoint`.
pub fn event_message_id(event_id: &str, at_ms: i64, endpoint: &str) -> String {
    message_id(at_ms, &format!("{event_id}/{endpoint}"))
}

/// The smallest message id created at or after `at_ms`.
fn first_id_at(at_ms: i64) -> String {
    let ms = u64::try_from(at_ms).unwrap_or(0).min(0xffff_ffff_ffff);
    format!("msg_{ms:012x}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn endpoint_of(item: Item) -> anyhow::Result<Endpoint> {
    let (mut endpoint, version): (Endpoint, u64) = decode(item)?;
    endpoint.version = version;
    Ok(endpoint)
}

fn message_of(item: Item) -> anyhow::Result<Message> {
    let (mut message, version): (Message, u64) = decode(item)?;
    message.version = version;
    Ok(message)
}

fn expiry(created_at_ms: i64) -> Option<i64> {
    Some(created_at_ms / 1000 + RETENTION_SECS)
}

impl WebhookStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    fn endpoint_item(endpoint: &Endpoint) -> anyhow::Result<Item> {
        let mut item = Item::new(endpoint_key(&endpoint.tenant_id, &endpoint.id), encode(endpoint)?);
        item.version = endpoint.version;
        Ok(item)
    }

    fn message_item(message: &Message) -> anyhow::Result<Item> {
        let key = message_key(&message.tenant_id, &message.endpoint_id, &message.id);
        let mut item = Item::new(key, encode(message)?);
        item.version = message.version;
        item.expires_at = expiry(message.created_at_ms);
        Ok(item)
    }

    pub async fn create_endpoint(&self, endpoint: &Endpoint) -> StoreResult<Endpoint> {
        let stored = self.table.put(Self::endpoint_item(endpoint)?, Condition::MustNotExist).await?;
        Ok(Endpoint { version: stored.version, ..endpoint.clone() })
    }

    pub async fn endpoint(&self, tenant: &str, id: &str) -> StoreResult<Option<Endpoint>> {
        let item = self.table.get(&endpoint_key(tenant, id)).await?;
        Ok(item.map(endpoint_of).transpose()?)
    }

    /// Oldest first.
    pub async fn endpoints(
        &self,
        tenant: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Endpoint>> {
        let page =
            self.table.query(Query::partition(endpoints_pk(tenant)).prefix("EP#").limit(limit).cursor(cursor)).await?;
        let items = page.items.into_iter().map(endpoint_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// Every endpoint of the tenant (there are at most a few dozen).
    pub async fn all_endpoints(&self, tenant: &str) -> StoreResult<Vec<Endpoint>> {
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.endpoints(tenant, 100, cursor).await?;
            all.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// Replaces the endpoint if nobody wrote it since it was read ([`StoreFailure::Conflict`] otherwise).
    pub async fn update_endpoint(&self, endpoint: &Endpoint) -> StoreResult<Endpoint> {
        let stored = self.table.update(Self::endpoint_item(endpoint)?).await?;
        Ok(Endpoint { version: stored.version, ..endpoint.clone() })
    }

    pub async fn delete_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()> {
        let key = endpoint_key(&endpoint.tenant_id, &endpoint.id);
        self.table.delete(&key, Condition::MustExist).await?;
        Ok(())
    }

    /// Writes the message and its lookup, unless it exists (a redelivered event).
    pub async fn create_message(&self, message: &Message) -> StoreResult<Created> {
        let mut lookup = Item::new(
            lookup_key(&message.tenant_id, &message.id),
            encode(&serde_json::json!({"endpoint_id": message.endpoint_id}))?,
        );
        lookup.expires_at = expiry(message.created_at_ms);
        let ops = vec![
            WriteOp::Put { item: Self::message_item(message)?, condition: Condition::MustNotExist },
            WriteOp::Put { item: lookup, condition: Condition::MustNotExist },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(Created::New(Box::new(Message { version: 1, ..message.clone() }))),
            Err(StoreError::ConditionFailed) => Ok(Created::Existing),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn message(&self, tenant: &str, endpoint: &str, id: &str) -> StoreResult<Option<Message>> {
        let item = self.table.get(&message_key(tenant, endpoint, id)).await?;
        Ok(item.map(message_of).transpose()?)
    }

    /// A message by id alone (through its lookup).
    pub async fn locate_message(&self, tenant: &str, id: &str) -> StoreResult<Option<Message>> {
        let Some(lookup) = self.table.get(&lookup_key(tenant, id)).await? else { return Ok(None) };
        let Some(endpoint) = lookup.attrs.get("endpoint_id").and_then(|v| v.as_str()) else {
            return Err(StoreFailure::Unexpected(anyhow::anyhow!("a message lookup names no endpoint")));
        };
        self.message(tenant, endpoint, id).await
    }

    /// Replaces the message if nobody wrote it since it was read ([`StoreFailure::Conflict`] otherwise).
    pub async fn update_message(&self, message: &Message) -> StoreResult<Message> {
        let stored = self.table.update(Self::message_item(message)?).await?;
        Ok(Message { version: stored.version, ..message.clone() })
    }

    /// Newest first.
    pub async fn messages(
        &self,
        tenant: &str,
        endpoint: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Message>> {
        let query = Query::partition(messages_pk(tenant, endpoint)).prefix("MSG#").descending();
        let page = self.table.query(query.limit(limit).cursor(cursor)).await?;
        let items = page.items.into_iter().map(message_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// Messages created at or after `since_ms`, oldest first.
    pub async fn messages_since(
        &self,
        tenant: &str,
        endpoint: &str,
        since_ms: i64,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Message>> {
        let query = Query::partition(messages_pk(tenant, endpoint))
            .between(format!("MSG#{}", first_id_at(since_ms)), "MSG#msg_~");
        let page = self.table.query(query.limit(limit).cursor(cursor)).await?;
        let items = page.items.into_iter().map(message_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }
}

#[cfg(test)]
mod tests;
