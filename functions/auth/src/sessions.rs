//! Starting and continuing a session: the token pair every successful register, login and refresh returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::tokens::Subject;
use identity::{Session, User};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AuthState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user_id: String,
    pub tenant_id: String,
}

/// A new session for the user (a new refresh-token family) and its first token pair.
pub async fn start(state: &AuthState, user: &User) -> anyhow::Result<TokenPair> {
    let settings = state.tokens.settings();
    let now = identity::tokens::now();
    let ends_at = now + i64::try_from(settings.session_lifetime.as_secs()).unwrap_or(i64::MAX / 4);
    let session_id = uuid::Uuid::new_v4().to_string();
    let (pair, refresh_jti) = issue(state, user, &session_id, ends_at)?;
    let session = Session {
        id: session_id,
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        refresh_jti,
        created_at: identity::now_rfc3339(),
        ends_at,
        version: 0,
    };
    state.store.create_session(&session).await?;
    Ok(pair)
}

/// A token pair for the user in an existing session; returns the refresh token's id for rotation.
pub fn issue(state: &AuthState, user: &User, session_id: &str, ends_at: i64) -> anyhow::Result<(TokenPair, String)> {
    let subject = Subject {
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        roles: user.roles.clone(),
        session_id: session_id.to_string(),
    };
    let access = state.tokens.issue_access(&subject)?;
    let refresh = state.tokens.issue_refresh(&subject, ends_at)?;
    let pair = TokenPair {
        access_token: access.token,
        refresh_token: refresh.token,
        token_type: "Bearer",
        expires_in: state.tokens.settings().access_ttl.as_secs(),
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
    };
    Ok((pair, refresh.jti))
}

/// JSON with `Cache-Control: no-store`, as every response carrying credentials must be (RFC 6749 §5.1).
pub fn no_store<T: Serialize>(status: StatusCode, body: T) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
