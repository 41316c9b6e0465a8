//! Meta writes, at Airtable's paths: create a table, update a table, create a field, update a field. Each
//! passes the limiter and invalidates the base's cached schema and the affected table's cached record reads
//! (a renamed field renames the cells of every record).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body::{chars, is_id, no_nulls, no_such, object, optional_chars, parse};
use super::{Answer, ids, not_found};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::ids::BaseId;
use crate::requests_more::{self, Call, send};
use crate::routes::respond::json;

/// Names of tables and fields, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Airtable's limit on a table's or field's description.
const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// A field type's name (`singleLineText`, `multipleAttachments`, …).
const MAX_TYPE_CHARS: usize = 64;

/// `POST /v0/meta/bases/{baseId}/tables`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirtableTableCreate {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    #[schema(max_length = 20000, nullable = false)]
    description: Option<String>,
    /// The table's fields; the first is its primary field. (Airtable allows 500 per table; the body limit
    /// bounds the count here.)
    #[schema(min_items = 1)]
    fields: Vec<AirtableFieldCreate>,
}

/// `POST …/tables/{tableIdOrName}/fields`, and each field of a new table.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirtableFieldCreate {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// Airtable's field type, e.g. `singleLineText`, `number`, `multipleAttachments`.
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 64)]
    kind: String,
    #[schema(max_length = 20000, nullable = false)]
    description: Option<String>,
    /// The type's options, as Airtable's field model defines them.
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)] // Airtable checks them; they go upstream as sent
    options: Option<Map<String, Value>>,
}

/// `PATCH /v0/meta/bases/{baseId}/tables/{tableIdOrName}`: at least one of the keys.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct AirtableTableUpdate {
    #[schema(min_length = 1, max_length = 255, nullable = false)]
    name: Option<String>,
    #[schema(max_length = 20000, nullable = false)]
    description: Option<String>,
    // Airtable's `dateDependencySettings` is not taken (the emulator cannot check it): README, "Not supported".
}

/// `PATCH …/tables/{tableIdOrName}/fields/{fieldId}`: at least one of the keys.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct AirtableFieldUpdate {
    #[schema(min_length = 1, max_length = 255, nullable = false)]
    name: Option<String>,
    #[schema(max_length = 20000, nullable = false)]
    description: Option<String>,
}

fn name(what: &str, value: &str) -> Result<(), GatewayError> {
    chars(what, value, 1, MAX_NAME_CHARS)
}

fn description(value: Option<&str>) -> Result<(), GatewayError> {
    optional_chars("description", value, 0, MAX_DESCRIPTION_CHARS)
}

fn field(spec: &AirtableFieldCreate) -> Result<(), GatewayError> {
    name("name", &spec.name)?;
    chars("type", &spec.kind, 1, MAX_TYPE_CHARS)?;
    description(spec.description.as_deref())
}

/// At least one key: an empty update would spend a request to change nothing.
fn not_empty(body: &[u8]) -> Result<(), GatewayError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) if object.is_empty() => {
            Err(GatewayError::invalid("The update names nothing to change"))
        }
        _ => Ok(()),
    }
}

async fn call(gateway: &Gateway, caller: &Caller, call: Call) -> Answer {
    Ok(json(StatusCode::OK, send(gateway, caller, call).await?))
}

#[utoipa::path(post, path = "/v0/meta/bases/{baseId}/tables", tag = "airtable-v0",
    params(("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$")),
    request_body(content = AirtableTableCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new table's model, as Airtable (the base's cached schema is invalidated)"),
        (status = 404, description = "No such base"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{name, description?, fields}` within its bounds, or Airtable refused it (a duplicate name, an unknown field type)"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_table(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(base): Path<String>,
    body: Bytes,
) -> Answer {
    let base = BaseId::parse(&base).ok_or_else(not_found)?;
    let table: AirtableTableCreate = parse(&body, &["name", "fields"], &[])?;
    let raw = object(&body)?;
    for spec in raw.get("fields").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object) {
        no_nulls(spec, &["options"])?;
    }
    name("name", &table.name)?;
    description(table.description.as_deref())?;
    if table.fields.is_empty() {
        return Err(GatewayError::invalid("A table needs at least one field").into());
    }
    table.fields.iter().try_for_each(field)?;
    call(&gateway, &caller, requests_more::create_table(&base).body(body)).await
}

#[utoipa::path(patch, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
    ),
    request_body(content = AirtableTableUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The table's model, as Airtable (the base's cached schema and the table's cached reads are invalidated)"),
        (status = 404, description = "No such base or table"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{name?, description?}` (at least one) within its bounds"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn update_table(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    let update: AirtableTableUpdate = parse(&body, &[], &[])?;
    not_empty(&body)?;
    if let Some(new_name) = update.name.as_deref() {
        name("name", new_name)?;
    }
    description(update.description.as_deref())?;
    call(&gateway, &caller, requests_more::update_table(&base, &table).body(body)).await
}

#[utoipa::path(post, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name (pyairtable sends either)", min_length = 1, max_length = 255),
    ),
    request_body(content = AirtableFieldCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new field's model, as Airtable (the base's cached schema and the table's cached reads are invalidated)"),
        (status = 404, description = "No such base or table"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{name, type, description?, options?}` within its bounds, or Airtable refused it"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_field(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    let spec: AirtableFieldCreate = parse(&body, &["name", "type"], &["options"])?;
    field(&spec)?;
    call(&gateway, &caller, requests_more::write_field(&base, &table, None).body(body)).await
}

#[utoipa::path(patch, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
        ("fieldId" = String, Path, description = "The field (fld…)", pattern = "^fld[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableFieldUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The field's model, as Airtable (the base's cached schema and the table's cached reads are invalidated)"),
        (status = 404, description = "No such base, table or field"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{name?, description?}` (at least one) within its bounds"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn update_field(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, field_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let (base, table) = ids(&base, &table)?;
    if !is_id("fld", &field_id) {
        return Err(no_such("field", &field_id).into());
    }
    let update: AirtableFieldUpdate = parse(&body, &[], &[])?;
    not_empty(&body)?;
    if let Some(new_name) = update.name.as_deref() {
        name("name", new_name)?;
    }
    description(update.description.as_deref())?;
    call(&gateway, &caller, requests_more::write_field(&base, &table, Some(&field_id)).body(body)).await
}
