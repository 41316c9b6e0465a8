//! The authorizer function on Lambda.

use identity::TokenService;
use identity::tokens::KeySet;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platform::lambda::authorizer(&authorizer::GROUP, "authorizer", |resources| async move {
        let settings = identity::TokenSettings::from_env()?;
        let tokens = TokenService::new(KeySet::from_settings(&settings, None)?, settings);
        let fallback = platform::config::var("USAGE_FALLBACK_KEY");
        let state =
            std::sync::Arc::new(authorizer::State::build(&resources, tokens).await?.with_usage_fallback_key(fallback));
        Ok(move |request| {
            let state = state.clone();
            async move { authorizer::authorize(&state, request).await }
        })
    })
    .await
}
