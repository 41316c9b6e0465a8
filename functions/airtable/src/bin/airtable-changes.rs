//! Change capture's consumer on Lambda: link events register and delete Airtable webhooks; fetch jobs read
//! their payloads into platform events and invalidate the gateway's cache.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&airtable::GROUP, "airtable-changes", |resources| async move {
        let settings = airtable::AirtableSettings::from_env()?;
        let endpoints = tenancy::airtable::AirtableEndpoints::from_env()?;
        let public_url = platform::config::var("AIRTABLE_WEBHOOKS_PUBLIC_URL");
        let metrics = airtable::Metrics::emf();
        let capture = Arc::new(airtable::capture(&resources, &settings, endpoints, metrics, public_url).await?);
        Ok(move |event| {
            let capture = capture.clone();
            async move { airtable::changes::consumer::handle(&capture, event).await }
        })
    })
    .await
}
