//! What the auth routes share, built once at cold start.

use std::sync::Arc;

use events::Publisher;
use identity::password::PasswordHasher;
use identity::plans::Plans;
use identity::{IdentityStore, TokenService};
use platform::group::Resources;

use crate::settings::{AuthSettings, RegistrationMode};
use crate::throttle::Limiter;

pub struct AuthState {
    pub store: IdentityStore,
    pub tokens: TokenService,
    pub hasher: PasswordHasher,
    pub events: Publisher,
    pub limiter: Limiter,
    /// The plans' limits (`TENANT_PLANS`): accepting an invitation checks the members limit.
    pub plans: Plans,
    pub registration: RegistrationMode,
    /// Seals password reset tokens for the notifications service (KMS on AWS).
    pub keys: Arc<dyn storage::keys::Keys>,
    /// How long a password reset token stays usable.
    pub reset_ttl: std::time::Duration,
    /// How long a registration's verification link stays usable (REGISTRATION_MODE=verify_email).
    pub verification_ttl: std::time::Duration,
}

impl AuthState {
    /// Opens the identity table, the events queue and the cache; makes the dummy hash (one bcrypt run).
    /// `cache_namespace` prefixes the limiters' keys in the shared cache (the deployment's `TABLE_PREFIX`).
    pub async fn build(
        resources: &Resources,
        settings: &AuthSettings,
        tokens: TokenService,
        cache_namespace: &str,
        plans: Plans,
    ) -> anyhow::Result<Self> {
        let (table, events) = Publisher::open(resources, identity::TABLE).await?;
        Ok(Self {
            store: IdentityStore::new(table),
            tokens,
            hasher: PasswordHasher::new(settings.bcrypt_cost).await?,
            events,
            limiter: Limiter::new(resources.cache().await?, settings.throttle.clone(), cache_namespace),
            plans,
            registration: settings.registration,
            keys: resources.keys().await?,
            reset_ttl: settings.reset_ttl,
            verification_ttl: settings.verification_ttl,
        })
    }
}

pub type SharedState = Arc<AuthState>;
