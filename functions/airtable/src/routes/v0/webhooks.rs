//! Airtable's webhooks API, at its paths: list, create, delete, refresh, enable/disable notifications, list
//! payloads. Nothing is cached (a webhook's payloads are a cursor-driven stream); every call passes the
//! limiter — Airtable counts webhook calls against the base's five requests a second.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::{chars, is_id, no_such, params, parse, whole};
use super::{Answer, not_found};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::ids::BaseId;
use crate::requests_more::{self, Call, send};
use crate::routes::respond::json;

/// Payloads per page: Airtable's maximum (and default).
const MAX_PAYLOADS: u64 = 50;
/// The largest payload cursor accepted.
const MAX_CURSOR: u64 = i32::MAX as u64;
/// The longest notification URL forwarded.
const MAX_URL_CHARS: usize = 2048;

/// `POST /v0/bases/{baseId}/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirtableWebhookCreate {
    /// Where Airtable pings when a change matches (optional: payloads can be polled instead).
    #[schema(max_length = 2048, pattern = "^https?://")]
    notification_url: Option<String>,
    specification: AirtableWebhookSpecification,
}

/// What the webhook watches.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirtableWebhookSpecification {
    options: AirtableWebhookOptions,
}

/// Airtable's webhook options: `filters.dataTypes` is checked; the rest (`includes`, `filters.recordChangeScope`,
/// …) passes as sent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AirtableWebhookOptions {
    filters: AirtableWebhookFilters,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirtableWebhookFilters {
    /// The kinds of change to watch.
    #[schema(min_items = 1, max_items = 3)]
    data_types: Vec<AirtableWebhookDataType>,
}

/// `tableData` (records), `tableFields` (fields), `tableMetadata` (table names and descriptions).
#[derive(Debug, Deserialize, ToSchema)]
pub enum AirtableWebhookDataType {
    #[serde(rename = "tableData")]
    Data,
    #[serde(rename = "tableFields")]
    Fields,
    #[serde(rename = "tableMetadata")]
    Metadata,
}

/// `POST …/{webhookId}/enableNotifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirtableWebhookNotifications {
    /// Turn notification pings on or off.
    #[allow(dead_code)] // checked by deserialising; the body goes upstream as sent
    enable: bool,
}

fn base(raw: &str) -> Result<BaseId, GatewayError> {
    BaseId::parse(raw).ok_or_else(not_found)
}

fn webhook(raw: &str) -> Result<&str, GatewayError> {
    if is_id("ach", raw) { Ok(raw) } else { Err(no_such("webhook", raw)) }
}

async fn call(gateway: &Gateway, caller: &Caller, call: Call) -> Answer {
    Ok(json(StatusCode::OK, send(gateway, caller, call).await?))
}

