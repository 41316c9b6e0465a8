//! Change capture's consumer on Lambda: link events register and delete Airtable webhooks; fetch jobs read
//! their payloads into platform events and invalidate the gateway's cache.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&airtable::GROUP, "airtable-changes", |resources| async move {
        let capture = airtable::capture_from_env(&resources).await?;
        Ok(move |event| {
            let capture = capture.clone();
            async move { airtable::changes::consumer::handle(&capture, event).await }
        })
    })
    .await
}
