//! Email changes confirmed from the new address (REGISTRATION_MODE=verify_email).
//!
//! In that mode `PUT /api/v1/users/me` (or `/users/{id}`) with another email does not change it: it answers
//! `202` (the other fields applied), keeps a pending change — a random single-use token (`pyrem_…`), only its
//! SHA-256 stored, expiring after `EMAIL_VERIFICATION_TTL_SECS` — and commits `user.email_change_requested`
//! with the token sealed for the notifications service, which emails the link to the new address. The answer
//! and the event are the same whether the new address is taken or not (the notifications service sends
//! nothing to an address that has an account; confirming there would fail anyway).
//!
//! `POST /api/v1/users/email-change/confirm` (public: the link's token is the credential) consumes the token
//! and moves the user to the new email, claimed, in one transaction with `user.updated`: 200 with the user;
//! 400 `invalid_email_change_token` for every unusable token; 409 `email_taken` when the address got an
//! account meanwhile (the caller has just proved it is theirs).

use std::time::Duration;

use axum::extract::State;
use events::{Action, Event, Origin};
use identity::{Email, PendingEmailChange, StoreFailure, User};
use platform::{ApiError, ApiResult, Caller, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::view::UserView;
use crate::{SharedState, UsersState};

/// The confirmation token's prefix.
pub const TOKEN_PREFIX: &str = "pyrem_";
const MAX_TOKEN_LEN: usize = 128;
/// Attempts when the user changed between reading and storing.
const ATTEMPTS: usize = 3;

/// Keeps a pending change of `target`'s email to `new_email` and commits its event.
pub(crate) async fn request(
    state: &UsersState,
    caller: &Caller,
    origin: &Origin,
    target: &User,
    new_email: &Email,
    ttl: Duration,
) -> ApiResult<()> {
    let (token, hash) = identity::api_keys::generate_secret(TOKEN_PREFIX)?;
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
    let change = PendingEmailChange {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: target.tenant_id.clone(),
        user_id: target.id.clone(),
        new_email: new_email.as_str().to_string(),
        token_hash: hash,
        expires_at: storage::now_secs() + ttl,
        version: 0,
    };
    let sealed = identity::invitation_seal::seal(
        &state.keys,
        identity::invitation_seal::Purpose::EmailChange,
        &change.tenant_id,
        &change.id,
        &token,
    )
    .await?;
    let event = Event::new(Action::EmailChangeRequested, origin)
        .tenant(&change.tenant_id)
        .actor(&caller.user_id)
        .subject(&change.user_id)
        .detail("email", change.new_email.clone())
        .detail("change_id", change.id.clone())
        .detail("expires_at", change.expires_at)
        .detail(identity::invitation_seal::SEALED_TOKEN_FIELD, sealed);
    state.events.commit(event, state.store.create_pending_email_change(&change)).await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailChange {
    /// The confirmation token (`pyrem_…`) from the email's link.
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
}

fn invalid_token() -> ApiError {
    ApiError::bad_request("invalid_email_change_token", "This confirmation link is invalid, expired or already used")
}

/// Confirm an email change with the token emailed to the new address.
#[utoipa::path(post, path = "/api/v1/users/email-change/confirm", tag = "users", security(()),
    request_body = ConfirmEmailChange,
    responses(
        (status = 200, description = "The email changed", body = UserView),
        (status = 400, description = "Invalid, expired or used token (`invalid_email_change_token`) or unknown field"),
        (status = 409, description = "The new email got an account meanwhile (`email_taken`), or the user kept changing (`busy`)"),
    ))]
pub async fn confirm(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<ConfirmEmailChange>,
) -> ApiResult<Json<UserView>> {
    let token = body.token.expose_secret();
    if token.len() > MAX_TOKEN_LEN || !token.starts_with(TOKEN_PREFIX) {
        return Err(invalid_token());
    }
    let hash = identity::api_keys::hash(token);
    for _ in 0..ATTEMPTS {
        let change = state.store.pending_email_change_by_token_hash(&hash).await?;
        let Some(change) = change.filter(|c| c.is_usable(storage::now_secs())) else { return Err(invalid_token()) };
        let user = state.store.user(&change.tenant_id, &change.user_id).await?.filter(|u| u.is_active());
        let Some(user) = user else { return Err(invalid_token()) };
        let mut next = user.clone();
        next.email = change.new_email.clone();
        next.updated_at = identity::now_rfc3339();
        let event = Event::new(Action::UserUpdated, &origin)
            .tenant(&user.tenant_id)
            .actor(&user.id)
            .subject(&user.id)
            .detail("fields", vec!["email"])
            .detail("change_id", change.id.clone());
        match state.events.commit(event, state.store.complete_email_change(&change, &next, &user.email)).await {
            Ok(stored) => return Ok(Json(stored.into())),
            Err(StoreFailure::EmailTaken) => {
                return Err(ApiError::conflict("email_taken", "This email already has an account"));
            }
            // The user or the change moved: look again (a used change then reads as gone).
            Err(StoreFailure::VersionConflict) => continue,
            Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
        }
    }
    Err(ApiError::conflict("busy", "The account changed while its email was set; try again"))
}
