//! REGISTRATION_MODE=verify_email: an account exists only once its email is verified.
//!
//! `POST /api/v1/auth/register` (see [`crate::register`]) checks the body as in `open` mode (a malformed email,
//! a weak password or a bad name is a 400: none of that depends on who has an account), counts the request
//! against per-IP and per-email limits, hashes the password, and then answers every request the same `202`,
//! after the same minimum time ([`MIN_REQUEST_TIME`]):
//! - an email without an account gets a pending registration: a random single-use token (`pyrvf_…`), only its
//!   SHA-256 stored, expiring after `EMAIL_VERIFICATION_TTL_SECS`, with the password's hash, the names and the
//!   ids the tenant and the user will have. `auth.registration_requested` carries the token sealed for the
//!   notifications service, which emails the link (`NOTIFICATIONS_VERIFY_EMAIL_URL?token=…`);
//! - an email with an account gets no pending registration; `auth.registration_attempted` tells its owner (a
//!   security notice, by email and in the inbox) that someone tried, and how to sign in or reset the password.
//!
//! `POST /api/v1/auth/register/verify` consumes the token and creates the tenant, the user and the email claim
//! in one transaction (with `user.registered`), then signs the user in: 201, as `open` registration answers.
//! Every unusable token (unknown, expired, used) gets the same 400 `invalid_verification_token`; an email that
//! got an account meanwhile (an invitation accepted) gets 409 `email_taken`: the caller has just proved the
//! address is theirs, so that answer tells them nothing new.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events::{Action, Event, Origin};
use identity::records::Tenant;
use identity::{Email, Password, PendingRegistration, StoreFailure, User, UserStatus};
use platform::caller::ROLE_TENANT_ADMIN;
use platform::{ApiError, ApiResult, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::register::RegisterResponse;
use crate::sessions;
use crate::state::SharedState;

/// The verification token's prefix.
pub const TOKEN_PREFIX: &str = "pyrvf_";
/// Every registration request takes at least this long in verify_email mode, account or not (it covers the
/// password's hash, the lookup, the sealing and the write).
pub const MIN_REQUEST_TIME: Duration = Duration::from_millis(600);
/// Longest plausible verification token.
const MAX_TOKEN_LEN: usize = 128;

/// The one answer to a registration request in verify_email mode.
#[derive(Serialize, ToSchema)]
pub struct VerificationSent {
    /// Always the same text, whether or not the email has an account.
    pub message: &'static str,
}

const SENT: &str = "Check your email: a link to finish creating your account is on its way.";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The verification token (`pyrvf_…`) from the email's link.
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
}

fn invalid_token() -> ApiError {
    ApiError::bad_request("invalid_verification_token", "This verification link is invalid, expired or already used")
}

/// A well-formed registration request in verify_email mode: the uniform 202 (see the module's doc).
pub(crate) async fn request(
    state: &SharedState,
    origin: &Origin,
    ip: &str,
    email: Email,
    password: Password,
    names: (Option<String>, Option<String>),
) -> ApiResult<Response> {
    let started = Instant::now();
    state.limiter.registration_request(ip, email.as_str()).await?;
    let outcome = start(state, origin, &email, &password, names).await;
    // The same floor on both paths; failures are logged, never told (they would tell an account exists).
    if let Err(e) = outcome {
        tracing::error!(error = ?e, "a registration could not be started");
    }
    tokio::time::sleep(MIN_REQUEST_TIME.saturating_sub(started.elapsed())).await;
    Ok((StatusCode::ACCEPTED, axum::Json(VerificationSent { message: SENT })).into_response())
}

async fn start(
    state: &SharedState,
    origin: &Origin,
    email: &Email,
    password: &Password,
    (first_name, last_name): (Option<String>, Option<String>),
) -> anyhow::Result<()> {
    // Hashed on both paths, so that both take the same time.
    let password_hash = state.hasher.hash(password).await?;
    if let Some(user) = state.store.user_by_email(email.as_str()).await? {
        let event = Event::new(Action::RegistrationAttempted, origin).tenant(&user.tenant_id).subject(&user.id);
        state.events.publish(event).await;
        return Ok(());
    }
    let (token, hash) = identity::api_keys::generate_secret(TOKEN_PREFIX)?;
    let ttl = i64::try_from(state.verification_ttl.as_secs()).unwrap_or(i64::MAX / 4);
    let pending = PendingRegistration {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: uuid::Uuid::now_v7().to_string(),
        user_id: uuid::Uuid::now_v7().to_string(),
        email: email.as_str().to_string(),
        first_name,
        last_name,
        password_hash,
        token_hash: hash,
        expires_at: storage::now_secs() + ttl,
        version: 0,
    };
    let sealed = identity::invitation_seal::seal(
        &state.keys,
        identity::invitation_seal::Purpose::EmailVerification,
        &pending.tenant_id,
        &pending.id,
        &token,
    )
    .await?;
    let event = Event::new(Action::RegistrationRequested, origin)
        .tenant(&pending.tenant_id)
        .subject(&pending.user_id)
        .detail("email", pending.email.clone())
        .detail("verification_id", pending.id.clone())
        .detail("expires_at", pending.expires_at)
        .detail(identity::invitation_seal::SEALED_TOKEN_FIELD, sealed);
    state.events.commit(event, state.store.create_pending_registration(&pending)).await?;
    Ok(())
}

/// Finish a registration with the emailed token: creates the account and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/register/verify", tag = "auth", security(()),
    request_body = VerifyRequest,
    responses(
        (status = 201, description = "Verified, registered and signed in", body = RegisterResponse),
        (status = 400, description = "Invalid, expired or used token (`invalid_verification_token`) or unknown field"),
        (status = 409, description = "The email got an account since the link was sent (`email_taken`)"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn verify(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<VerifyRequest>,
) -> ApiResult<Response> {
    let token = body.token.expose_secret();
    if token.len() > MAX_TOKEN_LEN || !token.starts_with(TOKEN_PREFIX) {
        return Err(invalid_token());
    }
    let hash = identity::api_keys::hash(token);
    let pending = state.store.pending_registration_by_token_hash(&hash).await?;
    let Some(pending) = pending.filter(|p| p.is_usable(storage::now_secs())) else { return Err(invalid_token()) };
    let now = identity::now_rfc3339();
    let user = User {
        id: pending.user_id.clone(),
        tenant_id: pending.tenant_id.clone(),
        email: pending.email.clone(),
        first_name: pending.first_name.clone(),
        last_name: pending.last_name.clone(),
        roles: vec![ROLE_TENANT_ADMIN.to_string()],
        status: UserStatus::Active,
        password_hash: SecretString::from(pending.password_hash.clone()),
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 0,
    };
    let tenant = Tenant::new(user.tenant_id.clone(), user.id.clone(), now);
    let event = Event::new(Action::Registered, &origin)
        .tenant(&user.tenant_id)
        .actor(&user.id)
        .detail("verification_id", pending.id.clone());
    match state.events.commit(event, state.store.complete_registration(&pending, &tenant, &user)).await {
        Ok(()) => {}
        Err(StoreFailure::EmailTaken) => {
            return Err(ApiError::conflict("email_taken", "This email already has an account: sign in instead"));
        }
        // Used meanwhile: a second verification.
        Err(StoreFailure::VersionConflict) => return Err(invalid_token()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
    let tokens = sessions::start(&state, &user).await?;
    Ok(sessions::no_store(StatusCode::CREATED, RegisterResponse { email: user.email, tokens }))
}
