//! The platform's own surface, `/api/v1/airtable/…` (the seed's nine routes): Airtable's JSON in the
//! answers, the platform's error shape in failures, `X-Cache` on every read.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use platform::{ApiError, Caller, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::respond::{cached_json, freshness, json as json_response};
use super::v0::reads::AirtableRecordMetadata;
use super::{base_id, record_id, table_ref};
use crate::gateway::Gateway;
use crate::query::{ListQuery, QueryError, RenderOptions, parse_pairs};
use crate::{formula, requests};

type Table = (String, String);
type Record = (String, String, String);

fn invalid_query(e: QueryError) -> ApiError {
    ApiError::bad_request("invalid_query", e.0)
}

/// The bases linked in the caller's tenant that it may reach: Airtable's `{bases, offset?}`.
#[utoipa::path(get, path = "/api/v1/airtable/bases", tag = "airtable",
    params(
        ("offset" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "Airtable's `{bases, offset?}`", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_bases(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let offset = parse_pairs(query.as_deref())
        .into_iter()
        .find(|(k, _)| k == "offset")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let outcome = gateway.bases_page(&caller, offset, freshness(&headers)).await.map_err(|e| e.to_api_error())?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

/// One base (`{id, name, permissionLevel}`), from the cached list of bases.
#[utoipa::path(get, path = "/api/v1/airtable/bases/{baseId}", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "The base (`{id, name, permissionLevel}`)", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn get_base(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path(base): Path<String>,
) -> Result<Response, ApiError> {
    let base = base_id(&base)?;
    let mut offset = None;
    // Airtable pages bases by the thousand: a handful of pages at most.
    for _ in 0..20 {
        let outcome = gateway.bases_page(&caller, offset, freshness(&headers)).await.map_err(|e| e.to_api_error())?;
        let page: Value = serde_json::from_slice(&outcome.body).map_err(|e| ApiError::Unexpected(e.into()))?;
        let found = page["bases"].as_array().into_iter().flatten().find(|b| b["id"] == base.as_str());
        if let Some(found) = found {
            return Ok(cached_json(&outcome, Bytes::from(found.to_string())));
        }
        match page["offset"].as_str() {
            Some(next) => offset = Some(next.to_string()),
            None => break,
        }
    }
    Err(ApiError::not_found(format!("No base {base}")))
}

/// A base's tables with their fields and views: Airtable's `{tables}`.
#[utoipa::path(get, path = "/api/v1/airtable/bases/{baseId}/tables", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "The base's schema: Airtable's `{tables}`", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_tables(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path(base): Path<String>,
) -> Result<Response, ApiError> {
    let base = base_id(&base)?;
    let outcome = gateway
        .read(&caller, requests::schema(&base, Vec::new()), freshness(&headers))
        .await
        .map_err(|e| e.to_api_error())?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

/// One table's schema, by id or by name.
#[utoipa::path(get, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    responses(
        (status = 200, description = "The table", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn get_table(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table)): Path<Table>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    let outcome = gateway
        .read(&caller, requests::schema(&base, Vec::new()), freshness(&headers))
        .await
        .map_err(|e| e.to_api_error())?;
    let schema: Value = serde_json::from_slice(&outcome.body).map_err(|e| ApiError::Unexpected(e.into()))?;
    let found = schema["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| table.names(t["id"].as_str().unwrap_or_default(), t["name"].as_str().unwrap_or_default()));
    match found {
        Some(found) => Ok(cached_json(&outcome, Bytes::from(found.to_string()))),
        None => Err(ApiError::not_found(format!("No table {table} in base {base}"))),
    }
}

/// Lists records with every parameter Airtable takes, plus `filter[Field]=value` (exact matches,
/// combined with `filterByFormula`; values are escaped, so they cannot alter the formula).
#[utoipa::path(get, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("pageSize" = Option<u32>, Query, description = "Records per page", minimum = 1, maximum = 100),
        ("maxRecords" = Option<u32>, Query, description = "Cap over all pages", minimum = 1),
        ("offset" = Option<String>, Query, description = "From the previous page"),
        ("view" = Option<String>, Query, description = "A view's name or id"),
        ("fields[]" = Option<Vec<String>>, Query, description = "Fields to return"),
        ("sort[0][field]" = Option<String>, Query, description = "Sort field (more: sort[1]…)"),
        ("sort[0][direction]" = Option<String>, Query, description = "`asc` (default) or `desc`", pattern = "^(asc|desc)$"),
        ("filterByFormula" = Option<String>, Query, description = "An Airtable formula; with the filter[…] conditions at most 16384 characters", max_length = 16384),
        ("recordMetadata[]" = Option<Vec<AirtableRecordMetadata>>, Query, description = "`commentCount`"),
        ("cellFormat" = Option<String>, Query, description = "`json` (default) or `string` (then timeZone and userLocale are required)", pattern = "^(json|string)$"),
        ("timeZone" = Option<String>, Query, description = "For cellFormat=string, e.g. `Europe/Paris`"),
        ("userLocale" = Option<String>, Query, description = "For cellFormat=string, e.g. `en-gb`"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "Key fields by id instead of name"),
        ("filter[Field]" = Option<String>, Query, description = "Exact match on a field (any field name in the brackets), combined with filterByFormula"),
    ),
    responses(
        (status = 200, description = "Airtable's `{records, offset?}`", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table)): Path<Table>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    let mut matches = Vec::new();
    let mut list = ListQuery::from_pairs(&parse_pairs(query.as_deref()), |key, value| {
        let field = key.strip_prefix("filter[").and_then(|k| k.strip_suffix(']'));
        match field {
            Some(field) if !field.is_empty() => {
                matches.push((field.to_string(), value.to_string()));
                Ok(())
            }
            _ => Err(QueryError(format!("unknown parameter {key}"))),
        }
    })
    .map_err(invalid_query)?;
    if list.max_records == Some(0) {
        return Err(invalid_query(QueryError("maxRecords must be at least 1".into())));
    }
    list.filter_by_formula = formula::both(list.filter_by_formula.as_deref(), formula::all_equal(&matches));
    crate::query::check_formula(list.filter_by_formula.as_deref()).map_err(invalid_query)?;
    let outcome = gateway
        .read(&caller, requests::records(&base, &table, &list), freshness(&headers))
        .await
        .map_err(|e| e.to_api_error())?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// Cell values by field name (or field id).
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Let Airtable convert values (for example, create missing select options).
    #[serde(default)]
    pub typecast: bool,
}

