//! `GET/PUT /api/v1/users/me`: the caller's own profile.

use axum::extract::State;
use events::Origin;
use platform::{ApiResult, Caller, Json};

use crate::SharedState;
use crate::access::own_user;
use crate::update::{UpdateUser, apply};
use crate::view::UserView;

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, description = "The caller", body = UserView)))]
pub async fn get_me(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<UserView>> {
    Ok(Json(own_user(&state, &caller).await?.into()))
}

/// Update the caller's profile (roles and status: admins only).
#[utoipa::path(put, path = "/api/v1/users/me", tag = "users", request_body = UpdateUser,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 202, description = "REGISTRATION_MODE=verify_email and a new email: the other fields updated; the email changes once the new address confirms it (the same answer whether it is taken or not)", body = UserView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "Roles or status changed by a non-admin"),
        (status = 409, description = "Stale version, or the email is taken"),
    ))]
pub async fn update_me(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<UpdateUser>,
) -> ApiResult<axum::response::Response> {
    let me = own_user(&state, &caller).await?;
    Ok(apply(&state, &caller, &origin, me, body).await?.into_response())
}
