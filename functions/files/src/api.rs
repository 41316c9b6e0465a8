//! `GET|POST /api/v1/files`, `GET|DELETE /api/v1/files/{id}`, `POST /api/v1/files/{id}/complete`.
//!
//! Files follow record rights in their workspace: reading them (list, get, download) needs `records:read`,
//! uploading and deleting `records:write`. A file in a workspace the caller does not see, or of another
//! tenant, is a 404 like one that does not exist.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::Origin;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use storage::blobs::UploadTerms;
use tenancy::resolve::CallerAccess;
use utoipa::{IntoParams, ToSchema};

use access::{Permission, Scope};

use crate::SharedState;
use crate::lifecycle::Arrival;
use crate::model::{self, CONTENT_TYPES, FileRecord, MAX_FILE_BYTES, Status};
use crate::store::Declared;
use crate::summary::{Inspection, Rejection};

fn not_found() -> ApiError {
    ApiError::not_found("No such file")
}

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {}", reason.into()))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// 404 unless the caller sees `workspace` (of their tenant); 403 unless they hold `permission` there.
fn guard(access: &CallerAccess, workspace: &str, permission: Permission) -> ApiResult<()> {
    if !access::is_valid_id(workspace) || !access.sees_workspace(workspace) {
        return Err(ApiError::not_found("No such workspace"));
    }
    if !access.allows(permission, &Scope::workspace(workspace)) {
        return Err(ApiError::forbidden(format!("This needs the {permission} permission in the file's workspace")));
    }
    Ok(())
}

/// 404 unless `workspace` is one of the caller's tenant (an owner "sees" every id the guard is asked about).
async fn existing(state: &SharedState, caller: &Caller, workspace: &str) -> ApiResult<()> {
    match state.tenancy.workspace(&caller.tenant_id, workspace).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("No such workspace")),
    }
}

/// The caller's file `id`, with `permission` in its workspace.
async fn file(state: &SharedState, caller: &Caller, id: &str, permission: Permission) -> ApiResult<FileRecord> {
    let found = match model::valid_id(id) {
        true => state.files.store.file(&caller.tenant_id, id).await?,
        false => None,
    };
    let file = found.ok_or_else(not_found)?;
    let access = CallerAccess::load(&state.tenancy, caller).await?;
    if !access.sees_workspace(&file.workspace_id) {
        return Err(not_found());
    }
    guard(&access, &file.workspace_id, permission)?;
    Ok(file)
}

/// A file as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub content_type: String,
    /// Bytes (as declared; the upload must match it).
    pub size: u64,
    pub status: Status,
    /// SHA-256 of the content (hex), once processed.
    pub sha256: Option<String>,
    /// What processing found: a table's columns, types, row count and first rows; an image's dimensions.
    pub inspection: Option<Inspection>,
    /// Why the file was rejected.
    pub rejection: Option<Rejection>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Pending files: when the upload URL stops working (the file then expires).
    pub upload_expires_at: Option<String>,
}

