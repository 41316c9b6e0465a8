//! `POST|GET /api/v1/tenants/current/invitations`, `DELETE …/invitations/{id}`, `POST …/invitations/{id}/resend`.
//!
//! Inviting an email that already has an account, here or in another tenant, is answered exactly like any
//! other invitation: whether the address has an account is settled when the invitation is accepted, by its
//! holder. The token is shown once (only its SHA-256 is stored); the event carries it only sealed for the
//! notifications service, which emails it to the invitee ([`identity::invitation_seal`]): the audit trail and
//! webhooks see the sealed form.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use identity::plans::Limit;
use identity::{Email, Invitation, InvitationStatus, StoreFailure, TenantRole};
use platform::pagination::{PageQuery, invalid_cursor};
use platform::{ApiError, ApiResult, Caller, Json};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::access::{current_tenant, require_admin, version_conflict};
use crate::views::{InvitationList, InvitationView, IssuedInvitation};
use crate::{SharedState, TenantsState};

/// Marks an invitation token (and makes leaked ones easy to scan for).
pub const TOKEN_PREFIX: &str = "pyinv_";
pub const ACCEPT_PATH: &str = "/api/v1/invitations/accept";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: String,
    /// `admin` or `member` (default `member`).
    #[schema(pattern = "^(admin|member)$")]
    pub role: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("No such invitation")
}

/// The invitation's token sealed for the notifications service (the invitation email), bound to it.
async fn seal(state: &TenantsState, invitation: &Invitation, token: &secrecy::SecretString) -> anyhow::Result<String> {
    let purpose = identity::invitation_seal::Purpose::Invitation;
    identity::invitation_seal::seal(&state.keys, purpose, &invitation.tenant_id, &invitation.id, token).await
}

async fn invitation(state: &TenantsState, caller: &Caller, id: &str) -> ApiResult<Invitation> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    state.store.invitation(&caller.tenant_id, id).await?.ok_or_else(not_found)
}

