//! `ADMIN_EMAIL` / `ADMIN_PASSWORD`: the platform admin, created at start-up when absent. Idempotent, also
//! when several instances start at once (the email claim admits one). An existing account is left as it is:
//! the variables never reset a password or grant a role to someone who registered that email first.

use events::{Action, Event, Origin};
use identity::{Email, Password};
use platform::ApiError;
use platform::caller::ROLE_PLATFORM_ADMIN;

use crate::register::{create_account, new_account};
use crate::settings::AdminAccount;
use crate::state::AuthState;

#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrapped {
    Created,
    AlreadyPresent,
}

pub async fn ensure_admin(state: &AuthState, admin: &AdminAccount) -> anyhow::Result<Bootstrapped> {
    let email = Email::parse(&admin.email).map_err(|e| anyhow::anyhow!("ADMIN_EMAIL is invalid: {e}"))?;
    let password = Password::parse(admin.password.clone(), Some(&email))
        .map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD does not meet the password policy: {e}"))?;
    if let Some(existing) = state.store.user_by_email(email.as_str()).await? {
        if !existing.is_platform_admin() {
            tracing::warn!("ADMIN_EMAIL belongs to an account that is not a platform admin; leaving it unchanged");
        }
        return Ok(Bootstrapped::AlreadyPresent);
    }
    let (tenant, user) = new_account(state, &email, &password, (None, None), ROLE_PLATFORM_ADMIN)
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to create the platform admin"))?;
    let origin = Origin { request_id: format!("bootstrap-{}", uuid::Uuid::now_v7()), ip: None };
    let event =
        Event::new(Action::Registered, &origin).tenant(&user.tenant_id).actor(&user.id).detail("bootstrap", true);
    match create_account(state, &tenant, &user, event).await {
        Ok(()) => {}
        // Another instance created it between our read and our write.
        Err(ApiError::Client { code: "email_taken", .. }) => return Ok(Bootstrapped::AlreadyPresent),
        Err(e) => return Err(anyhow::Error::new(e).context("Failed to create the platform admin")),
    }
    tracing::info!(user_id = %user.id, "created the platform admin from ADMIN_EMAIL");
    Ok(Bootstrapped::Created)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use events::Publisher;
    use identity::password::PasswordHasher;
    use identity::tokens::KeySet;
    use identity::{IdentityStore, TokenService, TokenSettings};
    use secrecy::SecretString;
    use storage::cache::embedded::MemoryCache;

    use super::*;
    use crate::settings::ThrottleSettings;
    use crate::throttle::Limiter;

    struct Fixture {
        state: AuthState,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!("auth-bootstrap-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        let settings =
            TokenSettings { signing_key: Some(SecretString::from("k".repeat(32))), ..TokenSettings::default() };
        let table = events::outbox::table(env.table(identity::TABLE));
        let bus = Arc::new(storage::bus::embedded::EmbeddedBus::new("type".into(), Vec::new()));
        let state = AuthState {
            store: IdentityStore::new(table.clone()),
            tokens: TokenService::new(KeySet::from_settings(&settings, None).unwrap(), settings),
            hasher: PasswordHasher::new(4).await.unwrap(),
            events: Publisher::new(bus, table),
            limiter: Limiter::new(Arc::new(MemoryCache::new()), ThrottleSettings::default(), "test-"),
            plans: identity::plans::Plans::default(),
            registration: crate::settings::RegistrationMode::Open,
            keys: Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap()),
            reset_ttl: std::time::Duration::from_secs(3600),
            verification_ttl: std::time::Duration::from_secs(3600),
        };
        Fixture { state, dir }
    }

    fn admin(password: &str) -> AdminAccount {
        AdminAccount { email: "Root@Example.com".into(), password: SecretString::from(password) }
    }

    #[tokio::test]
    async fn the_admin_is_created_once_however_often_bootstrap_runs() {
        let f = fixture().await;
        let account = admin("a long admin passphrase");
        assert_eq!(ensure_admin(&f.state, &account).await.unwrap(), Bootstrapped::Created);
        assert_eq!(ensure_admin(&f.state, &account).await.unwrap(), Bootstrapped::AlreadyPresent);
        let user = f.state.store.user_by_email("root@example.com").await.unwrap().unwrap();
        assert_eq!(user.roles, vec![ROLE_PLATFORM_ADMIN.to_string()]);
    }

    #[tokio::test]
    async fn instances_bootstrapping_at_once_create_one_admin() {
        let f = fixture().await;
        let account = admin("a long admin passphrase");
        let (a, b) = tokio::join!(ensure_admin(&f.state, &account), ensure_admin(&f.state, &account));
        let mut outcomes = [a.unwrap(), b.unwrap()].map(|o| o == Bootstrapped::Created);
        outcomes.sort();
        assert_eq!(outcomes, [false, true]);
    }

    #[tokio::test]
    async fn a_weak_admin_password_stops_the_start() {
        let f = fixture().await;
        let error = ensure_admin(&f.state, &admin("password1")).await.unwrap_err();
        assert!(error.to_string().contains("ADMIN_PASSWORD"), "{error}");
    }
}
