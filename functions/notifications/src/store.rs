//! The notifications table (logical name `notifications`), through the table port. No secondary index: every
//! read is one partition, strongly consistent.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | notification (with its delivery log) | `{tenant}#NTF#{user}` (`{tenant}#NTF#-`: an invitee without an account) | `N#{id}` | 90 days |
//! | unread marker | `{tenant}#NTFU#{user}` | `N#{id}` | 90 days |
//! | preferences | `{tenant}#NTFPREF` | `U#{user}` | — |
//! | template override | `{tenant}#NTFTPL` | `T#{type}#{locale}` | — |
//! | email counter (rate limit) | `{tenant}#NTFRATE` | `H#{epoch hour}` | 2 hours |
//! | SMS counter (rate limit) | `{tenant}#NTFRATE` | `SMS#{epoch hour}` | 2 hours |
//! | device (push) | `{tenant}#NTFDEV#{user}` | `D#{id}` | — |
//! | embedded outbox (runner only) | `NTFOUTBOX` | `M#{id}` | 7 days |
//!
//! A notification id is `ntf_` + 12 hex digits of the event's time in milliseconds + 20 hex digits of a hash
//! of the event id and the recipient: a redelivered event finds its notification there (the notification and
//! its unread marker are written together, each `MustNotExist`), and ids sort by time, so an inbox lists
//! newest first.
//!
//! A device id is `dev_` + 24 hex digits of a hash of the platform and the token: registering the same token
//! again finds the device (per user: another user's device is in another partition).

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storage::StoreError;
use storage::table::{Condition, Item, Key, Query, Table, WriteOp};

use crate::preferences::Preferences;
use crate::records::{Channel, Device, Notification, OutboxMail, Platform, TemplateOverride};

pub const TABLE: &str = "notifications";
/// How long notifications (and their delivery log) are kept.
pub const RETENTION_SECS: i64 = 90 * 24 * 3600;
/// How long the embedded outbox keeps an email.
pub const OUTBOX_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Passes of [`NotificationStore::mark_all_read`] (each reads up to 100 unread markers).
const MAX_READ_ALL_PASSES: usize = 50;
/// The most devices a user registers for push.
pub const MAX_DEVICES: usize = 10;
/// The recipient part of the partition of invitees (no account yet).
pub const EXTERNAL: &str = "-";

#[derive(Clone)]
pub struct NotificationStore {
    table: Arc<dyn Table>,
}

use platform::records::encode;
pub use platform::records::{Listing, StoreFailure, StoreResult};

/// Whether [`NotificationStore::create`] wrote the notification or found it there.
#[derive(Debug)]
pub enum Created {
    New(Box<Notification>),
    Existing(Box<Notification>),
}

fn inbox_pk(tenant: &str, user: &str) -> String {
    format!("{tenant}#NTF#{user}")
}
fn unread_pk(tenant: &str, user: &str) -> String {
    format!("{tenant}#NTFU#{user}")
}
fn notification_key(tenant: &str, user: &str, id: &str) -> Key {
    Key::new(inbox_pk(tenant, user), format!("N#{id}"))
}
fn unread_key(tenant: &str, user: &str, id: &str) -> Key {
    Key::new(unread_pk(tenant, user), format!("N#{id}"))
}
fn preferences_key(tenant: &str, user: &str) -> Key {
    Key::new(format!("{tenant}#NTFPREF"), format!("U#{user}"))
}
fn template_key(tenant: &str, kind: &str, locale: &str) -> Key {
    Key::new(format!("{tenant}#NTFTPL"), format!("T#{kind}#{locale}"))
}
/// The rate counter of a channel (email keeps its `H#` keys; SMS `SMS#`).
fn counter_key(tenant: &str, channel: Channel, hour: i64) -> Key {
    let prefix = match channel {
        Channel::Email => "H",
        Channel::Sms => "SMS",
        Channel::Push => "PUSH",
        Channel::InApp => "INAPP",
    };
    Key::new(format!("{tenant}#NTFRATE"), format!("{prefix}#{hour}"))
}
fn device_key(tenant: &str, user: &str, id: &str) -> Key {
    Key::new(device_pk(tenant, user), format!("D#{id}"))
}
fn device_pk(tenant: &str, user: &str) -> String {
    format!("{tenant}#NTFDEV#{user}")
}

