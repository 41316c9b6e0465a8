//! The Airtable gateway. Requests arrive authenticated (the authorizer ran); reads go through a cache
//! keyed by (tenant, credential, base, table, normalised query) with single-flight and stale-if-error;
//! every upstream request takes a slot from a limiter shared by all instances (5/s per base, 50/s per
//! token), and Airtable's 429 penalises the base for 30 s. Two surfaces share that core: the platform's
//! `/api/v1/airtable/…` and an Airtable-compatible `/v0/…` for Airtable's own clients.

pub mod cache;
pub mod changes;
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

use std::sync::Arc;

use platform::group::{Access, Function, Group, KeyAccess, Kind, QueueAccess, Use};

/// What change capture's consumer and schedule use: Airtable through the limiter, the cache (invalidation),
/// the workspaces table (links, connections, webhooks), the KMS key (connection and MAC secrets), the bus
/// (the events) and its own queue (a long fetch continues there).
const CAPTURE_USES: &[Use] = &[
    Use::Cache,
    Use::Table(tenancy::TABLE, Access::ReadWrite),
    Use::Keys(KeyAccess::EncryptDecrypt),
    Use::Bus(events::routing::BUS),
    Use::Queue(changes::QUEUE, QueueAccess::Send),
];

/// The Airtable gateway: the cache (reads, single-flight, limiter), the workspaces table (which base links
/// where, who may do what, the connections; written only to store a refreshed OAuth token; the webhooks
/// change capture registered) and the KMS key (opening connection secrets; sealing refreshed ones); the
/// notify route queues payload fetches; attaching an uploaded file reads the files table and bucket. Change capture ([`changes`]) is two more functions.
pub static GROUP: Group = Group {
    name: "airtable",
    functions: &[
        Function {
            binary: "airtable",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Cache,
                Use::Table(tenancy::TABLE, Access::ReadWrite),
                Use::Keys(KeyAccess::EncryptDecrypt),
                Use::Queue(changes::QUEUE, QueueAccess::Send),
                // Attaching uploaded files (routes/attach.rs).
                Use::Table(files::store::TABLE, Access::Read),
                Use::Bucket(files::BUCKET, Access::Read),
            ],
            settings: settings::SETTINGS,
        },
        Function {
            binary: "airtable-changes",
            kind: Kind::Consumer {
                queue: changes::QUEUE,
                batch_size: 10,
                batching_window_secs: 1,
                max_concurrency: 5,
                // 6 × the function's 30 s timeout.
                visibility_secs: 180,
            },
            uses: CAPTURE_USES,
            settings: settings::CAPTURE_SETTINGS,
        },
        Function {
            binary: "airtable-webhooks-refresh",
            kind: Kind::Schedule { expression: "rate(12 hours)" },
            uses: CAPTURE_USES,
            settings: settings::CAPTURE_SETTINGS,
        },
    ],
};

/// Change capture as both runtimes build it; `public_url` is `AIRTABLE_WEBHOOKS_PUBLIC_URL` (the runner
/// defaults it to its own URL).
pub async fn capture(
    resources: &platform::group::Resources,
    settings: &AirtableSettings,
    endpoints: tenancy::airtable::AirtableEndpoints,
    metrics: Arc<Metrics>,
    public_url: Option<String>,
) -> anyhow::Result<changes::Capture> {
    let credentials = Arc::new(tenant_credentials(resources, settings, endpoints).await?);
    changes::Capture::build(resources, settings, credentials, metrics, public_url).await
}

/// Change capture as a Lambda function builds it: every setting from the environment, EMF metrics.
pub async fn capture_from_env(resources: &platform::group::Resources) -> anyhow::Result<Arc<changes::Capture>> {
    let settings = AirtableSettings::from_env()?;
    let endpoints = tenancy::airtable::AirtableEndpoints::from_env()?;
    let public_url = platform::config::var("AIRTABLE_WEBHOOKS_PUBLIC_URL");
    Ok(Arc::new(capture(resources, &settings, endpoints, Metrics::emf(), public_url).await?))
}

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
