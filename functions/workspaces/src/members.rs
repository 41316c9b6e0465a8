//! `GET|POST /api/v1/workspaces/{id}/members`, `PATCH|DELETE /api/v1/workspaces/{id}/members/{userId}`.
//!
//! A workspace member holds a workspace role (`admin`, `editor`, `commenter`, `viewer`) on it. Everyone who
//! sees the workspace lists its members; adding, changing and removing them needs `members:manage` on the
//! workspace (its admins, the tenant's admins), and one may only give (or take from someone) a role whose
//! permissions one holds there. A workspace keeps at least one `admin` member (`409 last_admin`). Decisions read
//! the store on every request, so a change applies at once.

use access::{Permission, Permissions, Scope, WorkspaceRole};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Deserialize;
use tenancy::resolve::CallerAccess;
use tenancy::{Membership, StoreFailure};
use utoipa::ToSchema;

use crate::guard::{access, not_found, require, workspace as visible_workspace};
use crate::views::{WorkspaceMemberList, WorkspaceMemberView};
use crate::workspaces::{invalid, version_conflict};
use crate::{SharedState, WorkspacesState};

/// A workspace role by its member name: `admin`, `editor`, `commenter`, `viewer`.
pub(crate) fn parse_member_role(raw: &str) -> ApiResult<WorkspaceRole> {
    WorkspaceRole::ALL
        .into_iter()
        .find(|role| role.as_str() == raw)
        .ok_or_else(|| ApiError::bad_request("invalid_role", "role must be admin, editor, commenter or viewer"))
}

/// Whether `raw` has the shape of the platform's user ids (a hyphenated UUID).
pub(crate) fn is_user_id(raw: &str) -> bool {
    raw.len() == 36 && uuid::Uuid::try_parse(raw).is_ok()
}

/// A user id from a request body: 400 unless it has the shape of one (it is not echoed).
pub(crate) fn parse_user_id(raw: &str) -> ApiResult<String> {
    if is_user_id(raw) { Ok(raw.to_string()) } else { Err(invalid("user_id", "a user id (UUID)")) }
}

/// A user of the caller's tenant (another tenant's user is a 404 like one that does not exist).
pub(crate) async fn tenant_user(state: &WorkspacesState, caller: &Caller, user_id: &str) -> ApiResult<identity::User> {
    if !is_user_id(user_id) {
        return Err(not_found("user"));
    }
    state.identity.user(&caller.tenant_id, user_id).await?.ok_or_else(|| not_found("user"))
}

/// 403 unless the caller holds every permission of `given` on `target`: nobody gives (or takes from someone)
/// more than they hold themselves.
pub(crate) fn require_holds(access: &CallerAccess, target: &Scope, given: Permissions) -> ApiResult<()> {
    let held = access.effective(target);
    if held.contains_all(given) {
        return Ok(());
    }
    let missing: Vec<&str> = given.iter().filter(|p| !held.contains(*p)).map(Permission::as_str).collect();
    Err(ApiError::forbidden(format!(
        "You may only give or change roles whose permissions you hold here; you lack {}",
        missing.join(", ")
    )))
}

/// The permissions of a membership's stored role (none for a role that does not parse).
fn role_permissions(membership: &Membership) -> Permissions {
    membership.role.parse::<WorkspaceRole>().map_or(Permissions::EMPTY, |role| role.builtin().permissions())
}

fn is_admin(membership: &Membership) -> bool {
    membership.role == WorkspaceRole::Admin.as_str()
}

async fn member(state: &WorkspacesState, caller: &Caller, workspace: &str, user_id: &str) -> ApiResult<Membership> {
    let missing = || ApiError::not_found("No such member");
    if !is_user_id(user_id) {
        return Err(missing());
    }
    state.store.member(&caller.tenant_id, workspace, user_id).await?.ok_or_else(missing)
}

/// Another admin member of the workspace than `user_id`, if there is one.
async fn other_admin(
    state: &WorkspacesState,
    caller: &Caller,
    workspace: &str,
    user_id: &str,
) -> ApiResult<Membership> {
    let members = state.store.all_members(&caller.tenant_id, workspace).await?;
    members.into_iter().find(|m| m.user_id != user_id && is_admin(m)).ok_or_else(|| {
        ApiError::conflict("last_admin", "A workspace keeps at least one admin member; make another member admin first")
    })
}

/// The workspace's members (everyone who sees the workspace).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/members", tag = "workspaces", operation_id = "list_workspace_members",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of members", body = WorkspaceMemberList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 404, description = "No such workspace, or not one the caller sees"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<WorkspaceMemberList>> {
    let limit = page.limit()?;
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let listing = state.store.members(&caller.tenant_id, &workspace.id, limit, page.cursor()).await?;
    let members = listing.items.into_iter().map(WorkspaceMemberView::from).collect();
    Ok(Json(WorkspaceMemberList { members, next_cursor: listing.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// A user of the caller's tenant.
    #[schema(format = "uuid")]
    pub user_id: String,
    /// `admin`, `editor`, `commenter` or `viewer`.
    #[schema(pattern = "^(admin|editor|commenter|viewer)$")]
    pub role: String,
}

/// Add a user of the tenant to the workspace with a role (`members:manage` on the workspace).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/members", tag = "workspaces", operation_id = "add_workspace_member", request_body = AddMember,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 201, description = "Added", body = WorkspaceMemberView),
        (status = 400, description = "Invalid role (`invalid_role`) or user id (`invalid_field`)"),
        (status = 403, description = "The caller sees the workspace but may not manage its members, or does not hold the role's permissions there"),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such user in the tenant"),
        (status = 409, description = "The user is already a member (`already_member`)"),
    ))]
