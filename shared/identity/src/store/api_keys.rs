//! API keys: the record in the owner's partition (for listing) and a lookup item keyed by the key's hash
//! (for the authorizer), written and removed together.

use anyhow::Context;
use storage::table::{Condition, Item, Query, WriteOp};

use super::{IdentityStore, from_attrs, keys, to_attrs};
use crate::records::ApiKey;

fn items(key: &ApiKey) -> anyhow::Result<[Item; 2]> {
    let attrs = to_attrs(key)?;
    let mut record = Item::new(keys::api_key(&key.tenant_id, &key.user_id, &key.key_id), attrs.clone());
    let mut lookup = Item::new(keys::api_key_lookup(&key.hash), attrs);
    record.expires_at = key.expires_at;
    lookup.expires_at = key.expires_at;
    Ok([record, lookup])
}

fn key_from(item: &Item) -> anyhow::Result<ApiKey> {
    let mut key: ApiKey = from_attrs(item)?;
    key.expires_at = item.expires_at;
    Ok(key)
}

impl IdentityStore {
    pub async fn create_api_key(&self, key: &ApiKey) -> anyhow::Result<()> {
        let [record, lookup] = items(key)?;
        let ops = vec![
            WriteOp::Put { item: record, condition: Condition::MustNotExist },
            WriteOp::Put { item: lookup, condition: Condition::MustNotExist },
        ];
        self.table.transact(ops).await.context("Failed to create an API key")?;
        Ok(())
    }

    /// The user's live keys, oldest first; at most `limit`.
    pub async fn api_keys(&self, tenant_id: &str, user_id: &str, limit: usize) -> anyhow::Result<Vec<ApiKey>> {
        let query = Query::partition(keys::owned_partition(tenant_id, user_id)).prefix("APIKEY#").limit(limit);
        let page = self.table.query(query).await.context("Failed to list API keys")?;
        page.items.iter().map(key_from).collect()
    }

    /// The key a presented secret hashes to, unless revoked or expired.
    pub async fn api_key_by_hash(&self, hash: &str) -> anyhow::Result<Option<ApiKey>> {
        let item = self.table.get(&keys::api_key_lookup(hash)).await.context("Failed to look an API key up")?;
        item.as_ref().map(key_from).transpose()
    }

    /// Revokes one of the user's keys and returns it; none when the user has no such key.
    pub async fn delete_api_key(&self, tenant_id: &str, user_id: &str, key_id: &str) -> anyhow::Result<Option<ApiKey>> {
        let record_key = keys::api_key(tenant_id, user_id, key_id);
        let Some(record) = self.table.get(&record_key).await.context("Failed to read an API key")? else {
            return Ok(None);
        };
        let key = key_from(&record)?;
        let ops = vec![
            WriteOp::Delete { key: record_key, condition: Condition::Always },
            WriteOp::Delete { key: keys::api_key_lookup(&key.hash), condition: Condition::Always },
        ];
        self.table.transact(ops).await.context("Failed to revoke an API key")?;
        Ok(Some(key))
    }
}
