//! `GET|POST /api/v1/workspaces/{id}/projects`, `GET|PATCH|DELETE /api/v1/workspaces/{id}/projects/{projectId}`.
//!
//! Everyone who sees the workspace reads its projects; creating, changing (renaming, archiving) and deleting
//! one needs `workspaces:manage` on the workspace (the tenant's admins).

use access::{Permission, Scope};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Deserialize;
use tenancy::{Project, StoreFailure};
use utoipa::ToSchema;

use crate::SharedState;
use crate::guard::{access, managed_workspace, not_found, plain_id, require, workspace as visible_workspace};
use crate::views::{ProjectList, ProjectView};
use crate::workspaces::{parse_description, parse_name, version_conflict};

/// The project, if `id` names one in the workspace.
async fn project(state: &SharedState, caller: &Caller, workspace: &str, id: &str) -> ApiResult<Project> {
    if !plain_id(id) {
        return Err(not_found("project"));
    }
    state.store.project(&caller.tenant_id, workspace, id).await?.ok_or_else(|| not_found("project"))
}

/// The workspace's projects, oldest first (everyone who sees the workspace).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/projects", tag = "workspaces", operation_id = "list_projects",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of projects, archived ones included", body = ProjectList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 404, description = "No such workspace, or not one the caller sees"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<ProjectList>> {
    let limit = page.limit()?;
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let listing = state.store.projects(&caller.tenant_id, &workspace.id, limit, page.cursor()).await?;
    let projects = listing.items.into_iter().map(ProjectView::from).collect();
    Ok(Json(ProjectList { projects, next_cursor: listing.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// Create a project in the workspace (`workspaces:manage` on it).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/projects", tag = "workspaces", operation_id = "create_project", request_body = CreateProject,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 201, description = "Created", body = ProjectView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "The caller sees the workspace but may not manage it"),
        (status = 404, description = "No such workspace, or not one the caller sees"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<CreateProject>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    let (_, workspace) = managed_workspace(&state, &caller, &id, Permission::WorkspacesManage).await?;
    let name = parse_name("name", &body.name)?;
    let description = parse_description(body.description.as_deref())?;
    let now = tenancy::now_rfc3339();
    let project = Project {
        id: tenancy::new_id("prj_"),
        workspace_id: workspace.id.clone(),
        name,
        description,
        archived: false,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 0,
    };
    let event = Event::new(Action::ProjectCreated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", workspace.id)
        .detail("project_id", project.id.clone());
    let stored = state.events.commit(event, state.store.put_project(&caller.tenant_id, &project)).await?;
    Ok((StatusCode::CREATED, Json(ProjectView::from(stored))))
}

/// One project (everyone who sees the workspace).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/projects/{projectId}", tag = "workspaces", operation_id = "get_project",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("projectId" = String, Path, description = "Project id"),
    ),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such project in it"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, project_id)): Path<(String, String)>,
) -> ApiResult<Json<ProjectView>> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let project = project(&state, &caller, &workspace.id, &project_id).await?;
    Ok(Json(ProjectView::from(project)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// `null` or `""` clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// `true` archives the project, `false` brings it back.
    pub archived: Option<bool>,
    /// The project's `version` from the read this change is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
}

/// Rename a project, change its description, archive or unarchive it (`workspaces:manage` on the workspace).
#[utoipa::path(patch, path = "/api/v1/workspaces/{id}/projects/{projectId}", tag = "workspaces", operation_id = "update_project", request_body = UpdateProject,
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("projectId" = String, Path, description = "Project id"),
    ),
    responses(
        (status = 200, description = "Updated", body = ProjectView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "The caller sees the workspace but may not manage it"),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such project in it"),
        (status = 409, description = "Stale version (`version_conflict`)"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, project_id)): Path<(String, String)>,
    Json(body): Json<UpdateProject>,
) -> ApiResult<Json<ProjectView>> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let mut project = project(&state, &caller, &workspace.id, &project_id).await?;
    require(&access, Permission::WorkspacesManage, &Scope::workspace(workspace.id.as_str()))?;
    if project.version != body.version {
        return Err(version_conflict());
    }
    if let Some(name) = &body.name {
        project.name = parse_name("name", name)?;
    }
    if body.description.is_some() {
        project.description = parse_description(body.description.as_deref())?;
    }
    let archived = body.archived.filter(|archived| *archived != project.archived);
    if let Some(archived) = archived {
        project.archived = archived;
    }
    project.updated_at = tenancy::now_rfc3339();
    let mut event = Event::new(Action::ProjectUpdated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", workspace.id)
        .detail("project_id", project.id.clone());
    if let Some(archived) = archived {
        event = event.detail("archived", archived);
    }
    let stored = match state.events.commit(event, state.store.put_project(&caller.tenant_id, &project)).await {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    };
    Ok(Json(ProjectView::from(stored)))
}

/// Delete a project and the grants on it (`workspaces:manage` on the workspace). A project that still holds
/// linked bases is not deleted: move or unlink them first.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/projects/{projectId}", tag = "workspaces", operation_id = "delete_project",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("projectId" = String, Path, description = "Project id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller sees the workspace but may not manage it"),
        (status = 404, description = "No such workspace (or not one the caller sees), or no such project in it"),
        (status = 409, description = "Linked bases are in the project (`project_not_empty`), or it changed while being deleted (`version_conflict`)"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, project_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let access = access(&state, &caller).await?;
    let workspace = visible_workspace(&state, &caller, &access, &id).await?;
    let project = project(&state, &caller, &workspace.id, &project_id).await?;
    require(&access, Permission::WorkspacesManage, &Scope::workspace(workspace.id.as_str()))?;
    let bases = state.store.all_workspace_bases(&caller.tenant_id, &workspace.id).await?;
    let held = bases.iter().filter(|b| b.project_id.as_deref() == Some(project.id.as_str())).count();
    if held > 0 {
        return Err(ApiError::conflict(
            "project_not_empty",
            format!("{held} linked base(s) are in this project; move or unlink them first"),
        ));
    }
    let event = Event::new(Action::ProjectDeleted, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", workspace.id)
        .detail("project_id", project.id.clone());
    match state.events.commit(event, state.store.delete_project_with_grants(&caller.tenant_id, &project)).await {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    }
    Ok(StatusCode::NO_CONTENT)
}
