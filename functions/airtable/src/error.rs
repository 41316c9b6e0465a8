//! What can go wrong between a client and Airtable, and how each surface says it: /api/v1 in the
//! platform's error shape, /v0 in Airtable's own (so Airtable clients handle our errors as Airtable's).
//!
//! Errors travel as `Arc<GatewayError>` because one upstream failure may answer many coalesced reads.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use platform::ApiError;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Airtable answered with an error; status and body exactly as it sent them. After a 429,
    /// `retry_after` says when the gateway will send to that base again (relayed as `Retry-After`).
    #[error("Airtable answered {status}")]
    Upstream { status: StatusCode, body: Bytes, retry_after: Option<Duration> },
    /// Refused before going upstream, in Airtable's terms (`kind` is Airtable's error type).
    #[error("{message}")]
    Invalid { status: StatusCode, kind: &'static str, message: String },
    /// Not now: the limiter's bound was exceeded, or the base is penalised after Airtable's 429.
    #[error("{message}")]
    RateLimited { retry_after: Duration, message: String },
    /// Airtable could not be reached, or did not answer in time.
    #[error("Airtable is unavailable")]
    Unavailable {
        timed_out: bool,
        #[source]
        source: anyhow::Error,
    },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Failure = Arc<GatewayError>;

impl GatewayError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "INVALID_REQUEST_UNKNOWN",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Invalid { status: StatusCode::NOT_FOUND, kind: "NOT_FOUND", message: message.into() }
    }

    /// Failures a cached copy may stand in for (stale-if-error); a client error never is one.
    pub fn serves_stale(&self) -> bool {
        match self {
            Self::Upstream { status, .. } => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
            Self::RateLimited { .. } | Self::Unavailable { .. } => true,
            Self::Invalid { .. } | Self::Unexpected(_) => false,
        }
    }

    /// Airtable's error type and message from an upstream body, whichever of its shapes it used.
    fn upstream_detail(body: &[u8]) -> (String, String) {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value["error"];
        let first = &value["errors"][0];
        let kind = error["type"].as_str().or(error.as_str()).or(first["error"].as_str()).unwrap_or("UNKNOWN");
        let message = error["message"].as_str().or(first["message"].as_str()).unwrap_or("");
        (kind.to_string(), message.to_string())
    }

    /// In the platform's shape, for /api/v1.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Upstream { status, body, retry_after } => {
                let (kind, message) = Self::upstream_detail(body);
                let text = if message.is_empty() {
                    format!("Airtable: {kind}")
                } else {
                    format!("Airtable: {kind}: {message}")
                };
                match *status {
                    StatusCode::NOT_FOUND => ApiError::not_found(text),
                    StatusCode::FORBIDDEN => ApiError::forbidden(text),
                    StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(*status, "invalid_request", text),
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(*status, "payload_too_large", text),
                    StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests {
                        message: text,
                        retry_after_secs: whole_secs(retry_after.unwrap_or(UPSTREAM_429_RETRY)),
                    },
                    // Our credential was refused: nothing the client can fix.
                    StatusCode::UNAUTHORIZED => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unauthorized", text),
                    s if s.is_client_error() => ApiError::bad_request("invalid_request", text),
                    _ => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", text),
                }
            }
            Self::Invalid { status: StatusCode::NOT_FOUND, message, .. } => ApiError::not_found(message.clone()),
            Self::Invalid { status: StatusCode::SERVICE_UNAVAILABLE, message, .. } => {
                ApiError::unavailable(message.clone())
            }
            Self::Invalid { status, message, .. } => ApiError::new(*status, "invalid_request", message.clone()),
            Self::RateLimited { retry_after, message } => {
                ApiError::TooManyRequests { message: message.clone(), retry_after_secs: whole_secs(*retry_after) }
            }
            Self::Unavailable { timed_out: true, .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "Airtable did not answer in time")
            }
            Self::Unavailable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", "Airtable is unavailable")
            }
            // The cause chain was logged where it happened; shared errors carry it as text.
            Self::Unexpected(e) => ApiError::Unexpected(anyhow::anyhow!("{e:#}")),
        }
    }

    /// In Airtable's shape, for /v0: upstream errors pass through untouched.
    pub fn to_airtable_response(&self) -> Response {
        let typed = |status: StatusCode, kind: &str, message: &str| {
            (status, axum::Json(json!({ "error": { "type": kind, "message": message } }))).into_response()
        };
        match self {
            Self::Upstream { status, body, retry_after } => {
                let mut response = (*status, body.clone()).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if *status == StatusCode::TOO_MANY_REQUESTS {
                    let wait = whole_secs(retry_after.unwrap_or(UPSTREAM_429_RETRY));
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
                }
                response
            }
            Self::Invalid { status, kind, message } => typed(*status, kind, message),
            Self::RateLimited { retry_after, message } => {
                let body = json!({ "errors": [{ "error": "RATE_LIMIT_REACHED", "message": message }] });
                let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(whole_secs(*retry_after)));
                response
            }
            Self::Unavailable { timed_out: true, .. } => {
                typed(StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT", "Airtable did not answer in time")
            }
            Self::Unavailable { .. } => {
                typed(StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE", "Airtable is unavailable")
            }
            Self::Unexpected(e) => {
                tracing::error!(error = %format!("{e:#}"), "unexpected gateway error");
                typed(StatusCode::INTERNAL_SERVER_ERROR, "SERVER_ERROR", "Internal server error")
            }
        }
    }
}