#[utoipa::path(get, path = "/v0/bases/{baseId}/webhooks", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$")),
    responses(
        (status = 200, description = "`{webhooks}`, as Airtable (not cached)"),
        (status = 404, description = "No such base"),
        (status = 422, description = "A query parameter (this operation takes none)"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_webhooks(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(base_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let base = base(&base_id)?;
    params(query.as_deref(), &[])?;
    call(&gateway, &caller, requests_more::webhooks(Method::GET, &base, None, None)).await
}

#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$")),
    request_body(content = AirtableWebhookCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "`{id, macSecretBase64, expirationTime}`, as Airtable"),
        (status = 404, description = "No such base"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{notificationUrl?, specification: {options: {filters: {dataTypes}}}}`, or the base has too many webhooks"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_webhook(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(base_id): Path<String>,
    body: Bytes,
) -> Answer {
    let base = base(&base_id)?;
    let create: AirtableWebhookCreate = parse(&body, &["specification"], &["notificationUrl"])?;
    if let Some(url) = create.notification_url.as_deref() {
        chars("notificationUrl", url, 1, MAX_URL_CHARS)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(GatewayError::invalid("notificationUrl must be an http(s) URL").into());
        }
    }
    let kinds = create.specification.options.filters.data_types.len();
    if !(1..=3).contains(&kinds) {
        return Err(GatewayError::invalid("specification.options.filters.dataTypes must name 1 to 3 data types").into());
    }
    call(&gateway, &caller, requests_more::webhooks(Method::POST, &base, None, None).body(body)).await
}

#[utoipa::path(delete, path = "/v0/bases/{baseId}/webhooks/{webhookId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("webhookId" = String, Path, description = "The webhook (ach…)", pattern = "^ach[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "Empty, as Airtable"),
        (status = 404, description = "No such base or webhook"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn delete_webhook(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base_id, webhook_id)): Path<(String, String)>,
) -> Answer {
    let (base, id) = (base(&base_id)?, webhook(&webhook_id)?);
    call(&gateway, &caller, requests_more::webhooks(Method::DELETE, &base, Some(id), None)).await
}

/// Extends the webhook's life by seven days (a body, if any, is ignored, as Airtable ignores it).
#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks/{webhookId}/refresh", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("webhookId" = String, Path, description = "The webhook (ach…)", pattern = "^ach[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "`{expirationTime}`, as Airtable"),
        (status = 404, description = "No such base or webhook"),
        (status = 413, description = "A body larger than MAX_BODY_BYTES"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn refresh_webhook(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base_id, webhook_id)): Path<(String, String)>,
) -> Answer {
    let (base, id) = (base(&base_id)?, webhook(&webhook_id)?);
    call(&gateway, &caller, requests_more::webhooks(Method::POST, &base, Some(id), Some("refresh"))).await
}

#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks/{webhookId}/enableNotifications", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("webhookId" = String, Path, description = "The webhook (ach…)", pattern = "^ach[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableWebhookNotifications, content_type = "application/json"),
    responses(
        (status = 200, description = "Empty, as Airtable"),
        (status = 404, description = "No such base or webhook"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{enable: boolean}`"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn enable_notifications(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base_id, webhook_id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (base, id) = (base(&base_id)?, webhook(&webhook_id)?);
    let _: AirtableWebhookNotifications = parse(&body, &["enable"], &[])?;
    let call_ = requests_more::webhooks(Method::POST, &base, Some(id), Some("enableNotifications")).body(body);
    call(&gateway, &caller, call_).await
}

#[utoipa::path(get, path = "/v0/bases/{baseId}/webhooks/{webhookId}/payloads", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("webhookId" = String, Path, description = "The webhook (ach…)", pattern = "^ach[A-Za-z0-9]{14}$"),
        ("cursor" = Option<u64>, Query, description = "The first payload's number (from 1)", minimum = 1, maximum = 2147483647),
        ("limit" = Option<u64>, Query, description = "Payloads per page (default and maximum 50)", minimum = 1, maximum = 50),
    ),
    responses(
        (status = 200, description = "`{cursor, mightHaveMore, payloads}`, as Airtable (not cached)"),
        (status = 404, description = "No such base or webhook"),
        (status = 422, description = "An unknown, repeated or out-of-range parameter"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_payloads(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base_id, webhook_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let (base, id) = (base(&base_id)?, webhook(&webhook_id)?);
    let found = params(query.as_deref(), &["cursor", "limit"])?;
    let mut upstream = Vec::new();
    if let Some(raw) = found.get("cursor") {
        upstream.push(("cursor".to_string(), whole("cursor", raw, 1, MAX_CURSOR)?.to_string()));
    }
    if let Some(raw) = found.get("limit") {
        upstream.push(("limit".to_string(), whole("limit", raw, 1, MAX_PAYLOADS)?.to_string()));
    }
    let payloads = requests_more::webhooks(Method::GET, &base, Some(id), Some("payloads")).query(upstream);
    call(&gateway, &caller, payloads).await
}
