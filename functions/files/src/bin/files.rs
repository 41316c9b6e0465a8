//! The files API on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&files::GROUP, "files", |resources| async move {
        let plans = identity::plans::Plans::from_env()?;
        let settings = files::FilesSettings::from_env()?;
        // Presigned URLs come from S3 on Lambda: no public base URL of our own.
        Ok(files::router(Arc::new(files::ApiState::build(&resources, "", plans, settings).await?)))
    })
    .await
}