impl From<&FileRecord> for FileView {
    fn from(f: &FileRecord) -> Self {
        Self {
            id: f.id.clone(),
            workspace_id: f.workspace_id.clone(),
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            status: f.status,
            sha256: f.sha256.clone(),
            inspection: f.inspection.clone(),
            rejection: f.rejection.clone(),
            created_by: f.created_by.clone(),
            created_at: rfc3339(f.created_at_ms),
            updated_at: rfc3339(f.updated_at_ms),
            upload_expires_at: (f.status == Status::Pending).then(|| rfc3339(f.upload_expires_at_ms)),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFile {
    pub workspace_id: String,
    /// The file's name: no `/`, `\\` or control characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^/\\\x00-\x1f\x7f-\x9f]*[^/\\\x00-\x1f\x7f-\x9f\s][^/\\\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[schema(value_type = UploadType)]
    pub content_type: String,
    /// The exact size in bytes.
    #[schema(minimum = 1, maximum = 52428800)]
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub size: u64,
}

/// The content types one may upload (what the processor checks the content against).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documents `CreateFile::content_type`, which is checked against model::CONTENT_TYPES
pub enum UploadType {
    #[serde(rename = "text/csv")]
    Csv,
    #[serde(rename = "application/json")]
    Json,
    #[serde(rename = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]
    Xlsx,
    #[serde(rename = "text/plain")]
    Text,
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/gif")]
    Gif,
    #[serde(rename = "image/webp")]
    Webp,
}

/// How to upload: PUT the bytes to `url` with exactly `headers` before `expires_at`.
#[derive(Serialize, ToSchema)]
pub struct Upload {
    /// Always `PUT`.
    pub method: &'static str,
    pub url: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedFile {
    pub file: FileView,
    pub upload: Upload,
}

/// Declare an upload: the answer is a presigned PUT that accepts exactly the declared type and size. The size
/// is reserved against the plan's storage at once. Once uploaded, the file is processed (the storage's upload
/// notification, or `complete`); an upload that never comes expires with its URL.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", operation_id = "create_file", request_body = CreateFile,
    responses(
        (status = 201, description = "Declared: upload with the presigned PUT", body = CreatedFile),
        (status = 400, description = "Invalid field (`invalid_field`: name, content_type, size, workspace_id) or body"),
        (status = 403, description = "No `records:write` in the workspace, or the plan's storage would be exceeded (`plan_limit_reached`)"),
        (status = 404, description = "No such workspace"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Json(body): Json<CreateFile>,
) -> ApiResult<(StatusCode, Json<CreatedFile>)> {
    let name = model::valid_name(&body.name)
        .ok_or_else(|| invalid("name", "1 to 255 characters, no control characters, no / or \\"))?;
    let kind = model::kind_of(&body.content_type).ok_or_else(|| {
        let allowed: Vec<&str> = CONTENT_TYPES.iter().map(|(t, _)| *t).collect();
        invalid("content_type", format!("one of {}", allowed.join(", ")))
    })?;
    if !(1..=MAX_FILE_BYTES).contains(&body.size) {
        return Err(invalid("size", format!("1 to {MAX_FILE_BYTES} bytes")));
    }
    let access = CallerAccess::load(&state.tenancy, &caller).await?;
    guard(&access, &body.workspace_id, Permission::RecordsWrite)?;
    existing(&state, &caller, &body.workspace_id).await?;
    let plan = caller.plan.clone().unwrap_or_else(|| identity::plans::DEFAULT_PLAN.into());
    let allowed = state.plans.limits(&plan).file_storage_bytes;
    let now = storage::now_millis();
    let ttl = state.settings.upload_ttl;
    let declared = FileRecord {
        id: model::new_id(),
        tenant_id: caller.tenant_id.clone(),
        workspace_id: body.workspace_id,
        name,
        content_type: body.content_type,
        kind,
        size: body.size,
        status: Status::Pending,
        counted: true,
        created_by: caller.user_id.clone(),
        created_at_ms: now,
        updated_at_ms: now,
        upload_expires_at_ms: now + ttl.as_millis() as i64,
        sha256: None,
        inspection: None,
        rejection: None,
        has_thumbnail: false,
        version: 0,
    };
    let file = match state.files.store.declare(&declared, allowed).await? {
        Declared::Stored(file) => *file,
        Declared::OverLimit { allowed, used } => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "plan_limit_reached",
                format!(
                    "The plan allows {allowed} bytes of file storage and {used} are in use: delete files, or ask for a \
                     larger plan"
                ),
            ));
        }
    };
    // Without its expiry the reservation could outlive an upload that never comes: take the file back.
    if let Err(e) = state.files.schedule_expiry(&file).await {
        tracing::error!(error = ?e, file = %file.id, "the expiry job could not be sent; the declaration is undone");
        state.files.store.settle(&file, crate::store::Settle::Delete).await?;
        return Err(ApiError::unavailable("The upload queue could not be reached; try again"));
    }
    let terms = UploadTerms { content_type: file.content_type.clone(), content_length: file.size };
    let presigned = state.files.blobs.presign_put(&file.blob_key(), ttl, &terms).await.map_err(anyhow::Error::new)?;
    tracing::info!(file = %file.id, size = file.size, content_type = %file.content_type, "upload declared");
    let upload = Upload {
        method: "PUT",
        url: presigned.url,
        headers: presigned.headers.into_iter().collect(),
        expires_at: rfc3339(file.upload_expires_at_ms),
    };
    Ok((StatusCode::CREATED, Json(CreatedFile { file: FileView::from(&file), upload })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this workspace's files.
    pub workspace_id: Option<String>,
    /// Only files in this state.
    #[param(inline)]
    pub status: Option<Status>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// next_cursor of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    pub files: Vec<FileView>,
    /// Pages may hold fewer files than `limit` (files the caller may not read are left out); follow the cursor
    /// until it is null.
    pub next_cursor: Option<String>,
}

/// The files the caller may read (`records:read` in their workspace), oldest first.
#[utoipa::path(get, path = "/api/v1/files", tag = "files", operation_id = "list_files", params(ListQuery),
    responses(
        (status = 200, description = "A page of files", body = FileList),
        (status = 400, description = "Invalid limit, status or cursor"),
        (status = 403, description = "No `records:read` in the given workspace"),
        (status = 404, description = "No such workspace (workspace_id)"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<FileList>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    let cursor = query.cursor.filter(|c| !c.is_empty());
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit", "1 to 100"));
    }
    let access = CallerAccess::load(&state.tenancy, &caller).await?;
    if let Some(workspace) = &query.workspace_id {
        guard(&access, workspace, Permission::RecordsRead)?;
        existing(&state, &caller, workspace).await?;
    }
    let listing = state.files.store.list(&caller.tenant_id, query.workspace_id.as_deref(), limit, cursor).await?;
    let readable = |f: &FileRecord| {
        access.sees_workspace(&f.workspace_id)
            && access.allows(Permission::RecordsRead, &Scope::workspace(&f.workspace_id))
    };
    let files = listing
        .items
        .iter()
        .filter(|f| readable(f) && query.status.is_none_or(|s| s == f.status))
        .map(FileView::from)
        .collect();
    Ok(Json(FileList { files, next_cursor: listing.next_cursor }))
}

#[derive(Serialize, ToSchema)]
pub struct FileDetail {
    #[serde(flatten)]
    pub file: FileView,
    /// Ready files: a URL to GET the content from, for 5 minutes.
    pub download_url: Option<String>,
    /// Ready images: a URL to GET a PNG thumbnail (at most 128 pixels a side) from, for 5 minutes.
    pub thumbnail_url: Option<String>,
}

/// One file, with short-lived download URLs once it is ready.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", operation_id = "get_file",
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "The file", body = FileDetail),
        (status = 403, description = "No `records:read` in the file's workspace"),
        (status = 404, description = "No such file"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<FileDetail>> {
    let file = file(&state, &caller, &id, Permission::RecordsRead).await?;
    let (mut download_url, mut thumbnail_url) = (None, None);
    if let (Status::Ready, Some(content)) = (file.status, file.content_key()) {
        let blobs = &state.files.blobs;
        let ttl = state.settings.download_ttl;
        download_url = Some(blobs.presign_get(&content, ttl).await.map_err(anyhow::Error::new)?);
        if file.has_thumbnail {
            thumbnail_url = Some(blobs.presign_get(&file.thumbnail_key(), ttl).await.map_err(anyhow::Error::new)?);
        }
    }
    Ok(Json(FileDetail { file: FileView::from(&file), download_url, thumbnail_url }))
}

/// Confirm an upload: its size is checked at once and the file goes to processing (where the storage's upload
/// notification has not already sent it). Completing again answers the file as it stands.
#[utoipa::path(post, path = "/api/v1/files/{id}/complete", tag = "files", operation_id = "complete_file",
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "Processing, or already past it", body = FileView),
        (status = 403, description = "No `records:write` in the file's workspace"),
        (status = 404, description = "No such file"),
        (status = 409, description = "Nothing was uploaded yet (`upload_missing`), or the upload URL expired first (`upload_expired`)"),
        (status = 422, description = "The upload was rejected: its size differs from the declared one (`upload_rejected`)"),
    ))]
