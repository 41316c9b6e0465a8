//! The HTTP shell around a group's routes, identical for Lambda and the local runner.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::ApiError;
use crate::config::HttpSettings;

/// Splits a group's `OpenApiRouter` into the axum router and its part of the API document.
pub fn split(router: OpenApiRouter) -> (Router, OpenApi) {
    router.split_for_parts()
}

/// Adds what every route shares: 404 fallback, body limit, CORS, the header limit, request metrics (into a
/// registry of its own), and (outermost) request ids + the error shape (the platform's, or Airtable's under `/v0`).
pub fn finish(router: Router, settings: &HttpSettings) -> Router {
    finish_with(router, settings, crate::metrics::Registry::new())
}

/// [`finish`], counting requests into `metrics` (the local runner serves it at `/metrics`).
pub fn finish_with(
    router: Router,
    settings: &HttpSettings,
    metrics: std::sync::Arc<crate::metrics::Registry>,
) -> Router {
    let limits = HeaderLimits { bytes: settings.max_header_bytes, count: settings.max_header_count };
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(cors(settings))
        .layer(axum::middleware::from_fn_with_state(limits, header_limit))
        .layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .layer(axum::middleware::from_fn(crate::request_id::middleware))
}

#[derive(Clone, Copy, Debug)]
struct HeaderLimits {
    bytes: usize,
    count: usize,
}

/// The size of a request's header fields as HTTP/1.1 sends them: `name: value\r\n` each. The request line is
/// not counted: a long query (a `filterByFormula`) is bounded by what reads it, and by the server's head buffer.
pub fn header_bytes(req: &Request) -> usize {
    req.headers().iter().map(|(name, value)| name.as_str().len() + 2 + value.len() + 2).sum()
}

/// The longest request target (path and query, as sent): Airtable's own limit on a request URL. A longer one
/// (a long `filterByFormula`) is refused before anything parses it; Airtable's clients switch to
/// `POST …/listRecords` before reaching it.
pub const MAX_URL_CHARS: usize = 16_000;

