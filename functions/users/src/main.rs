//! The users function on Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&users::GROUP, "users", |resources| async move {
        let settings = users::UsersSettings::from_env()?;
        Ok(users::router(Arc::new(users::UsersState::build(&resources, settings).await?)))
    })
    .await
}
