//! The composition: which endpoint groups, consumers and schedules the local runner serves, each built from
//! the same library code its Lambda function uses. Add a group here when its function lands.

use std::sync::Arc;

use async_trait::async_trait;
use platform::gateway::{Authorizer, AuthorizerError, AuthorizerRequest, AuthorizerResponse};
use storage::backend::Backend;
use utoipa_axum::router::OpenApiRouter;

use crate::Settings;
use crate::poller::Consumer;
use crate::scheduler::Schedule;

pub struct Composition {
    /// Every group's routes, with their part of the API document.
    pub router: OpenApiRouter,
    /// Local-only routes that are not part of the API (the embedded blob store's presigned URLs).
    pub unrouted: axum::Router,
    pub authorizer: Arc<dyn Authorizer>,
    pub consumers: Vec<Consumer>,
    pub schedules: Vec<Schedule>,
}

pub async fn compose(
    backend: &Backend,
    _settings: &Settings,
    _public_url: &str,
) -> anyhow::Result<Composition> {
    let mut readiness = health::Readiness::default();
    readiness.cache(backend.cache().await?);

    let router = OpenApiRouter::new().merge(health::router(Arc::new(readiness)));

    Ok(Composition {
        router,
        unrouted: axum::Router::new(),
        authorizer: Arc::new(NoAuthorizer),
        consumers: Vec::new(),
        schedules: Vec::new(),
    })
}

/// Until the authorizer function lands, every protected route is refused as API Gateway would refuse it.
struct NoAuthorizer;

#[async_trait]
impl Authorizer for NoAuthorizer {
    async fn authorize(&self, _: AuthorizerRequest) -> Result<AuthorizerResponse, AuthorizerError> {
        Err(AuthorizerError::Unauthorized)
    }
}
