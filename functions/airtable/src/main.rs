//! The airtable function on Lambda: both surfaces, the shared cache (ElastiCache when `CACHE_URL` is set,
//! else in-process) and EMF metrics, all built once at cold start.

use airtable::{AirtableSettings, Gateway, Metrics};
use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::telemetry::init("airtable");
    let http = platform::config::HttpSettings::from_env()?;
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let settings = AirtableSettings::from_env()?;
    if settings.api_key.is_none() {
        tracing::warn!("AIRTABLE_API_KEY is not set: every Airtable route will answer 503");
    }
    let credentials = airtable::credentials::from_settings(settings.api_key.clone());
    let cache = Backend::open(&storage).await?.cache().await?;
    // TABLE_PREFIX (the stack name) namespaces the cache keys: stacks may share one cache.
    let gateway = Gateway::new(&settings, cache, &storage.table_prefix, credentials, Metrics::emf())?;

    let (router, _) = platform::app::split(airtable::router(gateway));
    lambda_http::run(platform::app::finish(router, &http)).await
}
