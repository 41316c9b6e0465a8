//! The one enforcement point of the webhooks routes: `webhooks:manage` at tenant scope (tenant owners and
//! admins hold it; a custom role may grant it), decided by [`tenancy::resolve::CallerAccess`]. An endpoint is
//! looked up under the caller's tenant only, so another tenant's id is a 404 like one that does not exist.

use access::{Permission, Scope};
use platform::{ApiError, ApiResult, Caller};
use tenancy::resolve::CallerAccess;

use crate::ApiState;
use crate::store::Endpoint;

/// 403 unless the caller may manage (and read) the tenant's webhooks.
pub async fn require_manager(state: &ApiState, caller: &Caller) -> ApiResult<()> {
    let access = CallerAccess::load(&state.tenancy, caller).await?;
    if access.allows(Permission::WebhooksManage, &Scope::tenant()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("This needs the {} permission on the tenant", Permission::WebhooksManage)))
    }
}

pub fn not_found(what: &str) -> ApiError {
    ApiError::not_found(format!("No such {what}"))
}

/// The caller's tenant's endpoint `id`, once the caller is known to manage webhooks.
pub async fn endpoint(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<Endpoint> {
    require_manager(state, caller).await?;
    if !access::is_valid_id(id) {
        return Err(not_found("endpoint"));
    }
    state.store.endpoint(&caller.tenant_id, id).await?.ok_or_else(|| not_found("endpoint"))
}