pub async fn complete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<FileView>> {
    let file = file(&state, &caller, &id, Permission::RecordsWrite).await?;
    if file.status == Status::Expired {
        return Err(ApiError::conflict("upload_expired", "The upload URL expired before the upload: declare it again"));
    }
    match state.files.arrived(&file.tenant_id, &file.id).await? {
        None => Err(not_found()),
        Some(Arrival::Missing) => {
            Err(ApiError::conflict("upload_missing", "Nothing was uploaded yet: PUT the bytes to the upload URL first"))
        }
        Some(Arrival::Rejected(file)) => {
            let why = file.rejection.as_ref().map_or("the upload was rejected", |r| r.message.as_str());
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "upload_rejected", why.to_string()))
        }
        Some(Arrival::Accepted(file)) => {
            if file.status == Status::Processing {
                let job = crate::jobs::Job::Process { tenant: file.tenant_id.clone(), file: file.id.clone() };
                state.files.jobs.send(&job, std::time::Duration::ZERO).await?;
            }
            Ok(Json(FileView::from(&*file)))
        }
    }
}

/// Delete a file: its bytes first, then the record; its size stops counting against storage.
#[utoipa::path(delete, path = "/api/v1/files/{id}", tag = "files", operation_id = "delete_file",
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "No `records:write` in the file's workspace"),
        (status = 404, description = "No such file"),
        (status = 409, description = "It changed meanwhile (`version_conflict`); try again"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let file = file(&state, &caller, &id, Permission::RecordsWrite).await?;
    state.files.delete(&file, &origin, &caller.user_id).await?;
    tracing::info!(file = %file.id, "file deleted");
    Ok(StatusCode::NO_CONTENT)
}
