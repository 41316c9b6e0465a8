//! Airtable's error bodies. Airtable uses three shapes, and clients (pyairtable, airtable.js) cope with all
//! of them: `{"error": {"type", "message"}}` for most failures, a bare `{"error": "NOT_FOUND"}` for an
//! unknown route, and `{"errors": [{"error", "message"}]}` when rate limited.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AirtableError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: Option<String>,
    shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Typed,
    Bare,
    RateLimited,
}

impl AirtableError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: Some(message.into()), shape: Shape::Typed }
    }

    /// 422 — what Airtable answers for almost every invalid request.
    pub fn invalid(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, kind, message)
    }

    pub fn invalid_request() -> Self {
        Self::invalid(
            "INVALID_REQUEST_UNKNOWN",
            "Invalid request: parameter validation failed. Check your request data.",
        )
    }

    pub fn route_not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, kind: "NOT_FOUND", message: None, shape: Shape::Bare }
    }

    /// Airtable does not tell a missing base from one the token may not see.
    pub fn base_not_found() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
        )
    }

    pub fn table_not_found(table: &str, base: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "TABLE_NOT_FOUND",
            format!("Could not find table {table} in application {base}"),
        )
    }

    pub fn record_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND", format!("Could not find a record with ID \"{id}\"."))
    }

    /// 404 for an unknown comment, webhook, … (`what` names the kind: "comment", "webhook").
    pub fn model_not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND", format!("Could not find a {what} with ID \"{id}\"."))
    }

    /// 413: a body (or an uploaded file) beyond what Airtable takes.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE", message)
    }

    pub fn unknown_field(name: &str) -> Self {
        Self::invalid("UNKNOWN_FIELD_NAME", format!("Unknown field name: \"{name}\""))
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED", "Authentication required")
    }

    pub fn rate_limited() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "RATE_LIMIT_REACHED",
            message: Some("Rate limit exceeded. Please try again later".into()),
            shape: Shape::RateLimited,
        }
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable")
    }

    pub fn body(&self) -> serde_json::Value {
        match self.shape {
            Shape::Bare => json!({ "error": self.kind }),
            Shape::RateLimited => json!({ "errors": [{ "error": self.kind, "message": self.message }] }),
            Shape::Typed => match &self.message {
                Some(message) => json!({ "error": { "type": self.kind, "message": message } }),
                None => json!({ "error": { "type": self.kind } }),
            },
        }
    }
}

impl IntoResponse for AirtableError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

pub type AirtableResult<T> = Result<T, AirtableError>;
