//! Request ids and the error shape, in one outermost middleware.
//!
//! The id is a well-formed incoming `X-Request-ID`, else API Gateway's request id, else a new UUIDv7. It is
//! on the request (the [`RequestId`] extractor), on the span every log line of the request carries, and in
//! the `X-Request-ID` response header. Error responses leave here in the request's [`Dialect`]: the platform's
//! `{"error","code","request_id"}`, or Airtable's shapes under `/v0`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tracing::Instrument;

use crate::dialect::{Dialect, airtable_error};
use crate::error::{ErrorBody, code_for_status};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

static COLD_START: AtomicBool = AtomicBool::new(true);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(new_id())))
    }
}

/// 1 to 128 characters of `[A-Za-z0-9._:-]`: anything else is replaced, never echoed.
pub fn is_well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn choose_id(req: &Request) -> String {
    let incoming = req.headers().get(&HEADER).and_then(|v| v.to_str().ok()).filter(|v| is_well_formed(v));
    if let Some(id) = incoming {
        return id.to_string();
    }
    let gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    gateway.filter(|id| is_well_formed(id)).unwrap_or_else(new_id)
}

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = choose_id(&req);
    let dialect = Dialect::for_path(req.uri().path());
    req.extensions_mut().insert(RequestId(id.clone()));
    let (function_request_id, xray_trace_id) = match req.lambda_context_ref() {
        Some(ctx) => (Some(ctx.request_id.clone()), ctx.xray_trace_id.clone()),
        None => (None, None),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        cold_start = COLD_START.swap(false, Ordering::Relaxed),
        function_request_id,
        xray_trace_id,
    );
    let started = Instant::now();
    async move {
        let response = next.run(req).await;
        let response = render_error(response, &id, dialect).await;
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
        let mut response = response;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(HEADER, value);
        }
        response
    }
    .instrument(span)
    .await
}

/// Gives every error response the request's JSON error shape. Error bodies that are already JSON (the
/// Airtable-compatible surface's own errors, in Airtable's shape) pass through untouched.
async fn render_error(response: Response, request_id: &str, dialect: Dialect) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match parts.extensions.remove::<ErrorBody>() {
        Some(error) => error,
        None if is_json(&parts) => return Response::from_parts(parts, body),
        None => {
            let text = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            let message = match text.is_empty() || text.len() > 1000 {
                true => default_message(status),
                false => text,
            };
            ErrorBody { code: code_for_status(status).into(), message }
        }
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    let (status, json) = match dialect {
        Dialect::Platform => {
            (status, serde_json::json!({ "error": error.message, "code": error.code, "request_id": request_id }))
        }
        Dialect::Airtable => airtable_error(status, &error.message),
    };
    let mut rendered = (status, axum::Json(json)).into_response();
    for (name, value) in parts.headers.iter() {
        rendered.headers_mut().append(name, value.clone());
    }
    rendered
}

fn is_json(parts: &axum::http::response::Parts) -> bool {
    parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"))
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this route".into(),
        s => s.canonical_reason().unwrap_or("Error").into(),
    }
}
