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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;
    use crate::{ApiError, Json};

    #[derive(Deserialize)]
    struct Signup {
        #[allow(dead_code)]
        email: String,
        #[allow(dead_code)]
        age: u32,
    }

    fn app() -> Router {
        let router = Router::new()
            .route("/signup", post(|Json(_): Json<Signup>| async { StatusCode::CREATED }))
            .route(
                "/boom",
                post(|| async { Err::<(), _>(ApiError::Unexpected(anyhow::anyhow!("db password=hunter2 leaked?"))) }),
            )
            .route(
                "/slow-down",
                post(|| async {
                    Err::<(), _>(ApiError::TooManyRequests { message: "Too many attempts".into(), retry_after_secs: 7 })
                }),
            );
        finish(router, &HttpSettings::default())
    }

    async fn call(
        body: &'static str,
        path: &str,
        content_type: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let mut request = Request::post(path).header("x-request-id", "req-1");
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = app().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn assert_shape(body: &serde_json::Value, code: &str) {
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["request_id"], "req-1", "{body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_in_the_error_shape() {
        let (status, _, body) = call("{not json", "/signup", Some("application/json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_shape(&body, "malformed_json");
    }

    #[tokio::test]
    async fn a_missing_field_is_a_400_naming_the_field() {
        let (status, _, body) = call(r#"{"age": 3}"#, "/signup", Some("application/json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_shape(&body, "invalid_body");
        assert!(body["error"].as_str().unwrap().contains("email"), "{body}");
    }

    #[tokio::test]
    async fn a_wrong_type_is_a_400() {
        let (status, _, body) = call(r#"{"email": "a@b.c", "age": "old"}"#, "/signup", Some("application/json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_shape(&body, "invalid_body");
    }

    #[tokio::test]
    async fn a_body_without_json_content_type_is_a_400() {
        let (status, _, body) = call(r#"{"email": "a@b.c", "age": 3}"#, "/signup", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_shape(&body, "invalid_content_type");
    }

    #[tokio::test]
    async fn an_unexpected_error_is_an_opaque_500() {
        let (status, _, body) = call("", "/boom", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_shape(&body, "internal_error");
        assert!(!body.to_string().contains("hunter2"), "internal detail leaked: {body}");
    }

    #[tokio::test]
    async fn too_many_requests_carries_retry_after() {
        let (status, headers, body) = call("", "/slow-down", None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "7");
        assert_shape(&body, "rate_limited");
    }

    #[tokio::test]
    async fn an_oversized_body_is_a_413_in_the_error_shape() {
        let router = Router::new().route("/signup", post(|Json(_): Json<Signup>| async { StatusCode::CREATED }));
        let app = finish(router, &HttpSettings { max_body_bytes: 16, ..HttpSettings::default() });
        let request = Request::post("/signup")
            .header("content-type", "application/json")
            .header("x-request-id", "req-1")
            .body(Body::from(r#"{"email": "someone@example.com", "age": 3}"#))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: serde_json::Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_shape(&body, "payload_too_large");
    }

    #[test]
    fn a_wildcard_origin_with_credentials_is_refused_at_start() {
        let settings = HttpSettings {
            cors_allowed_origins: vec!["*".into()],
            cors_allow_credentials: true,
            ..HttpSettings::default()
        };
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("CORS_ALLOWED_ORIGINS"), "{err}");
    }

    #[tokio::test]
    async fn cors_allows_only_the_configured_origins() {
        let settings =
            HttpSettings { cors_allowed_origins: vec!["https://app.example.com".into()], ..HttpSettings::default() };
        let app = finish(Router::new().route("/x", post(|| async { "ok" })), &settings);
        let preflight = |origin: &'static str| {
            Request::options("/x")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .body(Body::empty())
                .unwrap()
        };
        let allowed = app.clone().oneshot(preflight("https://app.example.com")).await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
        let refused = app.oneshot(preflight("https://evil.example.com")).await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none());
    }
}
