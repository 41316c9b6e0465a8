//! One update, shared by `PUT /users/me` and `PUT /users/{id}`: optimistic locking on the version the
//! client read, admin-only roles and status, an email change that keeps emails unique.

use events::{Action, AuditEvent, Origin};
use identity::profile::{parse_name, parse_roles};
use identity::{Email, StoreFailure, User, UserStatus};
use platform::{ApiError, ApiResult, Caller};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::UsersState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// The `version` from the read this update is based on (required: no lost updates).
    pub version: u64,
    pub email: Option<String>,
    /// Empty clears the name.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Admins only.
    pub roles: Option<Vec<String>>,
    /// Admins only: `active` or `disabled`.
    #[schema(value_type = Option<String>)]
    pub status: Option<UserStatus>,
}

fn invalid(e: impl ToString) -> ApiError {
    ApiError::bad_request("invalid_profile", e.to_string())
}

fn version_conflict() -> ApiError {
    ApiError::conflict("version_conflict", "The user changed since you read it; read it again and retry")
}

pub async fn apply(
    state: &UsersState,
    caller: &Caller,
    origin: &Origin,
    target: User,
    body: UpdateUser,
) -> ApiResult<User> {
    if body.version != target.version {
        return Err(version_conflict());
    }
    let mut next = target.clone();
    let mut changed = Vec::new();
    if let Some(raw) = &body.email {
        next.email = Email::parse(raw).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?.to_string();
        changed.push("email");
    }
    if body.first_name.is_some() {
        next.first_name = parse_name("first_name", body.first_name.as_deref()).map_err(invalid)?;
        changed.push("first_name");
    }
    if body.last_name.is_some() {
        next.last_name = parse_name("last_name", body.last_name.as_deref()).map_err(invalid)?;
        changed.push("last_name");
    }
    if (body.roles.is_some() || body.status.is_some()) && !caller.is_tenant_admin() {
        return Err(ApiError::forbidden("Only admins change roles or status"));
    }
    if let Some(raw) = &body.roles {
        next.roles = parse_roles(raw).map_err(invalid)?;
        if next.is_platform_admin() != target.is_platform_admin() && !caller.is_platform_admin() {
            return Err(ApiError::forbidden("Only the platform admin grants or removes platform_admin"));
        }
        changed.push("roles");
    }
    if let Some(status) = body.status {
        next.status = status;
        changed.push("status");
    }
    if changed.is_empty() {
        return Ok(target);
    }
    next.updated_at = identity::now_rfc3339();
    let stored = match state.store.update_user(&next, &target.email).await {
        Ok(stored) => stored,
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(StoreFailure::EmailTaken) => {
            return Err(ApiError::conflict("email_taken", "This email is already registered"));
        }
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let event = AuditEvent::new(Action::UserUpdated, origin)
        .tenant(&stored.tenant_id)
        .actor(&caller.user_id)
        .subject(&stored.id)
        .detail("fields", changed);
    state.events.publish(event).await;
    Ok(stored)
}
