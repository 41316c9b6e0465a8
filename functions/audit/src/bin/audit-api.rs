//! GET /api/v1/audit-logs on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&audit::GROUP, "audit-api", |resources| async move {
        Ok(audit::router(Arc::new(audit::AuditState::build(&resources).await?)))
    })
    .await
}
