//! The airtable function on Lambda: both surfaces, the shared cache (ElastiCache when `CACHE_URL` is set,
//! else in-process) and EMF metrics, all built once at cold start.

use airtable::{AirtableSettings, Gateway, Metrics};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&airtable::GROUP, "airtable", |resources| async move {
        let settings = AirtableSettings::from_env()?;
        if settings.api_key.is_none() {
            tracing::warn!("AIRTABLE_API_KEY is not set: every Airtable route will answer 503");
        }
        let credentials = airtable::credentials::from_settings(settings.api_key.clone());
        // TABLE_PREFIX (the stack name) namespaces the cache keys: stacks may share one cache.
        let namespace = resources.namespace().to_string();
        let cache = resources.cache().await?;
        Ok(airtable::router(Gateway::new(&settings, cache, &namespace, credentials, Metrics::emf())?))
    })
    .await
}
