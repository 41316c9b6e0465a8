//! `POST /api/v1/auth/logout`: ends the session the refresh token belongs to.
//!
//! Public, like refresh: the access token may already have expired when a client logs out. Deleting the
//! session kills its refresh token and, at the authorizer (which checks the session on every call), its
//! access tokens: at once in the local runner, within the authorizer cache TTL on AWS.

use axum::extract::State;
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::{ApiResult, Json};

use crate::refresh::{RefreshRequest, verify_refresh_token};
use crate::state::SharedState;

/// Log out: revoke the session of this refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out (also when the session had already ended)"),
        (status = 401, description = "Invalid or expired refresh token"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn logout(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let claims = verify_refresh_token(&state, &body.refresh_token)?;
    let event = Event::new(Action::LoggedOut, &origin)
        .tenant(&claims.tenant)
        .actor(&claims.sub)
        .detail("session_id", claims.sid.as_str());
    state.events.commit(event, state.store.delete_session(&claims.tenant, &claims.sub, &claims.sid)).await?;
    Ok(StatusCode::NO_CONTENT)
}
