//! `GET /api/v1/audit-logs?user_id=&action=&limit=&cursor=`: tenant admins read their tenant's trail, the
//! platform admin reads everyone's.

use std::sync::Arc;

use axum::extract::{Query, State};
use events::{Action, Event};
use platform::pagination::{PageQuery, invalid_cursor};
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use storage::StoreError;
use utoipa::ToSchema;

use crate::AuditState;
use crate::store::{Filter, Scope};

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// e.g. `auth.login_failed`.
    pub action: String,
    pub occurred_at: String,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub audit_logs: Vec<AuditEntry>,
    /// Pass as `cursor` for more; null when there is no more.
    pub next_cursor: Option<String>,
}

impl From<Event> for AuditEntry {
    fn from(e: Event) -> Self {
        Self {
            occurred_at: e.occurred_at(),
            id: e.event_id,
            action: e.action.as_str().into(),
            tenant_id: e.tenant_id,
            actor_id: e.actor_id,
            subject_id: e.subject_id,
            ip: e.ip,
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// An action's wire name, e.g. `auth.login_failed`, or empty for every action: the schema of the `action`
/// filter.
pub struct ActionName;

impl utoipa::PartialSchema for ActionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(std::iter::once("").chain(Action::ALL.map(Action::as_str))))
            .into()
    }
}

impl ToSchema for ActionName {}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit",
    params(
        ("user_id" = Option<String>, Query, description = "Entries where this user acted or was acted upon"),
        ("action" = inline(Option<ActionName>), Query, description = "Entries of this action only"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Invalid filter, limit or cursor"),
        (status = 403, description = "Not an admin"),
    ))]
pub async fn list(
    State(state): State<Arc<AuditState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let scope = match (caller.is_platform_admin(), caller.is_tenant_admin()) {
        (true, _) => Scope::All,
        (false, true) => Scope::Tenant(caller.tenant_id.clone()),
        (false, false) => return Err(ApiError::forbidden("Only admins read the audit log")),
    };
    let action = q.action.as_deref().filter(|a| !a.is_empty()).map(str::parse::<Action>).transpose();
    let action = action.map_err(|e| ApiError::bad_request("invalid_action", e.to_string()))?;
    let filter = Filter { user_id: q.user_id.filter(|u| !u.is_empty()), action };
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let entries = match state.store.list(&scope, &filter, page.limit()?, page.cursor()).await {
        Ok(entries) => entries,
        Err(StoreError::InvalidCursor) => return Err(invalid_cursor()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let audit_logs = entries.events.into_iter().map(AuditEntry::from).collect();
    Ok(Json(AuditPage { audit_logs, next_cursor: entries.next_cursor }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use utoipa::PartialSchema;

    use super::*;

    #[test]
    fn every_documented_action_is_one_the_filter_accepts() {
        let schema = serde_json::to_value(ActionName::schema()).unwrap();
        let names = schema["enum"].as_array().unwrap();
        assert_eq!(names.len(), Action::ALL.len() + 1);
        assert_eq!(names[0], "", "empty: no filter");
        for name in &names[1..] {
            assert!(name.as_str().unwrap().parse::<Action>().is_ok(), "{name}");
        }
    }
}
