//! Record comments, at Airtable's paths: list, create, update, delete. Reads are not cached (a comment
//! thread is read rarely and changes often); every call passes the limiter; a write invalidates the table's
//! cached record reads, whose `recordMetadata[]=commentCount` it changes.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::{chars, is_id, no_such, params, parse, whole};
use super::{Answer, ids, record};
use crate::gateway::Gateway;
use crate::requests_more::{self, Call, send};
use crate::routes::respond::json;

/// The longest comment the gateway forwards, in characters (Airtable documents no limit; this is its
/// long-text cell limit).
pub const MAX_COMMENT_CHARS: usize = 100_000;
/// Comments per page: Airtable's maximum (and default).
const MAX_PAGE_SIZE: u64 = 100;
/// The longest `offset` (an opaque cursor Airtable returned) the gateway forwards.
const MAX_OFFSET_CHARS: usize = 1024;

/// `POST …/comments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirtableCommentCreate {
    /// The comment; `@[usr…]` mentions a user.
    #[schema(min_length = 1, max_length = 100000)]
    text: String,
    /// Makes the comment a threaded reply to this one.
    #[schema(pattern = "^com[A-Za-z0-9]{14}$", nullable = false)]
    parent_comment_id: Option<String>,
}

/// `PATCH …/comments/{rowCommentId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AirtableCommentUpdate {
    /// The new text.
    #[schema(min_length = 1, max_length = 100000)]
    text: String,
}

fn comment_text(text: &str) -> Result<(), crate::error::GatewayError> {
    chars("text", text, 1, MAX_COMMENT_CHARS)
}

async fn call(gateway: &Gateway, caller: &Caller, call: Call) -> Answer {
    Ok(json(StatusCode::OK, send(gateway, caller, call).await?))
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}/{recordId}/comments", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("pageSize" = Option<u64>, Query, description = "Comments per page (default and maximum 100)", minimum = 1, maximum = 100),
        ("offset" = Option<String>, Query, description = "The `offset` of the previous page", min_length = 0, max_length = 1024),
    ),
    responses(
        (status = 200, description = "`{comments, offset}`, newest first, as Airtable (not cached)"),
        (status = 404, description = "No such base, table or record (`NOT_FOUND`, `MODEL_ID_NOT_FOUND`)"),
        (status = 422, description = "An unknown, repeated or out-of-range parameter"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn list_comments(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    let found = params(query.as_deref(), &["pageSize", "offset"])?;
    let mut upstream = Vec::new();
    if let Some(raw) = found.get("pageSize") {
        upstream.push(("pageSize".to_string(), whole("pageSize", raw, 1, MAX_PAGE_SIZE)?.to_string()));
    }
    if let Some(offset) = found.get("offset") {
        chars("offset", offset, 0, MAX_OFFSET_CHARS)?;
        upstream.push(("offset".to_string(), offset.clone()));
    }
    call(&gateway, &caller, requests_more::list_comments(&base, &table, &id).query(upstream)).await
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}/{recordId}/comments", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableCommentCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The comment, as Airtable (the table's cached reads are invalidated)"),
        (status = 404, description = "No such base, table or record"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{text, parentCommentId?}` within its bounds"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn create_comment(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let ((base, table), id) = (ids(&base, &table)?, record(&id)?);
    let comment: AirtableCommentCreate = parse(&body, &["text"], &[])?;
    comment_text(&comment.text)?;
    if let Some(parent) = comment.parent_comment_id.as_deref().filter(|p| !is_id("com", p)) {
        return Err(
            crate::error::GatewayError::invalid(format!("parentCommentId \"{parent}\" is not a comment id")).into()
        );
    }
    let write = requests_more::write_comment(Method::POST, &base, &table, &id, None).body(body);
    call(&gateway, &caller, write).await
}

fn comment_id(raw: &str) -> Result<&str, crate::error::GatewayError> {
    if is_id("com", raw) { Ok(raw) } else { Err(no_such("comment", raw)) }
}

#[utoipa::path(patch, path = "/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("rowCommentId" = String, Path, description = "The comment (com…)", pattern = "^com[A-Za-z0-9]{14}$"),
    ),
    request_body(content = AirtableCommentUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated comment, as Airtable"),
        (status = 404, description = "No such base, table, record or comment"),
        (status = 413, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{text}` within its bounds"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn update_comment(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, id, comment)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Answer {
    let ((base, table), id, comment) = (ids(&base, &table)?, record(&id)?, comment_id(&comment)?);
    let update: AirtableCommentUpdate = parse(&body, &["text"], &[])?;
    comment_text(&update.text)?;
    let write = requests_more::write_comment(Method::PATCH, &base, &table, &id, Some(comment)).body(body);
    call(&gateway, &caller, write).await
}

#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "The table: its id (tbl…) or name", min_length = 1, max_length = 255),
        ("recordId" = String, Path, description = "The record (rec…)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("rowCommentId" = String, Path, description = "The comment (com…)", pattern = "^com[A-Za-z0-9]{14}$"),
    ),
    responses(
        (status = 200, description = "`{id, deleted: true}`"),
        (status = 404, description = "No such base, table, record or comment"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn delete_comment(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, table, id, comment)): Path<(String, String, String, String)>,
) -> Answer {
    let ((base, table), id, comment) = (ids(&base, &table)?, record(&id)?, comment_id(&comment)?);
    call(&gateway, &caller, requests_more::write_comment(Method::DELETE, &base, &table, &id, Some(comment))).await
}
