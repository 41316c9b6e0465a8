//! Writes on the Airtable-compatible surface: Airtable's bodies, checked for shape, then passed through;
//! Airtable's answers (and errors) come back untouched.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{Answer, MAX_BATCH, checked, ids, invalid_records, missing_field, record, unknown_parameter};
use crate::gateway::{Gateway, Write};
use crate::query::parse_pairs;
use crate::requests;
use crate::routes::respond::json;

// The bodies, as the OpenAPI document describes them. The handlers check their shape (`checked`) and pass
// them through; Airtable judges the cells.

/// One record's cells: `{fields, typecast?, returnFieldsByFieldId?}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableRecordWrite {
    /// Cell values by field name or id.
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    /// Let Airtable convert values (and add select options; the base's cached schema is then dropped).
    #[serde(default)]
    typecast: Option<bool>,
    #[serde(default)]
    return_fields_by_field_id: Option<bool>,
}

/// A new record in a batch: `{fields}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableNewRecord {
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// Up to ten new records: `{records, typecast?, returnFieldsByFieldId?}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableNewRecords {
    #[schema(min_items = 1, max_items = 10)]
    records: Vec<AirtableNewRecord>,
    #[serde(default)]
    typecast: Option<bool>,
    #[serde(default)]
    return_fields_by_field_id: Option<bool>,
}

/// `POST /v0/{baseId}/{tableIdOrName}`: one record (`{fields}`) or up to ten (`{records}`).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum AirtableCreate {
    One(AirtableRecordWrite),
    Many(AirtableNewRecords),
}

/// A record of a batch update: its id (optional in an upsert) and the cells.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableRecordChange {
    #[schema(pattern = "^rec[A-Za-z0-9]{14}$")]
    #[serde(default)]
    id: Option<String>,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// Upsert: records are matched on these fields instead of by id.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtablePerformUpsert {
    #[schema(min_items = 1, max_items = 3)]
    fields_to_merge_on: Vec<String>,
}

/// `PATCH|PUT /v0/{baseId}/{tableIdOrName}`: up to ten records, by id or (with `performUpsert`) by fields.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AirtableRecordChanges {
    #[schema(min_items = 1, max_items = 10)]
    records: Vec<AirtableRecordChange>,
    #[serde(default)]
    perform_upsert: Option<AirtablePerformUpsert>,
    #[serde(default)]
    typecast: Option<bool>,
    #[serde(default)]
    return_fields_by_field_id: Option<bool>,
}

async fn write(gateway: &Gateway, caller: &Caller, write: Write) -> Answer {
    let answer = gateway.write(caller, write).await?;
    Ok(json(StatusCode::OK, answer))
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body(content = AirtableCreate, content_type = "application/json", description = "`{fields, typecast?}` or `{records}` (at most 10)"),
    responses(
        (status = 200, description = "The created record, or `{records}`"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
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
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body(content = AirtableRecordChanges, content_type = "application/json", description = "`{records, performUpsert?, typecast?}`"),
    responses(
        (status = 200, description = "`{records}` (+ createdRecords/updatedRecords for an upsert)"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
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
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    request_body(content = AirtableRecordChanges, content_type = "application/json", description = "`{records, performUpsert?, typecast?}`"),
    responses(
        (status = 200, description = "`{records}` (+ createdRecords/updatedRecords for an upsert)"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
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
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("records[]" = Vec<String>, Query, description = "1 to 10 record ids (rec…)"),
    ),
    responses(
        (status = 200, description = "`{records: [{id, deleted}]}`"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
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
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableRecordWrite, content_type = "application/json", description = "`{fields, typecast?}`"),
    responses(
        (status = 200, description = "The record, fields merged"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn patch_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    update_record(gateway, caller, Method::PATCH, path, body).await
}

#[utoipa::path(put, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableRecordWrite, content_type = "application/json", description = "`{fields, typecast?}`"),
    responses(
        (status = 200, description = "The record, fields replaced"),
        (status = 404, description = "No such base, table or record"),
        (status = 422, description = "A parameter or body Airtable refuses (with its error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn put_record(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    update_record(gateway, caller, Method::PUT, path, body).await
}

#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (not blank, no control characters)", min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "`{id, deleted: true}`"),
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
    Path((base, table, id)): Path<(String, String, String)>,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    write(&gateway, &caller, requests::write(Method::DELETE, &base, &table, Some(&id), Vec::new(), None)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use airtable_emulator::{DEV_TOKEN, Emulator};
    use axum::body::Body;
    use axum::http::Request;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;
    use platform::caller::AuthType;
    use secrecy::SecretString;
    use serde_json::json;
    use tower::ServiceExt;

    use super::*;
    use crate::{AirtableSettings, Metrics, PlatformCredential};

    /// On Lambda, API Gateway routes `/v0/{base}/{table}/` to the `/v0/{baseId}/{tableIdOrName}` resource and
    /// passes the path on as sent (with its slash): the function answers it as Airtable does.
    #[tokio::test]
    async fn airtable_js_trailing_slash_paths_are_served_as_on_lambda() {
        let running =
            airtable_emulator::spawn(Emulator::demo(DEV_TOKEN.into()), ([127, 0, 0, 1], 0).into()).await.unwrap();
        let settings = AirtableSettings::new(running.url(), Some(SecretString::from(DEV_TOKEN)));
        let cache = Arc::new(storage::cache::embedded::MemoryCache::new());
        let credentials = Arc::new(PlatformCredential::new(SecretString::from(DEV_TOKEN)));
        let gateway = Gateway::new(&settings, cache, "t-", credentials, Metrics::local()).unwrap();
        let (router, _) = crate::routes::router(gateway).split_for_parts();
        let app = platform::app::finish(router, &platform::config::HttpSettings::default());
        let caller = Caller {
            user_id: "usr-1".into(),
            tenant_id: "t1".into(),
            roles: vec!["member".into()],
            session_id: "s1".into(),
            auth_type: AuthType::ApiKey,
            plan: None,
            key_scope: platform::caller::KeyScope::default(),
        };
        let call = |method: &str, path: String, body: serde_json::Value| {
            let mut context = ApiGatewayProxyRequestContext::default();
            context.authorizer.fields = caller.to_context().into_iter().collect();
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            request.extensions_mut().insert(RequestContext::ApiGatewayV1(context));
            app.clone().oneshot(request)
        };
        let base = airtable_emulator::seed::DEMO_BASE;
        let created =
            call("POST", format!("/v0/{base}/Projects/"), json!({"fields": {"Name": "Slash"}})).await.unwrap();
        assert_eq!(created.status(), StatusCode::OK);
        let body = axum::body::to_bytes(created.into_body(), usize::MAX).await.unwrap();
        let id = serde_json::from_slice::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
        let patch = json!({"records": [{"id": id, "fields": {"Priority": 2}}]});
        assert_eq!(
            call("PATCH", format!("/v0/{base}/Projects/"), patch.clone()).await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(call("PUT", format!("/v0/{base}/Projects/"), patch).await.unwrap().status(), StatusCode::OK);
        let listed = call("POST", format!("/v0/{base}/Projects/listRecords"), json!({"method": "post", "pageSize": 1}));
        assert_eq!(listed.await.unwrap().status(), StatusCode::OK);
    }
}