/// `dev_` + 24 hex digits of the hash of the platform and the token.
pub fn device_id(platform: Platform, token: &str) -> String {
    let hash = Sha256::digest(format!("{}\n{token}", platform.as_str()).as_bytes());
    let hex: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("dev_{hex}")
}

/// Whether `id` is shaped like a device id (anything else is a 404 without a read).
pub fn is_device_id(id: &str) -> bool {
    id.len() == 28 && id.starts_with("dev_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit())
}
const OUTBOX_PK: &str = "NTFOUTBOX";

/// `ntf_` + 12 hex digits of `at_ms` + 20 hex digits of the hash of the event and the recipient.
pub fn notification_id(at_ms: i64, event_id: &str, recipient: &str) -> String {
    let hash = Sha256::digest(format!("{event_id}/{recipient}").as_bytes());
    let ms = u64::try_from(at_ms).unwrap_or(0).min(0xffff_ffff_ffff);
    let hex: String = hash.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("ntf_{ms:012x}{hex}")
}

/// Whether `id` is shaped like a notification id (anything else is a 404 without a read).
pub fn is_notification_id(id: &str) -> bool {
    id.len() == 36 && id.starts_with("ntf_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn decode<T: DeserializeOwned>(item: &Item) -> anyhow::Result<T> {
    Ok(platform::records::decode(item.clone())?.0)
}

fn notification_of(item: Item) -> anyhow::Result<Notification> {
    let mut notification: Notification = decode(&item)?;
    notification.version = item.version;
    Ok(notification)
}

/// Kept [`RETENTION_SECS`] from its event, and never less than a day from now (an event replayed or redelivered
/// late must not be written already expired).
fn expiry(n: &Notification) -> i64 {
    (n.created_at_ms / 1000 + RETENTION_SECS).max(storage::now_secs() + 86_400)
}

#[derive(Serialize, Deserialize)]
struct Counter {
    count: u32,
}

impl NotificationStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    fn notification_item(n: &Notification) -> anyhow::Result<Item> {
        let user = n.user_id.as_deref().unwrap_or(EXTERNAL);
        let mut item = Item::new(notification_key(&n.tenant_id, user, &n.id), encode(n)?);
        item.version = n.version;
        item.expires_at = Some(expiry(n));
        Ok(item)
    }

    /// Writes the notification (and its unread marker when it is in the inbox), unless it exists.
    pub async fn create(&self, n: &Notification) -> StoreResult<Created> {
        let mut ops = vec![WriteOp::Put { item: Self::notification_item(n)?, condition: Condition::MustNotExist }];
        if let (Some(user), true) = (n.user_id.as_deref(), n.in_inbox && n.read_at_ms.is_none()) {
            let mut marker = Item::new(unread_key(&n.tenant_id, user, &n.id), serde_json::Map::new());
            marker.expires_at = Some(expiry(n));
            ops.push(WriteOp::Put { item: marker, condition: Condition::MustNotExist });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(Created::New(Box::new(Notification { version: 1, ..n.clone() }))),
            Err(StoreError::ConditionFailed) => {
                let user = n.user_id.as_deref().unwrap_or(EXTERNAL);
                match self.get(&n.tenant_id, user, &n.id).await? {
                    Some(existing) => Ok(Created::Existing(Box::new(existing))),
                    None => Err(StoreFailure::Unexpected(anyhow::anyhow!("a notification vanished while written"))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, tenant: &str, user: &str, id: &str) -> StoreResult<Option<Notification>> {
        Ok(self.table.get(&notification_key(tenant, user, id)).await?.map(notification_of).transpose()?)
    }

    /// Replaces the notification if nobody wrote it since it was read.
    pub async fn update(&self, n: &Notification) -> StoreResult<Notification> {
        let stored = self.table.update(Self::notification_item(n)?).await?;
        Ok(Notification { version: stored.version, ..n.clone() })
    }

    /// The user's inbox, newest first.
    pub async fn inbox(
        &self,
        tenant: &str,
        user: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Notification>> {
        let query = Query::partition(inbox_pk(tenant, user)).prefix("N#").descending().limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.into_iter().map(notification_of).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// The user's unread notifications, newest first (through the unread markers).
    pub async fn unread(
        &self,
        tenant: &str,
        user: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> StoreResult<Listing<Notification>> {
        let query = Query::partition(unread_pk(tenant, user)).prefix("N#").descending().limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for marker in page.items {
            let id = marker.key.sk.trim_start_matches("N#");
            if let Some(n) = self.get(tenant, user, id).await? {
                items.push(n);
            }
        }
        Ok(Listing { items, next_cursor: page.next_cursor })
    }

    /// How many unread notifications the user has, counted up to `cap`.
    pub async fn unread_count(&self, tenant: &str, user: &str, cap: usize) -> StoreResult<usize> {
        let (mut count, mut cursor) = (0, None);
        loop {
            let query = Query::partition(unread_pk(tenant, user)).prefix("N#").limit(100).cursor(cursor);
            let page = self.table.query(query).await?;
            count += page.items.len();
            cursor = page.next_cursor;
            if cursor.is_none() || count >= cap {
                return Ok(count.min(cap));
            }
        }
    }

    /// Marks the notification read (and drops its unread marker); a read one stays as it is.
    pub async fn mark_read(&self, n: &Notification, at_ms: i64) -> StoreResult<Notification> {
        let Some(user) = n.user_id.as_deref() else { return Ok(n.clone()) };
        if n.read_at_ms.is_some() {
            // Read already; its marker cannot outlive it (both change in one transaction), but never leave one.
            self.table.delete(&unread_key(&n.tenant_id, user, &n.id), Condition::Always).await?;
            return Ok(n.clone());
        }
        let next = Notification { read_at_ms: Some(at_ms), ..n.clone() };
        let ops = vec![
            WriteOp::Put { item: Self::notification_item(&next)?, condition: Condition::VersionIs(n.version) },
            WriteOp::Delete { key: unread_key(&n.tenant_id, user, &n.id), condition: Condition::Always },
        ];
        self.table.transact(ops).await?;
        Ok(Notification { version: n.version + 1, ..next })
    }

    /// Marks every unread notification of the user read; how many it marked. Bounded: a notification that keeps
    /// changing under it (its email being recorded) is left unread after a few passes ([`StoreFailure::Conflict`]).
    pub async fn mark_all_read(&self, tenant: &str, user: &str, at_ms: i64) -> StoreResult<usize> {
        let mut marked = 0;
        for _ in 0..MAX_READ_ALL_PASSES {
            let query = Query::partition(unread_pk(tenant, user)).prefix("N#").limit(100);
            let page = self.table.query(query).await?;
            if page.items.is_empty() {
                return Ok(marked);
            }
            for marker in page.items {
                let id = marker.key.sk.trim_start_matches("N#").to_string();
                match self.get(tenant, user, &id).await? {
                    Some(n) => match self.mark_read(&n, at_ms).await {
                        Ok(_) => marked += 1,
                        // Changed meanwhile (read, or its delivery log moved on): the next pass sees it again.
                        Err(StoreFailure::Conflict) => {}
                        Err(e) => return Err(e),
                    },
                    None => self.table.delete(&marker.key, Condition::Always).await?,
                }
            }
        }
        Err(StoreFailure::Conflict)
    }

    pub async fn preferences(&self, tenant: &str, user: &str) -> StoreResult<Option<(Preferences, u64)>> {
        let Some(item) = self.table.get(&preferences_key(tenant, user)).await? else { return Ok(None) };
        Ok(Some((decode(&item)?, item.version)))
    }

    pub async fn put_preferences(&self, tenant: &str, user: &str, prefs: &Preferences) -> StoreResult<u64> {
        let item = Item::new(preferences_key(tenant, user), encode(prefs)?);
        Ok(self.table.put(item, Condition::Always).await?.version)
    }

    pub async fn template(&self, tenant: &str, kind: &str, locale: &str) -> StoreResult<Option<TemplateOverride>> {
        let Some(item) = self.table.get(&template_key(tenant, kind, locale)).await? else { return Ok(None) };
        Ok(Some(decode(&item)?))
    }

    pub async fn put_template(&self, tenant: &str, template: &TemplateOverride) -> StoreResult<()> {
        let item = Item::new(template_key(tenant, &template.kind, &template.locale), encode(template)?);
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    /// Counts one message of the tenant on `channel` (email, SMS) in the current clock hour: false when `limit`
    /// were already counted.
    pub async fn take_slot(&self, channel: Channel, tenant: &str, now_ms: i64, limit: u32) -> StoreResult<bool> {
        let hour = now_ms / 3_600_000;
        for _ in 0..10 {
            let key = counter_key(tenant, channel, hour);
            let (count, version) = match self.table.get(&key).await? {
                Some(item) => (decode::<Counter>(&item)?.count, item.version),
                None => (0, 0),
            };
            if count >= limit {
                return Ok(false);
            }
            let mut item = Item::new(key, encode(&Counter { count: count + 1 })?);
            item.version = version;
            item.expires_at = Some((hour + 2) * 3600);
            match self.table.update(item).await {
                Ok(_) => return Ok(true),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreFailure::Unexpected(anyhow::anyhow!("the tenant's {} counter is too contended", channel.as_str())))
    }

    /// The user's devices, oldest id first (at most [`MAX_DEVICES`], read in one page).
    pub async fn devices(&self, tenant: &str, user: &str) -> StoreResult<Vec<Device>> {
        let query = Query::partition(device_pk(tenant, user)).prefix("D#").limit(100);
        let page = self.table.query(query).await?;
        let mut devices = Vec::with_capacity(page.items.len());
        for item in page.items {
            let mut device: Device = decode(&item)?;
            device.version = item.version;
            devices.push(device);
        }
        Ok(devices)
    }

    pub async fn device(&self, tenant: &str, user: &str, id: &str) -> StoreResult<Option<Device>> {
        let Some(item) = self.table.get(&device_key(tenant, user, id)).await? else { return Ok(None) };
        let mut device: Device = decode(&item)?;
        device.version = item.version;
        Ok(Some(device))
    }

    /// Writes a new device (`MustNotExist`: [`StoreFailure::Conflict`] when it is there already).
    pub async fn create_device(&self, device: &Device) -> StoreResult<Device> {
        let item = Item::new(device_key(&device.tenant_id, &device.user_id, &device.id), encode(device)?);
        let stored = self.table.put(item, Condition::MustNotExist).await?;
        Ok(Device { version: stored.version, ..device.clone() })
    }

    /// Replaces the device if nobody wrote it since it was read.
    pub async fn update_device(&self, device: &Device) -> StoreResult<Device> {
        let mut item = Item::new(device_key(&device.tenant_id, &device.user_id, &device.id), encode(device)?);
        item.version = device.version;
        let stored = self.table.update(item).await?;
        Ok(Device { version: stored.version, ..device.clone() })
    }

    pub async fn delete_device(&self, device: &Device) -> StoreResult<()> {
        let key = device_key(&device.tenant_id, &device.user_id, &device.id);
        self.table.delete(&key, Condition::Always).await?;
        Ok(())
    }

    pub async fn put_outbox(&self, mail: &OutboxMail) -> StoreResult<()> {
        let mut item = Item::new(Key::new(OUTBOX_PK, format!("M#{}", mail.id)), encode(mail)?);
        item.expires_at = Some(mail.at_ms / 1000 + OUTBOX_RETENTION_SECS);
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    /// The embedded outbox, newest first.
    pub async fn outbox(&self, limit: usize, cursor: Option<String>) -> StoreResult<Listing<OutboxMail>> {
        let query = Query::partition(OUTBOX_PK).prefix("M#").descending().limit(limit).cursor(cursor);
        let page = self.table.query(query).await?;
        let items = page.items.iter().map(decode).collect::<anyhow::Result<_>>()?;
        Ok(Listing { items, next_cursor: page.next_cursor })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn devices_are_per_user_and_their_ids_a_hash_of_platform_and_token() {
        let (store, dir) = store();
        let id = device_id(Platform::Fcm, "token-1");
        assert!(is_device_id(&id), "{id}");
        assert_eq!(id, device_id(Platform::Fcm, "token-1"));
        assert_ne!(id, device_id(Platform::Apns, "token-1"));
        assert_ne!(id, device_id(Platform::Fcm, "token-2"));
        let device = Device {
            id: id.clone(),
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            platform: Platform::Fcm,
            name: None,
            token_suffix: "oken-1".into(),
            endpoint: format!("embedded:{id}"),
            enabled: true,
            created_at_ms: 1,
            version: 0,
        };
        let created = store.create_device(&device).await.unwrap();
        assert!(matches!(store.create_device(&device).await, Err(StoreFailure::Conflict)));
        assert!(store.device("t1", "u2", &id).await.unwrap().is_none(), "another user's");
        assert!(store.device("t2", "u1", &id).await.unwrap().is_none(), "another tenant's");
        store.update_device(&Device { enabled: false, ..created }).await.unwrap();
        let listed = store.devices("t1", "u1").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].enabled);
        store.delete_device(&listed[0]).await.unwrap();
        assert!(store.devices("t1", "u1").await.unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn store() -> (NotificationStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("notifications-store-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        (NotificationStore::new(env.table(TABLE)), dir)
    }

    fn notification(user: &str, event: &str, at_ms: i64) -> Notification {
        Notification {
            id: notification_id(at_ms, event, user),
            tenant_id: "t1".into(),
            user_id: Some(user.into()),
            email: Some(format!("{user}@example.com")),
            kind: "api_key.created".into(),
            category: events::Category::Security,
            critical: true,
            event_id: event.into(),
            title: "t".into(),
            body: Some("b".into()),
            in_inbox: true,
            created_at_ms: at_ms,
            read_at_ms: None,
            deliveries: Vec::new(),
            version: 0,
        }
    }

    #[tokio::test]
    async fn a_redelivered_event_finds_its_notification_and_reads_are_per_user() {
        let (store, dir) = store();
        let now = storage::now_millis();
        let first = notification("u1", "e1", now);
        assert!(is_notification_id(&first.id), "{}", first.id);
        assert!(matches!(store.create(&first).await.unwrap(), Created::New(_)));
        let Created::Existing(again) = store.create(&first).await.unwrap() else { panic!("created twice") };
        assert_eq!(again.version, 1);
        store.create(&notification("u1", "e2", now + 1)).await.unwrap();
        store.create(&notification("u2", "e3", now + 2)).await.unwrap();
        assert_eq!(store.unread_count("t1", "u1", 100).await.unwrap(), 2);
        assert_eq!(store.unread_count("t1", "u2", 100).await.unwrap(), 1);
        assert!(store.get("t1", "u2", &first.id).await.unwrap().is_none(), "another user's id is not theirs");
        assert!(store.get("t2", "u1", &first.id).await.unwrap().is_none(), "nor another tenant's");
        let read = store.mark_read(&again, now).await.unwrap();
        assert_eq!(read.read_at_ms, Some(now));
        assert_eq!(store.unread_count("t1", "u1", 100).await.unwrap(), 1);
        // Newest first, with the unread filter too.
        let inbox = store.inbox("t1", "u1", 10, None).await.unwrap();
        assert_eq!(inbox.items.iter().map(|n| n.event_id.as_str()).collect::<Vec<_>>(), ["e2", "e1"]);
        let unread = store.unread("t1", "u1", 10, None).await.unwrap();
        assert_eq!(unread.items.iter().map(|n| n.event_id.as_str()).collect::<Vec<_>>(), ["e2"]);
        assert_eq!(store.mark_all_read("t1", "u1", now).await.unwrap(), 1);
        assert_eq!(store.unread_count("t1", "u1", 100).await.unwrap(), 0);
        assert_eq!(store.unread_count("t1", "u2", 100).await.unwrap(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_email_counter_stops_at_the_limit_per_tenant_and_hour() {
        let (store, dir) = store();
        let now = storage::now_millis();
        for _ in 0..3 {
            assert!(store.take_slot(Channel::Email, "t1", now, 3).await.unwrap());
        }
        assert!(!store.take_slot(Channel::Email, "t1", now, 3).await.unwrap());
        assert!(store.take_slot(Channel::Email, "t2", now, 3).await.unwrap(), "per tenant");
        assert!(store.take_slot(Channel::Email, "t1", now + 3_600_000, 3).await.unwrap(), "per hour");
        assert!(store.take_slot(Channel::Sms, "t1", now, 1).await.unwrap(), "per channel");
        assert!(!store.take_slot(Channel::Sms, "t1", now, 1).await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
