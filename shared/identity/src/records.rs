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

/// A tenant (an organization); created with its first user, who owns it. Fields added after the first
/// release default when absent, so older items read as tenants on the default plan with no name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub tenant_id: String,
    pub owner_user_id: String,
    pub created_at: String,
    #[serde(default)]
    pub name: String,
    /// Unique across tenants (claimed like emails).
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default = "default_plan")]
    pub plan: String,
    /// Free-form settings the tenant's admins keep (a JSON object, at most 8 KiB encoded).
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The optimistic lock (the port's item version; not an attribute).
    #[serde(skip)]
    pub version: u64,
}

fn default_plan() -> String {
    crate::plans::DEFAULT_PLAN.into()
}

impl Tenant {
    pub fn new(tenant_id: String, owner_user_id: String, created_at: String) -> Self {
        Self {
            tenant_id,
            owner_user_id,
            created_at,
            name: String::new(),
            slug: None,
            plan: default_plan(),
            settings: serde_json::Map::new(),
            updated_at: None,
            version: 0,
        }
    }
}

/// A member's role in their tenant: the owner (one per tenant, changed only by a transfer), admins, members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantRole {
    Owner,
    Admin,
    Member,
}

impl TenantRole {
    pub fn of(tenant: &Tenant, user: &User) -> Self {
        if tenant.owner_user_id == user.id {
            Self::Owner
        } else if user.roles.iter().any(|r| r == platform::caller::ROLE_TENANT_ADMIN) {
            Self::Admin
        } else {
            Self::Member
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
}

/// An invitation to join a tenant. The token is random, single use and expiring; only its SHA-256 is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub tenant_id: String,
    /// Normalised.
    pub email: String,
    /// `admin` or `member`.
    pub role: TenantRole,
    pub invited_by: String,
    pub created_at: String,
    /// Epoch seconds. (At rest under another name: `expires_at` is the table's TTL attribute.)
    #[serde(rename = "valid_until")]
    pub expires_at: i64,
    pub status: InvitationStatus,
    pub token_hash: String,
    #[serde(default)]
    pub accepted_by: Option<String>,
    #[serde(skip)]
    pub version: u64,
}

impl Invitation {
    pub fn is_usable(&self, now: i64) -> bool {
        self.status == InvitationStatus::Pending && now < self.expires_at
    }
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
    /// Narrowed to one workspace: the key acts with its user's rights in that workspace only, never with
    /// tenant-wide (admin) powers.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// Narrowed to reading: the authorizer allows only reads (GET, and Airtable's POST listRecords).
    #[serde(default)]
    pub read_only: bool,
}

impl ApiKey {
    pub fn is_expired_at(&self, now_secs: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_secs)
    }
}

/// An account asked for under REGISTRATION_MODE=verify_email, waiting for its email to be verified: a random,
/// single-use, expiring token (`pyrvf_…`) of which only the SHA-256 is stored. The tenant's and the user's ids
/// are chosen now (the event of the request names the tenant), the password is kept as its hash only.
/// (No `Debug`: it holds a password hash.)
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingRegistration {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// bcrypt.
    pub password_hash: String,
    pub token_hash: String,
    /// Epoch seconds. (At rest under another name: `expires_at` is the table's TTL attribute.)
    #[serde(rename = "valid_until")]
    pub expires_at: i64,
    #[serde(skip)]
    pub version: u64,
}

impl PendingRegistration {
    pub fn is_usable(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// An email change waiting for the new address to confirm it (REGISTRATION_MODE=verify_email): a random,
/// single-use, expiring token (`pyrem_…`) of which only the SHA-256 is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingEmailChange {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub new_email: String,
    pub token_hash: String,
    /// Epoch seconds. (At rest under another name: `expires_at` is the table's TTL attribute.)
    #[serde(rename = "valid_until")]
    pub expires_at: i64,
    #[serde(skip)]
    pub version: u64,
}

impl PendingEmailChange {
    pub fn is_usable(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// A password reset: a random, single-use, expiring token (`pyrst_…`) of which only the SHA-256 is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasswordReset {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub token_hash: String,
    /// Epoch seconds. (At rest under another name: `expires_at` is the table's TTL attribute.)
    #[serde(rename = "valid_until")]
    pub expires_at: i64,
    #[serde(skip)]
    pub version: u64,
}

impl PasswordReset {
    pub fn is_usable(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// A tenant's API Gateway usage key (AWS only): the key API Gateway meters the tenant's requests by, through the
/// usage plan of its plan. The authorizer answers its `value` as `usageIdentifierKey`; the usage-plans consumer
/// of the tenants group makes it. Not a credential (the Api takes keys from the authorizer only), but never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageKey {
    pub tenant_id: String,
    /// API Gateway's id of the key.
    pub key_id: String,
    pub value: String,
    /// The tenant's plan the key was last attached for.
    pub plan: String,
    /// The usage plan it is attached to.
    pub usage_plan_id: String,
    pub updated_at: String,
}

impl std::fmt::Debug for UsageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageKey")
            .field("tenant_id", &self.tenant_id)
            .field("key_id", &self.key_id)
            .field("value", &"<redacted>")
            .field("plan", &self.plan)
            .field("usage_plan_id", &self.usage_plan_id)
            .finish()
    }
}
