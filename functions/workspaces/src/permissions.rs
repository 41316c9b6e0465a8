//! `/api/v1/permissions…`: the tenant's custom roles, grants (a role on a resource for a user) and decisions.
//!
//! - Roles: `GET|POST /roles`, `PATCH|DELETE /roles/{id}`. Every member of the tenant reads them (with the
//!   built-in roles, so clients can render the role table); writing needs `members:manage` at the tenant scope
//!   (the tenant's admins), and a role may only hold permissions its author holds tenant-wide (so
//!   `billing:manage` stays the owner's alone).
//! - Grants: `GET|POST /grants`, `DELETE /grants/{id}`. A grant gives a user a built-in role (`workspace_admin`,
//!   `editor`, `commenter`, `viewer`) or a custom one (`custom:<id>`) on a resource in the scope string form
//!   (`tenant`, `workspace:ws_x`, `workspace:ws_x/project:prj_y`, `workspace:ws_x/base:appY[/table:tblZ]`).
//!   Granting and revoking need `members:manage` on the resource, and one may only grant (or revoke) a role
//!   whose permissions one holds there. Tenant roles are the tenants service's, not grantable here.
//! - Decisions: `POST /check`, `POST /check-batch`, `GET /effective`, for the caller or (with
//!   `members:manage` on the resource) another user of the tenant.
//!
//! A resource in a workspace the caller does not see, or one that does not exist, is a 404; malformed
//! permission, resource and role strings are 400s (`invalid_permission`, `invalid_resource`, `invalid_role`)
//! whose messages echo at most a bounded prefix of the input.

use std::collections::{HashMap, HashSet};

use access::{BuiltinRole, Permission, Permissions, RoleId, Scope, WorkspaceRole};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::pagination::{PageQuery, invalid_cursor};
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use tenancy::resolve::{CallerAccess, base_scope};
use tenancy::{BaseLink, CustomRole, GrantRecord, StoreFailure};
use utoipa::ToSchema;

use crate::guard::{access, not_found, plain_id, require, workspace as visible_workspace};
use crate::members::{parse_user_id, require_holds, tenant_user};
use crate::workspaces::{invalid, parse_description, parse_name, version_conflict};
use crate::{SharedState, WorkspacesState};

/// The most checks one `check-batch` answers.
pub const MAX_CHECKS: usize = 100;
/// The most custom roles a tenant defines.
pub const MAX_CUSTOM_ROLES: usize = 100;
/// The most entries of a role's `permissions` list (duplicates are harmless, a flood is not).
const MAX_PERMISSION_ENTRIES: usize = 64;

// ---------------------------------------------------------------------------------------------------------
// Parsing

pub(crate) fn parse_permission(raw: &str) -> ApiResult<Permission> {
    // The engine's message names the valid permissions and echoes at most 64 characters of the input.
    raw.parse::<Permission>().map_err(|e| ApiError::bad_request("invalid_permission", e.to_string()))
}

fn parse_permissions(raw: &[String]) -> ApiResult<Permissions> {
    if raw.len() > MAX_PERMISSION_ENTRIES {
        return Err(invalid("permissions", "at most 64 entries"));
    }
    raw.iter().map(|p| parse_permission(p)).collect()
}

pub(crate) fn parse_resource(raw: &str) -> ApiResult<Scope> {
    // The engine checks the length first and echoes at most a bounded prefix of a bad segment.
    raw.parse::<Scope>().map_err(|e| ApiError::bad_request("invalid_resource", format!("resource: {e}")))
}

/// A role a grant may name: a built-in role but the tenant's own (`tenant_owner`, `tenant_admin`,
/// `tenant_member`: the tenants service gives those), or `custom:<id>`.
fn parse_grant_role(raw: &str) -> ApiResult<RoleId> {
    let role = raw.parse::<RoleId>().map_err(|e| ApiError::bad_request("invalid_role", e.to_string()))?;
    if matches!(&role, RoleId::Builtin(builtin) if !grantable(*builtin)) {
        return Err(ApiError::bad_request(
            "invalid_role",
            "tenant roles (tenant_owner, tenant_admin, tenant_member) are given by the tenants service; grant \
             workspace_admin, editor, commenter, viewer or custom:<id>",
        ));
    }
    Ok(role)
}

fn grantable(role: BuiltinRole) -> bool {
    !matches!(role, BuiltinRole::TenantOwner | BuiltinRole::TenantAdmin | BuiltinRole::TenantMember)
}

