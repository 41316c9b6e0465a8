//! The auth function: accounts, sessions and API keys. See each route's module for its rules.

pub mod accept;
pub mod api_keys;
pub mod bootstrap;
pub mod login;
pub mod logout;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod throttle;
pub mod verify_email;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::{AdminAccount, AuthSettings, RegistrationMode, ThrottleSettings};

use platform::group::{Access, Function, Group, KeyAccess, Kind, Setting, Use};

/// The auth group: the identity table, the events queue, and the cache (login throttles).
pub static GROUP: Group = Group {
    name: "auth",
    functions: &[Function {
        binary: "auth",
        kind: Kind::Http,
        uses: &[
            platform::usage::METERED,
            Use::Table(identity::TABLE, Access::ReadWrite),
            Use::Bus(events::routing::BUS),
            Use::Cache,
            // Seals each password reset token for the notifications service.
            Use::Keys(KeyAccess::EncryptDecrypt),
        ],
        settings: &[
            Setting::required("JWT_SIGNING_KEY"),
            Setting::optional("JWT_ALGORITHM"),
            Setting::optional("JWT_VERIFYING_KEY"),
            Setting::optional("JWT_KEY_ID"),
            Setting::optional("JWT_ISSUER"),
            Setting::optional("JWT_AUDIENCE"),
            Setting::optional("ACCESS_TOKEN_TTL_SECS"),
            Setting::optional("REFRESH_TOKEN_TTL_SECS"),
            Setting::optional("SESSION_MAX_LIFETIME_SECS"),
            Setting::optional("JWT_LEEWAY_SECS"),
            Setting::required("BCRYPT_COST"),
            Setting::optional("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP"),
            Setting::optional("LOGIN_MAX_FAILURES_PER_ACCOUNT"),
            Setting::optional("LOGIN_MAX_FAILURES_PER_IP"),
            Setting::optional("LOGIN_FAILURE_WINDOW_SECS"),
            Setting::optional("PUBLIC_RATE_LIMIT_PER_IP"),
            Setting::optional("PUBLIC_RATE_LIMIT_WINDOW_SECS"),
            Setting::optional("ADMIN_EMAIL"),
            Setting::optional("ADMIN_PASSWORD"),
            Setting::optional("TENANT_PLANS"),
            Setting::optional("REGISTRATION_MODE"),
            Setting::optional("PASSWORD_RESET_TTL_SECS"),
            Setting::optional("EMAIL_VERIFICATION_TTL_SECS"),
            Setting::optional("PASSWORD_RESET_MAX_PER_EMAIL"),
            Setting::optional("PASSWORD_RESET_MAX_PER_IP"),
            Setting::optional("PASSWORD_RESET_WINDOW_SECS"),
        ],
    }],
};

pub use state::{AuthState, SharedState};

pub fn router(state: Arc<AuthState>) -> OpenApiRouter {
    // The general per-IP limit covers the public routes; protected ones sit behind the authorizer.
    let public = OpenApiRouter::new()
        .routes(routes!(register::register))
        .routes(routes!(verify_email::verify))
        .routes(routes!(login::login))
        .routes(routes!(refresh::refresh))
        .routes(routes!(logout::logout))
        .routes(routes!(accept::accept))
        .routes(routes!(password_reset::request))
        .routes(routes!(password_reset::confirm))
        .route_layer(axum::middleware::from_fn_with_state(state.limiter.clone(), throttle::public_limit));
    let protected =
        OpenApiRouter::new().routes(routes!(api_keys::create, api_keys::list)).routes(routes!(api_keys::revoke));
    public.merge(protected).with_state(state)
}

#[cfg(test)]
mod declaration {
    #[test]
    fn auth_declares_every_token_setting_it_reads() {
        let declared = &super::GROUP.functions[0].settings;
        for setting in identity::TOKEN_SETTINGS {
            assert!(declared.contains(setting), "{setting:?}");
        }
    }
}
