//! `GET|POST /api/v1/workspaces`, `GET|PATCH|DELETE /api/v1/workspaces/{id}`.
//!
//! Tenant admins create workspaces (within the plan's `workspaces` limit) and see them all; other members
//! see the workspaces they belong to or hold a grant in. Renaming and deleting need `workspaces:manage` on the
//! workspace: the tenant's owner and admins (the role table gives it to no workspace role, so a workspace's own
//! admins cannot rename or delete it, as with its projects).

use access::{Permission, Scope};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use identity::plans::Limit;
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Deserialize;
use tenancy::{Membership, Workspace};
use utoipa::ToSchema;

use crate::SharedState;
use crate::guard::{access, managed_workspace, require, workspace as visible_workspace};
use crate::views::{WorkspaceList, WorkspaceView};

pub(crate) fn invalid(field: &str, rule: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {rule}"))
}

/// A display name: 1 to 100 characters, no control characters.
pub(crate) fn parse_name(field: &str, raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(field, "1 to 100 characters, no control characters"));
    }
    Ok(name.to_string())
}

/// An optional description: at most 1,000 characters, no control characters but newlines.
pub(crate) fn parse_description(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() <= 1_000 && !text.chars().any(|c| c.is_control() && c != '\n') => {
            Ok(Some(text.to_string()))
        }
        Some(_) => Err(invalid("description", "at most 1000 characters, no control characters")),
    }
}

pub(crate) fn version_conflict() -> ApiError {
    ApiError::conflict("version_conflict", "It changed since you read it; read it again and retry")
}

/// The workspaces the caller sees, oldest first. Under `cargo run` the tenant's demo workspace is created on
/// the first listing.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces", operation_id = "list_workspaces",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of workspaces (a page may hold fewer than `limit` when some are not the caller's)", body = WorkspaceList),
        (status = 400, description = "Invalid limit or cursor"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<WorkspaceList>> {
    let limit = page.limit()?;
    tenancy::demo::ensure(&state.store, &state.secrets, state.demo.as_deref(), &caller).await;
    let access = access(&state, &caller).await?;
    let listing = state.store.workspaces(&caller.tenant_id, limit, page.cursor()).await?;
    let workspaces = listing
        .items
        .into_iter()
        .filter(|w| access.sees_workspace(&w.id))
        .map(|w| {
            let permissions = access.effective(&Scope::workspace(w.id.as_str()));
            WorkspaceView::new(w, permissions)
        })
        .collect();
    Ok(Json(WorkspaceList { workspaces, next_cursor: listing.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// Create a workspace (tenant admins); its creator becomes its first admin.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", operation_id = "create_workspace", request_body = CreateWorkspace,
    responses(
        (status = 201, description = "Created", body = WorkspaceView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "Not a tenant admin (`forbidden`), or the plan's workspaces limit is reached (`plan_limit_reached`)"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let name = parse_name("name", &body.name)?;
    let description = parse_description(body.description.as_deref())?;
    let access = access(&state, &caller).await?;
    require(&access, Permission::WorkspacesManage, &Scope::tenant())?;
    let allowed = Limit::Workspaces.of(state.settings.plans.limits(caller.plan.as_deref().unwrap_or_default()));
    if state.store.all_workspaces(&caller.tenant_id).await?.len() as u64 >= allowed {
        return Err(Limit::Workspaces.reached(allowed));
    }
    let workspace = Workspace::new(&caller.tenant_id, name, description, &caller.user_id);
    let creator = Membership::new(&workspace.id, &caller.user_id, access::WorkspaceRole::Admin, &caller.user_id);
    let event = Event::new(Action::WorkspaceCreated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", workspace.id.clone());
    state.events.commit(event, state.store.create_workspace(&workspace, &creator)).await?;
    let permissions = access.effective(&Scope::workspace(workspace.id.as_str()))
        | access::WorkspaceRole::Admin.builtin().permissions();
    Ok((StatusCode::CREATED, Json(WorkspaceView::new(Workspace { version: 1, ..workspace }, permissions))))
}

/// One workspace.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "get_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace in the caller's tenant, or not one the caller sees"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceView>> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let permissions = access.effective(&Scope::workspace(workspace.id.as_str()));
    Ok(Json(WorkspaceView::new(workspace, permissions)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// `null` or `""` clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// The workspace's `version` from the read this change is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
}

/// Rename a workspace or change its description (`workspaces:manage`).
#[utoipa::path(patch, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "update_workspace", request_body = UpdateWorkspace,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Updated", body = WorkspaceView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "The caller sees the workspace but may not manage it"),
        (status = 404, description = "No such workspace"),
        (status = 409, description = "Stale version (`version_conflict`)"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<UpdateWorkspace>,
) -> ApiResult<Json<WorkspaceView>> {
    let (access, mut workspace) = managed_workspace(&state, &caller, &id, Permission::WorkspacesManage).await?;
    if workspace.version != body.version {
        return Err(version_conflict());
    }
    if let Some(name) = &body.name {
        workspace.name = parse_name("name", name)?;
    }
    if body.description.is_some() {
        workspace.description = parse_description(body.description.as_deref())?;
    }
    workspace.updated_at = tenancy::now_rfc3339();
    let event = Event::new(Action::WorkspaceUpdated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", id.clone());
    let stored = match state.events.commit(event, state.store.update_workspace(&workspace)).await {
        Err(tenancy::StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    };
    let permissions = access.effective(&Scope::workspace(id.as_str()));
    Ok(Json(WorkspaceView::new(stored, permissions)))
}

/// Delete a workspace with its projects, members, connections, linked bases and grants
/// (`workspaces:manage`). Its bases are unreachable from the first write on.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "delete_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller sees the workspace but may not manage it"),
        (status = 404, description = "No such workspace"),
        (status = 409, description = "It changed while being deleted; retry"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (_, workspace) = managed_workspace(&state, &caller, &id, Permission::WorkspacesManage).await?;
    let event = Event::new(Action::WorkspaceDeleted, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", id);
    state.events.commit(event, state.store.delete_workspace(&caller.tenant_id, &workspace)).await?;
    Ok(StatusCode::NO_CONTENT)
}
