//! `POST /api/v1/auth/login`.
//!
//! Unknown email, wrong password, disabled account: one 401 with one body, and the same work (a bcrypt
//! verification, against a dummy hash when there is no account), so neither the answer nor its timing says
//! whether an email is registered. Failed attempts count towards the locks of [`crate::throttle`]: per
//! (account, client IP), per IP and, far higher, per account, so one source's wrong passwords lock out that
//! source and not the account's owner signing in from elsewhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::Email;
use platform::{ApiError, ApiResult, Json};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::sessions::{self, TokenPair};
use crate::state::SharedState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Login with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Invalid email or password (the same answer for every reason)"),
        (status = 429, description = "Too many failed attempts from this IP (for this account or in all), or for this account from everywhere"),
    ))]
pub async fn login(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    // An unparseable email cannot exist; it still goes through the same steps as an unknown one (but is
    // not recorded: people type passwords into the email field).
    let parsed = Email::parse(&body.email).ok();
    let email = parsed.as_ref().map(|e| e.as_str().to_string()).unwrap_or_else(|| body.email.trim().to_lowercase());
    let ip = origin.ip.clone().unwrap_or_else(|| "unknown".into());
    state.limiter.check_login(&ip, &email).await?;

    let user = state.store.user_by_email(&email).await?;
    let hash = user.as_ref().map(|u| secrecy::ExposeSecret::expose_secret(&u.password_hash).to_string());
    let matched = state.hasher.verify(&body.password, hash.as_deref()).await?;

    let user = match user {
        Some(user) if matched && user.is_active() => user,
        other => {
            let reason = match &other {
                None => "unknown_email",
                Some(u) if !u.is_active() => "account_disabled",
                Some(_) => "wrong_password",
            };
            let mut event = Event::new(Action::LoginFailed, &origin).detail("reason", reason);
            if let Some(parsed) = &parsed {
                event = event.detail("email", parsed.as_str());
            }
            if let Some(user) = &other {
                event = event.tenant(&user.tenant_id).subject(&user.id);
            }
            // No change of the table to commit it with (the throttle counts in the cache): stored and published
            // on its own.
            state.events.publish(event).await;
            state.limiter.login_failed(&ip, &email).await?;
            return Err(ApiError::unauthorized("Invalid email or password"));
        }
    };

    // The event commits with the new session (the only write of `start`).
    let event = Event::new(Action::LoginSucceeded, &origin).tenant(&user.tenant_id).actor(&user.id);
    let tokens = state.events.commit(event, sessions::start(&state, &user)).await?;
    Ok(sessions::no_store(StatusCode::OK, tokens))
}
