//! `POST /api/v1/auth/password-reset` and `POST /api/v1/auth/password-reset/confirm` (public).
//!
//! Requesting a reset is enumeration-safe: every well-formed request gets the same `202` with the same body,
//! after the same minimum time ([`MIN_REQUEST_TIME`], which covers the lookup, the sealing and the write), and
//! counts against the same per-IP and per-email limits, whether or not the email has an account. When it
//! has one (an active one), a random single-use token (`pyrst_…`) is made, only its SHA-256 stored, expiring
//! after `PASSWORD_RESET_TTL_SECS`; the `auth.password_reset_requested` event carries it sealed for the
//! notifications service (which emails the link), never in clear.
//!
//! Confirming checks the password policy, stores the new hash and consumes the token in one transaction
//! (single use), then ends every session of the user (their refresh tokens, and their access tokens at the
//! authorizer, which checks the session on every call), and commits `auth.password_reset_completed` (the
//! "your password was changed" notice). Every unusable token (unknown, expired, used, or of an account
//! since disabled) gets the same 400 `invalid_reset_token`. API keys are not revoked (they are separate
//! credentials the user manages; the notice tells them to review them).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use identity::{Email, Password, PasswordReset, StoreFailure};
use platform::{ApiError, ApiResult, ClientIp, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::register::weak_password;
use crate::state::SharedState;

/// The reset token's prefix.
pub const TOKEN_PREFIX: &str = "pyrst_";
/// Every reset request takes at least this long, account or not.
pub const MIN_REQUEST_TIME: Duration = Duration::from_millis(400);
/// Longest plausible reset token.
const MAX_TOKEN_LEN: usize = 128;
/// Attempts when the user changed (not the token) between reading and storing.
const ATTEMPTS: usize = 3;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetRequested {
    /// Always the same text, whether or not the email has an account.
    pub message: &'static str,
}

const REQUESTED: &str = "If this email has an account, a link to reset its password is on its way.";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The reset token (`pyrst_…`) from the email's link.
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
    /// 8 characters or more, at most 72 bytes; not a well-known password, nor the email or its local part.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub password: SecretString,
}

fn invalid_token() -> ApiError {
    ApiError::bad_request("invalid_reset_token", "This password reset link is invalid, expired or already used")
}

/// Request a password reset: the same answer whether or not the email has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", security(()),
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted; an email is sent if the address has an account", body = ResetRequested),
        (status = 400, description = "Malformed email (`invalid_email`) or unknown field"),
        (status = 429, description = "Too many requests from this IP, or for this email"),
    ))]
pub async fn request(
    State(state): State<SharedState>,
    origin: Origin,
    ClientIp(ip): ClientIp,
    Json(body): Json<ResetRequest>,
) -> ApiResult<(StatusCode, axum::Json<ResetRequested>)> {
    let started = Instant::now();
    let email = Email::parse(&body.email).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
    state.limiter.reset_request(&ip, email.as_str()).await?;
    let outcome = start_reset(&state, &origin, &email).await;
    // The same floor on both paths; failures are logged, never told (they would tell an account exists).
    if let Err(e) = outcome {
        tracing::error!(error = ?e, "a password reset could not be started");
    }
    tokio::time::sleep(MIN_REQUEST_TIME.saturating_sub(started.elapsed())).await;
    Ok((StatusCode::ACCEPTED, axum::Json(ResetRequested { message: REQUESTED })))
}

/// Makes the token and commits its event, when `email` has an active account.
async fn start_reset(state: &SharedState, origin: &Origin, email: &Email) -> anyhow::Result<()> {
    let user = state.store.user_by_email(email.as_str()).await?.filter(|u| u.is_active());
    let Some(user) = user else { return Ok(()) };
    let (token, hash) = identity::api_keys::generate_secret(TOKEN_PREFIX)?;
    let ttl = i64::try_from(state.reset_ttl.as_secs()).unwrap_or(i64::MAX / 4);
    let reset = PasswordReset {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        token_hash: hash,
        expires_at: storage::now_secs() + ttl,
        version: 0,
    };
    let sealed = identity::invitation_seal::seal(
        &state.keys,
        identity::invitation_seal::Purpose::PasswordReset,
        &reset.tenant_id,
        &reset.id,
        &token,
    )
    .await?;
    let event = Event::new(Action::PasswordResetRequested, origin)
        .tenant(&user.tenant_id)
        .subject(&user.id)
        .detail("reset_id", reset.id.clone())
        .detail("expires_at", reset.expires_at)
        .detail(identity::invitation_seal::SEALED_TOKEN_FIELD, sealed);
    state.events.commit(event, state.store.create_password_reset(&reset)).await?;
    Ok(())
}

/// Set a new password with a reset token; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", security(()),
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "Password changed; every session of the account ended"),
        (status = 400, description = "Invalid, expired or used token (`invalid_reset_token`), weak password (`weak_password`) or unknown field"),
        (status = 409, description = "The account kept changing while the password was set (`busy`); try again"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn confirm(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<ResetConfirm>,
) -> ApiResult<StatusCode> {
    let token = body.token.expose_secret();
    if token.len() > MAX_TOKEN_LEN || !token.starts_with(TOKEN_PREFIX) {
        return Err(invalid_token());
    }
    let hash = identity::api_keys::hash(token);
    let mut password_hash: Option<String> = None;
    for _ in 0..ATTEMPTS {
        let reset = state.store.password_reset_by_token_hash(&hash).await?;
        let Some(reset) = reset.filter(|r| r.is_usable(storage::now_secs())) else { return Err(invalid_token()) };
        let user = state.store.user(&reset.tenant_id, &reset.user_id).await?.filter(|u| u.is_active());
        let Some(mut user) = user else { return Err(invalid_token()) };
        let email = Email::parse(&user.email).map_err(|_| invalid_token())?;
        let password = Password::parse(body.password.clone(), Some(&email)).map_err(weak_password)?;
        let new_hash = match &password_hash {
            Some(hash) => hash.clone(),
            None => password_hash.insert(state.hasher.hash(&password).await?).clone(),
        };
        user.password_hash = SecretString::from(new_hash);
        user.updated_at = identity::now_rfc3339();
        let event = Event::new(Action::PasswordResetCompleted, &origin)
            .tenant(&user.tenant_id)
            .actor(&user.id)
            .detail("reset_id", reset.id.clone());
        match state.events.commit(event, state.store.complete_password_reset(&reset, &user)).await {
            Ok(()) => {
                let ended = state.store.delete_sessions(&user.tenant_id, &user.id).await?;
                tracing::info!(user_id = %user.id, sessions_ended = ended, "password reset");
                return Ok(StatusCode::NO_CONTENT);
            }
            // The token was used meanwhile (the next read finds nothing) or the user changed: look again.
            Err(StoreFailure::VersionConflict) => continue,
            Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
        }
    }
    Err(ApiError::conflict("busy", "The account changed while its password was set; try again"))
}
