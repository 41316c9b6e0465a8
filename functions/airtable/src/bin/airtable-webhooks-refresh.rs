//! Change capture's schedule on Lambda: refreshes every Airtable webhook due to expire within three days.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::schedule(&airtable::GROUP, "airtable-webhooks-refresh", |resources| async move {
        let settings = airtable::AirtableSettings::from_env()?;
        let endpoints = tenancy::airtable::AirtableEndpoints::from_env()?;
        let public_url = platform::config::var("AIRTABLE_WEBHOOKS_PUBLIC_URL");
        let metrics = airtable::Metrics::emf();
        let capture = Arc::new(airtable::capture(&resources, &settings, endpoints, metrics, public_url).await?);
        Ok(move |_event| {
            let capture = capture.clone();
            async move {
                let (refreshed, registered_again, failed) =
                    capture.refresh_due(airtable::changes::REFRESH_WITHIN_SECS).await?;
                Ok(serde_json::json!({"refreshed": refreshed, "registered_again": registered_again, "failed": failed}))
            }
        })
    })
    .await
}
