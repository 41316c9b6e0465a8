//! The tenants function on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&tenants::GROUP, "tenants", |resources| async move {
        let settings = tenants::TenantSettings::from_env()?;
        Ok(tenants::router(Arc::new(tenants::TenantsState::build(&resources, settings).await?)))
    })
    .await
}
