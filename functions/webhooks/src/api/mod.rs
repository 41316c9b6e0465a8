//! The routes: [`endpoints`] (CRUD, secret rotation, test events), [`messages`] (the log, resend, recover),
//! [`event_types`] (the catalogue). Every webhooks route asks [`guard`] first.

pub mod endpoints;
pub mod event_types;
pub mod guard;
pub mod messages;
pub mod views;

use platform::ApiError;

pub fn now_rfc3339() -> String {
    rfc3339(storage::now_millis())
}

/// Epoch milliseconds as RFC 3339 with milliseconds (`2023-11-14T22:13:20.123Z`).
pub fn rfc3339(ms: i64) -> String {
    platform::timestamps::rfc3339_ms(ms)
}

pub(crate) fn invalid(field: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {rule}"))
}

/// The queue refused a job: nothing is lost (the message records what is due), the client may retry.
pub(crate) fn not_queued(e: anyhow::Error) -> ApiError {
    tracing::error!(error = ?e, "a webhook job could not be queued");
    ApiError::unavailable("The delivery could not be queued; try again")
}
