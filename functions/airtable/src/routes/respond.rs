//! Reading what the client accepts from a cache, and answering with what the cache did.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::gateway::{Freshness, ReadOutcome};

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// `Cache-Control: no-cache` (or `no-store`, or `Pragma: no-cache`) bypasses the cache; `max-age=N`
/// accepts only a copy at most N seconds old.
pub fn freshness(headers: &HeaderMap) -> Freshness {
    let mut freshness = Freshness::default();
    let directives = headers.get_all(header::CACHE_CONTROL).iter().chain(headers.get_all(header::PRAGMA));
    for directive in directives.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')) {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            freshness.bypass = true;
        } else if let Some(secs) = directive.strip_prefix("max-age=").and_then(|s| s.parse().ok()) {
            freshness.max_age = Some(std::time::Duration::from_secs(secs));
        }
    }
    freshness
}

/// A JSON answer with `X-Cache` (and `Age` when it came from the cache).
pub fn cached_json(outcome: &ReadOutcome, body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(X_CACHE, HeaderValue::from_static(outcome.status.as_str()));
    if !outcome.age.is_zero() {
        headers.insert(header::AGE, HeaderValue::from(outcome.age.as_secs()));
    }
    response
}

/// Airtable's JSON body as it came.
pub fn json(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cache_control_directives_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0, No-Cache"));
        assert_eq!(freshness(&headers), Freshness { bypass: true, max_age: Some(Duration::ZERO) });
        assert_eq!(freshness(&HeaderMap::new()), Freshness::default());
    }
}
