//! The authorizer function on Lambda. A refusal must fail the invocation with exactly the message
//! "Unauthorized": that is how API Gateway knows to answer 401 (any other failure becomes a 500).

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse};
use identity::TokenService;
use identity::tokens::KeySet;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use platform::gateway::AuthorizerError;
use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    platform::telemetry::init("authorizer");
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let settings = identity::TokenSettings::from_env()?;
    let backend = Backend::open(&storage).await?;
    let tokens = TokenService::new(KeySet::from_settings(&settings, None)?, settings);
    let state = &authorizer::State::build(&backend, tokens).await?;

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            match authorizer::authorize(state, event.payload).await {
                Ok(response) => Ok::<ApiGatewayCustomAuthorizerResponse, Error>(response),
                Err(AuthorizerError::Unauthorized) => Err(Error::from("Unauthorized")),
                Err(AuthorizerError::Failed(e)) => {
                    tracing::error!(error = ?e, "authorizer failed");
                    Err(Error::from("Authorizer failed"))
                }
            }
        },
    ))
    .await
}
