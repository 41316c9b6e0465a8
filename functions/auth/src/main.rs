//! The auth function on Lambda.

use std::sync::Arc;

use identity::TokenService;
use identity::tokens::KeySet;
use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::telemetry::init("auth");
    let http = platform::config::HttpSettings::from_env()?;
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let settings = auth::AuthSettings::from_env()?;
    let backend = Backend::open(&storage).await?;

    let tokens = TokenService::new(KeySet::from_settings(&settings.tokens, None)?, settings.tokens.clone());
    let state = auth::AuthState::build(&backend, &settings, tokens, &storage.table_prefix).await?;
    if let Some(admin) = &settings.admin {
        auth::bootstrap::ensure_admin(&state, admin).await?;
    }

    let (router, _) = platform::app::split(auth::router(Arc::new(state)));
    lambda_http::run(platform::app::finish(router, &http)).await
}
