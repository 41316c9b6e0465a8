//! Record comments: list (newest first; `pageSize` at most 100, `offset`), create (`{text, parentCommentId?}`),
//! update (`{text}`) and delete — `/v0/{baseId}/{tableIdOrName}/{recordId}/comments[/{rowCommentId}]`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::writes::parse_required;
use crate::auth::TokenGrant;
use crate::comments::{Comment, MAX_PER_RECORD, MAX_TEXT, normalise};
use crate::error::{AirtableError, AirtableResult};
use crate::ids::{is_id, new_id, now_timestamp};
use crate::model::Base;
use crate::params::pairs;
use crate::state::Emulator;

const MAX_PAGE: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    text: String,
    #[serde(default)]
    parent_comment_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    text: String,
}

/// A path segment that is no comment id is no route of Airtable's (bare 404).
fn check_comment_id(id: &str) -> AirtableResult<()> {
    match is_id("com", id) {
        true => Ok(()),
        false => Err(AirtableError::route_not_found()),
    }
}

fn check_text(text: &str) -> AirtableResult<String> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("text must be a non-empty string of at most {MAX_TEXT} characters"),
        ));
    }
    Ok(normalise(text))
}

/// Runs `f` on the base after checking that the table and the record exist (404 otherwise).
fn with_record<T>(
    emulator: &Emulator,
    grant: &TokenGrant,
    base: &str,
    table: &str,
    record: &str,
    f: impl FnOnce(&mut Base) -> AirtableResult<T>,
) -> AirtableResult<T> {
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, base)?;
    base.table(table)?.record(record)?;
    f(base)
}

pub async fn list(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let (mut page_size, mut offset) = (None, None);
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "pageSize" if page_size.is_none() => {
                page_size = Some(value.parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                    AirtableError::invalid(
                        "INVALID_REQUEST_UNKNOWN",
                        format!("pageSize must be between 1 and {MAX_PAGE}"),
                    )
                })?);
            }
            "offset" if offset.is_none() => offset = Some(value),
            _ => return Err(AirtableError::invalid_request()),
        }
    }
    let page_size = page_size.unwrap_or(MAX_PAGE);
    with_record(&emulator, &grant, &base, &table, &record, |base| {
        let newest_first: Vec<&Comment> = base.comments.get(&record).into_iter().flatten().rev().collect();
        let start = match &offset {
            None => 0,
            Some(offset) => newest_first.iter().position(|c| c.id == *offset).ok_or_else(|| {
                AirtableError::invalid("INVALID_OFFSET_VALUE", format!("The value of offset {offset} is invalid"))
            })?,
        };
        let page: Vec<Value> = newest_first.iter().skip(start).take(page_size).map(|c| c.render()).collect();
        let next = newest_first.get(start + page_size).map(|c| c.id.clone());
        Ok(Json(json!({ "comments": page, "offset": next })))
    })
}

pub async fn create(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record)): Path<(String, String, String)>,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: CreateBody = parse_required(&body, &["text"])?;
    let text = check_text(&body.text)?;
    with_record(&emulator, &grant, &base, &table, &record, |base| {
        let comments = base.comments.entry(record.clone()).or_default();
        if let Some(parent) = &body.parent_comment_id {
            if !is_id("com", parent) {
                return Err(AirtableError::invalid(
                    "INVALID_REQUEST_UNKNOWN",
                    format!("parentCommentId {parent} is not a comment id"),
                ));
            }
            if !comments.iter().any(|c| c.id == *parent) {
                return Err(AirtableError::model_not_found("comment", parent));
            }
        }
        if comments.len() >= MAX_PER_RECORD {
            return Err(AirtableError::invalid(
                "TOO_MANY_COMMENTS",
                format!("A record holds at most {MAX_PER_RECORD} comments in the emulator"),
            ));
        }
        let comment = Comment {
            id: new_id("com"),
            text,
            created_time: now_timestamp(),
            last_updated_time: None,
            parent_comment_id: body.parent_comment_id,
        };
        let rendered = comment.render();
        comments.push(comment);
        Ok(Json(rendered))
    })
}

pub async fn update(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record, comment)): Path<(String, String, String, String)>,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    check_comment_id(&comment)?;
    let body: UpdateBody = parse_required(&body, &["text"])?;
    let text = check_text(&body.text)?;
    with_record(&emulator, &grant, &base, &table, &record, |base| {
        let found = base
            .comments
            .get_mut(&record)
            .and_then(|list| list.iter_mut().find(|c| c.id == comment))
            .ok_or_else(|| AirtableError::model_not_found("comment", &comment))?;
        found.text = text;
        found.last_updated_time = Some(now_timestamp());
        Ok(Json(found.render()))
    })
}

pub async fn delete(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record, comment)): Path<(String, String, String, String)>,
) -> AirtableResult<Json<Value>> {
    check_comment_id(&comment)?;
    with_record(&emulator, &grant, &base, &table, &record, |base| {
        let list = base.comments.get_mut(&record);
        let index = list
            .as_ref()
            .and_then(|l| l.iter().position(|c| c.id == comment))
            .ok_or_else(|| AirtableError::model_not_found("comment", &comment))?;
        if let Some(list) = list {
            list.remove(index);
        }
        Ok(Json(json!({ "id": comment, "deleted": true })))
    })
}
