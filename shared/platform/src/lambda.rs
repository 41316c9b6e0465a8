//! Lambda entry points derived from a group's declaration: each reads the platform's settings, opens the
//! storage its binary declared ([`Resources`]), lets the group build its handler once at cold start, and runs
//! it. A function's `main.rs` is one call.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use storage::backend::{Backend, StorageMode, StorageSettings};
use utoipa_axum::router::OpenApiRouter;

use crate::gateway::AuthorizerError;
use crate::group::{Group, Kind, Resources};

/// Telemetry, then the declared resources of `binary` (which must be of `kind`).
async fn open(group: &'static Group, binary: &'static str, kind: fn(&Kind) -> bool) -> anyhow::Result<Resources> {
    crate::telemetry::init(binary);
    let function = group.function(binary)?;
    if !kind(&function.kind) {
        anyhow::bail!("binary {binary} is declared as {:?}", function.kind);
    }
    let storage = StorageSettings::from_env(StorageMode::Aws)?;
    let backend = Arc::new(Backend::open(&storage).await?);
    Ok(Resources::for_function(backend, function))
}

/// An HTTP function: API Gateway events through the group's router, in the platform's shell.
pub async fn http<B, F>(group: &'static Group, binary: &'static str, build: B) -> Result<(), Error>
where
    B: FnOnce(Resources) -> F,
    F: Future<Output = anyhow::Result<OpenApiRouter>>,
{
    let resources = open(group, binary, |k| *k == Kind::Http).await?;
    let http = crate::config::HttpSettings::from_env()?;
    let meter = usage_meter(&resources).await?;
    let (router, _) = crate::app::split(crate::metrics::tag_group(build(resources).await?, group.name));
    let app = crate::app::finish_with(router, &http, crate::metrics::Registry::metering(meter.clone()))
        .layer(axum::middleware::from_fn_with_state(meter.clone(), flush_when_due));
    lambda_http::run(app).await
}

/// The function's usage meter (`platform::usage`), flushed at SIGTERM: Lambda sends one once an extension is
/// registered, which this does.
async fn usage_meter(resources: &Resources) -> anyhow::Result<Arc<crate::usage::Meter>> {
    let queue = resources.queue(&crate::usage::queue_spec()).await?;
    let meter = crate::usage::Meter::new(queue, crate::usage::flush_interval_from_env()?);
    let last = meter.clone();
    lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        last.flush().await;
    })
    .await;
    Ok(meter)
}

/// A Lambda process is frozen between invocations, so its usage is flushed at the end of the invocation that
/// finds it due (once per `USAGE_FLUSH_SECS` at most: one queue send added to that response's time).
async fn flush_when_due(
    axum::extract::State(meter): axum::extract::State<Arc<crate::usage::Meter>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    meter.flush_if_due().await;
    response
}

/// An SQS consumer with partial batch responses: `build` returns the handler of one batch.
pub async fn consumer<B, F, H, R>(group: &'static Group, binary: &'static str, build: B) -> Result<(), Error>
where
    B: FnOnce(Resources) -> F,
    F: Future<Output = anyhow::Result<H>>,
    H: Fn(SqsEvent) -> R,
    R: Future<Output = SqsBatchResponse>,
{
    let resources = open(group, binary, |k| matches!(k, Kind::Consumer { .. })).await?;
    // A consumer that declares it meters its tenants' usage (`usage::count`), flushed like an HTTP function's.
    let meter = match group.function(binary)?.uses.contains(&crate::usage::METERED) {
        true => Some(usage_meter(&resources).await?),
        false => None,
    };
    let handler = &build(resources).await?;
    let meter = &meter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let Some(meter) = meter else { return Ok::<SqsBatchResponse, Error>(handler(event.payload).await) };
        let answered = crate::usage::metering(meter.clone(), handler(event.payload)).await;
        meter.flush_if_due().await;
        Ok(answered)
    }))
    .await
}

/// A scheduled function (an EventBridge rule): `build` returns the handler of one scheduled event, whose answer
/// (a summary EventBridge ignores, for logs and tests) is the invocation's result; a failure fails the
/// invocation (EventBridge retries it), logged with its cause.
pub async fn schedule<B, F, H, R, O>(group: &'static Group, binary: &'static str, build: B) -> Result<(), Error>
where
    B: FnOnce(Resources) -> F,
    F: Future<Output = anyhow::Result<H>>,
    H: Fn(EventBridgeEvent) -> R,
    R: Future<Output = anyhow::Result<O>>,
    O: serde::Serialize,
{
    let resources = open(group, binary, |k| matches!(k, Kind::Schedule { .. })).await?;
    let handler = &build(resources).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        handler(event.payload).await.map_err(|e| {
            tracing::error!(error = ?e, "scheduled run failed");
            Error::from("scheduled run failed")
        })
    }))
    .await
}

/// API Gateway's REQUEST authorizer. A refusal fails the invocation with exactly the message "Unauthorized":
/// that is how API Gateway knows to answer 401 (any other failure becomes a 500).
pub async fn authorizer<B, F, H, R>(group: &'static Group, binary: &'static str, build: B) -> Result<(), Error>
where
    B: FnOnce(Resources) -> F,
    F: Future<Output = anyhow::Result<H>>,
    H: Fn(ApiGatewayCustomAuthorizerRequestTypeRequest) -> R,
    R: Future<Output = Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError>>,
{
    let resources = open(group, binary, |k| *k == Kind::Authorizer).await?;
    let handler = &build(resources).await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            match handler(event.payload).await {
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
