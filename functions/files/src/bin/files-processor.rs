//! The files-uploads queue (S3 event notifications, completes, expiries) -> checked, inspected files, on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&files::GROUP, "files-processor", |resources| async move {
        let files = Arc::new(files::lifecycle::Files::open(&resources, "").await?);
        Ok(move |event| {
            let files = files.clone();
            async move { files::lifecycle::handle(&files, event).await }
        })
    })
    .await
}
