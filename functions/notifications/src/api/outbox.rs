//! `GET /api/v1/notifications/outbox`: the embedded outbox (platform admins). Under `cargo run` with embedded
//! storage every email, SMS and push lands here instead of going out; on AWS they go to SES and SNS and this
//! stays empty.

use axum::extract::{Query, State};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::rfc3339;
use crate::records::{OutboxChannel, OutboxMail};

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMailView {
    pub id: String,
    /// `email`, `sms` (`to`: the phone number, no subject) or `push` (`to`: the device id, `subject`: the title).
    pub channel: OutboxChannel,
    pub tenant_id: String,
    pub notification_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub at: String,
}

impl From<OutboxMail> for OutboxMailView {
    fn from(m: OutboxMail) -> Self {
        Self {
            id: m.id,
            channel: m.channel,
            tenant_id: m.tenant_id,
            notification_id: m.notification_id,
            from: m.from,
            to: m.to,
            subject: m.subject,
            body: m.body,
            at: rfc3339(m.at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxList {
    pub messages: Vec<OutboxMailView>,
    pub next_cursor: Option<String>,
}

/// The emails, SMS and pushes kept by the embedded outbox, newest first (platform admins; kept 7 days).
#[utoipa::path(get, path = "/api/v1/notifications/outbox", tag = "notifications", operation_id = "list_notification_outbox",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of messages (empty on AWS, where SES and SNS send them)", body = OutboxList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not a platform admin"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<OutboxList>> {
    if !caller.is_platform_admin() {
        return Err(ApiError::forbidden("Only platform admins read the outbox"));
    }
    let limit = page.limit()?;
    let listing = state.store.outbox(limit, page.cursor()).await?;
    Ok(Json(OutboxList {
        messages: listing.items.into_iter().map(OutboxMailView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}
