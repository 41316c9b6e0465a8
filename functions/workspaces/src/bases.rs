//! `GET|POST /api/v1/workspaces/{id}/bases`, `DELETE …/bases/{baseId}`: the bases a workspace links, each
//! through one of its connections (and only a base that connection reaches). A base is linked at most once per
//! tenant, so the gateway resolves it to one workspace and connection. And the operator's
//! `PUT /api/v1/tenants/{tenantId}/platform-bases`: a platform admin attaches bases the platform's own token
//! (`AIRTABLE_API_KEY`) reaches to a named tenant.

use access::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use tenancy::{BaseLink, Connection, ConnectionKind, LinkOutcome, Membership, Workspace};
use utoipa::ToSchema;

use crate::SharedState;
use crate::connections::airtable_error;
use crate::guard::{access, managed_workspace, not_found, plain_id, workspace};
use crate::views::{BaseList, BaseView, ConnectionView, WorkspaceView};
use crate::workspaces::{invalid, parse_name};

/// Airtable base ids: `app` and 14 alphanumerics.
pub fn valid_base_id(id: &str) -> bool {
    id.len() == 17 && id.starts_with("app") && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The bases linked to the workspace (everyone who sees the workspace).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/bases", tag = "workspaces", operation_id = "list_workspace_bases",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of linked bases", body = BaseList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 404, description = "No such workspace"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<BaseList>> {
    let limit = page.limit()?;
    let access = access(&state, &caller).await?;
    workspace(&state, &caller, &access, &id).await?;
    let listing = state.store.workspace_bases(&caller.tenant_id, &id, limit, page.cursor()).await?;
    Ok(Json(BaseList {
        bases: listing.items.into_iter().map(BaseView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBase {
    #[schema(pattern = "^app[A-Za-z0-9]{14}$")]
    pub base_id: String,
    /// One of the workspace's connections that reaches the base.
    pub connection_id: String,
    /// Optionally, a project of the workspace to file it under.
    pub project_id: Option<String>,
}

/// Link a base the connection reaches (`connections:manage`).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/bases", tag = "workspaces", operation_id = "link_base", request_body = LinkBase,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 201, description = "Linked", body = BaseView),
        (status = 400, description = "Invalid field; the connection does not reach the base (`base_not_reachable`); Airtable refused the connection's token (`airtable_token_refused`)"),
        (status = 403, description = "May not manage connections here"),
        (status = 404, description = "No such workspace, connection or project"),
        (status = 409, description = "The base is already linked in this tenant (`base_already_linked`)"),
        (status = 503, description = "Airtable could not be reached"),
    ))]
pub async fn link(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<LinkBase>,
) -> ApiResult<(StatusCode, Json<BaseView>)> {
    if !valid_base_id(&body.base_id) {
        return Err(invalid("base_id", "an Airtable base id (app + 14 letters and digits)"));
    }
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    let tenant = &caller.tenant_id;
    if !plain_id(&body.connection_id) {
        return Err(not_found("connection"));
    }
    let connection =
        state.store.connection(tenant, &id, &body.connection_id).await?.ok_or_else(|| not_found("connection"))?;
    if let Some(project) = &body.project_id
        && (!plain_id(project) || state.store.project(tenant, &id, project).await?.is_none())
    {
        return Err(not_found("project"));
    }
    let name = match reachable_name(&state, tenant, &connection, &body.base_id).await? {
        Some(name) => name,
        None => return Err(ApiError::bad_request("base_not_reachable", "The connection does not reach this base")),
    };
    let link = BaseLink {
        project_id: body.project_id.clone(),
        ..BaseLink::new(&body.base_id, name, &connection, &caller.user_id)
    };
    let event = Event::new(Action::BaseLinked, &origin)
        .tenant(tenant)
        .actor(&caller.user_id)
        .detail("workspace_id", id)
        .detail("base_id", link.base_id.clone());
    let linked = link_new(&state, tenant, &link, "This base is already linked in this tenant");
    state.events.commit(event, linked).await?;
    Ok((StatusCode::CREATED, Json(link.into())))
}

/// Links the base; 409 `base_already_linked` (with `message`) when it is linked in the tenant already. That
/// writes nothing, and as an error it drops an event committed with it rather than storing the event alone.
async fn link_new(state: &crate::WorkspacesState, tenant: &str, link: &BaseLink, message: &str) -> ApiResult<()> {
    match state.store.link_base(tenant, link).await? {
        LinkOutcome::Linked => Ok(()),
        LinkOutcome::AlreadyLinked => Err(ApiError::conflict("base_already_linked", message.to_string())),
    }
}

/// The base's name if the connection reaches it (asked of Airtable with the connection's own token).
async fn reachable_name(
    state: &crate::WorkspacesState,
    tenant: &str,
    connection: &Connection,
    base: &str,
) -> ApiResult<Option<String>> {
    let token = match (&connection.kind, &connection.secret) {
        (ConnectionKind::Pat, Some(sealed)) => state.secrets.open(tenant, &connection.id, sealed).await?,
        (ConnectionKind::Oauth, Some(sealed)) => {
            let opened = state.secrets.open(tenant, &connection.id, sealed).await?;
            let tokens: tenancy::secrets::OAuthTokens =
                serde_json::from_str(secrecy::ExposeSecret::expose_secret(&opened)).map_err(anyhow::Error::new)?;
            secrecy::SecretString::from(tokens.access_token)
        }
        _ => return Ok(None),
    };
    let bases = state.airtable.bases(&token).await.map_err(airtable_error)?;
    Ok(bases.into_iter().find(|b| b.id == base).map(|b| b.name))
}

/// Unlink a base (`connections:manage`): it is unreachable from this tenant at once.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/bases/{baseId}", tag = "workspaces", operation_id = "unlink_base",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("baseId" = String, Path, description = "Airtable base id"),
    ),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 403, description = "May not manage connections here"),
        (status = 404, description = "No such workspace, or the base is not linked to it"),
    ))]
