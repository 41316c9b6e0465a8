//! What clients see of a user: everything but the password hash.

use identity::{User, UserStatus};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub roles: Vec<String>,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub created_at: String,
    pub updated_at: String,
    /// Send it back with an update: the update applies only if nobody changed the user since.
    pub version: u64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            roles: u.roles,
            status: u.status,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
