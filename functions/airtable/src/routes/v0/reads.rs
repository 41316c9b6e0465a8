//! Reads on the Airtable-compatible surface: through the cache, with `X-Cache` on every answer.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Answer, ids, not_found, record, refuse, strict, unknown_parameter};
use crate::gateway::Gateway;
use crate::ids::{BaseId, TableRef};
use crate::query::{ListQuery, RenderOptions, parse_pairs};
use crate::requests;
use crate::routes::respond::{cached_json, freshness};

/// `GET /v0/meta/whoami`: the platform user behind the bearer and the Airtable scopes its permissions amount
/// to over the bases it reaches (no connection's credential shows).
#[utoipa::path(get, path = "/v0/meta/whoami", tag = "airtable-v0",
    responses(
        (status = 200, description = "`{id, scopes}`: the platform user behind the bearer"),
        (status = 503, description = "The platform's storage is unavailable"),
    ))]
pub async fn whoami(State(gateway): State<Gateway>, caller: Caller) -> Answer {
    let bases = gateway.visible_bases(&caller).await?.unwrap_or_default();
    let all = bases.iter().fold(access::Permissions::default(), |all, b| all | b.permissions);
    Ok(Json(json!({ "id": caller.user_id, "scopes": crate::credentials::airtable_scopes(all) })).into_response())
}

