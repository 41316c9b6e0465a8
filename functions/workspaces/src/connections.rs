//! `GET|POST /api/v1/workspaces/{id}/connections`, `DELETE …/connections/{connectionId}`: a workspace's
//! Airtable connections (`connections:manage`). A personal access token is validated on connect — whoami and
//! the bases it reaches — then sealed by the keys port; it is never answered or logged. OAuth connections are
//! made by [`crate::oauth`].

use access::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use identity::plans::Limit;
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tenancy::airtable::{AirtableCallError, BaseInfo};
use tenancy::{Connection, ConnectionKind};
use utoipa::ToSchema;

use crate::guard::{managed_workspace, not_found, plain_id};
use crate::views::{ConnectionList, ConnectionView};
use crate::workspaces::parse_name;
use crate::{SharedState, WorkspacesState};

/// The workspace's connections (`connections:manage`), oldest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/connections", tag = "workspaces", operation_id = "list_connections",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of connections (never their secrets)", body = ConnectionList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "The caller sees the workspace but may not manage its connections"),
        (status = 404, description = "No such workspace"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<ConnectionList>> {
    let limit = page.limit()?;
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    let listing = state.store.connections(&caller.tenant_id, &id, limit, page.cursor()).await?;
    Ok(Json(ConnectionList {
        connections: listing.items.into_iter().map(ConnectionView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `pat` (OAuth connections start at `POST …/connections/oauth`).
    #[schema(pattern = "^pat$")]
    #[serde(rename = "type")]
    pub kind: String,
    /// The personal access token (`pat…`). Validated with Airtable, then stored encrypted; never shown again.
    #[schema(min_length = 1, max_length = 512, value_type = String)]
    pub token: SecretString,
    #[schema(min_length = 1, max_length = 100)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaseChoice {
    pub id: String,
    pub name: String,
}

impl From<BaseInfo> for BaseChoice {
    fn from(b: BaseInfo) -> Self {
        Self { id: b.id, name: b.name }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConnection {
    pub connection: ConnectionView,
    /// The bases the token reaches: what `POST …/bases` may link.
    pub bases: Vec<BaseChoice>,
}

pub(crate) fn airtable_error(e: AirtableCallError) -> ApiError {
    match e {
        AirtableCallError::Refused => ApiError::bad_request(
            "airtable_token_refused",
            "Airtable did not accept this token (invalid, revoked or missing scopes)",
        ),
        AirtableCallError::InvalidGrant(_) => ApiError::bad_request(
            "invalid_grant",
            "Airtable did not accept the authorization (used, expired or revoked)",
        ),
        AirtableCallError::NoOAuthClient => {
            ApiError::unavailable("No Airtable OAuth integration is configured (AIRTABLE_OAUTH_CLIENT_ID)")
        }
        AirtableCallError::Unavailable(reason) => {
            tracing::warn!(%reason, "Airtable failed while validating a connection");
            ApiError::unavailable("Airtable could not be reached; try again")
        }
    }
}

/// 403 `plan_limit_reached` when the tenant already holds the plan's `airtable_connections`.
pub(crate) async fn check_connection_limit(state: &WorkspacesState, caller: &Caller) -> ApiResult<()> {
    let allowed =
        Limit::AirtableConnections.of(state.settings.plans.limits(caller.plan.as_deref().unwrap_or_default()));
    if state.store.count_connections(&caller.tenant_id).await? >= allowed {
        return Err(Limit::AirtableConnections.reached(allowed));
    }
    Ok(())
}

fn valid_token(token: &str) -> bool {
    (1..=512).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Connect a personal access token (`connections:manage`, within the plan's `airtable_connections`).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/connections", tag = "workspaces", operation_id = "create_connection", request_body = CreateConnection,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 201, description = "Connected; the bases the token reaches", body = CreatedConnection),
        (status = 400, description = "Invalid field, or Airtable refused the token (`airtable_token_refused`)"),
        (status = 403, description = "May not manage connections here, or the plan's limit is reached (`plan_limit_reached`)"),
        (status = 404, description = "No such workspace"),
        (status = 503, description = "Airtable could not be reached"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<CreateConnection>,
) -> ApiResult<(StatusCode, Json<CreatedConnection>)> {
    if body.kind != "pat" {
        return Err(ApiError::bad_request("invalid_field", "type: `pat` (OAuth starts at POST …/connections/oauth)"));
    }
    if !valid_token(body.token.expose_secret()) {
        return Err(ApiError::bad_request("invalid_field", "token: 1 to 512 printable characters"));
    }
    let label = parse_name("label", body.label.as_deref().unwrap_or("Personal access token"))?;
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    check_connection_limit(&state, &caller).await?;
    let whoami = state.airtable.whoami(&body.token).await.map_err(airtable_error)?;
    let bases = state.airtable.bases(&body.token).await.map_err(airtable_error)?;
    let mut connection = Connection::new(&id, ConnectionKind::Pat, label, &caller.user_id);
    connection.secret = Some(state.secrets.seal(&caller.tenant_id, &connection.id, &body.token).await?);
    connection.airtable_user_id = Some(whoami.id);
    connection.scopes = whoami.scopes;
    let event = Event::new(Action::ConnectionCreated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", id)
        .detail("connection_id", connection.id.clone())
        .detail("type", "pat");
    let stored = state.events.commit(event, state.store.put_connection(&caller.tenant_id, &connection)).await?;
    let bases = bases.into_iter().map(BaseChoice::from).collect();
    Ok((StatusCode::CREATED, Json(CreatedConnection { connection: stored.into(), bases })))
}

/// Disconnect (`connections:manage`): the bases linked through it are unlinked in the same write.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/connections/{connectionId}", tag = "workspaces", operation_id = "delete_connection",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("connectionId" = String, Path, description = "Connection id"),
    ),
    responses(
        (status = 204, description = "Deleted, with its base links"),
        (status = 403, description = "May not manage connections here"),
        (status = 404, description = "No such workspace or connection"),
        (status = 409, description = "It changed while being deleted; retry"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((id, connection_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    if !plain_id(&connection_id) {
        return Err(not_found("connection"));
    }
    let connection =
        state.store.connection(&caller.tenant_id, &id, &connection_id).await?.ok_or_else(|| not_found("connection"))?;
    let event = Event::new(Action::ConnectionDeleted, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", id)
        .detail("connection_id", connection_id);
    state.events.commit(event, state.store.delete_connection(&caller.tenant_id, &connection)).await?;
    Ok(StatusCode::NO_CONTENT)
}
