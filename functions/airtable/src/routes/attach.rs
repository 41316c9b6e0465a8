//! `POST /api/v1/airtable/bases/{baseId}/records/{recordId}/attachments`: attaches an uploaded file (the files
//! group's, ready) to a record's attachment field through Airtable's `uploadAttachment`, as the caller, under the
//! limiter, invalidating the base's cached reads. The base decides first (`records:write`, as for any record
//! write); then the file must be one the caller may read (`records:read` in its workspace), ready, and within
//! Airtable's 5 MB.

use std::sync::Arc;

use access::{Permission, Scope};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use files::model::Status;
use platform::{ApiError, Caller, Json};
use serde::Deserialize;
use serde_json::json;
use storage::blobs::Blobs;
use tenancy::TenancyStore;
use tenancy::resolve::CallerAccess;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond::json as json_response;
use super::{base_id, record_id};
use crate::gateway::Gateway;
use crate::requests_more::{self, send};
use crate::routes::v0::upload::MAX_ATTACHMENT_BYTES;

/// What attaching needs besides the gateway: the files (records and bytes) and the caller's access.
pub struct Attach {
    pub gateway: Gateway,
    pub files: files::store::FileStore,
    pub blobs: Arc<dyn Blobs>,
    pub tenancy: TenancyStore,
}

impl Attach {
    /// `public_url`: where the runner serves embedded presigned URLs (unused here: bytes are read directly).
    pub async fn build(
        resources: &platform::group::Resources,
        gateway: Gateway,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            gateway,
            files: files::store::FileStore::new(resources.table(files::store::TABLE).await?),
            blobs: resources.blobs(files::BUCKET, public_url).await?,
            tenancy: TenancyStore::new(resources.table(tenancy::TABLE).await?),
        })
    }
}

pub fn router(state: Arc<Attach>) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(attach)).with_state(state)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachFile {
    /// A ready file of the caller's tenant (`fil_…`).
    pub file_id: String,
    /// The attachment field's id (fld…) or name.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub field: String,
}

fn no_file() -> ApiError {
    ApiError::not_found("No such file")
}

/// Attach an uploaded file to a record: Airtable's `{id, createdTime, fields}` with the field's new cell.
#[utoipa::path(post, path = "/api/v1/airtable/bases/{baseId}/records/{recordId}/attachments", tag = "airtable",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    request_body = AttachFile,
    responses(
        (status = 200, description = "Airtable's `{id, createdTime, fields}`: the attachment cell with the file appended"),
        (status = 400, description = "An invalid id, field or body"),
        (status = 403, description = "No `records:write` on the base"),
        (status = 404, description = "No such base, record, field or file"),
        (status = 409, description = "The file is not ready (`file_not_ready`)"),
        (status = 413, description = "The file is larger than Airtable's 5 MiB (`file_too_large`)"),
        (status = 422, description = "The field is not an attachment field (Airtable's error type)"),
        (status = 429, description = "The base's request budget is spent, or Airtable rate-limited it", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "Airtable could not be reached, or failed"),
        (status = 503, description = "Airtable is unavailable, or the gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn attach(
    State(state): State<Arc<Attach>>,
    caller: Caller,
    Path((base, record)): Path<(String, String)>,
    Json(input): Json<AttachFile>,
) -> Result<Response, ApiError> {
    let (base, record) = (base_id(&base)?, record_id(&record)?);
    let field = input.field.as_str();
    if field.trim().is_empty() || field.chars().count() > 255 || field.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_field", "field: an attachment field's id or name"));
    }
    let call = requests_more::upload_attachment(&base, &record, field);
    state.gateway.permits(&caller, &call.request).await.map_err(|e| e.to_api_error())?;

    let file = match files::model::valid_id(&input.file_id) {
        true => state.files.file(&caller.tenant_id, &input.file_id).await?,
        false => None,
    };
    let file = file.ok_or_else(no_file)?;
    let access = CallerAccess::load(&state.tenancy, &caller).await?;
    let scope = Scope::workspace(&file.workspace_id);
    if !access.sees_workspace(&file.workspace_id) || !access.allows(Permission::RecordsRead, &scope) {
        return Err(no_file());
    }
    let not_ready = || ApiError::conflict("file_not_ready", "Only a ready file can be attached (see its status)");
    if file.status != Status::Ready {
        return Err(not_ready());
    }
    if file.size > MAX_ATTACHMENT_BYTES as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("Airtable takes uploaded attachments of at most {} MiB", MAX_ATTACHMENT_BYTES / (1024 * 1024)),
        ));
    }
    let content = file.content_key().ok_or_else(not_ready)?;
    let blob = state.blobs.get(&content).await.map_err(anyhow::Error::new)?.ok_or_else(not_ready)?;
    let body = json!({
        "contentType": file.content_type,
        "file": base64::engine::general_purpose::STANDARD.encode(&blob.bytes),
        "filename": file.name,
    });
    let updated =
        send(&state.gateway, &caller, call.body(body.to_string().into())).await.map_err(|e| e.to_api_error())?;
    tracing::info!(file = %file.id, base = %base, "file attached");
    Ok(json_response(StatusCode::OK, updated))
}