/// Invite someone to the tenant (admins). Counts against the plan's members limit while pending.
#[utoipa::path(post, path = "/api/v1/tenants/current/invitations", tag = "tenants", operation_id = "create_invitation", request_body = CreateInvitation,
    responses(
        (status = 201, description = "Invited; the token is shown once", body = IssuedInvitation),
        (status = 400, description = "Invalid email or role"),
        (status = 403, description = "Not an admin, or the plan's members limit is reached (`plan_limit_reached`)"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<IssuedInvitation>)> {
    require_admin(&caller)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
    let role = match body.role.as_deref() {
        None | Some("member") => TenantRole::Member,
        Some("admin") => TenantRole::Admin,
        Some(_) => return Err(ApiError::bad_request("invalid_role", "role must be admin or member")),
    };
    let tenant = current_tenant(&state, &caller).await?;
    let now = storage::now_secs();
    let allowed = Limit::Members.of(state.settings.plans.limits(&tenant.plan));
    let used = state.store.count_users(&tenant.tenant_id).await?
        + state.store.count_pending_invitations(&tenant.tenant_id, now).await?;
    if used >= allowed {
        return Err(Limit::Members.reached(allowed));
    }
    let (token, hash) = identity::api_keys::generate_secret(TOKEN_PREFIX)?;
    let invitation = Invitation {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.tenant_id.clone(),
        email: email.as_str().to_string(),
        role,
        invited_by: caller.user_id.clone(),
        created_at: identity::now_rfc3339(),
        expires_at: now + state.settings.invitation_ttl.as_secs() as i64,
        status: InvitationStatus::Pending,
        token_hash: hash,
        accepted_by: None,
        version: 0,
    };
    let sealed = seal(&state, &invitation, &token).await?;
    let event = Event::new(Action::InvitationCreated, &origin)
        .tenant(&tenant.tenant_id)
        .actor(&caller.user_id)
        .detail("invitation_id", invitation.id.clone())
        .detail("email", invitation.email.clone())
        .detail("role", role.as_str())
        .detail("expires_at", invitation.expires_at)
        .detail(identity::invitation_seal::SEALED_TOKEN_FIELD, sealed);
    state.events.commit(event, state.store.create_invitation(&invitation)).await?;
    let issued = IssuedInvitation {
        invitation: InvitationView::new(invitation, now),
        token: token.expose_secret().to_string(),
        accept_path: ACCEPT_PATH,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

/// The tenant's invitations, oldest first (admins).
#[utoipa::path(get, path = "/api/v1/tenants/current/invitations", tag = "tenants", operation_id = "list_invitations",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of invitations", body = InvitationList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not an admin"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<InvitationList>> {
    require_admin(&caller)?;
    let limit = page.limit()?;
    let listing = match state.store.list_invitations(&caller.tenant_id, limit, page.cursor()).await {
        Ok(listing) => listing,
        Err(StoreFailure::InvalidCursor) => return Err(invalid_cursor()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let now = storage::now_secs();
    Ok(Json(InvitationList {
        invitations: listing.items.into_iter().map(|i| InvitationView::new(i, now)).collect(),
        next_cursor: listing.next_cursor,
    }))
}

/// Revoke a pending invitation (admins); revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/v1/tenants/current/invitations/{id}", tag = "tenants", operation_id = "revoke_invitation",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such invitation"),
        (status = 409, description = "Already accepted (`invitation_accepted`), or changed meanwhile"),
    ))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let mut invitation = invitation(&state, &caller, &id).await?;
    match invitation.status {
        InvitationStatus::Revoked => return Ok(StatusCode::NO_CONTENT),
        InvitationStatus::Accepted => {
            return Err(ApiError::conflict("invitation_accepted", "The invitation was already accepted"));
        }
        InvitationStatus::Pending => {}
    }
    invitation.status = InvitationStatus::Revoked;
    let event = Event::new(Action::InvitationRevoked, &origin)
        .tenant(&invitation.tenant_id)
        .actor(&caller.user_id)
        .detail("invitation_id", invitation.id.clone());
    match state.events.commit(event, state.store.update_invitation(&invitation, None)).await {
        Ok(_) => {}
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Re-issue a pending (or expired) invitation (admins): a new token and a new expiry; the old token stops
/// working.
#[utoipa::path(post, path = "/api/v1/tenants/current/invitations/{id}/resend", tag = "tenants", operation_id = "resend_invitation",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "Re-issued; the new token is shown once", body = IssuedInvitation),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such invitation"),
        (status = 409, description = "Accepted or revoked (`invitation_not_pending`), or changed meanwhile"),
    ))]
pub async fn resend(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<IssuedInvitation>> {
    require_admin(&caller)?;
    let mut invitation = invitation(&state, &caller, &id).await?;
    if invitation.status != InvitationStatus::Pending {
        return Err(ApiError::conflict("invitation_not_pending", "Only a pending invitation can be sent again"));
    }
    let now = storage::now_secs();
    let previous_hash = invitation.token_hash.clone();
    let (token, hash) = identity::api_keys::generate_secret(TOKEN_PREFIX)?;
    invitation.token_hash = hash;
    invitation.expires_at = now + state.settings.invitation_ttl.as_secs() as i64;
    let sealed = seal(&state, &invitation, &token).await?;
    let event = Event::new(Action::InvitationResent, &origin)
        .tenant(&invitation.tenant_id)
        .actor(&caller.user_id)
        .detail("invitation_id", invitation.id.clone())
        .detail("email", invitation.email.clone())
        .detail("role", invitation.role.as_str())
        .detail("expires_at", invitation.expires_at)
        .detail(identity::invitation_seal::SEALED_TOKEN_FIELD, sealed);
    let stored =
        match state.events.commit(event, state.store.update_invitation(&invitation, Some(&previous_hash))).await {
            Ok(stored) => stored,
            Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
            Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
        };
    Ok(Json(IssuedInvitation {
        invitation: InvitationView::new(stored, now),
        token: token.expose_secret().to_string(),
        accept_path: ACCEPT_PATH,
    }))
}
