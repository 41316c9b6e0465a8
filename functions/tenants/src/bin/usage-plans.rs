//! The bus's events-usage-plans queue -> each tenant's API Gateway usage key on its plan's usage plan, on Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::consumer(&tenants::GROUP, "usage-plans", |resources| async move {
        let settings = tenants::usage_plans::UsagePlanSettings::from_env()?;
        let state = std::sync::Arc::new(tenants::usage_plans::UsagePlansState::build(&resources, settings).await?);
        Ok(move |event| {
            let state = state.clone();
            async move { tenants::usage_plans::handle(&state, event).await }
        })
    })
    .await
}