/// Retry-After for an upstream 429 when nothing better is known: Airtable's own penalty.
const UPSTREAM_429_RETRY: Duration = Duration::from_secs(30);

/// Retry-After in whole seconds, rounded up, at least 1.
pub fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// A failure answered on /v0.
pub struct V0Error(pub Failure);

impl IntoResponse for V0Error {
    fn into_response(self) -> Response {
        self.0.to_airtable_response()
    }
}

impl From<GatewayError> for V0Error {
    fn from(e: GatewayError) -> Self {
        Self(Arc::new(e))
    }
}

impl From<Failure> for V0Error {
    fn from(e: Failure) -> Self {
        Self(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airtables_error_type_and_message_reach_the_platform_shape() {
        let body = Bytes::from_static(br#"{"error":{"type":"INVALID_FILTER_BY_FORMULA","message":"bad formula"}}"#);
        let err =
            GatewayError::Upstream { status: StatusCode::UNPROCESSABLE_ENTITY, body, retry_after: None }.to_api_error();
        assert!(matches!(&err, ApiError::Client { status, code: "invalid_request", message }
            if *status == StatusCode::UNPROCESSABLE_ENTITY && message.contains("INVALID_FILTER_BY_FORMULA") && message.contains("bad formula")));
    }

    #[test]
    fn only_upstream_trouble_may_be_answered_from_a_stale_copy() {
        let upstream = |status| GatewayError::Upstream { status, body: Bytes::new(), retry_after: None };
        assert!(upstream(StatusCode::SERVICE_UNAVAILABLE).serves_stale());
        assert!(upstream(StatusCode::TOO_MANY_REQUESTS).serves_stale());
        assert!(!upstream(StatusCode::NOT_FOUND).serves_stale());
        assert!(!GatewayError::invalid("x").serves_stale());
        assert_eq!(whole_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn an_upstream_429_is_relayed_with_retry_after_on_both_surfaces() {
        let body = Bytes::from_static(br#"{"errors":[{"error":"RATE_LIMIT_REACHED","message":"slow down"}]}"#);
        let relayed = |retry_after| GatewayError::Upstream {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: body.clone(),
            retry_after,
        };
        let v0 = relayed(Some(Duration::from_millis(29_500))).to_airtable_response();
        assert_eq!(v0.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(v0.headers()[header::RETRY_AFTER], "30");
        assert_eq!(relayed(None).to_airtable_response().headers()[header::RETRY_AFTER], "30");
        let api = relayed(Some(Duration::from_secs(12))).to_api_error().into_response();
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(api.headers()[header::RETRY_AFTER], "12");
        let other = GatewayError::Upstream { status: StatusCode::NOT_FOUND, body, retry_after: None };
        assert!(other.to_airtable_response().headers().get(header::RETRY_AFTER).is_none());
    }
}
