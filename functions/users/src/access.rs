//! Who may reach whom, in one place.

use identity::User;
use platform::{ApiError, ApiResult, Caller};

use crate::UsersState;

/// The user `id` if the caller may see it; otherwise (and when it does not exist) 404.
pub async fn visible_user(state: &UsersState, caller: &Caller, id: &str) -> ApiResult<User> {
    let not_found = || ApiError::not_found("No such user");
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    let user = if caller.is_platform_admin() {
        state.store.user_in_any_tenant(id).await?
    } else if id == caller.user_id || caller.is_tenant_admin() {
        // Read under the caller's own tenant: a user of another tenant is not even looked at.
        state.store.user(&caller.tenant_id, id).await?
    } else {
        None
    };
    user.ok_or_else(not_found)
}

/// Whether `user` owns its tenant (the owner cannot be demoted, disabled or deleted here).
pub async fn is_owner(state: &UsersState, user: &User) -> ApiResult<bool> {
    let tenant = state.store.tenant(&user.tenant_id).await?;
    Ok(tenant.is_some_and(|t| t.owner_user_id == user.id))
}

/// The caller's own record (gone only if deleted since the authorizer looked).
pub async fn own_user(state: &UsersState, caller: &Caller) -> ApiResult<User> {
    state.store.user(&caller.tenant_id, &caller.user_id).await?.ok_or_else(|| ApiError::not_found("No such user"))
}
