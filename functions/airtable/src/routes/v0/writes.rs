//! Writes on the Airtable-compatible surface: Airtable's bodies, checked for shape, then passed through;
//! Airtable's answers (and errors) come back untouched.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use serde_json::Value;

use super::{Answer, MAX_BATCH, checked, ids, invalid_records, missing_field, record, unknown_parameter};
use crate::gateway::{Gateway, Write};
use crate::query::parse_pairs;
use crate::requests;
use crate::routes::respond::json;

async fn write(gateway: &Gateway, caller: &Caller, write: Write) -> Answer {
    let answer = gateway.write(caller, write).await?;
    Ok(json(StatusCode::OK, answer))
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    request_body(content = String, content_type = "application/json", description = "`{fields}` or `{records}` (at most 10)"),
    responses((status = 200, description = "The created record, or `{records}`")))]
pub async fn create_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    let body = checked(body, true)?;
    write(&gateway, &caller, requests::write(Method::POST, &base, &table, None, Vec::new(), Some(body))).await
}

async fn update_records(
    gateway: Gateway,
    caller: Caller,
    method: Method,
    (base, table): (String, String),
    body: Bytes,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !value.get("records").is_some_and(Value::is_array) {
        return Err(missing_field("records").into());
    }
    let body = checked(body, true)?;
    write(&gateway, &caller, requests::write(method, &base, &table, None, Vec::new(), Some(body))).await
}

/// Updates up to 10 records (merging), or upserts them with `performUpsert`.
#[utoipa::path(patch, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    request_body(content = String, content_type = "application/json", description = "`{records, performUpsert?}`"),
    responses((status = 200, description = "`{records}` (+ createdRecords/updatedRecords for an upsert)")))]
pub async fn patch_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    update_records(gateway, caller, Method::PATCH, path, body).await
}

/// Replaces up to 10 records, or upserts them with `performUpsert`.
#[utoipa::path(put, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    request_body(content = String, content_type = "application/json", description = "`{records, performUpsert?}`"),
    responses((status = 200, description = "`{records}` (+ createdRecords/updatedRecords for an upsert)")))]
pub async fn put_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    update_records(gateway, caller, Method::PUT, path, body).await
}

/// Deletes up to 10 records named by `records[]`.
#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    responses((status = 200, description = "`{records: [{id, deleted}]}`")))]
pub async fn delete_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    let mut targets = Vec::new();
    for (key, value) in parse_pairs(query.as_deref()) {
        match key.as_str() {
            "records[]" | "records" => targets.push(("records[]".to_string(), record(&value)?.as_str().to_string())),
            _ => return Err(unknown_parameter(&key).into()),
        }
    }
    if targets.is_empty() || targets.len() > MAX_BATCH {
        return Err(invalid_records(format!("You must provide 1 to {MAX_BATCH} records[] to delete")).into());
    }
    write(&gateway, &caller, requests::write(Method::DELETE, &base, &table, None, targets, None)).await
}

async fn update_record(
    gateway: Gateway,
    caller: Caller,
    method: Method,
    (base, table, id): (String, String, String),
    body: Bytes,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    let body = checked(body, false)?;
    write(&gateway, &caller, requests::write(method, &base, &table, Some(&id), Vec::new(), Some(body))).await
}

#[utoipa::path(patch, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name"),
        ("recordId" = String, Path, description = "rec…")),
    request_body(content = String, content_type = "application/json", description = "`{fields, typecast?}`"),
    responses((status = 200, description = "The record, fields merged")))]
pub async fn patch_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    update_record(gateway, caller, Method::PATCH, path, body).await
}

#[utoipa::path(put, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name"),
        ("recordId" = String, Path, description = "rec…")),
    request_body(content = String, content_type = "application/json", description = "`{fields, typecast?}`"),
    responses((status = 200, description = "The record, fields replaced")))]
pub async fn put_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    update_record(gateway, caller, Method::PUT, path, body).await
}

#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name"),
        ("recordId" = String, Path, description = "rec…")),
    responses((status = 200, description = "`{id, deleted: true}`")))]
pub async fn delete_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, id)): Path<(String, String, String)>,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    write(&gateway, &caller, requests::write(Method::DELETE, &base, &table, Some(&id), Vec::new(), None)).await
}