/// `error` with its message prefixed by where in a batch it happened.
fn at(index: usize, error: ApiError) -> ApiError {
    match error {
        ApiError::Client { status, code, message } => {
            ApiError::Client { status, code, message: format!("checks[{index}]: {message}") }
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Resources and whose access

/// Turns resources clients name into the targets decisions are about, reading each workspace, project and
/// base link once: a workspace the caller does not see (or that does not exist), a project not in it, a base
/// not linked to it are 404s; a base (or table) is placed in its project, so project grants cover it.
struct Targets<'a> {
    state: &'a WorkspacesState,
    caller: &'a Caller,
    access: &'a CallerAccess,
    workspaces: HashSet<String>,
    projects: HashSet<(String, String)>,
    bases: HashMap<String, BaseLink>,
}

impl<'a> Targets<'a> {
    fn new(state: &'a WorkspacesState, caller: &'a Caller, access: &'a CallerAccess) -> Self {
        Self { state, caller, access, workspaces: HashSet::new(), projects: HashSet::new(), bases: HashMap::new() }
    }

    async fn target(&mut self, resource: &Scope) -> ApiResult<Scope> {
        let Some(ws) = resource.workspace.as_deref() else {
            return Ok(Scope::tenant());
        };
        if !self.workspaces.contains(ws) {
            visible_workspace(self.state, self.caller, self.access, ws).await?;
            self.workspaces.insert(ws.to_string());
        }
        let tenant = &self.caller.tenant_id;
        if let Some(project) = resource.project.as_deref() {
            let key = (ws.to_string(), project.to_string());
            if !self.projects.contains(&key) {
                self.state.store.project(tenant, ws, project).await?.ok_or_else(|| not_found("project"))?;
                self.projects.insert(key);
            }
            return Ok(resource.clone());
        }
        if let Some(base) = resource.base.as_deref() {
            let link = match self.bases.get(base) {
                Some(link) => link.clone(),
                None => {
                    let link = self.state.store.base_link(tenant, base).await?;
                    let link = link.ok_or_else(|| not_found("base in this workspace"))?;
                    self.bases.insert(base.to_string(), link.clone());
                    link
                }
            };
            if link.workspace_id != ws {
                return Err(not_found("base in this workspace"));
            }
            return Ok(base_scope(&link, resource.table.as_deref()));
        }
        Ok(resource.clone())
    }
}

/// A stored grant's scope as a target: a base (or table) placed in its project when it is still linked there.
fn placed(scope: Scope, links: &HashMap<String, BaseLink>) -> Scope {
    let link = scope.base.as_deref().and_then(|base| links.get(base));
    match link {
        Some(link) if Some(link.workspace_id.as_str()) == scope.workspace.as_deref() => {
            base_scope(link, scope.table.as_deref())
        }
        _ => scope,
    }
}

/// The tenant role a user record says: admins (the owner is always one) and platform admins are
/// [`access::TenantRole::Admin`], as the authorizer makes them for their own requests.
fn tenant_role_of(user: &identity::User) -> access::TenantRole {
    if user.roles.iter().any(|r| r == platform::caller::ROLE_TENANT_ADMIN) || user.is_platform_admin() {
        access::TenantRole::Admin
    } else {
        access::TenantRole::Member
    }
}

/// Another user's access, when a decision is asked about someone else than the caller: the caller needs
/// `members:manage` on every target (403), and the user must be of the tenant (404). `None`: the caller's own.
async fn other_access(
    state: &WorkspacesState,
    caller: &Caller,
    own: &CallerAccess,
    user_id: Option<&str>,
    targets: &[Scope],
) -> ApiResult<Option<CallerAccess>> {
    let Some(user_id) = user_id.filter(|u| *u != caller.user_id) else {
        return Ok(None);
    };
    for target in targets {
        require(own, Permission::MembersManage, target)?;
    }
    let user = tenant_user(state, caller, user_id).await?;
    let access = CallerAccess::load_for_user(&state.store, &caller.tenant_id, &user.id, tenant_role_of(&user)).await?;
    Ok(Some(access))
}

// ---------------------------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinRoleView {
    /// What a grant names (`workspace_admin`, `editor`, …; the `tenant_*` roles are the tenants service's).
    pub name: &'static str,
    /// The name a workspace membership uses for it (`admin`, `editor`, `commenter`, `viewer`), if any.
    pub member_role: Option<&'static str>,
    /// Whether a grant may name it.
    pub grantable: bool,
    pub permissions: Vec<&'static str>,
}

impl BuiltinRoleView {
    fn all() -> Vec<Self> {
        BuiltinRole::ALL
            .into_iter()
            .map(|role| Self {
                name: role.as_str(),
                member_role: WorkspaceRole::ALL.into_iter().find(|w| w.builtin() == role).map(WorkspaceRole::as_str),
                grantable: grantable(role),
                permissions: role.permissions().sorted_names(),
            })
            .collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub id: String,
    /// What a grant names: `custom:<id>`.
    pub role: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<&'static str>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Send it back with an update: it applies only if nobody changed the role since.
    pub version: u64,
}

impl From<CustomRole> for RoleView {
    fn from(r: CustomRole) -> Self {
        Self {
            role: RoleId::Custom(r.id.clone()).to_string(),
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: r.permissions.sorted_names(),
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    /// The roles every tenant has (on every page).
    pub builtin: Vec<BuiltinRoleView>,
    /// A page of the tenant's custom roles, oldest first.
    pub roles: Vec<RoleView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub user_id: String,
    /// A built-in role's name or `custom:<id>`.
    pub role: String,
    /// The resource, in the scope string form.
    pub resource: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<GrantRecord> for GrantView {
    fn from(g: GrantRecord) -> Self {
        Self {
            id: g.id,
            user_id: g.user_id,
            role: g.role,
            resource: g.scope,
            created_by: g.created_by,
            created_at: g.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub allowed: bool,
    pub permission: &'static str,
    pub resource: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckBatchResult {
    /// One answer per check, in the order asked.
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveView {
    pub resource: String,
    /// Everything the user may do on the resource, sorted.
    pub permissions: Vec<&'static str>,
}

// ---------------------------------------------------------------------------------------------------------
// Roles

async fn custom_role(state: &WorkspacesState, caller: &Caller, id: &str) -> ApiResult<CustomRole> {
    if !plain_id(id) {
        return Err(not_found("role"));
    }
    state.store.role(&caller.tenant_id, id).await?.ok_or_else(|| not_found("role"))
}

/// The built-in roles and a page of the tenant's custom roles (every member of the tenant).
#[utoipa::path(get, path = "/api/v1/permissions/roles", tag = "permissions", operation_id = "list_roles",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20) custom roles", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "The built-in roles and a page of custom roles", body = RoleList),
        (status = 400, description = "Invalid limit or cursor"),
    ))]
pub async fn list_roles(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<RoleList>> {
    let limit = page.limit()?;
    let listing = state.store.roles(&caller.tenant_id, limit, page.cursor()).await?;
    let roles = listing.items.into_iter().map(RoleView::from).collect();
    Ok(Json(RoleList { builtin: BuiltinRoleView::all(), roles, next_cursor: listing.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// Permission strings (`records:read`, …).
    #[schema(max_items = 64)]
    pub permissions: Vec<String>,
}

/// Define a custom role (`members:manage` at the tenant scope).
#[utoipa::path(post, path = "/api/v1/permissions/roles", tag = "permissions", operation_id = "create_role", request_body = CreateRole,
    responses(
        (status = 201, description = "Created", body = RoleView),
        (status = 400, description = "Invalid field (`invalid_field`), or an unknown permission (`invalid_permission`, naming the valid ones)"),
        (status = 403, description = "Not a tenant admin, or the role holds a permission the caller does not hold tenant-wide"),
        (status = 409, description = "The tenant has the most custom roles it may have (`role_limit_reached`)"),
    ))]
pub async fn create_role(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateRole>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    let access = access(&state, &caller).await?;
    require(&access, Permission::MembersManage, &Scope::tenant())?;
    let name = parse_name("name", &body.name)?;
    let description = parse_description(body.description.as_deref())?;
    let permissions = parse_permissions(&body.permissions)?;
    require_holds(&access, &Scope::tenant(), permissions)?;
    if state.store.all_roles(&caller.tenant_id).await?.len() >= MAX_CUSTOM_ROLES {
        return Err(ApiError::conflict(
            "role_limit_reached",
            format!("A tenant has at most {MAX_CUSTOM_ROLES} custom roles; delete one first"),
        ));
    }
    let now = tenancy::now_rfc3339();
    let role = CustomRole {
        id: tenancy::new_id("role_"),
        name,
        description,
        permissions,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 0,
    };
    let event = Event::new(Action::RoleCreated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("role_id", role.id.clone())
        .detail("permissions", role.permissions.to_string());
    let stored = state.events.commit(event, state.store.put_role(&caller.tenant_id, &role)).await?;
    Ok((StatusCode::CREATED, Json(RoleView::from(stored))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// `null` or `""` clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// The new permissions (all of them); every grant of the role has them from the next request on.
    #[schema(max_items = 64)]
    pub permissions: Option<Vec<String>>,
    /// The role's `version` from the read this change is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
}

/// Change a custom role (`members:manage` at the tenant scope); its grants change with it.
#[utoipa::path(patch, path = "/api/v1/permissions/roles/{id}", tag = "permissions", operation_id = "update_role", request_body = UpdateRole,
    params(("id" = String, Path, description = "Custom role id")),
    responses(
        (status = 200, description = "Updated", body = RoleView),
        (status = 400, description = "Invalid field (`invalid_field`), or an unknown permission (`invalid_permission`, naming the valid ones)"),
        (status = 403, description = "Not a tenant admin, or the role would hold a permission the caller does not hold tenant-wide"),
        (status = 404, description = "No such role in the tenant"),
        (status = 409, description = "Stale version (`version_conflict`)"),
    ))]
pub async fn update_role(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<UpdateRole>,
) -> ApiResult<Json<RoleView>> {
    let access = access(&state, &caller).await?;
    require(&access, Permission::MembersManage, &Scope::tenant())?;
    let mut role = custom_role(&state, &caller, &id).await?;
    if role.version != body.version {
        return Err(version_conflict());
    }
    if let Some(name) = &body.name {
        role.name = parse_name("name", name)?;
    }
    if body.description.is_some() {
        role.description = parse_description(body.description.as_deref())?;
    }
    if let Some(permissions) = &body.permissions {
        let permissions = parse_permissions(permissions)?;
        require_holds(&access, &Scope::tenant(), permissions)?;
        role.permissions = permissions;
    }
    role.updated_at = tenancy::now_rfc3339();
    let event = Event::new(Action::RoleUpdated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("role_id", role.id.clone())
        .detail("permissions", role.permissions.to_string());
    let stored = match state.events.commit(event, state.store.put_role(&caller.tenant_id, &role)).await {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    };
    Ok(Json(RoleView::from(stored)))
}

/// Delete a custom role no grant names (`members:manage` at the tenant scope).
#[utoipa::path(delete, path = "/api/v1/permissions/roles/{id}", tag = "permissions", operation_id = "delete_role",
    params(("id" = String, Path, description = "Custom role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not a tenant admin"),
        (status = 404, description = "No such role in the tenant"),
        (status = 409, description = "Grants still name the role (`role_in_use`): revoke them first; or it changed meanwhile (`version_conflict`)"),
    ))]
pub async fn delete_role(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let access = access(&state, &caller).await?;
    require(&access, Permission::MembersManage, &Scope::tenant())?;
    let role = custom_role(&state, &caller, &id).await?;
    let named = RoleId::Custom(role.id.clone()).to_string();
    let in_use = state.store.all_grants(&caller.tenant_id).await?.iter().filter(|g| g.role == named).count();
    if in_use > 0 {
        return Err(ApiError::conflict("role_in_use", format!("{in_use} grant(s) name this role; revoke them first")));
    }
    let event = Event::new(Action::RoleDeleted, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("role_id", role.id.clone());
    match state.events.commit(event, state.store.delete_role(&caller.tenant_id, &role)).await {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------------------
// Grants

#[derive(Debug, Default, Deserialize)]
pub struct GrantsQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub user_id: Option<String>,
}

/// The grants the caller may see, oldest first: every grant for the tenant's admins; otherwise those on
/// resources where the caller holds `members:manage`, and the caller's own.
#[utoipa::path(get, path = "/api/v1/permissions/grants", tag = "permissions", operation_id = "list_grants",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("user_id" = Option<String>, Query, description = "Only this user's grants", format = "uuid"),
    ),
    responses(
        (status = 200, description = "A page of grants (a page may hold fewer than `limit` when some are not the caller's to see)", body = GrantList),
        (status = 400, description = "Invalid limit, cursor or user_id"),
    ))]
pub async fn list_grants(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<GrantsQuery>,
) -> ApiResult<Json<GrantList>> {
    let page = PageQuery { limit: query.limit.clone(), cursor: query.cursor.clone() };
    let limit = page.limit()?;
    let user = query.user_id.as_deref().filter(|u| !u.is_empty()).map(parse_user_id).transpose()?;
    let access = access(&state, &caller).await?;
    let tenant = &caller.tenant_id;
    let (records, next_cursor) = match user {
        // One user's grants are one partition: page through them by id (ids sort by creation).
        Some(user) => {
            let after = page.cursor();
            if after.as_deref().is_some_and(|a| !plain_id(a)) {
                return Err(invalid_cursor());
            }
            let mut grants = state.store.user_access(tenant, &user).await?.grants;
            grants.sort_by(|a, b| a.id.cmp(&b.id));
            grants.retain(|g| after.as_deref().is_none_or(|after| g.id.as_str() > after));
            let next = if grants.len() > limit { grants.get(limit - 1).map(|g| g.id.clone()) } else { None };
            grants.truncate(limit);
            (grants, next)
        }
        None => {
            let listing = state.store.grants(tenant, limit, page.cursor()).await?;
            (listing.items, listing.next_cursor)
        }
    };
    let everything = access.allows(Permission::MembersManage, &Scope::tenant());
    let mut links: Option<HashMap<String, BaseLink>> = None;
    let mut grants = Vec::with_capacity(records.len());
    for record in records {
        if !everything && record.user_id != caller.user_id {
            let Ok(scope) = record.scope.parse::<Scope>() else { continue };
            let target = if scope.base.is_some() {
                if links.is_none() {
                    let all = state.store.all_base_links(tenant).await?;
                    links = Some(all.into_iter().map(|l| (l.base_id.clone(), l)).collect());
                }
                placed(scope, links.get_or_insert_with(HashMap::new))
            } else {
                scope
            };
            if !access.allows(Permission::MembersManage, &target) {
                continue;
            }
        }
        grants.push(GrantView::from(record));
    }
    Ok(Json(GrantList { grants, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    /// A user of the caller's tenant.
    #[schema(format = "uuid")]
    pub user_id: String,
    /// `workspace_admin`, `editor`, `commenter`, `viewer`, or `custom:<id>`.
    pub role: String,
    /// `tenant`, `workspace:<id>`, `workspace:<id>/project:<id>`, `workspace:<id>/base:<id>` or
    /// `workspace:<id>/base:<id>/table:<id>`.
    #[schema(max_length = 512)]
    pub resource: String,
}

/// Grant a user a role on a resource (`members:manage` on it, and every permission of the role).
#[utoipa::path(post, path = "/api/v1/permissions/grants", tag = "permissions", operation_id = "create_grant", request_body = CreateGrant,
    responses(
        (status = 201, description = "Granted", body = GrantView),
        (status = 400, description = "A malformed or ungrantable role, or an unknown custom role (`invalid_role`); a malformed resource (`invalid_resource`); a malformed user id (`invalid_field`)"),
        (status = 403, description = "The caller may not manage members on the resource, or does not hold every permission of the role there"),
        (status = 404, description = "The resource's workspace does not exist or is not one the caller sees; no such project, or base linked, in it; or no such user in the tenant"),
        (status = 409, description = "The user already holds this role there (`already_granted`), or the workspace or role was deleted meanwhile (`version_conflict`)"),
    ))]
pub async fn create_grant(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateGrant>,
) -> ApiResult<(StatusCode, Json<GrantView>)> {
    let role = parse_grant_role(&body.role)?;
    let resource = parse_resource(&body.resource)?;
    let user_id = parse_user_id(&body.user_id)?;
    let access = access(&state, &caller).await?;
    let tenant = &caller.tenant_id;
    let target = Targets::new(&state, &caller, &access).target(&resource).await?;
    require(&access, Permission::MembersManage, &target)?;
    let granted = match &role {
        RoleId::Builtin(builtin) => builtin.permissions(),
        RoleId::Custom(id) => match state.store.role(tenant, id).await? {
            Some(custom) => custom.permissions,
            None => return Err(ApiError::bad_request("invalid_role", "No such custom role in this tenant")),
        },
    };
    require_holds(&access, &target, granted)?;
    let user = tenant_user(&state, &caller, &user_id).await?;
    let (role_name, scope) = (role.to_string(), resource.to_string());
    let held = state.store.user_access(tenant, &user.id).await?;
    if held.grants.iter().any(|g| g.role == role_name && g.scope == scope) {
        return Err(ApiError::conflict("already_granted", "The user already holds this role on this resource"));
    }
    let grant = GrantRecord {
        id: tenancy::new_id("grant_"),
        user_id: user.id.clone(),
        role: role_name,
        scope,
        created_by: caller.user_id.clone(),
        created_at: tenancy::now_rfc3339(),
        version: 0,
    };
    let custom = match &role {
        RoleId::Custom(id) => Some(id.as_str()),
        RoleId::Builtin(_) => None,
    };
    let event = Event::new(Action::GrantCreated, &origin)
        .tenant(tenant)
        .actor(&caller.user_id)
        .subject(&grant.user_id)
        .detail("grant_id", grant.id.clone())
        .detail("role", grant.role.clone())
        .detail("resource", grant.scope.clone());
    let created = state.store.create_grant_checked(tenant, &grant, resource.workspace.as_deref(), custom);
    match state.events.commit(event, created).await {
        Err(StoreFailure::VersionConflict) => {
            return Err(ApiError::conflict("version_conflict", "The workspace or the role was deleted meanwhile"));
        }
        other => other?,
    }
    Ok((StatusCode::CREATED, Json(GrantView::from(GrantRecord { version: 1, ..grant }))))
}

/// Revoke a grant (`members:manage` on its resource, and every permission of its role there). It stops
/// applying from the next request on.
#[utoipa::path(delete, path = "/api/v1/permissions/grants/{id}", tag = "permissions", operation_id = "delete_grant",
    params(("id" = String, Path, description = "Grant id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The caller's own grant, on a resource where the caller may not manage members; or a role with permissions the caller does not hold there"),
        (status = 404, description = "No such grant, or not one the caller may see"),
        (status = 409, description = "It changed meanwhile (`version_conflict`)"),
    ))]
pub async fn delete_grant(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !plain_id(&id) {
        return Err(not_found("grant"));
    }
    let access = access(&state, &caller).await?;
    let tenant = &caller.tenant_id;
    let grant = state.store.grant(tenant, &id).await?.ok_or_else(|| not_found("grant"))?;
    // A stored scope that does not parse is the tenant admins' to clean up.
    let scope = grant.scope.parse::<Scope>().unwrap_or_default();
    let target = match scope.base.as_deref() {
        Some(base) => {
            let links: HashMap<String, BaseLink> =
                state.store.base_link(tenant, base).await?.into_iter().map(|l| (l.base_id.clone(), l)).collect();
            placed(scope, &links)
        }
        None => scope,
    };
    let manages = access.allows(Permission::MembersManage, &target);
    if !manages && grant.user_id != caller.user_id {
        return Err(not_found("grant"));
    }
    require(&access, Permission::MembersManage, &target)?;
    let revoked = match grant.role.parse::<RoleId>() {
        Ok(RoleId::Builtin(builtin)) => builtin.permissions(),
        Ok(RoleId::Custom(role)) => {
            state.store.role(tenant, &role).await?.map_or(Permissions::EMPTY, |r| r.permissions)
        }
        Err(_) => Permissions::EMPTY,
    };
    require_holds(&access, &target, revoked)?;
    let event = Event::new(Action::GrantRevoked, &origin)
        .tenant(tenant)
        .actor(&caller.user_id)
        .subject(&grant.user_id)
        .detail("grant_id", grant.id.clone())
        .detail("role", grant.role.clone())
        .detail("resource", grant.scope.clone());
    match state.events.commit(event, state.store.delete_grant(tenant, &grant)).await {
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        other => other?,
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------------------
// Decisions

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A permission string (`records:read`, …).
    pub permission: String,
    /// A resource in the scope string form.
    #[schema(max_length = 512)]
    pub resource: String,
    /// Whose permission: the caller's when absent; another user's needs `members:manage` on the resource.
    #[schema(format = "uuid")]
    pub user_id: Option<String>,
}

/// May the caller (or another user of the tenant) do this there?
#[utoipa::path(post, path = "/api/v1/permissions/check", tag = "permissions", operation_id = "check_permission", request_body = Check,
    responses(
        (status = 200, description = "The decision", body = CheckResult),
        (status = 400, description = "A malformed permission (`invalid_permission`), resource (`invalid_resource`) or user id (`invalid_field`)"),
        (status = 403, description = "Asked about another user without `members:manage` on the resource"),
        (status = 404, description = "The resource's workspace does not exist or is not one the caller sees; no such project, or base linked, in it; or no such user in the tenant"),
    ))]
pub async fn check(
    State(state): State<SharedState>,
    caller: Caller,
    Json(body): Json<Check>,
) -> ApiResult<Json<CheckResult>> {
    let permission = parse_permission(&body.permission)?;
    let resource = parse_resource(&body.resource)?;
    let user = body.user_id.as_deref().map(parse_user_id).transpose()?;
    let access = access(&state, &caller).await?;
    let target = Targets::new(&state, &caller, &access).target(&resource).await?;
    let other = other_access(&state, &caller, &access, user.as_deref(), std::slice::from_ref(&target)).await?;
    let subject = other.as_ref().unwrap_or(&access);
    Ok(Json(CheckResult {
        allowed: subject.allows(permission, &target),
        permission: permission.as_str(),
        resource: resource.to_string(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    pub permission: String,
    #[schema(max_length = 512)]
    pub resource: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBatch {
    #[schema(min_items = 1, max_items = 100)]
    pub checks: Vec<CheckItem>,
    /// Whose permissions: the caller's when absent; another user's needs `members:manage` on every resource.
    #[schema(format = "uuid")]
    pub user_id: Option<String>,
}

/// Several decisions at once (1 to 100), answered in order. The first bad check fails the batch, its message
/// naming the check (`checks[3]: …`).
#[utoipa::path(post, path = "/api/v1/permissions/check-batch", tag = "permissions", operation_id = "check_permissions", request_body = CheckBatch,
    responses(
        (status = 200, description = "The decisions, in the order asked", body = CheckBatchResult),
        (status = 400, description = "No checks or more than 100 (`invalid_field`); a malformed permission (`invalid_permission`), resource (`invalid_resource`) or user id (`invalid_field`)"),
        (status = 403, description = "Asked about another user without `members:manage` on every resource"),
        (status = 404, description = "A resource's workspace does not exist or is not one the caller sees; no such project, or base linked, in it; or no such user in the tenant"),
    ))]
pub async fn check_batch(
    State(state): State<SharedState>,
    caller: Caller,
    Json(body): Json<CheckBatch>,
) -> ApiResult<Json<CheckBatchResult>> {
    if body.checks.is_empty() || body.checks.len() > MAX_CHECKS {
        return Err(invalid("checks", "1 to 100 checks"));
    }
    let mut parsed = Vec::with_capacity(body.checks.len());
    for (i, item) in body.checks.iter().enumerate() {
        let permission = parse_permission(&item.permission).map_err(|e| at(i, e))?;
        let resource = parse_resource(&item.resource).map_err(|e| at(i, e))?;
        parsed.push((permission, resource));
    }
    let user = body.user_id.as_deref().map(parse_user_id).transpose()?;
    let access = access(&state, &caller).await?;
    let mut resolver = Targets::new(&state, &caller, &access);
    let mut targets = Vec::with_capacity(parsed.len());
    for (i, (_, resource)) in parsed.iter().enumerate() {
        targets.push(resolver.target(resource).await.map_err(|e| at(i, e))?);
    }
    let other = other_access(&state, &caller, &access, user.as_deref(), &targets).await?;
    let subject = other.as_ref().unwrap_or(&access);
    let results = parsed
        .into_iter()
        .zip(&targets)
        .map(|((permission, resource), target)| CheckResult {
            allowed: subject.allows(permission, target),
            permission: permission.as_str(),
            resource: resource.to_string(),
        })
        .collect();
    Ok(Json(CheckBatchResult { results }))
}

#[derive(Debug, Default, Deserialize)]
pub struct EffectiveQuery {
    pub resource: Option<String>,
    pub user_id: Option<String>,
}

/// Everything the caller (or another user of the tenant) may do on a resource.
#[utoipa::path(get, path = "/api/v1/permissions/effective", tag = "permissions", operation_id = "effective_permissions",
    params(
        ("resource" = String, Query, description = "A resource in the scope string form", max_length = 512),
        ("user_id" = Option<String>, Query, description = "Whose permissions: the caller's when absent; another user's needs `members:manage` on the resource", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The permissions", body = EffectiveView),
        (status = 400, description = "A missing or malformed resource (`invalid_resource`), or a malformed user id (`invalid_field`)"),
        (status = 403, description = "Asked about another user without `members:manage` on the resource"),
        (status = 404, description = "The resource's workspace does not exist or is not one the caller sees; no such project, or base linked, in it; or no such user in the tenant"),
    ))]
pub async fn effective(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<EffectiveQuery>,
) -> ApiResult<Json<EffectiveView>> {
    let Some(raw) = query.resource.as_deref() else {
        return Err(ApiError::bad_request("invalid_resource", "resource is required, e.g. resource=workspace:ws_x"));
    };
    let resource = parse_resource(raw)?;
    let user = query.user_id.as_deref().filter(|u| !u.is_empty()).map(parse_user_id).transpose()?;
    let access = access(&state, &caller).await?;
    let target = Targets::new(&state, &caller, &access).target(&resource).await?;
    let other = other_access(&state, &caller, &access, user.as_deref(), std::slice::from_ref(&target)).await?;
    let subject = other.as_ref().unwrap_or(&access);
    Ok(Json(EffectiveView { resource: resource.to_string(), permissions: subject.effective(&target).sorted_names() }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn message(error: ApiError) -> (&'static str, String) {
        match error {
            ApiError::Client { code, message, .. } => (code, message),
            other => panic!("not a client error: {other:?}"),
        }
    }

    #[test]
    fn permissions_parse_and_unknown_ones_name_the_valid_ones_with_a_bounded_echo() {
        assert_eq!(parse_permission("records:read").ok(), Some(Permission::RecordsRead));
        let (code, text) = message(parse_permission("records:delete").unwrap_err());
        assert_eq!(code, "invalid_permission");
        assert!(text.contains("records:read") && text.contains("workspaces:manage"), "{text}");
        let (_, text) = message(parse_permission(&"x".repeat(100_000)).unwrap_err());
        assert!(text.len() < 400, "{}", text.len());
        let list = vec!["records:read".to_string(), "records:read".into(), "audit:read".into()];
        assert_eq!(
            parse_permissions(&list).ok(),
            Some(Permissions::of(&[Permission::RecordsRead, Permission::AuditRead]))
        );
        assert!(parse_permissions(&["records:read".into(), "nope".into()]).is_err());
        assert!(parse_permissions(&vec!["records:read".to_string(); 65]).is_err());
        assert_eq!(parse_permissions(&[]).ok(), Some(Permissions::EMPTY));
    }

    #[test]
    fn resources_parse_and_bad_ones_are_bounded() {
        for good in ["tenant", "workspace:ws_x", "workspace:ws_x/project:prj_y", "workspace:ws_x/base:appY/table:tblZ"]
        {
            assert_eq!(parse_resource(good).unwrap().to_string(), good);
        }
        for bad in ["", "workspace:", "base:appY", "workspace:ws_x/project:p/base:appY", "workspace:a b", "tenant/x"] {
            assert_eq!(message(parse_resource(bad).unwrap_err()).0, "invalid_resource", "{bad:?}");
        }
        let long = format!("workspace:{}", "x".repeat(1_000_000));
        let (_, text) = message(parse_resource(&long).unwrap_err());
        assert!(text.len() < 200, "{text}");
        let bad_segment = format!("workspace:ws/base:{}", "é".repeat(100));
        let (_, text) = message(parse_resource(&bad_segment).unwrap_err());
        assert!(text.len() < 400, "{text}");
    }

    #[test]
    fn grant_roles_are_workspace_and_custom_roles_only() {
        for good in ["workspace_admin", "editor", "commenter", "viewer"] {
            assert!(matches!(parse_grant_role(good), Ok(RoleId::Builtin(_))), "{good}");
        }
        assert_eq!(parse_grant_role("custom:role_1").ok(), Some(RoleId::Custom("role_1".into())));
        for bad in ["tenant_owner", "tenant_admin", "tenant_member", "admin", "owner", "custom:", "custom:a/b", ""] {
            assert_eq!(message(parse_grant_role(bad).unwrap_err()).0, "invalid_role", "{bad:?}");
        }
        let (_, text) = message(parse_grant_role(&"r".repeat(100_000)).unwrap_err());
        assert!(text.len() < 400, "{}", text.len());
    }

    #[test]
    fn the_builtin_table_marks_tenant_roles_ungrantable_and_names_member_roles() {
        let all = BuiltinRoleView::all();
        assert_eq!(all.len(), BuiltinRole::ALL.len());
        let by_name = |n: &str| all.iter().find(|r| r.name == n).unwrap();
        assert!(!by_name("tenant_admin").grantable && by_name("viewer").grantable);
        assert_eq!(by_name("workspace_admin").member_role, Some("admin"));
        assert_eq!(by_name("tenant_owner").member_role, None);
        assert_eq!(by_name("viewer").permissions, vec!["records:read"]);
    }

    #[test]
    fn batch_errors_name_the_check() {
        let (code, text) = message(at(3, ApiError::bad_request("invalid_resource", "resource: bad")));
        assert_eq!((code, text.as_str()), ("invalid_resource", "checks[3]: resource: bad"));
    }

    #[test]
    fn a_stored_base_grant_is_placed_in_its_project() {
        let link = BaseLink {
            base_id: "appY".into(),
            workspace_id: "ws_x".into(),
            project_id: Some("prj_p".into()),
            connection_id: "conn_c".into(),
            name: "Base".into(),
            linked_by: "u".into(),
            linked_at: "t".into(),
            version: 1,
        };
        let links = HashMap::from([("appY".to_string(), link)]);
        let placed_table = placed(Scope::table("ws_x", "appY", "tblZ"), &links);
        assert_eq!(placed_table, Scope::table("ws_x", "appY", "tblZ").in_project("prj_p"));
        assert!(Scope::project("ws_x", "prj_p").covers(&placed_table));
        let elsewhere = placed(Scope::base("ws_other", "appY"), &links);
        assert_eq!(elsewhere, Scope::base("ws_other", "appY"), "a link in another workspace does not place it");
    }
}
