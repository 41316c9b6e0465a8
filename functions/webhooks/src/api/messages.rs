//! `GET /api/v1/webhooks/endpoints/{id}/messages` (the log: every message with its attempts),
//! `POST /api/v1/webhooks/messages/{id}/resend`, `POST …/endpoints/{id}/recover` (`webhooks:manage`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use platform::pagination::PageQuery;
use platform::{ApiResult, Caller, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::endpoints::disabled;
use crate::api::guard::{endpoint as managed_endpoint, not_found, require_manager};
use crate::api::views::{MessageList, MessageView, Recovered};
use crate::api::{invalid, not_queued};
use crate::jobs::{Job, new_token};
use crate::store::{Message, RETENTION_SECS, Status, Trigger};

/// Failed messages one recovery queues again.
pub const MAX_RECOVER: usize = 1_000;

/// The message scheduled anew, at once, as a fresh run of the retry schedule.
fn rescheduled(message: Message) -> Message {
    let now = storage::now_millis();
    Message {
        status: Status::Pending,
        token: Some(new_token()),
        next_attempt_at_ms: Some(now),
        retries_used: 0,
        lease_until_ms: None,
        ..message
    }
}

/// The endpoint's messages with their attempts, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}/messages", tag = "webhooks", operation_id = "list_webhook_messages",
    params(
        ("id" = String, Path, description = "Endpoint id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of messages", body = MessageList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<MessageList>> {
    let limit = page.limit()?;
    let endpoint = managed_endpoint(&state, &caller, &id).await?;
    let listing = state.store.messages(&caller.tenant_id, &endpoint.id, limit, page.cursor()).await?;
    Ok(Json(MessageList {
        messages: listing.items.into_iter().map(MessageView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

/// Send a message again now, whatever became of it, with a fresh run of retries.
#[utoipa::path(post, path = "/api/v1/webhooks/messages/{id}/resend", tag = "webhooks", operation_id = "resend_webhook_message",
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 202, description = "Queued", body = MessageView),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such message (or its endpoint was deleted) in the caller's tenant"),
        (status = 409, description = "Its endpoint is disabled (`endpoint_disabled`), or the message changed meanwhile (`version_conflict`)"),
        (status = 503, description = "The delivery could not be queued; retry"),
    ))]
pub async fn resend(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    require_manager(&state, &caller).await?;
    if !access::is_valid_id(&id) {
        return Err(not_found("message"));
    }
    let message = state.store.locate_message(&caller.tenant_id, &id).await?.ok_or_else(|| not_found("message"))?;
    let endpoint = state.store.endpoint(&caller.tenant_id, &message.endpoint_id).await?;
    let endpoint = endpoint.ok_or_else(|| not_found("message"))?;
    if !endpoint.enabled {
        return Err(disabled());
    }
    let stored = state.store.update_message(&rescheduled(message)).await?;
    if let Some(job) = Job::for_message(&stored, Trigger::Manual) {
        state.jobs.send(&job).await.map_err(not_queued)?;
    }
    Ok((StatusCode::ACCEPTED, Json(stored.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// RFC 3339: failed messages created at or after it are sent again (at most 30 days back).
    #[schema(format = DateTime)]
    pub since: String,
}

/// Send again every failed message of the endpoint created since a time (up to 1,000 per call).
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/recover", tag = "webhooks", operation_id = "recover_webhook_messages", request_body = Recover,
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = Recovered),
        (status = 400, description = "Invalid `since` (`invalid_field`) or body"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
        (status = 409, description = "The endpoint is disabled (`endpoint_disabled`)"),
        (status = 503, description = "The deliveries could not be queued; retry"),
    ))]
pub async fn recover(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Recover>,
) -> ApiResult<(StatusCode, Json<Recovered>)> {
    let since = time::OffsetDateTime::parse(body.since.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid("since", "an RFC 3339 time such as 2024-05-01T00:00:00Z"))?;
    let since_ms = i64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MIN);
    let now = storage::now_millis();
    if since_ms > now || since_ms < now - RETENTION_SECS * 1000 {
        return Err(invalid("since", "within the last 30 days (messages are kept that long)"));
    }
    let endpoint = managed_endpoint(&state, &caller, &id).await?;
    if !endpoint.enabled {
        return Err(disabled());
    }
    let (mut jobs, mut cursor, mut more) = (Vec::new(), None, false);
    'pages: loop {
        let page = state.store.messages_since(&caller.tenant_id, &endpoint.id, since_ms, 100, cursor).await?;
        for message in page.items.into_iter().filter(|m| m.status == Status::Failed) {
            if jobs.len() == MAX_RECOVER {
                more = true;
                break 'pages;
            }
            let stored = state.store.update_message(&rescheduled(message)).await?;
            jobs.extend(Job::for_message(&stored, Trigger::Manual));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    state.jobs.send_all(&jobs).await.map_err(not_queued)?;
    Ok((StatusCode::ACCEPTED, Json(Recovered { resent: jobs.len(), more })))
}
