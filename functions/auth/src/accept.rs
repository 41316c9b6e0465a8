//! `POST /api/v1/invitations/accept` (public): the holder of an invitation token joins the inviting tenant
//! with a new account, in the role it was invited to, and is signed in.
//!
//! Every unusable token (unknown, expired, revoked, already used) gets the same 400 `invalid_invitation`, so
//! the answer says nothing about which. The plan's members limit is checked against the tenant as read, and
//! the acceptance is one transaction guarded by that read: two acceptances cannot both take the last seat.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::plans::Limit;
use identity::{Email, Password, StoreFailure, TenantRole, User, UserStatus};
use platform::caller::ROLE_TENANT_ADMIN;
use platform::{ApiError, ApiResult, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::register::{invalid_profile, name, weak_password};
use crate::sessions::{self, TokenPair};
use crate::state::SharedState;

/// Longest plausible invitation token.
const MAX_TOKEN_LEN: usize = 128;
/// Attempts when a concurrent change to the tenant (not the invitation) cancels the acceptance.
const ATTEMPTS: usize = 3;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The invitation token (`pyinv_…`).
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
    /// 8 characters or more, at most 72 bytes; not a well-known password, nor the email or its local part.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub password: SecretString,
    #[schema(max_length = 100)]
    pub first_name: Option<String>,
    #[schema(max_length = 100)]
    pub last_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub email: String,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

fn invalid_invitation() -> ApiError {
    ApiError::bad_request("invalid_invitation", "This invitation is invalid, expired, revoked or already used")
}

/// Accept an invitation: a new account in the inviting tenant, signed in.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "auth", security(()),
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Joined and signed in", body = Accepted),
        (status = 400, description = "Invalid, expired, revoked or used invitation (`invalid_invitation`), weak password, invalid name"),
        (status = 403, description = "The tenant's plan has no room for another member (`plan_limit_reached`)"),
        (status = 409, description = "The invited email already has an account (`email_taken`)"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn accept(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<AcceptInvitation>,
) -> ApiResult<Response> {
    let token = body.token.expose_secret();
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid_invitation());
    }
    let hash = identity::api_keys::hash(token);
    let first_name = name("first_name", body.first_name.as_deref()).map_err(invalid_profile)?;
    let last_name = name("last_name", body.last_name.as_deref()).map_err(invalid_profile)?;
    // bcrypt once, whatever the retries (the invitation's email, which the password is checked against, does not
    // change between them).
    let mut password_hash: Option<String> = None;

    for _ in 0..ATTEMPTS {
        let now = storage::now_secs();
        let invitation = state.store.invitation_by_token_hash(&hash).await?;
        let Some(invitation) = invitation.filter(|i| i.is_usable(now)) else { return Err(invalid_invitation()) };
        let email = Email::parse(&invitation.email).map_err(|_| invalid_invitation())?;
        let password = Password::parse(body.password.clone(), Some(&email)).map_err(weak_password)?;
        let tenant = state.store.tenant(&invitation.tenant_id).await?.ok_or_else(invalid_invitation)?;
        let allowed = Limit::Members.of(state.plans.limits(&tenant.plan));
        if state.store.count_users(&tenant.tenant_id).await? >= allowed {
            return Err(Limit::Members.reached(allowed));
        }
        let mut roles = vec!["member".to_string()];
        if invitation.role == TenantRole::Admin {
            roles.push(ROLE_TENANT_ADMIN.into());
        }
        let created = identity::now_rfc3339();
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.tenant_id.clone(),
            email: email.as_str().to_string(),
            first_name: first_name.clone(),
            last_name: last_name.clone(),
            roles,
            status: UserStatus::Active,
            password_hash: SecretString::from(match &password_hash {
                Some(hash) => hash.clone(),
                None => password_hash.insert(state.hasher.hash(&password).await?).clone(),
            }),
            created_at: created.clone(),
            updated_at: created,
            version: 0,
        };
        let event = Event::new(Action::InvitationAccepted, &origin)
            .tenant(&user.tenant_id)
            .actor(&user.id)
            .detail("invitation_id", invitation.id.clone())
            .detail("invited_by", invitation.invited_by.clone());
        match state.events.commit(event, state.store.accept_invitation(&invitation, &user, tenant.version)).await {
            Ok(()) => {
                let tokens = sessions::start(&state, &user).await?;
                let accepted = Accepted { email: user.email, tokens };
                return Ok(sessions::no_store(StatusCode::CREATED, accepted));
            }
            Err(StoreFailure::EmailTaken) => {
                return Err(ApiError::conflict("email_taken", "This email already has an account"));
            }
            // The invitation or the tenant changed meanwhile: look again (a used or revoked invitation then
            // answers invalid_invitation).
            Err(StoreFailure::InvitationUnusable) => continue,
            Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
        }
    }
    Err(ApiError::conflict("busy", "The tenant changed while joining it; try again"))
}
