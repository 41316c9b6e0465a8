//! The identity table's records as the services use them. Their stored form and keys live in [`crate::store`].

use platform::caller::ROLE_PLATFORM_ADMIN;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Active,
    /// Cannot log in; tokens and API keys are refused.
    Disabled,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    /// Normalised (see [`crate::Email`]).
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub roles: Vec<String>,
    pub status: UserStatus,
    /// bcrypt; never leaves the identity services.
    pub password_hash: SecretString,
    pub created_at: String,
    pub updated_at: String,
    /// The optimistic lock: the version read.
    pub version: u64,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    pub fn is_platform_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ROLE_PLATFORM_ADMIN)
    }
}

/// A tenant; created with its first user, who owns it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub tenant_id: String,
    pub owner_user_id: String,
    pub created_at: String,
}

/// A login session: one refresh-token family. Only the newest refresh token (`refresh_jti`) is accepted;
/// presenting an older one means it was stolen, and the session is deleted.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub refresh_jti: String,
    pub created_at: String,
    /// Epoch seconds: the absolute end, however often the session is refreshed.
    pub ends_at: i64,
    pub version: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKey {
    pub key_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub shown_prefix: String,
    /// SHA-256 of the key (see [`crate::api_keys`]).
    pub hash: String,
    pub created_at: String,
    /// Epoch seconds; none means it never expires. Stored as the item's TTL, not as an attribute.
    #[serde(skip)]
    pub expires_at: Option<i64>,
}

impl ApiKey {
    pub fn is_expired_at(&self, now_secs: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_secs)
    }
}