pub async fn unlink(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, base_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    if !valid_base_id(&base_id) {
        return Err(not_found("base"));
    }
    let link = state.store.base_link(&caller.tenant_id, &base_id).await?;
    let link = link.filter(|l| l.workspace_id == id).ok_or_else(|| not_found("base"))?;
    let event = Event::new(Action::BaseUnlinked, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", id)
        .detail("base_id", base_id);
    state.events.commit(event, state.store.unlink_base(&caller.tenant_id, &link)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformBases {
    /// Bases the platform's token reaches, to link in the tenant (1 to 50).
    #[schema(min_items = 1, max_items = 50)]
    pub bases: Vec<PlatformBase>,
    /// The workspace to create for them (default "Platform").
    #[schema(min_length = 1, max_length = 100)]
    pub workspace_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformBase {
    #[schema(pattern = "^app[A-Za-z0-9]{14}$")]
    pub id: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformAttached {
    pub workspace: WorkspaceView,
    pub connection: ConnectionView,
    pub bases: Vec<BaseView>,
}

/// Attach bases the platform's own Airtable token reaches to a tenant (platform admins): a new workspace with
/// a `platform` connection (no secret stored: the gateway uses `AIRTABLE_API_KEY`) linking those bases. The
/// tenant's admins manage it like any workspace.
#[utoipa::path(put, path = "/api/v1/tenants/{tenantId}/platform-bases", tag = "workspaces", operation_id = "attach_platform_bases", request_body = PlatformBases,
    params(("tenantId" = String, Path, description = "The tenant")),
    responses(
        (status = 201, description = "Attached", body = PlatformAttached),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "Not a platform admin"),
        (status = 404, description = "No such tenant"),
        (status = 409, description = "A base is already linked in that tenant (`base_already_linked`)"),
    ))]
pub async fn attach_platform(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(tenant): Path<String>,
    Json(body): Json<PlatformBases>,
) -> ApiResult<(StatusCode, Json<PlatformAttached>)> {
    if !caller.is_platform_admin() {
        return Err(ApiError::forbidden("Only platform admins attach the platform's bases"));
    }
    if body.bases.is_empty() || body.bases.len() > 50 {
        return Err(invalid("bases", "1 to 50 bases"));
    }
    let mut names = Vec::with_capacity(body.bases.len());
    for base in &body.bases {
        if !valid_base_id(&base.id) {
            return Err(invalid("bases", "Airtable base ids (app + 14 letters and digits)"));
        }
        names.push(parse_name("name", base.name.as_deref().unwrap_or(&base.id))?);
    }
    let workspace_name = parse_name("workspace_name", body.workspace_name.as_deref().unwrap_or("Platform"))?;
    if uuid::Uuid::parse_str(&tenant).is_err() {
        return Err(not_found("tenant"));
    }
    let owner = state.identity.tenant(&tenant).await?.ok_or_else(|| not_found("tenant"))?.owner_user_id;
    for base in &body.bases {
        if state.store.base_link(&tenant, &base.id).await?.is_some() {
            return Err(ApiError::conflict("base_already_linked", "A base is already linked in that tenant"));
        }
    }
    let description = Some("Bases of the platform's own Airtable token".to_string());
    let workspace = Workspace::new(&tenant, workspace_name, description, &caller.user_id);
    // The tenant's owner administers it (the platform admin belongs to another tenant).
    let admin = Membership::new(&workspace.id, &owner, access::WorkspaceRole::Admin, &caller.user_id);
    state.store.create_workspace(&workspace, &admin).await?;
    let connection = Connection::new(&workspace.id, ConnectionKind::Platform, "Platform token".into(), &caller.user_id);
    let connection = state.store.put_connection(&tenant, &connection).await?;
    let mut links: Vec<BaseLink> = body
        .bases
        .iter()
        .zip(names)
        .map(|(base, name)| BaseLink::new(&base.id, name, &connection, &caller.user_id))
        .collect();
    let event = Event::new(Action::BaseLinked, &origin)
        .tenant(&tenant)
        .actor(&caller.user_id)
        .detail("workspace_id", workspace.id.clone())
        .detail("platform", true)
        .detail("bases", links.iter().map(|l| l.base_id.clone()).collect::<Vec<_>>());
    // The event records every link: it commits with the last one, so it exists exactly when all of them do.
    let Some(last) = links.pop() else { return Err(invalid("bases", "1 to 50 bases")) };
    for link in &links {
        link_new(&state, &tenant, link, "A base is already linked in that tenant").await?;
    }
    state.events.commit(event, link_new(&state, &tenant, &last, "A base is already linked in that tenant")).await?;
    links.push(last);
    let linked: Vec<BaseView> = links.into_iter().map(BaseView::from).collect();
    let view = WorkspaceView::new(Workspace { version: 1, ..workspace }, access::Permissions::default());
    Ok((StatusCode::CREATED, Json(PlatformAttached { workspace: view, connection: connection.into(), bases: linked })))
}
