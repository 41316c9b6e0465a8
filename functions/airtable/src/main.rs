//! The airtable function on Lambda: both surfaces, the shared cache (ElastiCache when `CACHE_URL` is set,
//! else in-process), the tenant credential resolver and EMF metrics, all built once at cold start; and the
//! change-capture notify route.

use std::sync::Arc;

use airtable::{AirtableSettings, Gateway, Metrics};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&airtable::GROUP, "airtable", |resources| async move {
        let settings = AirtableSettings::from_env()?;
        let endpoints = tenancy::airtable::AirtableEndpoints::from_env()?;
        let credentials = Arc::new(airtable::tenant_credentials(&resources, &settings, endpoints).await?);
        // TABLE_PREFIX (the stack name) namespaces the cache keys: stacks may share one cache.
        let namespace = resources.namespace().to_string();
        let cache = resources.cache().await?;
        let gateway = Gateway::new(&settings, cache, &namespace, credentials, Metrics::emf())?;
        // Attaching uploaded files (S3 on Lambda: no presigned URL of our own is needed).
        let attach = Arc::new(airtable::routes::attach::Attach::build(&resources, gateway.clone(), "").await?);
        // Airtable's webhook pings for change capture (public; signed by the webhook's MAC secret).
        let notifier = Arc::new(airtable::changes::notify::Notifier::build(&resources).await?);
        Ok(airtable::router(gateway)
            .merge(airtable::routes::attach::router(attach))
            .merge(airtable::changes::notify::router(notifier)))
    })
    .await
}
