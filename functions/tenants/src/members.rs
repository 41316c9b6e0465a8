//! `GET /api/v1/tenants/current/members`, `PATCH|DELETE …/members/{userId}`,
//! `POST /api/v1/tenants/current/transfer-ownership`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use identity::{StoreFailure, TenantRole};
use platform::pagination::invalid_cursor;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SharedState;
use crate::access::{current_tenant, member, require_admin, role_of, version_conflict};
use crate::views::{MemberList, MemberView};

#[derive(Debug, Default, Deserialize)]
pub struct MembersQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub role: Option<String>,
}

fn parse_role(raw: &str) -> ApiResult<TenantRole> {
    match raw {
        "owner" => Ok(TenantRole::Owner),
        "admin" => Ok(TenantRole::Admin),
        "member" => Ok(TenantRole::Member),
        _ => Err(ApiError::bad_request("invalid_role", "role must be owner, admin or member")),
    }
}

/// The tenant's members, oldest first (every member may list them).
#[utoipa::path(get, path = "/api/v1/tenants/current/members", tag = "tenants", operation_id = "list_members",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("role" = Option<String>, Query, description = "Only members with this role", pattern = "^(owner|admin|member)$"),
    ),
    responses(
        (status = 200, description = "A page of members", body = MemberList),
        (status = 400, description = "Invalid limit, cursor or role"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<MembersQuery>,
) -> ApiResult<Json<MemberList>> {
    let page = platform::pagination::PageQuery { limit: query.limit.clone(), cursor: query.cursor.clone() };
    let role = query.role.as_deref().filter(|r| !r.is_empty()).map(parse_role).transpose()?;
    let limit = page.limit()?;
    let tenant = current_tenant(&state, &caller).await?;
    let listing = match state.store.list_users(Some(&tenant.tenant_id), limit, page.cursor()).await {
        Ok(listing) => listing,
        Err(StoreFailure::InvalidCursor) => return Err(invalid_cursor()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let members = listing
        .items
        .into_iter()
        .filter(|user| role.is_none_or(|role| role_of(&tenant, user) == role))
        .map(|user| MemberView::new(&tenant, user))
        .collect();
    Ok(Json(MemberList { members, next_cursor: listing.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// `admin` or `member` (the owner changes only by a transfer).
    #[schema(pattern = "^(admin|member)$")]
    pub role: String,
    /// The member's `version` from the read this change is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
}

/// Change a member's role (admins). A demoted admin loses admin rights at once under `cargo run`, on AWS
/// within the authorizer's cache time (60 s).
#[utoipa::path(patch, path = "/api/v1/tenants/current/members/{userId}", tag = "tenants", operation_id = "update_member", request_body = UpdateMember,
    params(("userId" = String, Path, description = "The member's user id")),
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 400, description = "Invalid role (`owner` is given by a transfer)"),
        (status = 403, description = "Not an admin of the tenant"),
        (status = 404, description = "No such member"),
        (status = 409, description = "The owner's role is fixed (`owner_role_fixed`), or a stale version"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(user_id): Path<String>,
    Json(body): Json<UpdateMember>,
) -> ApiResult<Json<MemberView>> {
    require_admin(&caller)?;
    let role = match parse_role(&body.role)? {
        TenantRole::Owner => {
            return Err(ApiError::bad_request("invalid_role", "ownership moves with POST transfer-ownership"));
        }
        role => role,
    };
    let tenant = current_tenant(&state, &caller).await?;
    let mut user = member(&state, &caller, &user_id).await?;
    if role_of(&tenant, &user) == TenantRole::Owner {
        return Err(ApiError::conflict("owner_role_fixed", "The owner stays an admin; transfer ownership first"));
    }
    if user.version != body.version {
        return Err(version_conflict());
    }
    let previous = role_of(&tenant, &user);
    user.roles.retain(|r| r != platform::caller::ROLE_TENANT_ADMIN);
    if role == TenantRole::Admin {
        user.roles.push(platform::caller::ROLE_TENANT_ADMIN.into());
    }
    user.updated_at = identity::now_rfc3339();
    let email = user.email.clone();
    let event = Event::new(Action::MemberRoleChanged, &origin)
        .tenant(&tenant.tenant_id)
        .actor(&caller.user_id)
        .subject(&user.id)
        .detail("from", previous.as_str())
        .detail("to", role.as_str());
    let stored = match state.events.commit(event, state.store.update_user(&user, &email)).await {
        Ok(stored) => stored,
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    Ok(Json(MemberView::new(&tenant, stored)))
}

/// Remove a member (admins), or leave (any member but the owner). The member's account, sessions and API keys
/// are deleted: its tokens and keys stop working at once under `cargo run`, on AWS within the authorizer's
/// cache time.
#[utoipa::path(delete, path = "/api/v1/tenants/current/members/{userId}", tag = "tenants", operation_id = "remove_member",
    params(("userId" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin (members may only remove themselves)"),
        (status = 404, description = "No such member"),
        (status = 409, description = "The owner cannot leave (`owner_cannot_leave`): transfer ownership first"),
    ))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    if user_id != caller.user_id {
        require_admin(&caller)?;
    }
    let tenant = current_tenant(&state, &caller).await?;
    let user = member(&state, &caller, &user_id).await?;
    if role_of(&tenant, &user) == TenantRole::Owner {
        return Err(ApiError::conflict("owner_cannot_leave", "The owner cannot be removed; transfer ownership first"));
    }
    let event =
        Event::new(Action::MemberRemoved, &origin).tenant(&tenant.tenant_id).actor(&caller.user_id).subject(&user.id);
    state.events.commit(event, state.store.delete_user(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnership {
    /// The member who becomes the owner (and an admin); the previous owner stays an admin.
    pub user_id: String,
}

/// Hand the tenant to another member (the owner only).
#[utoipa::path(post, path = "/api/v1/tenants/current/transfer-ownership", tag = "tenants", request_body = TransferOwnership,
    responses(
        (status = 200, description = "The new owner", body = MemberView),
        (status = 400, description = "The new owner is disabled, or already the owner"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such member"),
        (status = 409, description = "Something changed meanwhile; retry"),
    ))]
pub async fn transfer_ownership(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<TransferOwnership>,
) -> ApiResult<Json<MemberView>> {
    let tenant = current_tenant(&state, &caller).await?;
    if tenant.owner_user_id != caller.user_id {
        return Err(ApiError::forbidden("Only the owner transfers ownership"));
    }
    let to = member(&state, &caller, &body.user_id).await?;
    if to.id == caller.user_id {
        return Err(ApiError::bad_request("invalid_transfer", "You already own this tenant"));
    }
    if !to.is_active() {
        return Err(ApiError::bad_request("invalid_transfer", "The new owner's account is disabled"));
    }
    let from = member(&state, &caller, &caller.user_id).await?;
    let event = Event::new(Action::OwnershipTransferred, &origin)
        .tenant(&tenant.tenant_id)
        .actor(&caller.user_id)
        .subject(&to.id);
    match state.events.commit(event, state.store.transfer_ownership(&tenant, &to, &from)).await {
        Ok(()) => {}
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
    let tenant = current_tenant(&state, &caller).await?;
    let to = member(&state, &caller, &to.id).await?;
    Ok(Json(MemberView::new(&tenant, to)))
}
