//! The auth function: accounts, sessions and API keys. See each route's module for its rules.

pub mod api_keys;
pub mod bootstrap;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod register;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod throttle;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::{AdminAccount, AuthSettings, ThrottleSettings};
pub use state::{AuthState, SharedState};

pub fn router(state: Arc<AuthState>) -> OpenApiRouter {
    // The general per-IP limit covers the public routes; protected ones sit behind the authorizer.
    let public = OpenApiRouter::new()
        .routes(routes!(register::register))
        .routes(routes!(login::login))
        .routes(routes!(refresh::refresh))
        .routes(routes!(logout::logout))
        .route_layer(axum::middleware::from_fn_with_state(state.limiter.clone(), throttle::public_limit));
    let protected =
        OpenApiRouter::new().routes(routes!(api_keys::create, api_keys::list)).routes(routes!(api_keys::revoke));
    public.merge(protected).with_state(state)
}
