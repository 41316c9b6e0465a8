//! The users function: profiles, roles and account removal.
//!
//! Who sees whom: a user sees and edits themselves; a tenant admin manages the users of their own tenant;
//! the platform admin manages everyone. A user out of reach is a 404, never a 403 that would confirm the
//! id exists. Only admins change roles or status, and only the platform admin grants `platform_admin`.

pub mod access;
pub mod by_id;
pub mod email_change;
pub mod list;
pub mod me;
pub mod update;
pub mod view;

use std::sync::Arc;

use events::Publisher;
use identity::IdentityStore;
use platform::config::{ConfigError, parse_or, var};
use platform::group::{Access, Function, Group, KeyAccess, Kind, Resources, Setting, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The users group: one HTTP function over the identity table, publishing to the events bus; it seals email
/// change tokens for the notifications service (REGISTRATION_MODE=verify_email).
pub static GROUP: Group = Group {
    name: "users",
    functions: &[Function {
        binary: "users",
        kind: Kind::Http,
        uses: &[
            platform::usage::METERED,
            Use::Table(identity::TABLE, Access::ReadWrite),
            Use::Bus(events::routing::BUS),
            Use::Keys(KeyAccess::EncryptDecrypt),
        ],
        settings: &[Setting::optional("REGISTRATION_MODE"), Setting::optional("EMAIL_VERIFICATION_TTL_SECS")],
    }],
};

/// The users function's settings.
#[derive(Clone, Debug, Default)]
pub struct UsersSettings {
    /// REGISTRATION_MODE=verify_email: email changes wait for the new address to confirm them, for this long
    /// (`EMAIL_VERIFICATION_TTL_SECS`, 86400). `None`: they apply at once.
    pub confirm_email_changes: Option<std::time::Duration>,
}

impl UsersSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let ttl = std::time::Duration::from_secs(parse_or("EMAIL_VERIFICATION_TTL_SECS", 24 * 3600)?);
        if ttl.is_zero() {
            return Err(ConfigError::Invalid {
                name: "EMAIL_VERIFICATION_TTL_SECS".into(),
                reason: "must be positive".into(),
            });
        }
        let verify = var("REGISTRATION_MODE").as_deref() == Some("verify_email");
        Ok(Self { confirm_email_changes: verify.then_some(ttl) })
    }
}

pub struct UsersState {
    pub store: IdentityStore,
    pub events: Publisher,
    pub keys: Arc<dyn storage::keys::Keys>,
    pub settings: UsersSettings,
}

impl UsersState {
    pub async fn build(resources: &Resources, settings: UsersSettings) -> anyhow::Result<Self> {
        let (table, events) = Publisher::open(resources, identity::TABLE).await?;
        Ok(Self { store: IdentityStore::new(table), events, keys: resources.keys().await?, settings })
    }
}

pub type SharedState = Arc<UsersState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(list::list_users))
        .routes(routes!(by_id::get_user, by_id::update_user, by_id::delete_user))
        .routes(routes!(email_change::confirm))
        .with_state(state)
}
