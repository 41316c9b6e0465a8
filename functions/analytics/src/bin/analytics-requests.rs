//! The analytics-requests queue (every HTTP function's metered requests) -> hourly and daily aggregates, on
//! Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&analytics::GROUP, "analytics-requests", |resources| async move {
        let store = Arc::new(analytics::store::AnalyticsStore::new(resources.table(analytics::store::TABLE).await?));
        Ok(move |event| {
            let store = store.clone();
            async move { analytics::consumer::handle_usage(&store, event).await }
        })
    })
    .await
}
