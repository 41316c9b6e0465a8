//! `GET /api/v1/users?limit=&cursor=`: a tenant admin lists their tenant, the platform admin everyone.

use axum::extract::{Query, State};
use identity::StoreFailure;
use platform::pagination::{PageQuery, invalid_cursor};
use platform::{ApiError, ApiResult, Caller, Json};

use crate::SharedState;
use crate::view::{UserList, UserView};

/// List users, oldest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not an admin"),
    ))]
pub async fn list_users(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<UserList>> {
    let scope = match (caller.is_platform_admin(), caller.is_tenant_admin()) {
        (true, _) => None,
        (false, true) => Some(caller.tenant_id.as_str()),
        (false, false) => return Err(ApiError::forbidden("Only admins list users")),
    };
    let listing = match state.store.list_users(scope, page.limit()?, page.cursor()).await {
        Ok(listing) => listing,
        Err(StoreFailure::InvalidCursor) => return Err(invalid_cursor()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    Ok(Json(UserList {
        users: listing.items.into_iter().map(UserView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}
