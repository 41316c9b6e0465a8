//! The identity table (logical name `auth`), through the table port.
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | tenant | `{tenant}#TENANT` | `TENANT` | |
//! | user | `{tenant}#USERS` | `USER#{user}` | `USERS` / `{user}` |
//! | session | `{tenant}#USER#{user}` | `SESSION#{session}` | |
//! | API key | `{tenant}#USER#{user}` | `APIKEY#{key}` | |
//! | email claim | `EMAIL#{email}` | `EMAIL` | |
//! | API key lookup | `APIKEY#{sha256}` | `APIKEY` | |
//! | slug claim | `SLUG#{slug}` | `SLUG` | |
//! | invitation | `{tenant}#INVITES` | `INVITE#{invitation}` | |
//! | invitation lookup | `INVITE#{sha256 of the token}` | `INVITE` | |
//! | password reset | `RESET#{sha256 of the token}` | `RESET` | |
//! | usage key (AWS: API Gateway's key for the tenant's usage plan) | `{tenant}#TENANT` | `USAGEKEY` | |
//!
//! Tenant data keys start with the tenant id. The two global items are pointers that login and the
//! authorizer need before they know the tenant; the email claim is also what makes emails unique (a
//! transaction creates it with `MustNotExist`). The index lets the platform admin list and address users
//! across tenants. A user's sessions and keys share one partition, so deleting a user finds them all.

mod api_keys;
mod invitations;
mod password_resets;
mod registrations;
mod sessions;
mod tenants;
mod usage_keys;
mod users;

use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use storage::StoreError;
use storage::table::{Attributes, Item, Table};

#[derive(Clone)]
pub struct IdentityStore {
    table: Arc<dyn Table>,
}

/// What callers branch on; everything else is unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the slug is taken")]
    SlugTaken,
    #[error("the invitation cannot be used")]
    InvitationUnusable,
    #[error("the record changed since it was read")]
    VersionConflict,
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for StoreFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => Self::InvalidCursor,
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

pub use platform::records::Listing;

impl IdentityStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }
}

mod keys {
    use storage::table::Key;

    pub const USERS_INDEX: &str = "USERS";

    pub fn tenant(tenant: &str) -> Key {
        Key::new(format!("{tenant}#TENANT"), "TENANT")
    }
    pub fn usage_key(tenant: &str) -> Key {
        Key::new(format!("{tenant}#TENANT"), "USAGEKEY")
    }
    pub fn user(tenant: &str, user: &str) -> Key {
        Key::new(users_partition(tenant), format!("USER#{user}"))
    }
    pub fn users_partition(tenant: &str) -> String {
        format!("{tenant}#USERS")
    }
    pub fn user_index(user: &str) -> Key {
        Key::new(USERS_INDEX, user)
    }
    pub fn email(email: &str) -> Key {
        Key::new(format!("EMAIL#{email}"), "EMAIL")
    }
    pub fn owned_partition(tenant: &str, user: &str) -> String {
        format!("{tenant}#USER#{user}")
    }
    pub fn session(tenant: &str, user: &str, session: &str) -> Key {
        Key::new(owned_partition(tenant, user), format!("SESSION#{session}"))
    }
    pub fn api_key(tenant: &str, user: &str, key: &str) -> Key {
        Key::new(owned_partition(tenant, user), format!("APIKEY#{key}"))
    }
    pub fn api_key_lookup(hash: &str) -> Key {
        Key::new(format!("APIKEY#{hash}"), "APIKEY")
    }
    pub fn slug(slug: &str) -> Key {
        Key::new(format!("SLUG#{slug}"), "SLUG")
    }
    pub fn invitations_partition(tenant: &str) -> String {
        format!("{tenant}#INVITES")
    }
    pub fn invitation(tenant: &str, id: &str) -> Key {
        Key::new(invitations_partition(tenant), format!("INVITE#{id}"))
    }
    pub fn invitation_lookup(hash: &str) -> Key {
        Key::new(format!("INVITE#{hash}"), "INVITE")
    }
    pub fn password_reset(hash: &str) -> Key {
        Key::new(format!("RESET#{hash}"), "RESET")
    }
    pub fn pending_email_change(hash: &str) -> Key {
        Key::new(format!("EMAILCHANGE#{hash}"), "EMAILCHANGE")
    }
    pub fn pending_registration(hash: &str) -> Key {
        Key::new(format!("REGISTER#{hash}"), "REGISTER")
    }
}

fn to_attrs<T: Serialize>(value: &T) -> anyhow::Result<Attributes> {
    match serde_json::to_value(value).context("Failed to encode a record")? {
        serde_json::Value::Object(map) => Ok(map),
        _ => anyhow::bail!("a record must encode as an object"),
    }
}

fn from_attrs<T: DeserializeOwned>(item: &Item) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::Object(item.attrs.clone()))
        .with_context(|| format!("Failed to decode the record at {}/{}", item.key.pk, item.key.sk))
}
