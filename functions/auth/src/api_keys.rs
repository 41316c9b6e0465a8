//! `/api/v1/auth/api-keys`: keys for machine clients, usable as `Authorization: Bearer <key>`.
//!
//! Managed only from a signed-in session (a JWT): an API key cannot mint or revoke keys, so a leaked key
//! cannot entrench itself. The key is returned once, at creation; only its SHA-256 is stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::ApiKey;
use platform::caller::AuthType;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sessions::no_store;
use crate::state::SharedState;

/// Live keys per user; also bounds the work of deleting a user.
pub const MAX_KEYS_PER_USER: usize = 25;
const MAX_NAME_CHARS: usize = 100;
const MAX_LIFETIME_DAYS: u32 = 365;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1 to 100 characters as sent, not blank, no control characters except surrounding whitespace (trimmed).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// 1 to 365; omitted: the key does not expire.
    #[schema(minimum = 1, maximum = 365)]
    #[serde(default, deserialize_with = "platform::json::optional_whole_number")]
    pub expires_in_days: Option<u32>,
    /// Narrow the key to one workspace: it acts with your rights in that workspace only, never with your
    /// tenant-wide (admin) powers. A workspace you cannot reach gives the key nothing.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub workspace_id: Option<String>,
    /// Narrow the key to reads (GET, and Airtable's POST listRecords): anything else is refused with 403.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub prefix: String,
    pub created_at: String,
    /// Epoch seconds, or null for a key that does not expire.
    pub expires_at: Option<i64>,
    /// The workspace the key is narrowed to, if any.
    pub workspace_id: Option<String>,
    /// Whether the key may only read.
    pub read_only: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The key itself: shown this once, never again.
    pub key: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.key_id.clone(),
            name: key.name.clone(),
            prefix: key.shown_prefix.clone(),
            created_at: key.created_at.clone(),
            expires_at: key.expires_at,
            workspace_id: key.workspace_id.clone(),
            read_only: key.read_only,
        }
    }
}

fn require_session(caller: &Caller) -> ApiResult<()> {
    match caller.auth_type {
        AuthType::Jwt => Ok(()),
        AuthType::ApiKey => {
            Err(ApiError::forbidden("API keys are managed from a signed-in session, not with an API key"))
        }
    }
}

/// Create an API key (returned once).
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created; the key is in the response and nowhere else", body = CreatedApiKey),
        (status = 400, description = "Invalid name (`invalid_name`), lifetime (`invalid_expiry`) or workspace id (`invalid_workspace`)"),
        (status = 403, description = "Called with an API key"),
        (status = 409, description = "Too many keys"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateApiKey>,
) -> ApiResult<Response> {
    require_session(&caller)?;
    let name = body.name.trim();
    if name.is_empty() || body.name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_name", "name must be 1 to 100 characters"));
    }
    let days = body.expires_in_days;
    if days.is_some_and(|d| !(1..=MAX_LIFETIME_DAYS).contains(&d)) {
        return Err(ApiError::bad_request("invalid_expiry", "expires_in_days must be 1 to 365"));
    }
    if body.workspace_id.as_deref().is_some_and(|w| !access::is_valid_id(w)) {
        return Err(ApiError::bad_request("invalid_workspace", "workspace_id must be a workspace id"));
    }
    let existing = state.store.api_keys(&caller.tenant_id, &caller.user_id, MAX_KEYS_PER_USER).await?;
    if existing.len() >= MAX_KEYS_PER_USER {
        return Err(ApiError::conflict("too_many_api_keys", "Revoke an API key before creating another (25 at most)"));
    }
    let material = identity::api_keys::generate()?;
    let key = ApiKey {
        key_id: uuid::Uuid::new_v4().to_string(),
        user_id: caller.user_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        name: name.to_string(),
        shown_prefix: material.shown_prefix.clone(),
        hash: material.hash.clone(),
        created_at: identity::now_rfc3339(),
        expires_at: days.map(|d| identity::tokens::now() + i64::from(d) * 86_400),
        workspace_id: body.workspace_id.clone(),
        read_only: body.read_only,
    };
    let event = Event::new(Action::ApiKeyCreated, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("api_key_id", key.key_id.as_str());
    state.events.commit(event, state.store.create_api_key(&key)).await?;
    let created =
        CreatedApiKey { api_key: ApiKeyView::from(&key), key: identity::api_keys::reveal(&material).to_string() };
    Ok(no_store(StatusCode::CREATED, created))
}

/// List the caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth",
    responses((status = 200, description = "The caller's keys", body = ApiKeyList), (status = 403, description = "Called with an API key")))]
pub async fn list(State(state): State<SharedState>, caller: Caller) -> ApiResult<axum::Json<ApiKeyList>> {
    require_session(&caller)?;
    let keys = state.store.api_keys(&caller.tenant_id, &caller.user_id, MAX_KEYS_PER_USER).await?;
    Ok(axum::Json(ApiKeyList { api_keys: keys.iter().map(ApiKeyView::from).collect() }))
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Called with an API key"),
        (status = 404, description = "The caller has no such key"),
    ))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_session(&caller)?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::not_found("No such API key"));
    }
    let event = Event::new(Action::ApiKeyRevoked, &origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("api_key_id", id.as_str());
    // No such key writes nothing: an error inside the write, so that the event is dropped rather than stored
    // on its own.
    let revoke = async {
        match state.store.delete_api_key(&caller.tenant_id, &caller.user_id, &id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("No such API key")),
        }
    };
    state.events.commit(event, revoke).await?;
    Ok(StatusCode::NO_CONTENT)
}
