//! Batch create / update / upsert / delete on /api/v1: any number of records (up to 1000), sent upstream
//! in Airtable's batches of ten, one after another through the limiter. If a batch fails, the ones before
//! it stay written, and the error says how many.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use platform::{ApiError, Caller, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{base_id, record_id, table_ref};
use crate::gateway::Gateway;
use crate::ids::{BaseId, TableRef};
use crate::requests;

/// Airtable's limit per request.
const CHUNK: usize = 10;
/// Ours per gateway call (100 upstream requests: 20 s at 5 requests/second).
pub const MAX_RECORDS: usize = 1000;

type Table = (String, String);
/// One upstream request of a batch: its query (deletes) and its JSON body (the others).
type Chunk = (Vec<(String, String)>, Option<Bytes>);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRecord {
    /// Required to update; optional in an upsert (then matched on `fieldsToMergeOn`).
    #[serde(default)]
    pub id: Option<String>,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Batch {
    #[schema(min_items = 1, max_items = 1000)]
    pub records: Vec<BatchRecord>,
    #[serde(default)]
    pub typecast: bool,
    /// Updates and upserts: replace whole records (PUT) instead of merging (PATCH).
    #[serde(default)]
    pub replace: bool,
    /// Upserts only: the 1–3 fields that identify a record.
    #[schema(min_items = 1, max_items = 3)]
    #[serde(default)]
    pub fields_to_merge_on: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDelete {
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<String>,
}

// What each batch operation takes, as the OpenAPI document describes it (the handlers read [`Batch`] and
// check the same rules).

/// An Airtable record id.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = "^rec[A-Za-z0-9]{14}$")]
#[allow(dead_code)]
pub struct AirtableRecordId(String);

/// A new record: its cells.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchNewRecord {
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// A record to update: its id and the cells to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchChangedRecord {
    #[schema(pattern = "^rec[A-Za-z0-9]{14}$")]
    id: String,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// A record to upsert: matched on `fieldsToMergeOn` (or by id, if given).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchUpsertRecord {
    #[schema(pattern = "^rec[A-Za-z0-9]{14}$")]
    #[serde(default)]
    id: Option<String>,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// `POST …/records/batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchCreate {
    #[schema(min_items = 1, max_items = 1000)]
    records: Vec<BatchNewRecord>,
    #[serde(default)]
    typecast: bool,
}

/// `PATCH …/records/batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchUpdate {
    #[schema(min_items = 1, max_items = 1000)]
    records: Vec<BatchChangedRecord>,
    #[serde(default)]
    typecast: bool,
    /// Replace whole records (PUT) instead of merging (PATCH).
    #[serde(default)]
    replace: bool,
}

/// `POST …/records/upsert`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchUpsert {
    #[schema(min_items = 1, max_items = 1000)]
    records: Vec<BatchUpsertRecord>,
    /// The 1–3 fields that identify a record.
    #[schema(min_items = 1, max_items = 3)]
    fields_to_merge_on: Vec<String>,
    #[serde(default)]
    typecast: bool,
    #[serde(default)]
    replace: bool,
}

/// `POST …/records/delete`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchDeleteDoc {
    #[schema(min_items = 1, max_items = 1000)]
    ids: Vec<AirtableRecordId>,
}

fn check_size(n: usize) -> Result<(), ApiError> {
    if n == 0 || n > MAX_RECORDS {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("A batch holds 1 to {MAX_RECORDS} records, not {n}"),
        ));
    }
    Ok(())
}

/// What the chunks returned, merged: `records`, and for upserts `createdRecords` / `updatedRecords`.
#[derive(Default)]
struct Merged {
    records: Vec<Value>,
    created: Vec<Value>,
    updated: Vec<Value>,
}

impl Merged {
    fn add(&mut self, answer: &Bytes) -> Result<(), ApiError> {
        let answer: Value = serde_json::from_slice(answer).map_err(|e| ApiError::Unexpected(e.into()))?;
        let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
        self.records.extend(list("records"));
        self.created.extend(list("createdRecords"));
        self.updated.extend(list("updatedRecords"));
        Ok(())
    }
}

/// Sends `bodies` (one per chunk) in order; stops at the first failure, saying how much was written.
async fn send_all(
    gateway: &Gateway,
    caller: &Caller,
    (base, table): (&BaseId, &TableRef),
    method: Method,
    chunks: Vec<Chunk>,
    total: usize,
) -> Result<Merged, ApiError> {
    let mut merged = Merged::default();
    for (query, body) in chunks {
        let write = requests::write(method.clone(), base, table, None, query, body);
        match gateway.write(caller, write).await {
            Ok(answer) => merged.add(&answer)?,
            Err(e) => return Err(partial(e.to_api_error(), merged.records.len(), total)),
        }
    }
    Ok(merged)
}

