//! The auth function on Lambda.

use std::sync::Arc;

use identity::TokenService;
use identity::tokens::KeySet;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::lambda::http(&auth::GROUP, "auth", |resources| async move {
        let settings = auth::AuthSettings::from_env()?;
        let tokens = TokenService::new(KeySet::from_settings(&settings.tokens, None)?, settings.tokens.clone());
        let namespace = resources.namespace().to_string();
        let plans = identity::plans::Plans::from_env()?;
        let state = auth::AuthState::build(&resources, &settings, tokens, &namespace, plans).await?;
        if let Some(admin) = &settings.admin {
            auth::bootstrap::ensure_admin(&state, admin).await?;
        }
        Ok(auth::router(Arc::new(state)))
    })
    .await
}
