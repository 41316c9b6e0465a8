//! The Airtable-compatible surface: Airtable's own paths, parameters, JSON and error bodies, so pyairtable
//! (`Api(key, endpoint_url=…)`) and airtable.js (`new Airtable({apiKey, endpointUrl})`) work unchanged
//! with a platform API key or access token as the bearer. Reads go through the same cache as /api/v1.

mod body;
pub mod comments;
pub mod meta;
pub mod reads;
#[cfg(test)]
mod surface_tests;
pub mod upload;
pub mod webhooks;
pub mod writes;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use crate::error::{GatewayError, V0Error};
use crate::ids::{BaseId, RecordId, TableRef};
use crate::query::QueryError;

type Answer = Result<Response, V0Error>;

/// Airtable's limit on records per write request.
const MAX_BATCH: usize = 10;

fn not_found() -> GatewayError {
    GatewayError::not_found("Could not find what you are looking for")
}

fn ids(base: &str, table: &str) -> Result<(BaseId, TableRef), GatewayError> {
    Ok((BaseId::parse(base).ok_or_else(not_found)?, TableRef::parse(table).ok_or_else(not_found)?))
}

fn record(id: &str) -> Result<RecordId, GatewayError> {
    RecordId::parse(id).ok_or_else(|| GatewayError::Invalid {
        status: StatusCode::NOT_FOUND,
        kind: "MODEL_ID_NOT_FOUND",
        message: format!("Could not find a record with ID \"{id}\"."),
    })
}

/// A parameter refused before going upstream, with Airtable's error type for it.
fn refuse(e: QueryError) -> GatewayError {
    GatewayError::Invalid { status: StatusCode::UNPROCESSABLE_ENTITY, kind: e.kind(), message: e.0 }
}

fn unknown_parameter(key: &str) -> GatewayError {
    refuse(QueryError(format!("Unknown parameter: {key}")))
}

fn strict(key: &str, _: &str) -> Result<(), QueryError> {
    Err(QueryError(format!("Unknown parameter: {key}")))
}

fn invalid_records(message: String) -> GatewayError {
    GatewayError::Invalid { status: StatusCode::UNPROCESSABLE_ENTITY, kind: "INVALID_RECORDS", message }
}

fn missing_field(name: &str) -> GatewayError {
    GatewayError::Invalid {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        kind: "INVALID_REQUEST_MISSING_FIELDS",
        message: format!("Could not find field \"{name}\" in the request body"),
    }
}

/// A write body of a shape Airtable accepts: an object with `fields`, or (batch routes) 1–10 `records`.
/// Checked here so a malformed write never spends one of the base's five requests a second.
fn checked(body: Bytes, batch: bool) -> Result<Bytes, GatewayError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|_| GatewayError::invalid("Invalid request: parameter validation failed. Check your request data."))?;
    let object = value.as_object().ok_or_else(|| GatewayError::invalid("The request body must be a JSON object"))?;
    match object.get("records") {
        Some(records) if batch => {
            let n = records.as_array().map(Vec::len).unwrap_or(0);
            if n == 0 || n > MAX_BATCH {
                return Err(invalid_records(format!(
                    "You must provide an array of up to {MAX_BATCH} record objects, got {n}"
                )));
            }
        }
        _ if object.contains_key("fields") => {}
        _ => return Err(missing_field(if batch { "records" } else { "fields" })),
    }
    Ok(body)
}
