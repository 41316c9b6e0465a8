//! The Airtable gateway. Requests arrive authenticated (the authorizer ran); reads go through a cache
//! keyed by (tenant, credential, base, table, normalised query) with single-flight and stale-if-error;
//! every upstream request takes a slot from a limiter shared by all instances (5/s per base, 50/s per
//! token), and Airtable's 429 penalises the base for 30 s. Two surfaces share that core: the platform's
//! `/api/v1/airtable/…` and an Airtable-compatible `/v0/…` for Airtable's own clients.

pub mod cache;
pub mod credentials;
pub mod error;
pub mod flight;
pub mod formula;
pub mod gateway;
pub mod ids;
pub mod limiter;
pub mod metrics;
pub mod query;
pub mod requests;
pub mod requests_more;
pub mod routes;
pub mod settings;
pub mod upstream;

pub use cache::CacheStatus;
pub use credentials::{CredentialResolver, PlatformCredential};
pub use gateway::Gateway;
pub use metrics::Metrics;
pub use routes::router;
pub use settings::AirtableSettings;

use platform::group::{Access, Function, Group, KeyAccess, Kind, Use};

/// The Airtable gateway: the cache (reads, single-flight, limiter), the workspaces table (which base links
/// where, who may do what, the connections; written only to store a refreshed OAuth token) and the KMS key
/// (opening connection secrets; sealing refreshed ones).
pub static GROUP: Group = Group {
    name: "airtable",
    functions: &[Function {
        binary: "airtable",
        kind: Kind::Http,
        uses: &[Use::Cache, Use::Table(tenancy::TABLE, Access::ReadWrite), Use::Keys(KeyAccess::EncryptDecrypt)],
        settings: settings::SETTINGS,
    }],
};

/// The resolver both runtimes use: tenant links, permissions and connections from the workspaces table;
/// `endpoints` is where OAuth refreshes go (its API URL is the gateway's upstream).
pub async fn tenant_credentials(
    resources: &platform::group::Resources,
    settings: &AirtableSettings,
    mut endpoints: tenancy::airtable::AirtableEndpoints,
) -> anyhow::Result<credentials::TenantCredentials> {
    endpoints.api_url = settings.endpoint_url.clone();
    Ok(credentials::TenantCredentials::new(
        tenancy::TenancyStore::new(resources.table(tenancy::TABLE).await?),
        tenancy::secrets::connection_secrets(resources.keys().await?),
        settings.api_key.clone(),
        tenancy::airtable::AirtableClient::new(&endpoints)?,
        resources.cache().await?,
        resources.namespace(),
    ))
}
