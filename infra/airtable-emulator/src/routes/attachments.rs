//! `POST /v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment` (Airtable serves it on
//! content.airtable.com) — `{contentType, file (base64), filename}`, at most 5 MB decoded — and
//! `GET /_emulator/attachments/{id}/{filename}`, which serves an uploaded file back.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::writes::parse_required;
use crate::attachments::{MAX_UPLOAD, Stored};
use crate::auth::TokenGrant;
use crate::error::{AirtableError, AirtableResult};
use crate::ids::new_id;
use crate::model::FieldType;
use crate::state::Emulator;
use crate::webhooks::Change;

/// The largest upload request body: 5 MB in base64 (4/3) with line breaks (pyairtable wraps at 76) fits in
/// 7.2 million characters (what the gateway lets through), plus the JSON around it.
pub const MAX_BODY: usize = 7_200_000 + 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UploadBody {
    content_type: String,
    file: String,
    filename: String,
}

fn invalid(message: &str) -> AirtableError {
    AirtableError::invalid("INVALID_REQUEST_UNKNOWN", message)
}

pub async fn upload(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, record, field)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> AirtableResult<Json<Value>> {
    let too_large = || AirtableError::too_large(format!("The file must be at most {MAX_UPLOAD} bytes"));
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => AirtableError::invalid_request(),
    })?;
    let body: UploadBody = parse_required(&body, &["contentType", "file", "filename"])?;
    if body.filename.trim().is_empty() || body.filename.len() > 255 || body.filename.contains('/') {
        return Err(invalid("filename must be a non-empty file name"));
    }
    let printable = body.content_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if !printable || body.content_type.len() > 255 || !body.content_type.contains('/') {
        return Err(invalid("contentType must be a MIME type, e.g. \"image/jpeg\""));
    }
    // pyairtable sends base64 with line breaks (`base64.encodebytes`); they are not part of the data.
    let compact: Vec<u8> = body.file.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.len() / 4 * 3 > MAX_UPLOAD + 3 {
        return Err(too_large());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| invalid("file must be base64-encoded"))?;
    if bytes.len() > MAX_UPLOAD {
        return Err(too_large());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let id = new_id("att");
    let filename = body.filename.trim().to_string();
    let encoded: String = form_urlencoded::byte_serialize(filename.as_bytes()).collect();
    let attachment = json!({
        "id": id,
        "url": format!("http://{host}/_emulator/attachments/{id}/{encoded}"),
        "filename": filename,
        "size": bytes.len(),
        "type": body.content_type,
    });
    let mut world = emulator.world();
    let world = &mut *world;
    let base = world.base_mut(&grant.bases, &base)?;
    let table = base.table_of_record_mut(&record)?;
    let target = table.field(&field).ok_or_else(|| AirtableError::unknown_field(&field))?;
    if target.kind != FieldType::MultipleAttachments {
        return Err(AirtableError::invalid(
            "INVALID_VALUE_FOR_COLUMN",
            format!("Field \"{}\" is not an attachment field", target.name),
        ));
    }
    let field_id = target.id.clone();
    let table_id = table.id.clone();
    let index = table.record_index(&record)?;
    let entry = &mut table.records[index];
    let before = entry.cells.clone();
    let cell = entry.cells.entry(field_id.clone()).or_insert_with(|| json!([]));
    match cell.as_array_mut() {
        Some(list) => list.push(attachment),
        None => *cell = json!([attachment]),
    }
    let answer = json!({
        "id": entry.id,
        "createdTime": entry.created_time,
        "fields": { field_id.clone(): entry.cells.get(&field_id).cloned().unwrap_or(Value::Null) },
    });
    let change = Change::RecordUpdated { table: table_id, id: entry.id.clone(), before, after: entry.cells.clone() };
    emulator.commit(base, vec![change]);
    world
        .attachments
        .keep(id, Stored { content_type: body.content_type, filename: body.filename, bytes: Bytes::from(bytes) });
    Ok(Json(answer))
}

pub async fn serve(State(emulator): State<Emulator>, Path((id, _filename)): Path<(String, String)>) -> Response {
    let world = emulator.world();
    match world.attachments.get(&id) {
        Some(stored) => {
            let content_type = stored.content_type.clone();
            ([(header::CONTENT_TYPE, content_type)], stored.bytes.clone()).into_response()
        }
        None => AirtableError::route_not_found().into_response(),
    }
}
