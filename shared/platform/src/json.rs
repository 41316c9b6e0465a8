//! `Json<T>` for request bodies: every rejection (bad syntax, missing field, wrong type, no content type)
//! becomes a 400 in the platform's error shape instead of axum's plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ApiError;

#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_to_error(rejection)),
        }
    }
}

fn rejection_to_error(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::bad_request("invalid_body", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("invalid_content_type", "Expected a request body with Content-Type: application/json")
        }
        JsonRejection::BytesRejection(e) => {
            ApiError::new(e.status(), crate::error::code_for_status(e.status()), e.body_text())
        }
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// serde `deserialize_with` for a whole number that JSON may spell `264` or `264.0` (JSON Schema's `integer`
/// admits both; serde's integer types refuse the second).
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
    to_whole(&number)
}

/// [`whole_number`] for an optional field (pair it with `#[serde(default)]`).
pub fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = <Option<serde_json::Number> as serde::Deserialize>::deserialize(deserializer)?;
    number.as_ref().map(to_whole).transpose()
}

fn to_whole<E: serde::de::Error, T: TryFrom<u64>>(number: &serde_json::Number) -> Result<T, E> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it an f64 is not one exact whole number
    let whole = number
        .as_u64()
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f)).map(|f| f as u64));
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| E::custom(format!("expected a whole number in range, found {number}")))
}

#[cfg(test)]
mod whole_tests {
    #![allow(clippy::unwrap_used)]

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::whole_number")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional_whole_number")]
        m: Option<u8>,
    }

    fn parse(json: &str) -> Result<(u32, Option<u8>), String> {
        serde_json::from_str::<Body>(json).map(|b| (b.n, b.m)).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_may_be_spelled_as_floats_and_nothing_else_passes() {
        assert_eq!(parse(r#"{"n": 264}"#), Ok((264, None)));
        assert_eq!(parse(r#"{"n": 264.0, "m": 1e2}"#), Ok((264, Some(100))));
        assert_eq!(parse(r#"{"n": 1, "m": null}"#), Ok((1, None)));
        for bad in [r#"{"n": 1.5}"#, r#"{"n": -1}"#, r#"{"n": "1"}"#, r#"{"n": 1, "m": 256}"#, r#"{"n": 1e300}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