/// 414 for a request target over [`MAX_URL_CHARS`], 431 for header fields over the limits (in the request's
/// error shape), before anything reads them.
async fn header_limit(State(limits): State<HeaderLimits>, req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URL_CHARS {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "url_too_long",
            format!("The URL must stay within {MAX_URL_CHARS} characters ({target}): send long list parameters with POST …/listRecords"),
        )
        .into_response();
    }
    let count = req.headers().len();
    let bytes = header_bytes(&req);
    if count > limits.count || bytes > limits.bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "The header fields must stay within {} bytes and {} fields ({bytes} bytes, {count} fields)",
                limits.bytes, limits.count
            ),
        )
        .into_response();
    }
    next.run(req).await
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

    /// One route per status the shell renders, under /v0 and under /api/v1.
    fn dialect_app(settings: &HttpSettings) -> Router {
        let mut router = Router::new();
        for prefix in ["/v0", "/api/v1"] {
            router = router
                .route(
                    &format!("{prefix}/unauthorized"),
                    post(|| async { Err::<(), _>(ApiError::unauthorized("Unauthorized")) }),
                )
                .route(&format!("{prefix}/forbidden"), post(|| async { Err::<(), _>(ApiError::forbidden("no")) }))
                .route(
                    &format!("{prefix}/limited"),
                    post(|| async {
                        Err::<(), _>(ApiError::TooManyRequests { message: "Slow down".into(), retry_after_secs: 3 })
                    }),
                )
                .route(&format!("{prefix}/upload"), post(|_: axum::body::Bytes| async { StatusCode::OK }))
                .route(
                    &format!("{prefix}/boom"),
                    post(|| async { Err::<(), _>(ApiError::Unexpected(anyhow::anyhow!("secret detail"))) }),
                );
        }
        finish(router, settings)
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn request(method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path).header("x-request-id", "req-1")
    }

    #[tokio::test]
    async fn v0_errors_are_in_airtables_shape_and_api_v1_errors_in_the_platforms() {
        let settings = HttpSettings { max_body_bytes: 16, max_header_bytes: 2048, ..HttpSettings::default() };
        let app = dialect_app(&settings);
        let big_header = "x".repeat(4096);
        struct Case {
            method: &'static str,
            path: &'static str,
            body: Option<&'static str>,
            /// The platform's code and status under /api/v1.
            code: &'static str,
            status: u16,
            /// Airtable's status, type and (when fixed) message under /v0.
            airtable_status: u16,
            kind: &'static str,
            message: &'static str,
        }
        let case = |method, path, body, (code, status), (airtable_status, kind, message)| Case {
            method,
            path,
            body,
            code,
            status,
            airtable_status,
            kind,
            message,
        };
        let cases = [
            case(
                "POST",
                "/unauthorized",
                None,
                ("unauthorized", 401),
                (401, "AUTHENTICATION_REQUIRED", "Authentication required"),
            ),
            case("POST", "/forbidden", None, ("forbidden", 403), (403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "")),
            case("GET", "/no/such/route", None, ("not_found", 404), (404, "NOT_FOUND", "")),
            case("GET", "/forbidden", None, ("method_not_allowed", 405), (404, "NOT_FOUND", "")),
            case(
                "POST",
                "/upload",
                Some("this body is longer than sixteen bytes"),
                ("payload_too_large", 413),
                (413, "REQUEST_TOO_LARGE", ""),
            ),
            case("POST", "/boom", None, ("internal_error", 500), (500, "SERVER_ERROR", "Internal server error")),
        ];
        for Case { method, path, body, code, status, airtable_status, kind, message } in cases {
            let body = || body.map_or_else(Body::empty, Body::from);
            let (got, headers, json) =
                send(&app, request(method, &format!("/api/v1{path}")).body(body()).unwrap()).await;
            assert_eq!(got.as_u16(), status, "/api/v1{path}: {json}");
            assert_shape(&json, code);
            assert_eq!(headers["x-request-id"], "req-1");

            let (got, headers, json) = send(&app, request(method, &format!("/v0{path}")).body(body()).unwrap()).await;
            assert_eq!(got.as_u16(), airtable_status, "/v0{path}: {json}");
            assert_eq!(json["error"]["type"], kind, "/v0{path}: {json}");
            assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "/v0{path}: {json}");
            if !message.is_empty() {
                assert_eq!(json["error"]["message"], message, "/v0{path}");
            }
            assert!(json.get("code").is_none() && json.get("request_id").is_none(), "/v0{path}: {json}");
            assert_eq!(headers["x-request-id"], "req-1");
            assert!(!json.to_string().contains("secret detail"));
        }

        // 429: Airtable's `errors` array, with Retry-After kept.
        let (got, headers, json) = send(&app, request("POST", "/v0/limited").body(Body::empty()).unwrap()).await;
        assert_eq!(got, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(json, serde_json::json!({"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Slow down"}]}));
        let (got, headers, json) = send(&app, request("POST", "/api/v1/limited").body(Body::empty()).unwrap()).await;
        assert_eq!(got, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "3");
        assert_shape(&json, "rate_limited");

        // 431: JSON, in each dialect.
        for path in ["/v0/forbidden", "/api/v1/forbidden"] {
            let oversized = request("POST", path).header("x-big", big_header.as_str()).body(Body::empty()).unwrap();
            let (got, _, json) = send(&app, oversized).await;
            assert_eq!(got, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{path}: {json}");
            if path.starts_with("/v0") {
                assert_eq!(json["error"]["type"], "REQUEST_HEADERS_TOO_LARGE", "{json}");
            } else {
                assert_shape(&json, "headers_too_large");
            }
        }

        // 414: a URL over Airtable's limit, JSON in each dialect; one at the limit goes through.
        for path in ["/v0/forbidden", "/api/v1/forbidden"] {
            let at = |len: usize| format!("{path}?q={}", "a".repeat(len - path.len() - 3));
            let (got, _, json) = send(&app, request("POST", &at(MAX_URL_CHARS + 1)).body(Body::empty()).unwrap()).await;
            assert_eq!(got, StatusCode::URI_TOO_LONG, "{path}: {json}");
            if path.starts_with("/v0") {
                assert_eq!(json["error"]["type"], "INVALID_REQUEST_UNKNOWN", "{json}");
            } else {
                assert_shape(&json, "url_too_long");
            }
            let (got, _, _) = send(&app, request("POST", &at(MAX_URL_CHARS)).body(Body::empty()).unwrap()).await;
            assert_eq!(got, StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[tokio::test]
    async fn too_many_header_fields_is_a_431() {
        let app = dialect_app(&HttpSettings::default());
        let mut builder = request("POST", "/api/v1/forbidden");
        for i in 0..101 {
            builder = builder.header(format!("x-h{i}"), "1");
        }
        let (got, _, json) = send(&app, builder.body(Body::empty()).unwrap()).await;
        assert_eq!(got, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_shape(&json, "headers_too_large");
        // Within the limits the request goes through (to its 403).
        let (got, _, _) = send(&app, request("POST", "/api/v1/forbidden").body(Body::empty()).unwrap()).await;
        assert_eq!(got, StatusCode::FORBIDDEN);
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
