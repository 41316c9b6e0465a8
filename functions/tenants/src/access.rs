//! Who may reach what, in one place. Everything is read under the caller's own tenant, so another tenant's
//! member or invitation is a 404 exactly like one that does not exist.

use identity::{Tenant, TenantRole, User};
use platform::{ApiError, ApiResult, Caller};

use crate::TenantsState;

pub async fn current_tenant(state: &TenantsState, caller: &Caller) -> ApiResult<Tenant> {
    state.store.tenant(&caller.tenant_id).await?.ok_or_else(|| ApiError::not_found("No such tenant"))
}

/// Admins and the owner (the owner is always an admin).
pub fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_tenant_admin() { Ok(()) } else { Err(ApiError::forbidden("Only the tenant's admins may do this")) }
}

/// A member of the caller's tenant.
pub async fn member(state: &TenantsState, caller: &Caller, user_id: &str) -> ApiResult<User> {
    let not_found = || ApiError::not_found("No such member");
    if uuid::Uuid::parse_str(user_id).is_err() {
        return Err(not_found());
    }
    state.store.user(&caller.tenant_id, user_id).await?.ok_or_else(not_found)
}

pub fn role_of(tenant: &Tenant, user: &User) -> TenantRole {
    TenantRole::of(tenant, user)
}

pub fn version_conflict() -> ApiError {
    ApiError::conflict("version_conflict", "It changed since you read it; read it again and retry")
}
