//! The one enforcement point of this group: every handler loads the caller's access once and asks it. A
//! workspace (or anything in it) the caller does not see is a 404 exactly like one that does not exist; one it
//! sees but may not change is a 403 naming the permission.

use access::{Permission, Scope};
use platform::{ApiError, ApiResult, Caller};
use tenancy::Workspace;
use tenancy::resolve::CallerAccess;

use crate::WorkspacesState;

pub async fn access(state: &WorkspacesState, caller: &Caller) -> ApiResult<CallerAccess> {
    Ok(CallerAccess::load(&state.store, caller).await?)
}

pub fn not_found(what: &str) -> ApiError {
    ApiError::not_found(format!("No such {what}"))
}

/// Ids this API issues are short and plain; anything else cannot name a record (and is not echoed).
pub fn plain_id(id: &str) -> bool {
    access::is_valid_id(id)
}

/// The workspace, if it exists in the caller's tenant and the caller sees it.
pub async fn workspace(
    state: &WorkspacesState,
    caller: &Caller,
    access: &CallerAccess,
    id: &str,
) -> ApiResult<Workspace> {
    if !plain_id(id) || !access.sees_workspace(id) {
        return Err(not_found("workspace"));
    }
    state.store.workspace(&caller.tenant_id, id).await?.ok_or_else(|| not_found("workspace"))
}

/// The caller's access and the workspace, when the caller sees it (else 404) and holds `permission` on it
/// (else 403): what every workspace-scoped change asks first.
pub async fn managed_workspace(
    state: &WorkspacesState,
    caller: &Caller,
    id: &str,
    permission: Permission,
) -> ApiResult<(CallerAccess, Workspace)> {
    let access = access(state, caller).await?;
    let found = workspace(state, caller, &access, id).await?;
    require(&access, permission, &Scope::workspace(found.id.as_str()))?;
    Ok((access, found))
}

/// 403 unless the caller holds `permission` on `scope`.
pub fn require(access: &CallerAccess, permission: Permission, scope: &Scope) -> ApiResult<()> {
    if access.allows(permission, scope) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("This needs the {permission} permission here")))
    }
}
