//! The users function: profiles, roles and account removal.
//!
//! Who sees whom: a user sees and edits themselves; a tenant admin manages the users of their own tenant;
//! the platform admin manages everyone. A user out of reach is a 404, never a 403 that would confirm the
//! id exists. Only admins change roles or status, and only the platform admin grants `platform_admin`.

pub mod access;
pub mod by_id;
pub mod list;
pub mod me;
pub mod update;
pub mod view;

use std::sync::Arc;

use events::Publisher;
use identity::IdentityStore;
use platform::group::{Access, Function, Group, Kind, Resources, Use};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The users group: one HTTP function over the identity table, publishing to the events queue.
pub static GROUP: Group = Group {
    name: "users",
    functions: &[Function {
        binary: "users",
        kind: Kind::Http,
        uses: &[Use::Table(identity::TABLE, Access::ReadWrite), Use::Bus(events::routing::BUS)],
        settings: &[],
    }],
};

pub struct UsersState {
    pub store: IdentityStore,
    pub events: Publisher,
}

impl UsersState {
    pub async fn build(resources: &Resources) -> anyhow::Result<Self> {
        let (table, events) = Publisher::open(resources, identity::TABLE).await?;
        Ok(Self { store: IdentityStore::new(table), events })
    }
}

pub type SharedState = Arc<UsersState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(list::list_users))
        .routes(routes!(by_id::get_user, by_id::update_user, by_id::delete_user))
        .with_state(state)
}
