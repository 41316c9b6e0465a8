//! `POST /api/v1/auth/register`: a new account, owner of a new tenant.
//!
//! The tenant is always created here. A body naming a tenant (or anything else unknown) is refused, so a
//! client can never place itself in someone else's tenant; joining a tenant will come by invitation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::password::PasswordProblem;
use identity::profile::{ProfileProblem, parse_name};
use identity::records::Tenant;
use identity::{Email, Password, StoreFailure, User, UserStatus};
use platform::caller::ROLE_TENANT_ADMIN;
use platform::{ApiError, ApiResult, Json};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sessions::{self, TokenPair};
use crate::settings::RegistrationMode;
use crate::state::{AuthState, SharedState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `local@domain` (dot-atom local part, letters, digits and hyphens in the domain); case is ignored.
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: String,
    /// 8 characters or more, at most 72 bytes; not a well-known password, nor the email or its local part.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub password: SecretString,
    /// At most 100 characters, none of them control characters except surrounding whitespace (trimmed).
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
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    pub email: String,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// Register: creates a user that owns a new tenant, and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = RegisterResponse),
        (status = 400, description = "Invalid email, weak password or unknown field"),
        (status = 403, description = "REGISTRATION_MODE=invite_only: accounts come from invitations (`registration_closed`)"),
        (status = 409, description = "The email is already registered"),
        (status = 429, description = "Too many requests from this IP"),
    ))]
pub async fn register(
    State(state): State<SharedState>,
    origin: Origin,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Response> {
    if state.registration == RegistrationMode::InviteOnly {
        // The same answer whatever the body: nothing here tells a registered email from another.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "Registration is by invitation only: ask a tenant's admin to invite you",
        ));
    }
    let email = Email::parse(&body.email).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
    let password = Password::parse(body.password, Some(&email)).map_err(weak_password)?;
    let first_name = name("first_name", body.first_name.as_deref()).map_err(invalid_profile)?;
    let last_name = name("last_name", body.last_name.as_deref()).map_err(invalid_profile)?;

    let user = create_account(&state, &email, &password, (first_name, last_name), ROLE_TENANT_ADMIN).await?;
    let tokens = sessions::start(&state, &user).await?;
    let event = Event::new(Action::Registered, &origin).tenant(&user.tenant_id).actor(&user.id);
    state.events.publish(event).await;
    Ok(sessions::no_store(StatusCode::CREATED, RegisterResponse { email: user.email, tokens }))
}

/// A new tenant and its first user, holding `role`.
pub(crate) async fn create_account(
    state: &AuthState,
    email: &Email,
    password: &Password,
    (first_name, last_name): (Option<String>, Option<String>),
    role: &str,
) -> ApiResult<User> {
    let now = identity::now_rfc3339();
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: uuid::Uuid::now_v7().to_string(),
        email: email.as_str().to_string(),
        first_name,
        last_name,
        roles: vec![role.to_string()],
        status: UserStatus::Active,
        password_hash: SecretString::from(state.hasher.hash(password).await?),
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 0,
    };
    let tenant = Tenant::new(user.tenant_id.clone(), user.id.clone(), now);
    match state.store.create_account(&tenant, &user).await {
        Ok(()) => Ok(user),
        Err(StoreFailure::EmailTaken) => Err(ApiError::conflict("email_taken", "This email is already registered")),
        Err(e) => Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
}

pub(crate) fn weak_password(problem: PasswordProblem) -> ApiError {
    ApiError::bad_request("weak_password", problem.to_string())
}

/// The most characters a name may have as sent (surrounding whitespace included): the schema's `maxLength`.
pub const MAX_NAME_CHARS: usize = 100;

/// A first or last name: at most [`MAX_NAME_CHARS`] as sent, then identity's rules (trimmed, no control
/// characters, blank means none).
pub fn name(field: &'static str, raw: Option<&str>) -> Result<Option<String>, ProfileProblem> {
    if raw.is_some_and(|r| r.chars().count() > MAX_NAME_CHARS) {
        return Err(ProfileProblem::InvalidName(field));
    }
    parse_name(field, raw)
}

pub(crate) fn invalid_profile(problem: ProfileProblem) -> ApiError {
    ApiError::bad_request("invalid_profile", problem.to_string())
}