fn partial(error: ApiError, done: usize, total: usize) -> ApiError {
    if done == 0 {
        return error;
    }
    let note = format!(" ({done} of {total} records were written before this failure)");
    match error {
        ApiError::Client { status, code, message } => ApiError::Client { status, code, message: message + &note },
        ApiError::TooManyRequests { message, retry_after_secs } => {
            ApiError::TooManyRequests { message: message + &note, retry_after_secs }
        }
        other => other,
    }
}

fn chunk_bodies(batch: &Batch, with_ids: bool) -> Result<Vec<Chunk>, ApiError> {
    let mut chunks = Vec::new();
    for chunk in batch.records.chunks(CHUNK) {
        let mut records = Vec::with_capacity(chunk.len());
        for r in chunk {
            let mut record = json!({ "fields": r.fields });
            if let Some(id) = &r.id {
                record["id"] = Value::String(record_id(id)?.as_str().to_string());
            } else if with_ids {
                return Err(ApiError::bad_request("invalid_batch", "Every record to update needs an id"));
            }
            records.push(record);
        }
        let mut body = json!({ "records": records, "typecast": batch.typecast });
        if let Some(merge_on) = &batch.fields_to_merge_on {
            body["performUpsert"] = json!({ "fieldsToMergeOn": merge_on });
        }
        chunks.push((Vec::new(), Some(Bytes::from(body.to_string()))));
    }
    Ok(chunks)
}

/// Creates many records: `{records}` in the order given.
#[utoipa::path(post, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/batch", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body = BatchCreate,
    responses(
        (status = 201, description = "The created records"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_many(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<Table>,
    Json(batch): Json<Batch>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    check_size(batch.records.len())?;
    if batch.fields_to_merge_on.is_some() || batch.records.iter().any(|r| r.id.is_some()) {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "New records have no id (for an upsert, use /records/upsert)",
        ));
    }
    let merged =
        send_all(&gateway, &caller, (&base, &table), Method::POST, chunk_bodies(&batch, false)?, batch.records.len())
            .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "records": merged.records }))).into_response())
}

/// Updates many records by id: merges, or replaces with `replace: true`.
#[utoipa::path(patch, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/batch", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body = BatchUpdate,
    responses(
        (status = 200, description = "The updated records"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn update_many(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<Table>,
    Json(batch): Json<Batch>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    check_size(batch.records.len())?;
    if batch.fields_to_merge_on.is_some() {
        return Err(ApiError::bad_request("invalid_batch", "fieldsToMergeOn belongs to /records/upsert"));
    }
    let method = if batch.replace { Method::PUT } else { Method::PATCH };
    let merged =
        send_all(&gateway, &caller, (&base, &table), method, chunk_bodies(&batch, true)?, batch.records.len()).await?;
    Ok(axum::Json(json!({ "records": merged.records })).into_response())
}

/// Creates or updates records matched on `fieldsToMergeOn` (Airtable's `performUpsert`).
#[utoipa::path(post, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/upsert", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body = BatchUpsert,
    responses(
        (status = 200, description = "`{records, createdRecords, updatedRecords}`"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn upsert_many(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<Table>,
    Json(batch): Json<Batch>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    check_size(batch.records.len())?;
    if !batch.fields_to_merge_on.as_ref().is_some_and(|f| (1..=3).contains(&f.len())) {
        return Err(ApiError::bad_request("invalid_batch", "fieldsToMergeOn must name 1 to 3 fields"));
    }
    let method = if batch.replace { Method::PUT } else { Method::PATCH };
    let merged =
        send_all(&gateway, &caller, (&base, &table), method, chunk_bodies(&batch, false)?, batch.records.len()).await?;
    let answer =
        json!({ "records": merged.records, "createdRecords": merged.created, "updatedRecords": merged.updated });
    Ok(axum::Json(answer).into_response())
}

/// Deletes many records by id: `{records: [{id, deleted}]}`.
#[utoipa::path(post, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/delete", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body = BatchDeleteDoc,
    responses(
        (status = 200, description = "The deleted records"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn delete_many(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<Table>,
    Json(batch): Json<BatchDelete>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    check_size(batch.ids.len())?;
    let mut chunks = Vec::new();
    for chunk in batch.ids.chunks(CHUNK) {
        let query = chunk
            .iter()
            .map(|id| Ok(("records[]".to_string(), record_id(id)?.as_str().to_string())))
            .collect::<Result<Vec<_>, ApiError>>()?;
        chunks.push((query, None));
    }
    let merged = send_all(&gateway, &caller, (&base, &table), Method::DELETE, chunks, batch.ids.len()).await?;
    Ok(axum::Json(json!({ "records": merged.records })).into_response())
}
