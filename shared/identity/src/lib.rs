//! Identity, shared by the auth, authorizer and users functions so none of them re-implements it:
//! validated emails and passwords, bcrypt hashing, JWT issuing and verification, API key material, and the
//! identity table's records and layout.

pub mod api_keys;
pub mod api_rate;
pub mod email;
pub mod invitation_seal;
pub mod password;
pub mod plans;
pub mod profile;
pub mod records;
pub mod store;
pub mod tokens;

pub use email::Email;
pub use password::Password;
pub use records::{
    ApiKey, Invitation, InvitationStatus, PasswordReset, PendingEmailChange, PendingRegistration, Session, Tenant,
    TenantRole, UsageKey, User, UserStatus,
};
pub use store::{IdentityStore, Listing, StoreFailure};
pub use tokens::{Claims, TokenService, TokenSettings, TokenUse};

/// The identity table's logical name (`TABLE_AUTH` on AWS). One table for users, tenants, sessions and API
/// keys: deleting a user must remove its sessions and keys in the same transaction.
pub const TABLE: &str = "auth";

/// The environment variables [`TokenSettings::from_env`] reads (a group that issues or verifies tokens
/// declares them).
pub const TOKEN_SETTINGS: &[platform::group::Setting] = &[
    platform::group::Setting::required("JWT_SIGNING_KEY"),
    platform::group::Setting::optional("JWT_ALGORITHM"),
    platform::group::Setting::optional("JWT_VERIFYING_KEY"),
    platform::group::Setting::optional("JWT_KEY_ID"),
    platform::group::Setting::optional("JWT_ISSUER"),
    platform::group::Setting::optional("JWT_AUDIENCE"),
    platform::group::Setting::optional("ACCESS_TOKEN_TTL_SECS"),
    platform::group::Setting::optional("REFRESH_TOKEN_TTL_SECS"),
    platform::group::Setting::optional("SESSION_MAX_LIFETIME_SECS"),
    platform::group::Setting::optional("JWT_LEEWAY_SECS"),
];

/// Now, as the RFC 3339 text every record and response carries.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