/// Creates one record: Airtable's record, 201.
#[utoipa::path(post, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body = NewRecord,
    responses(
        (status = 201, description = "The created record"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<Table>,
    Json(input): Json<NewRecord>,
) -> Result<Response, ApiError> {
    let (base, table) = (base_id(&base)?, table_ref(&table)?);
    let body = json!({ "fields": input.fields, "typecast": input.typecast });
    let write = requests::write(Method::POST, &base, &table, None, Vec::new(), Some(Bytes::from(body.to_string())));
    let created = gateway.write(&caller, write).await.map_err(|e| e.to_api_error())?;
    Ok(json_response(StatusCode::CREATED, created))
}

/// One record (`cellFormat`, `timeZone`, `userLocale`, `returnFieldsByFieldId` apply).
#[utoipa::path(get, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("cellFormat" = Option<String>, Query, description = "`json` (default) or `string` (then timeZone and userLocale are required)", pattern = "^(json|string)$"),
        ("timeZone" = Option<String>, Query, description = "For cellFormat=string, e.g. `Europe/Paris`"),
        ("userLocale" = Option<String>, Query, description = "For cellFormat=string, e.g. `en-gb`"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "Key fields by id instead of name"),
    ),
    responses(
        (status = 200, description = "The record", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn get_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table, record)): Path<Record>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (base, table, record) = (base_id(&base)?, table_ref(&table)?, record_id(&record)?);
    let render = RenderOptions::from_pairs(&parse_pairs(query.as_deref())).map_err(invalid_query)?;
    let read = requests::record(&base, &table, &record, &render);
    let outcome = gateway.read(&caller, read, freshness(&headers)).await.map_err(|e| e.to_api_error())?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordChanges {
    /// The cells to change.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub typecast: bool,
    /// Clear every cell not named in `fields` (Airtable's PUT) instead of merging (PATCH).
    #[serde(default)]
    pub replace: bool,
}

/// Updates one record: merges `fields` (or replaces the record with `replace: true`).
#[utoipa::path(patch, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    request_body = RecordChanges,
    responses(
        (status = 200, description = "The updated record"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn update_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, record)): Path<Record>,
    Json(input): Json<RecordChanges>,
) -> Result<Response, ApiError> {
    let (base, table, record) = (base_id(&base)?, table_ref(&table)?, record_id(&record)?);
    let method = if input.replace { Method::PUT } else { Method::PATCH };
    let body = json!({ "fields": input.fields, "typecast": input.typecast });
    let write = requests::write(method, &base, &table, Some(&record), Vec::new(), Some(Bytes::from(body.to_string())));
    let updated = gateway.write(&caller, write).await.map_err(|e| e.to_api_error())?;
    Ok(json_response(StatusCode::OK, updated))
}

/// Deletes one record: `{id, deleted: true}`.
#[utoipa::path(delete, path = "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableId" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "`{id, deleted: true}`"),
        (status = 400, description = "An invalid id, parameter or body"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn delete_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, record)): Path<Record>,
) -> Result<Response, ApiError> {
    let (base, table, record) = (base_id(&base)?, table_ref(&table)?, record_id(&record)?);
    let write = requests::write(Method::DELETE, &base, &table, Some(&record), Vec::new(), None);
    let deleted = gateway.write(&caller, write).await.map_err(|e| e.to_api_error())?;
    Ok(json_response(StatusCode::OK, deleted))
}
