//! Workspaces and permissions: `/api/v1/workspaces…` (workspaces, projects, members with a workspace role,
//! Airtable connections, linked bases) and `/api/v1/permissions…` (custom roles, grants, decisions).
//!
//! Every route asks the one decision engine ([`access`], through [`guard::Guard`]) whether the caller may act
//! on the resource; a workspace (or anything in it) the caller may not see answers 404 exactly like one that
//! does not exist. Everything is keyed by the caller's tenant, so another tenant's ids resolve to nothing.
//! Connection secrets are sealed by the keys port (KMS on AWS) with tenant and connection as context and are
//! never answered or logged.

pub mod bases;
pub mod connections;
pub mod guard;
pub mod members;
pub mod oauth;
pub mod permissions;
pub mod projects;
pub mod settings;
pub mod views;
pub mod workspaces;

use std::sync::Arc;

use events::Publisher;
use identity::IdentityStore;
use platform::group::{Access, Function, Group, KeyAccess, Kind, Resources, Use};
use tenancy::{Secrets, TenancyStore};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::WorkspaceSettings;
pub use tenancy::demo::DemoProvisioner;

/// The workspaces group: one HTTP function over the workspaces table (and reading the identity table to
/// check that a new member belongs to the tenant), sealing connection secrets with the KMS key.
pub static GROUP: Group = Group {
    name: "workspaces",
    functions: &[Function {
        binary: "workspaces",
        kind: Kind::Http,
        uses: &[
            platform::usage::METERED,
            Use::Table(tenancy::TABLE, Access::ReadWrite),
            Use::Table(identity::TABLE, Access::Read),
            Use::Bus(events::routing::BUS),
            Use::Keys(KeyAccess::EncryptDecrypt),
        ],
        settings: settings::SETTINGS,
    }],
};

pub struct WorkspacesState {
    pub store: TenancyStore,
    pub identity: IdentityStore,
    pub secrets: Secrets,
    pub events: Publisher,
    pub settings: WorkspaceSettings,
    pub airtable: tenancy::airtable::AirtableClient,
    /// The local runner's demo workspaces (a copy of the demo base per tenant); `None` on AWS.
    pub demo: Option<Arc<dyn DemoProvisioner>>,
}

impl WorkspacesState {
    pub async fn build(resources: &Resources, settings: WorkspaceSettings) -> anyhow::Result<Self> {
        let (table, events) = Publisher::open(resources, tenancy::TABLE).await?;
        Ok(Self {
            store: TenancyStore::new(table),
            identity: IdentityStore::new(resources.table(identity::TABLE).await?),
            secrets: tenancy::secrets::connection_secrets(resources.keys().await?),
            events,
            airtable: tenancy::airtable::AirtableClient::new(&settings.airtable)?,
            settings,
            demo: None,
        })
    }
}

pub type SharedState = Arc<WorkspacesState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(workspaces::list, workspaces::create))
        .routes(routes!(workspaces::get, workspaces::update, workspaces::delete))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(members::list, members::add))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(connections::list, connections::create))
        .routes(routes!(connections::delete))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::callback))
        .routes(routes!(bases::list, bases::link))
        .routes(routes!(bases::unlink))
        .routes(routes!(bases::attach_platform))
        .routes(routes!(permissions::list_roles, permissions::create_role))
        .routes(routes!(permissions::update_role, permissions::delete_role))
        .routes(routes!(permissions::list_grants, permissions::create_grant))
        .routes(routes!(permissions::delete_grant))
        .routes(routes!(permissions::check))
        .routes(routes!(permissions::check_batch))
        .routes(routes!(permissions::effective))
        .with_state(state)
}
