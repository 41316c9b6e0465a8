//! `POST /api/v1/auth/refresh`: rotation with reuse detection.
//!
//! A session accepts only its newest refresh token. Presenting an older one means the token was copied:
//! the whole session is revoked (its newest refresh token and its access tokens die with it) and the caller
//! gets 401. Two refreshes racing with one token end the same way: the loser looks like reuse.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::{Claims, StoreFailure, TokenUse};
use platform::{ApiError, ApiResult, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::sessions::{self, TokenPair};
use crate::state::{AuthState, SharedState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

/// Exchange a refresh token for a new token pair (the old refresh token stops working).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn refresh(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Response> {
    let claims = verify_refresh_token(&state, &body.refresh_token)?;
    let Some(session) = state.store.session(&claims.tenant, &claims.sub, &claims.sid).await? else {
        return Err(refused());
    };
    if session.refresh_jti != claims.jti {
        revoke(&state, &origin, &claims, "refresh_token_reuse").await?;
        return Err(refused());
    }
    let Some(user) = state.store.user(&claims.tenant, &claims.sub).await?.filter(|u| u.is_active()) else {
        revoke(&state, &origin, &claims, "user_gone_or_disabled").await?;
        return Err(refused());
    };
    let (tokens, jti) = sessions::issue(&state, &user, &session.id, session.ends_at)?;
    let event = Event::new(Action::TokenRefreshed, &origin)
        .tenant(&user.tenant_id)
        .actor(&user.id)
        .detail("session_id", session.id.as_str());
    match state.events.commit(event, state.store.rotate_session(&session, &jti)).await {
        Ok(_) => {}
        Err(StoreFailure::VersionConflict) => {
            revoke(&state, &origin, &claims, "concurrent_refresh").await?;
            return Err(refused());
        }
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
    Ok(sessions::no_store(StatusCode::OK, tokens))
}

/// The claims of a valid refresh token (signature, lifetime, issuer, audience, use); else 401.
pub(crate) fn verify_refresh_token(state: &AuthState, token: &SecretString) -> ApiResult<Claims> {
    state.tokens.verify(token.expose_secret(), TokenUse::Refresh).map_err(|e| {
        tracing::info!(reason = e.0, "refresh token refused");
        refused()
    })
}

/// Deletes the session (the whole refresh-token family) and records why.
async fn revoke(state: &AuthState, origin: &Origin, claims: &Claims, reason: &str) -> anyhow::Result<()> {
    tracing::warn!(session_id = %claims.sid, reason, "revoking a session");
    let event = Event::new(Action::SessionRevoked, origin)
        .tenant(&claims.tenant)
        .subject(&claims.sub)
        .detail("session_id", claims.sid.as_str())
        .detail("reason", reason);
    state.events.commit(event, state.store.delete_session(&claims.tenant, &claims.sub, &claims.sid)).await?;
    Ok(())
}

fn refused() -> ApiError {
    ApiError::unauthorized("Invalid or expired refresh token")
}
