//! Which error shape a request is answered in, chosen by its path.
//!
//! `/api/v1/…` and everything else: the platform's `{"error", "code", "request_id"}`. `/v0/…`, the
//! Airtable-compatible surface: Airtable's own shapes, so that Airtable's clients (pyairtable, airtable.js)
//! surface our errors as they surface Airtable's — `{"error": {"type", "message"}}`, and for 429
//! `{"errors": [{"error": "RATE_LIMIT_REACHED", "message"}]}` (what `functions/airtable` answers too).

use axum::http::StatusCode;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Platform,
    Airtable,
}

/// The path prefix Airtable's clients use (their base URL is `…/v0`).
pub const AIRTABLE_PREFIX: &str = "/v0";

pub const AUTHENTICATION_REQUIRED: &str = "Authentication required";
pub const INVALID_PERMISSIONS: &str = "Invalid permissions, or the requested model was not found. Check that both \
    your user and your token have the required permissions, and that the model names and/or ids are correct.";

impl Dialect {
    pub fn for_path(path: &str) -> Self {
        match path.strip_prefix(AIRTABLE_PREFIX) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => Self::Airtable,
            _ => Self::Platform,
        }
    }
}

/// Airtable's answer for an error the shell renders (the gateway's, the router's, a handler's `ApiError`):
/// the status to send and the body. Airtable answers a method a route does not serve as an unknown route
/// (404 `NOT_FOUND`); 401 and 403 carry Airtable's own fixed messages.
pub fn airtable_error(status: StatusCode, message: &str) -> (StatusCode, Value) {
    let typed = |status: StatusCode, kind: &str, message: &str| {
        (status, json!({ "error": { "type": kind, "message": message } }))
    };
    match status {
        StatusCode::UNAUTHORIZED => typed(status, "AUTHENTICATION_REQUIRED", AUTHENTICATION_REQUIRED),
        StatusCode::FORBIDDEN => typed(status, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", INVALID_PERMISSIONS),
        StatusCode::NOT_FOUND => typed(status, "NOT_FOUND", message),
        StatusCode::METHOD_NOT_ALLOWED => {
            typed(StatusCode::NOT_FOUND, "NOT_FOUND", "Could not find what you are looking for")
        }
        StatusCode::PAYLOAD_TOO_LARGE => typed(status, "REQUEST_TOO_LARGE", message),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => typed(status, "REQUEST_HEADERS_TOO_LARGE", message),
        StatusCode::TOO_MANY_REQUESTS => {
            (status, json!({ "errors": [{ "error": "RATE_LIMIT_REACHED", "message": message }] }))
        }
        StatusCode::SERVICE_UNAVAILABLE => typed(status, "SERVICE_UNAVAILABLE", message),
        s if s.is_server_error() => typed(s, "SERVER_ERROR", "Internal server error"),
        s => typed(s, "INVALID_REQUEST_UNKNOWN", message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_v0_tree_speaks_airtable() {
        assert_eq!(Dialect::for_path("/v0"), Dialect::Airtable);
        assert_eq!(Dialect::for_path("/v0/"), Dialect::Airtable);
        assert_eq!(Dialect::for_path("/v0/appX/Table"), Dialect::Airtable);
        assert_eq!(Dialect::for_path("/v0x/appX"), Dialect::Platform);
        assert_eq!(Dialect::for_path("/api/v1/v0"), Dialect::Platform);
        assert_eq!(Dialect::for_path("/"), Dialect::Platform);
    }

    #[test]
    fn every_status_has_airtables_type() {
        let kind = |status: u16| {
            let (status, body) = airtable_error(StatusCode::from_u16(status).unwrap_or_default(), "m");
            (status.as_u16(), body["error"]["type"].as_str().unwrap_or_default().to_string())
        };
        assert_eq!(kind(401), (401, "AUTHENTICATION_REQUIRED".into()));
        assert_eq!(kind(403), (403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND".into()));
        assert_eq!(kind(404), (404, "NOT_FOUND".into()));
        assert_eq!(kind(405), (404, "NOT_FOUND".into()));
        assert_eq!(kind(413), (413, "REQUEST_TOO_LARGE".into()));
        assert_eq!(kind(431), (431, "REQUEST_HEADERS_TOO_LARGE".into()));
        assert_eq!(kind(500), (500, "SERVER_ERROR".into()));
        let (status, body) = airtable_error(StatusCode::TOO_MANY_REQUESTS, "slow down");
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body, json!({"errors": [{"error": "RATE_LIMIT_REACHED", "message": "slow down"}]}));
    }
}
