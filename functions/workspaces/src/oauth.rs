//! Airtable OAuth connections: `POST /api/v1/workspaces/{id}/connections/oauth` answers Airtable's authorize
//! URL (authorization code + PKCE S256; the `state` is random, single use, 10 minutes, and bound to the
//! caller and workspace that started the flow); Airtable sends the user back to the public
//! `GET /api/v1/oauth/airtable/callback`, which exchanges the code and stores the token set sealed by the
//! keys port. The gateway refreshes the access token when it expires (refresh tokens rotate; see
//! `functions/airtable`'s credentials).

use access::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::{Action, Event, Origin};
use platform::{ApiError, ApiResult, Caller, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tenancy::store::OAuthPending;
use tenancy::{Connection, ConnectionKind};
use utoipa::ToSchema;

use crate::SharedState;
use crate::connections::{BaseChoice, CreatedConnection, airtable_error, check_connection_limit};
use crate::guard::managed_workspace;
use crate::workspaces::parse_name;

/// How long a started flow waits for Airtable's redirect.
const FLOW_TTL_SECS: i64 = 600;
/// What the platform asks for: records and schema, comments, webhooks, and who the user is.
pub const SCOPES: &str = "data.records:read data.records:write data.recordComments:read data.recordComments:write schema.bases:read schema.bases:write webhook:manage user.email:read";

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartOAuth {
    #[schema(min_length = 1, max_length = 100)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthStarted {
    /// Send the user's browser here; Airtable redirects back to the callback.
    pub authorize_url: String,
    /// Seconds the flow stays valid.
    pub expires_in: i64,
}

/// Start connecting Airtable by OAuth (`connections:manage`).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/connections/oauth", tag = "workspaces", operation_id = "start_oauth_connection", request_body = StartOAuth,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Airtable's authorize URL", body = OAuthStarted),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "May not manage connections here, or the plan's limit is reached (`plan_limit_reached`)"),
        (status = 404, description = "No such workspace"),
        (status = 503, description = "No Airtable OAuth integration is configured"),
    ))]
pub async fn start(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<StartOAuth>,
) -> ApiResult<Json<OAuthStarted>> {
    let label = parse_name("label", body.label.as_deref().unwrap_or("Airtable (OAuth)"))?;
    managed_workspace(&state, &caller, &id, Permission::ConnectionsManage).await?;
    check_connection_limit(&state, &caller).await?;
    // The state and the PKCE verifier: single-purpose random secrets (32 bytes, base64url); the state is kept
    // only as its hash.
    let (flow, flow_hash) = identity::api_keys::generate_secret("")?;
    let (verifier, _) = identity::api_keys::generate_secret("")?;
    let verifier = verifier.expose_secret().to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize_url =
        state.airtable.authorize_url(flow.expose_secret(), &challenge, SCOPES).map_err(airtable_error)?;
    let pending = OAuthPending {
        tenant_id: caller.tenant_id.clone(),
        workspace_id: id,
        user_id: caller.user_id.clone(),
        label,
        code_verifier: verifier,
        version: 0,
    };
    state.store.put_oauth_pending(&flow_hash, &pending, storage::now_secs() + FLOW_TTL_SECS).await?;
    Ok(Json(OAuthStarted { authorize_url, expires_in: FLOW_TTL_SECS }))
}

#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn refused() -> ApiError {
    ApiError::bad_request("invalid_oauth_state", "This authorization is unknown, used or expired; start again")
}

/// Airtable's redirect after the user consented (public: the browser arrives without our credentials; the
/// single-use `state` ties it to who started the flow).
#[utoipa::path(get, path = "/api/v1/oauth/airtable/callback", tag = "workspaces", operation_id = "airtable_oauth_callback", security(()),
    params(
        ("code" = Option<String>, Query, description = "Airtable's authorization code"),
        ("state" = Option<String>, Query, description = "The state of the authorize URL"),
        ("error" = Option<String>, Query, description = "Airtable's error (the user declined, …)"),
    ),
    responses(
        (status = 201, description = "Connected; the bases the user granted", body = CreatedConnection),
        (status = 400, description = "Unknown, used or expired state (`invalid_oauth_state`), a declined or invalid authorization (`oauth_declined`, `invalid_grant`)"),
        (status = 403, description = "The plan's connections limit was reached meanwhile (`plan_limit_reached`)"),
        (status = 503, description = "Airtable could not be reached, or no OAuth integration is configured"),
    ))]
pub async fn callback(
    State(state): State<SharedState>,
    origin: Origin,
    Query(query): Query<Callback>,
) -> ApiResult<(StatusCode, Json<CreatedConnection>)> {
    let flow = query.state.as_deref().filter(|s| (1..=128).contains(&s.len())).ok_or_else(refused)?;
    let pending = state.store.take_oauth_pending(&identity::api_keys::hash(flow)).await?.ok_or_else(refused)?;
    if query.error.is_some() {
        return Err(ApiError::bad_request("oauth_declined", "The authorization was declined or failed at Airtable"));
    }
    let code = query.code.as_deref().filter(|c| (1..=2048).contains(&c.len())).ok_or_else(refused)?;
    let tokens = state.airtable.exchange_code(code, &pending.code_verifier).await.map_err(airtable_error)?;
    let whoami = state.airtable.whoami(&tokens.access_token).await.map_err(airtable_error)?;
    let bases = state.airtable.bases(&tokens.access_token).await.map_err(airtable_error)?;
    let tenant = pending.tenant_id.clone();
    if state.store.workspace(&tenant, &pending.workspace_id).await?.is_none() {
        return Err(refused());
    }
    let sealed = serde_json::to_string(&tenancy::secrets::OAuthTokens {
        access_token: tokens.access_token.expose_secret().to_string(),
        refresh_token: tokens.refresh_token.expose_secret().to_string(),
    })
    .map_err(anyhow::Error::new)?;
    let mut connection = Connection::new(&pending.workspace_id, ConnectionKind::Oauth, pending.label, &pending.user_id);
    connection.secret = Some(state.secrets.seal(&tenant, &connection.id, &SecretString::from(sealed)).await?);
    connection.airtable_user_id = Some(whoami.id);
    connection.scopes = tokens.scope.unwrap_or_default().split_whitespace().map(String::from).collect();
    connection.access_expires_at = Some(storage::now_secs() + tokens.expires_in);
    let event = Event::new(Action::ConnectionCreated, &origin)
        .tenant(&tenant)
        .actor(&pending.user_id)
        .detail("workspace_id", pending.workspace_id)
        .detail("connection_id", connection.id.clone())
        .detail("type", "oauth");
    let stored = state.events.commit(event, state.store.put_connection(&tenant, &connection)).await?;
    let bases = bases.into_iter().map(BaseChoice::from).collect();
    Ok((StatusCode::CREATED, Json(CreatedConnection { connection: stored.into(), bases })))
}
