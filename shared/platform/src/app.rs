//! The HTTP shell around a group's routes, identical for Lambda and the local runner.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::ApiError;
use crate::config::HttpSettings;

/// Splits a group's `OpenApiRouter` into the axum router and its part of the API document.
pub fn split(router: OpenApiRouter) -> (Router, OpenApi) {
    router.split_for_parts()
}

/// Adds what every route shares: 404 fallback, body limit, CORS, and (outermost) request ids + error shape.
pub fn finish(router: Router, settings: &HttpSettings) -> Router {
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(cors(settings))
        .layer(axum::middleware::from_fn(crate::request_id::middleware))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {method} {}", uri.path()))
}

fn cors(settings: &HttpSettings) -> CorsLayer {
    let origins = &settings.cors_allowed_origins;
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_credentials(settings.cors_allow_credentials)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-request-id")])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
}
