//! Change capture's schedule on Lambda: refreshes every Airtable webhook due to expire within three days.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::schedule(&airtable::GROUP, "airtable-webhooks-refresh", |resources| async move {
        let capture = airtable::capture_from_env(&resources).await?;
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
