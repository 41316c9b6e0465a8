//! Reads on the Airtable-compatible surface: through the cache, with `X-Cache` on every answer.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use platform::Caller;
use serde_json::{Value, json};

use super::{Answer, ids, not_found, record, refuse, strict, unknown_parameter};
use crate::gateway::Gateway;
use crate::ids::{BaseId, TableRef};
use crate::query::{ListQuery, RenderOptions, parse_pairs};
use crate::requests;
use crate::routes::respond::{cached_json, freshness};

/// `GET /v0/meta/whoami`: the platform user behind the bearer (the gateway's own credential stays private).
#[utoipa::path(get, path = "/v0/meta/whoami", tag = "airtable-v0", responses((status = 200, description = "`{id, scopes}`")))]
pub async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({ "id": caller.user_id, "scopes": ["data.records:read", "data.records:write", "schema.bases:read"] }))
}

#[utoipa::path(get, path = "/v0/meta/bases", tag = "airtable-v0", responses((status = 200, description = "`{bases, offset?}`")))]
pub async fn bases(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let mut offset = None;
    for (key, value) in parse_pairs(query.as_deref()) {
        match key.as_str() {
            "offset" => offset = Some(value),
            _ => return Err(unknown_parameter(&key).into()),
        }
    }
    let outcome = gateway.read(&caller, requests::bases(offset), freshness(&headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[utoipa::path(get, path = "/v0/meta/bases/{baseId}/tables", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…")), responses((status = 200, description = "`{tables}`")))]
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
    let outcome = gateway.read(caller, requests::records(&base, &table, &query), freshness(headers)).await?;
    Ok(cached_json(&outcome, outcome.body.clone()))
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    responses((status = 200, description = "`{records, offset?}`, as Airtable")))]
pub async fn list_records(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let ids = ids(&base, &table)?;
    let query = ListQuery::from_pairs(&parse_pairs(query.as_deref()), strict).map_err(refuse)?;
    list(&gateway, &caller, &headers, ids, query).await
}

/// What pyairtable and airtable.js switch to when a GET's URL would be too long: the same list, same cache.
#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}/listRecords", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name")),
    request_body(content = String, content_type = "application/json", description = "Airtable's listRecords body"),
    responses((status = 200, description = "`{records, offset?}`, as Airtable")))]
pub async fn list_records_post(
    State(gateway): State<Gateway>,
    caller: Caller,
    headers: HeaderMap,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Answer {
    let ids = ids(&base, &table)?;
    let query = ListQuery::from_json(&body, &parse_pairs(query.as_deref())).map_err(refuse)?;
    list(&gateway, &caller, &headers, ids, query).await
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "app…"), ("tableIdOrName" = String, Path, description = "tbl… or the table's name"),
        ("recordId" = String, Path, description = "rec…")),
    responses((status = 200, description = "The record")))]
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
