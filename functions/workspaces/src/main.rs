//! The workspaces function on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&workspaces::GROUP, "workspaces", |resources| async move {
        let settings = workspaces::WorkspaceSettings::from_env()?;
        Ok(workspaces::router(Arc::new(workspaces::WorkspacesState::build(&resources, settings).await?)))
    })
    .await
}
