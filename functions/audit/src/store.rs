//! The audit table (logical name `audit`).
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | entry | `{tenant}#AUDIT` (`_platform#AUDIT` for tenant-less events) | `{ms:013}#{event_id}` | `AUDIT` / same sk |
//!
//! The key is a function of the event, so writing it with `MustNotExist` makes a redelivered message a
//! no-op: one entry per event, however often SQS delivers it. The index is the platform admin's view of
//! every tenant. Filters (user, action) are applied while paging, as DynamoDB's own filter expressions
//! would be: a page may hold fewer than `limit` entries while `next_cursor` says more may follow.

use std::sync::Arc;

use events::{Action, Event};
use storage::table::{Condition, Item, Key, Query, Table};
use storage::{StoreError, StoreResult};

pub const TABLE: &str = "audit";
const NO_TENANT: &str = "_platform";
const ALL_INDEX: &str = "AUDIT";
/// Storage pages read per request while filtering, bounding the work of a sparse filter.
const MAX_ROUNDS: usize = 10;

#[derive(Clone)]
pub struct AuditStore {
    table: Arc<dyn Table>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}

pub enum Scope {
    Tenant(String),
    All,
}

#[derive(Default)]
pub struct Filter {
    /// Matches the actor or the subject.
    pub user_id: Option<String>,
    pub action: Option<Action>,
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        let user = self
            .user_id
            .as_deref()
            .is_none_or(|u| event.actor_id.as_deref() == Some(u) || event.subject_id.as_deref() == Some(u));
        user && self.action.is_none_or(|a| event.action == a)
    }
}

pub struct Entries {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
}

/// Where an entry keeps its event's `version`.
const EVENT_VERSION: &str = "event_version";

impl AuditStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn record(&self, event: &Event) -> StoreResult<Recorded> {
        let tenant = event.tenant_id.as_deref().unwrap_or(NO_TENANT);
        let sort = format!("{:013}#{}", event.occurred_at_ms, event.event_id);
        let mut attrs = match serde_json::to_value(event) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(StoreError::Invalid("an audit event must encode as an object".into())),
        };
        // `version` is the table port's own attribute (the item's version): the envelope's is kept apart.
        if let Some(version) = attrs.remove("version") {
            attrs.insert(EVENT_VERSION.into(), version);
        }
        let mut item = Item::new(Key::new(format!("{tenant}#AUDIT"), sort.clone()), attrs);
        item.index = Some(Key::new(ALL_INDEX, sort));
        match self.table.put(item, Condition::MustNotExist).await {
            Ok(_) => Ok(Recorded::New),
            Err(StoreError::ConditionFailed) => Ok(Recorded::Duplicate),
            Err(e) => Err(e),
        }
    }

    /// Newest first.
    pub async fn list(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        mut cursor: Option<String>,
    ) -> StoreResult<Entries> {
        let query = match scope {
            Scope::Tenant(tenant) => Query::partition(format!("{tenant}#AUDIT")),
            Scope::All => Query::partition(ALL_INDEX).on_index(),
        }
        .descending();
        let mut events = Vec::new();
        for _ in 0..MAX_ROUNDS {
            // Never read more than still fits, so the cursor is exactly where this page stops.
            let page = self.table.query(query.clone().limit(limit - events.len()).cursor(cursor)).await?;
            for item in &page.items {
                let mut attrs = item.attrs.clone();
                if let Some(version) = attrs.remove(EVENT_VERSION) {
                    attrs.insert("version".into(), version);
                }
                let event: Event = serde_json::from_value(serde_json::Value::Object(attrs)).map_err(|e| {
                    StoreError::Unexpected(anyhow::Error::new(e).context("Failed to decode an audit entry"))
                })?;
                if filter.matches(&event) {
                    events.push(event);
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() || events.len() == limit {
                break;
            }
        }
        Ok(Entries { events, next_cursor: cursor })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use events::Origin;

    use super::*;

    fn store() -> (AuditStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("audit-store-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        (AuditStore::new(env.table(TABLE)), dir)
    }

    fn event(action: Action, tenant: Option<&str>, user: &str, at: i64) -> Event {
        let mut event = Event::new(action, &Origin { request_id: "r".into(), ip: None }).actor(user);
        event.tenant_id = tenant.map(String::from);
        event.occurred_at_ms = at;
        event
    }

    #[tokio::test]
    async fn recording_the_same_event_twice_keeps_one_entry() {
        let (store, dir) = store();
        let e = event(Action::LoggedOut, Some("t1"), "u1", 1_000);
        assert_eq!(store.record(&e).await.unwrap(), Recorded::New);
        assert_eq!(store.record(&e).await.unwrap(), Recorded::Duplicate);
        let listed = store.list(&Scope::Tenant("t1".into()), &Filter::default(), 10, None).await.unwrap();
        assert_eq!(listed.events, vec![e]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_tenant_sees_its_own_entries_newest_first_and_all_sees_every_tenant() {
        let (store, dir) = store();
        for (i, tenant) in [Some("t1"), Some("t2"), None, Some("t1")].into_iter().enumerate() {
            store.record(&event(Action::LoginFailed, tenant, "u", 1_000 + i as i64)).await.unwrap();
        }
        let t1 = store.list(&Scope::Tenant("t1".into()), &Filter::default(), 10, None).await.unwrap();
        assert_eq!(t1.events.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>(), vec![1_003, 1_000]);
        let all = store.list(&Scope::All, &Filter::default(), 10, None).await.unwrap();
        assert_eq!(all.events.len(), 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_filtered_listing_pages_through_every_match_exactly_once() {
        let (store, dir) = store();
        for i in 0..12 {
            let action = if i % 3 == 0 { Action::ApiKeyCreated } else { Action::LoginSucceeded };
            store.record(&event(action, Some("t1"), if i % 2 == 0 { "a" } else { "b" }, 2_000 + i)).await.unwrap();
        }
        let filter = Filter { user_id: Some("a".into()), action: Some(Action::ApiKeyCreated) };
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = store.list(&Scope::Tenant("t1".into()), &filter, 1, cursor).await.unwrap();
            assert!(page.events.len() <= 1);
            seen.extend(page.events.iter().map(|e| e.occurred_at_ms));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, vec![2_006, 2_000]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
