//! One update, shared by `PUT /users/me` and `PUT /users/{id}`: optimistic locking on the version the
//! client read, admin-only roles and status, an email change that keeps emails unique.

use events::{Action, Event, Origin};
use identity::profile::{ProfileProblem, parse_name, parse_roles};
use identity::{Email, StoreFailure, User, UserStatus};
use platform::caller::ROLE_TENANT_ADMIN;
use platform::{ApiError, ApiResult, Caller};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::UsersState;
use crate::view::UserView;
use axum::http::StatusCode;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// The `version` from the read this update is based on (required: no lost updates).
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
    /// `local@domain` (dot-atom local part, letters, digits and hyphens in the domain); case is ignored.
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: Option<String>,
    /// At most 100 characters, no control characters except surrounding whitespace (trimmed); blank clears
    /// the name.
    #[schema(
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub first_name: Option<String>,
    #[schema(
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub last_name: Option<String>,
    /// Admins only. None at all means a plain `member`.
    #[schema(value_type = Option<Vec<Role>>)]
    pub roles: Option<Vec<String>>,
    /// Admins only.
    #[schema(value_type = Option<Status>)]
    pub status: Option<UserStatus>,
}

/// A role (`platform_admin`: granted and removed by the platform admin only).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Role {
    Member,
    TenantAdmin,
    PlatformAdmin,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Status {
    Active,
    Disabled,
}

/// The most characters a name may have as sent (surrounding whitespace included): the schema's `maxLength`.
const MAX_NAME_CHARS: usize = 100;

/// A first or last name: at most [`MAX_NAME_CHARS`] as sent, then identity's rules.
fn name(field: &'static str, raw: Option<&str>) -> ApiResult<Option<String>> {
    if raw.is_some_and(|r| r.chars().count() > MAX_NAME_CHARS) {
        return Err(invalid(ProfileProblem::InvalidName(field)));
    }
    parse_name(field, raw).map_err(invalid)
}

fn invalid(e: impl ToString) -> ApiError {
    ApiError::bad_request("invalid_profile", e.to_string())
}

fn version_conflict() -> ApiError {
    ApiError::conflict("version_conflict", "The user changed since you read it; read it again and retry")
}

/// What an update did.
pub struct Applied {
    pub user: User,
    /// The email change waits for the new address to confirm it (REGISTRATION_MODE=verify_email): 202.
    pub email_change_pending: bool,
}

impl Applied {
    /// 200 with the user, or 202 when an email change waits for its confirmation.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let status = if self.email_change_pending { StatusCode::ACCEPTED } else { StatusCode::OK };
        (status, axum::Json(UserView::from(self.user))).into_response()
    }
}

pub async fn apply(
    state: &UsersState,
    caller: &Caller,
    origin: &Origin,
    target: User,
    body: UpdateUser,
) -> ApiResult<Applied> {
    if body.version != target.version {
        return Err(version_conflict());
    }
    let mut next = target.clone();
    let mut changed = Vec::new();
    let mut requested_email = None;
    if let Some(raw) = &body.email {
        let email = Email::parse(raw).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
        match state.settings.confirm_email_changes {
            Some(ttl) if email.as_str() != target.email => requested_email = Some((email, ttl)),
            Some(_) => {}
            None => {
                next.email = email.to_string();
                changed.push("email");
            }
        }
    }
    if body.first_name.is_some() {
        next.first_name = name("first_name", body.first_name.as_deref())?;
        changed.push("first_name");
    }
    if body.last_name.is_some() {
        next.last_name = name("last_name", body.last_name.as_deref())?;
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
    // The tenant's owner stays an active admin: ownership moves only by a transfer (tenants group).
    // (A platform admin may still disable one.)
    let demotes = !next.roles.iter().any(|r| r == ROLE_TENANT_ADMIN)
        || (next.status != UserStatus::Active && !caller.is_platform_admin());
    if demotes && crate::access::is_owner(state, &target).await? {
        return Err(ApiError::conflict(
            "owner_role_fixed",
            "The tenant's owner stays an active admin; transfer ownership first",
        ));
    }
    let stored = if changed.is_empty() { target } else { store(state, caller, origin, &target, next, changed).await? };
    // After the other fields (which answered their own errors): the same whether the address is taken or not.
    let email_change_pending = requested_email.is_some();
    if let Some((email, ttl)) = requested_email {
        crate::email_change::request(state, caller, origin, &stored, &email, ttl).await?;
    }
    Ok(Applied { user: stored, email_change_pending })
}

async fn store(
    state: &UsersState,
    caller: &Caller,
    origin: &Origin,
    target: &User,
    mut next: User,
    changed: Vec<&str>,
) -> ApiResult<User> {
    next.updated_at = identity::now_rfc3339();
    let event = Event::new(Action::UserUpdated, origin)
        .tenant(&next.tenant_id)
        .actor(&caller.user_id)
        .subject(&next.id)
        .detail("fields", changed);
    let stored = match state.events.commit(event, state.store.update_user(&next, &target.email)).await {
        Ok(stored) => stored,
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(StoreFailure::EmailTaken) => {
            return Err(ApiError::conflict("email_taken", "This email is already registered"));
        }
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    Ok(stored)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use utoipa::PartialSchema;

    use super::*;

    fn documented(schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> Vec<String> {
        let value = serde_json::to_value(schema).unwrap();
        value["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_documented_roles_and_statuses_are_the_ones_the_server_accepts() {
        assert_eq!(documented(Role::schema()), identity::profile::ROLES);
        let statuses = documented(Status::schema());
        for status in &statuses {
            serde_json::from_value::<UserStatus>(serde_json::json!(status)).unwrap();
        }
        assert_eq!(statuses.len(), 2);
    }

    #[test]
    fn a_name_counts_its_characters_as_sent() {
        let padded = format!(" {} ", "n".repeat(99));
        assert!(name("first_name", Some(&padded)).is_err(), "101 characters as sent");
        assert_eq!(name("first_name", Some(&"é".repeat(100))).unwrap(), Some("é".repeat(100)));
        assert_eq!(name("first_name", Some("  Ann\n")).unwrap(), Some("Ann".into()));
        assert!(name("first_name", Some("A\u{7}nn")).is_err());
    }
}
