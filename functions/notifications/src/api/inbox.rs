//! `GET /api/v1/notifications` (`?unread=true`, cursor), `GET …/unread-count`, `POST …/{id}/read`,
//! `POST …/read-all`: the caller's own notifications only. Every read is keyed by the caller's tenant and user,
//! so another user's or tenant's id is a 404 like one that does not exist.

use axum::extract::{Path, Query, State};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::rfc3339;
use crate::records::{Delivery, Notification};
use crate::store;

/// The most unread notifications counted.
pub const MAX_UNREAD_COUNT: usize = 1_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// The notification type (`GET /api/v1/notifications/templates/{type}`).
    #[serde(rename = "type")]
    pub kind: String,
    pub category: events::Category,
    /// A security notice (it bypasses preferences).
    pub critical: bool,
    pub title: String,
    pub body: Option<String>,
    pub read: bool,
    pub read_at: Option<String>,
    pub created_at: String,
    /// The platform event it comes from.
    pub event_id: String,
    /// Each channel's delivery: status, attempts, last error.
    pub deliveries: Vec<Delivery>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            category: n.category,
            critical: n.critical,
            title: n.title,
            body: n.body,
            read: n.read_at_ms.is_some(),
            read_at: n.read_at_ms.map(rfc3339),
            created_at: rfc3339(n.created_at_ms),
            event_id: n.event_id,
            deliveries: n.deliveries,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationView>,
    /// Pass as `cursor` for more; null when there is no more.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub unread: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", operation_id = "list_notifications",
    params(
        ("unread" = Option<bool>, Query, description = "true: only unread ones"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page (of the same filter)"),
    ),
    responses(
        (status = 200, description = "A page of the caller's notifications", body = NotificationList),
        (status = 400, description = "Invalid limit, cursor or unread"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<InboxQuery>,
) -> ApiResult<Json<NotificationList>> {
    let page = PageQuery { limit: query.limit, cursor: query.cursor };
    let limit = page.limit()?;
    let unread = match query.unread.as_deref() {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_unread", "unread must be true or false")),
    };
    let listing = if unread {
        state.store.unread(&caller.tenant_id, &caller.user_id, limit, page.cursor()).await?
    } else {
        state.store.inbox(&caller.tenant_id, &caller.user_id, limit, page.cursor()).await?
    };
    Ok(Json(NotificationList {
        notifications: listing.items.into_iter().map(NotificationView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Counted up to 1,000.
    pub unread: usize,
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications", operation_id = "count_unread_notifications",
    responses((status = 200, description = "The count (at most 1,000)", body = UnreadCount)))]
pub async fn unread_count(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<UnreadCount>> {
    let unread = state.store.unread_count(&caller.tenant_id, &caller.user_id, MAX_UNREAD_COUNT).await?;
    Ok(Json(UnreadCount { unread }))
}

/// Mark one of the caller's notifications read (again: no change).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", operation_id = "mark_notification_read",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "Read", body = NotificationView),
        (status = 404, description = "No such notification of the caller"),
        (status = 409, description = "It changed meanwhile (`version_conflict`); retry"),
    ))]
pub async fn mark_read(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    let not_found = || ApiError::not_found("No such notification");
    if !store::is_notification_id(&id) {
        return Err(not_found());
    }
    for _ in 0..3 {
        let n = state.store.get(&caller.tenant_id, &caller.user_id, &id).await?.ok_or_else(not_found)?;
        match state.store.mark_read(&n, storage::now_millis()).await {
            Ok(read) => return Ok(Json(read.into())),
            // The consumer may be recording a delivery on it: read it again.
            Err(store::StoreFailure::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(store::StoreFailure::Conflict.into())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAll {
    /// How many were marked read.
    pub marked: usize,
}

/// Mark every unread notification of the caller read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", operation_id = "mark_all_notifications_read",
    responses(
        (status = 200, description = "Marked", body = ReadAll),
        (status = 409, description = "Some kept changing meanwhile, or more than 5,000 were unread (`version_conflict`): call it again"),
    ))]
pub async fn mark_all_read(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<ReadAll>> {
    let marked = state.store.mark_all_read(&caller.tenant_id, &caller.user_id, storage::now_millis()).await?;
    Ok(Json(ReadAll { marked }))
}