pub async fn add(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<AddMember>,
) -> ApiResult<(StatusCode, Json<WorkspaceMemberView>)> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let scope = Scope::workspace(workspace.id.as_str());
    require(&access, Permission::MembersManage, &scope)?;
    let role = parse_member_role(&body.role)?;
    let user_id = parse_user_id(&body.user_id)?;
    require_holds(&access, &scope, role.builtin().permissions())?;
    let user = tenant_user(&state, &caller, &user_id).await?;
    let membership = Membership::new(&workspace.id, &user.id, role, &caller.user_id);
    let event = Event::new(Action::WorkspaceMemberAdded, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .subject(&user.id)
        .detail("workspace_id", workspace.id)
        .detail("role", role.as_str());
    match state.events.commit(event, state.store.add_member(&caller.tenant_id, &membership)).await {
        Err(StoreFailure::AlreadyExists) => {
            return Err(ApiError::conflict("already_member", "The user is already a member of this workspace"));
        }
        other => other?,
    }
    Ok((StatusCode::CREATED, Json(WorkspaceMemberView::from(Membership { version: 1, ..membership }))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateWorkspaceMember)]
pub struct UpdateMember {
    /// `admin`, `editor`, `commenter` or `viewer`.
    #[schema(pattern = "^(admin|editor|commenter|viewer)$")]
    pub role: String,
    /// The membership's `version` from the read this change is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
}

/// Change a member's role (`members:manage` on the workspace); it applies from the next request on.
#[utoipa::path(patch, path = "/api/v1/workspaces/{id}/members/{userId}", tag = "workspaces", operation_id = "update_workspace_member", request_body = UpdateMember,
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("userId" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 200, description = "The member with the new role", body = WorkspaceMemberView),
        (status = 400, description = "Invalid role (`invalid_role`)"),
        (status = 403, description = "The caller sees the workspace but may not manage its members, or does not hold the old or the new role's permissions there"),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such member of it"),
        (status = 409, description = "The workspace's last admin (`last_admin`), or a stale version (`version_conflict`)"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, user_id)): Path<(String, String)>,
    Json(body): Json<UpdateMember>,
) -> ApiResult<Json<WorkspaceMemberView>> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let scope = Scope::workspace(workspace.id.as_str());
    let mut membership = member(&state, &caller, &workspace.id, &user_id).await?;
    require(&access, Permission::MembersManage, &scope)?;
    let role = parse_member_role(&body.role)?;
    if membership.version != body.version {
        return Err(version_conflict());
    }
    require_holds(&access, &scope, role_permissions(&membership) | role.builtin().permissions())?;
    if membership.role == role.as_str() {
        return Ok(Json(WorkspaceMemberView::from(membership)));
    }
    let keeps = if is_admin(&membership) {
        Some(other_admin(&state, &caller, &workspace.id, &membership.user_id).await?)
    } else {
        None
    };
    let previous = std::mem::replace(&mut membership.role, role.as_str().into());
    let event = Event::new(Action::WorkspaceMemberRoleChanged, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .subject(&membership.user_id)
        .detail("workspace_id", workspace.id)
        .detail("from", previous)
        .detail("to", role.as_str());
    let written = match &keeps {
        Some(keeps) => {
            state.events.commit(event, state.store.update_member_keeping(&caller.tenant_id, &membership, keeps)).await
        }
        None => state.events.commit(event, state.store.update_member(&caller.tenant_id, &membership)).await,
    };
    let stored = match written {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    };
    Ok(Json(WorkspaceMemberView::from(stored)))
}

/// Remove a member from the workspace (`members:manage` on the workspace). Grants the user holds on things in
/// the workspace stay; revoke them with `DELETE /api/v1/permissions/grants/{id}`.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/members/{userId}", tag = "workspaces", operation_id = "remove_workspace_member",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("userId" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The caller sees the workspace but may not manage its members, or does not hold the member's role's permissions there"),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such member of it"),
        (status = 409, description = "The workspace's last admin (`last_admin`), or it changed meanwhile (`version_conflict`)"),
    ))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let scope = Scope::workspace(workspace.id.as_str());
    let membership = member(&state, &caller, &workspace.id, &user_id).await?;
    require(&access, Permission::MembersManage, &scope)?;
    require_holds(&access, &scope, role_permissions(&membership))?;
    let event = Event::new(Action::WorkspaceMemberRemoved, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .subject(&membership.user_id)
        .detail("workspace_id", workspace.id.clone())
        .detail("role", membership.role.clone());
    let written = if is_admin(&membership) {
        let keeps = other_admin(&state, &caller, &workspace.id, &membership.user_id).await?;
        state.events.commit(event, state.store.remove_member_keeping(&caller.tenant_id, &membership, &keeps)).await
    } else {
        state.events.commit(event, state.store.remove_member(&caller.tenant_id, &membership)).await
    };
    match written {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_roles_are_the_four_workspace_roles() {
        for (raw, role) in [
            ("admin", WorkspaceRole::Admin),
            ("editor", WorkspaceRole::Editor),
            ("commenter", WorkspaceRole::Commenter),
            ("viewer", WorkspaceRole::Viewer),
        ] {
            assert_eq!(parse_member_role(raw).ok(), Some(role));
        }
        for bad in ["", "Admin", "workspace_admin", "owner", "tenant_admin", "custom:x", "viewer "] {
            assert!(parse_member_role(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_are_hyphenated_uuids() {
        assert!(is_user_id("0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f60"));
        for bad in [
            "",
            "0193a5b27c1e7d3a9f003b1c2d4e5f60",
            "{0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f60}",
            "urn:uuid:0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f60",
            "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f6g",
            "../../etc",
        ] {
            assert!(!is_user_id(bad), "{bad:?}");
            assert!(parse_user_id(bad).is_err(), "{bad:?}");
        }
    }
}
