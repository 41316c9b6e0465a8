//! `GET/PUT/DELETE /api/v1/users/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::{ApiResult, Caller, Json};

use crate::SharedState;
use crate::access::visible_user;
use crate::update::{UpdateUser, apply};
use crate::view::UserView;

/// A user the caller may see.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView), (status = 404, description = "No such user in reach")))]
pub async fn get_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(visible_user(&state, &caller, &id).await?.into()))
}

/// Update a user the caller may see (roles and status: admins only).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 202, description = "REGISTRATION_MODE=verify_email and a new email: the other fields updated; the email changes once the new address confirms it (the same answer whether it is taken or not)", body = UserView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "Roles or status changed by a non-admin"),
        (status = 404, description = "No such user in reach"),
        (status = 409, description = "Stale version, or the email is taken"),
    ))]
pub async fn update_user(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<axum::response::Response> {
    let target = visible_user(&state, &caller, &id).await?;
    Ok(apply(&state, &caller, &origin, target, body).await?.into_response())
}

/// Delete a user: login, tokens and API keys stop working at once. A tenant's owner alone in it takes the
/// tenant along.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such user in reach"),
        (status = 409, description = "The tenant's owner cannot be deleted while it has other members (`owner_cannot_leave`)")))]
pub async fn delete_user(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let target = visible_user(&state, &caller, &id).await?;
    // The owner goes only with the tenant: alone in it, the account and the tenant are deleted together;
    // with other members, ownership must move first.
    let owned = state.store.tenant(&target.tenant_id).await?.filter(|t| t.owner_user_id == target.id);
    if let Some(tenant) = &owned
        && state.store.count_users(&tenant.tenant_id).await? > 1
    {
        return Err(platform::ApiError::conflict(
            "owner_cannot_leave",
            "The tenant's owner cannot be deleted while it has other members; transfer ownership first",
        ));
    }
    let event =
        Event::new(Action::UserDeleted, &origin).tenant(&target.tenant_id).actor(&caller.user_id).subject(&target.id);
    state.events.commit(event, state.store.delete_user(&target)).await?;
    if let Some(tenant) = &owned {
        state.store.delete_tenant(tenant).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