#[utoipa::path(get, path = "/v0/meta/bases", tag = "airtable-v0",
    params(
        ("offset" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "`{bases, offset?}`", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn bases(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let mut offset = None;
    for (key, value) in parse_pairs(query.as_deref()) {
        match key.as_str() {
            // An empty offset is the first page, as for records.
            "offset" => offset = Some(value).filter(|v| !v.is_empty()),
            _ => return Err(unknown_parameter(&key).into()),
        }
    }
    let outcome = gateway.bases_page(&caller, offset, freshness(&headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[utoipa::path(get, path = "/v0/meta/bases/{baseId}/tables", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("include[]" = Option<Vec<String>>, Query, description = "e.g. `visibleFieldIds`"),
    ),
    responses(
        (status = 200, description = "`{tables}`", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn tables(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path(base): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let base = BaseId::parse(&base).ok_or_else(not_found)?;
    let pairs = parse_pairs(query.as_deref());
    if let Some((key, _)) = pairs.iter().find(|(k, _)| k != "include[]" && k != "include") {
        return Err(unknown_parameter(key).into());
    }
    let pairs = pairs.into_iter().map(|(_, v)| ("include[]".to_string(), v)).collect();
    let outcome = gateway.read(&caller, requests::schema(&base, pairs), freshness(&headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

async fn list(
    gateway: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    (base, table): (BaseId, TableRef),
    query: ListQuery,
) -> Answer {
    if query.max_records == Some(0) {
        return Err(refuse(crate::query::QueryError("maxRecords must be at least 1".into())).into());
    }
    let outcome = gateway.read(caller, requests::records(&base, &table, &query), freshness(headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("pageSize" = Option<u32>, Query, description = "Records per page", minimum = 1, maximum = 100),
        ("maxRecords" = Option<u32>, Query, description = "Cap over all pages", minimum = 1),
        ("offset" = Option<String>, Query, description = "From the previous page"),
        ("view" = Option<String>, Query, description = "A view's name or id"),
        ("fields[]" = Option<Vec<String>>, Query, description = "Fields to return"),
        ("sort[0][field]" = Option<String>, Query, description = "Sort field (more: sort[1]…)"),
        ("sort[0][direction]" = Option<String>, Query, description = "`asc` (default) or `desc`", pattern = "^(asc|desc)$"),
        ("filterByFormula" = Option<String>, Query, description = "An Airtable formula", max_length = 16384),
        ("recordMetadata[]" = Option<Vec<AirtableRecordMetadata>>, Query, description = "`commentCount`"),
        ("cellFormat" = Option<String>, Query, description = "`json` (default) or `string` (then timeZone and userLocale are required)", pattern = "^(json|string)$"),
        ("timeZone" = Option<String>, Query, description = "For cellFormat=string, e.g. `Europe/Paris`"),
        ("userLocale" = Option<String>, Query, description = "For cellFormat=string, e.g. `en-gb`"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "Key fields by id instead of name"),
        ("method" = Option<String>, Query, description = "airtable.js's `select({method})` option, sent along; ignored", pattern = "^([Gg][Ee][Tt]|[Pp][Oo][Ss][Tt])$"),
    ),
    responses(
        (status = 200, description = "`{records, offset?}`, as Airtable", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
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
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let ids = ids(&base, &table)?;
    // airtable.js's `select({method: 'get'})` sends its `method` option along; Airtable ignores it.
    let mut pairs = parse_pairs(query.as_deref());
    pairs.retain(|(key, value)| !(key == "method" && is_airtable_js_method(value)));
    let query = ListQuery::from_pairs(&pairs, strict).map_err(refuse)?;
    list(&gateway, &caller, &headers, ids, query).await
}

/// What pyairtable and airtable.js switch to when a GET's URL would be too long: the same list, same cache.
#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}/listRecords", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("timeZone" = Option<String>, Query, description = "As in the body (pyairtable sends it here)"),
        ("userLocale" = Option<String>, Query, description = "As in the body (pyairtable sends it here)"),
    ),
    request_body(content = AirtableListRecords, content_type = "application/json", description = "Airtable's listRecords body (airtable.js's `method` key is ignored)"),
    responses(
        (status = 200, description = "`{records, offset?}`, as Airtable", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it and no cached copy can answer", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_records_post(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Answer {
    let ids = ids(&base, &table)?;
    let body = without_method(body);
    let query = ListQuery::from_json(&body, &parse_pairs(query.as_deref())).map_err(refuse)?;
    list(&gateway, &caller, &headers, ids, query).await
}

/// What `recordMetadata[]` may ask for.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub enum AirtableRecordMetadata {
    /// Each record's number of comments.
    #[serde(rename = "commentCount")]
    CommentCount,
}

/// A sort entry of a listRecords body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableSort {
    field: String,
    #[schema(pattern = "^(asc|desc)$")]
    #[serde(default)]
    direction: Option<String>,
}

/// `POST …/listRecords`: the list parameters as JSON (the OpenAPI document's view of it).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableListRecords {
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default)]
    page_size: Option<u32>,
    #[schema(minimum = 1)]
    #[serde(default)]
    max_records: Option<u32>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    sort: Option<Vec<AirtableSort>>,
    #[serde(default)]
    view: Option<String>,
    #[schema(max_length = 16384)]
    #[serde(default)]
    filter_by_formula: Option<String>,
    /// `json` (default) or `string` (then timeZone and userLocale are required).
    #[schema(pattern = "^(json|string)$")]
    #[serde(default)]
    cell_format: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    user_locale: Option<String>,
    #[serde(default)]
    return_fields_by_field_id: Option<bool>,
    #[serde(default)]
    record_metadata: Option<Vec<AirtableRecordMetadata>>,
    /// airtable.js's `select({method})`, sent along; ignored.
    #[schema(pattern = "^([Gg][Ee][Tt]|[Pp][Oo][Ss][Tt])$")]
    #[serde(default)]
    method: Option<String>,
}

/// The values airtable.js's `select()` accepts for its `method` option.
fn is_airtable_js_method(value: &str) -> bool {
    value.eq_ignore_ascii_case("get") || value.eq_ignore_ascii_case("post")
}

/// airtable.js's `select({method: 'post'})` sends its `method` option inside the body; Airtable ignores it.
/// Any other body is left for the parser to judge.
fn without_method(body: Bytes) -> Bytes {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let ignored = match object.get("method") {
        Some(Value::Null) => true,
        Some(Value::String(verb)) => is_airtable_js_method(verb),
        _ => false,
    };
    if !ignored {
        return body;
    }
    object.remove("method");
    Bytes::from(Value::Object(object).to_string())
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("cellFormat" = Option<String>, Query, description = "`json` (default) or `string` (then timeZone and userLocale are required)", pattern = "^(json|string)$"),
        ("timeZone" = Option<String>, Query, description = "For cellFormat=string, e.g. `Europe/Paris`"),
        ("userLocale" = Option<String>, Query, description = "For cellFormat=string, e.g. `en-gb`"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "Key fields by id instead of name"),
    ),
    responses(
        (status = 200, description = "The record", headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"))),
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
    Path((base, table, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    let render = RenderOptions::from_pairs(&parse_pairs(query.as_deref())).map_err(refuse)?;
    let outcome = gateway.read(&caller, requests::record(&base, &table, &id, &render), freshness(&headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}
