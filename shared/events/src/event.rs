//! The audit event: what happened, to whom, by whom, from where, in which request.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use platform::{ClientIp, RequestId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Action {
    #[serde(rename = "user.registered")]
    Registered,
    #[serde(rename = "auth.login_succeeded")]
    LoginSucceeded,
    #[serde(rename = "auth.login_failed")]
    LoginFailed,
    #[serde(rename = "auth.token_refreshed")]
    TokenRefreshed,
    #[serde(rename = "auth.logged_out")]
    LoggedOut,
    /// A whole session family revoked (refresh token reuse).
    #[serde(rename = "auth.session_revoked")]
    SessionRevoked,
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "tenant.updated")]
    TenantUpdated,
    #[serde(rename = "tenant.plan_changed")]
    TenantPlanChanged,
    #[serde(rename = "tenant.member_role_changed")]
    MemberRoleChanged,
    #[serde(rename = "tenant.member_removed")]
    MemberRemoved,
    #[serde(rename = "tenant.ownership_transferred")]
    OwnershipTransferred,
    #[serde(rename = "tenant.invitation_created")]
    InvitationCreated,
    #[serde(rename = "tenant.invitation_resent")]
    InvitationResent,
    #[serde(rename = "tenant.invitation_revoked")]
    InvitationRevoked,
    #[serde(rename = "tenant.invitation_accepted")]
    InvitationAccepted,
    #[serde(rename = "workspace.created")]
    WorkspaceCreated,
    #[serde(rename = "workspace.updated")]
    WorkspaceUpdated,
    #[serde(rename = "workspace.deleted")]
    WorkspaceDeleted,
    #[serde(rename = "workspace.project_created")]
    ProjectCreated,
    #[serde(rename = "workspace.project_updated")]
    ProjectUpdated,
    #[serde(rename = "workspace.project_deleted")]
    ProjectDeleted,
    #[serde(rename = "workspace.member_added")]
    WorkspaceMemberAdded,
    #[serde(rename = "workspace.member_role_changed")]
    WorkspaceMemberRoleChanged,
    #[serde(rename = "workspace.member_removed")]
    WorkspaceMemberRemoved,
    #[serde(rename = "workspace.connection_created")]
    ConnectionCreated,
    #[serde(rename = "workspace.connection_deleted")]
    ConnectionDeleted,
    #[serde(rename = "workspace.connection_refresh_failed")]
    ConnectionRefreshFailed,
    #[serde(rename = "workspace.base_linked")]
    BaseLinked,
    #[serde(rename = "workspace.base_unlinked")]
    BaseUnlinked,
    #[serde(rename = "permission.role_created")]
    RoleCreated,
    #[serde(rename = "permission.role_updated")]
    RoleUpdated,
    #[serde(rename = "permission.role_deleted")]
    RoleDeleted,
    #[serde(rename = "permission.grant_created")]
    GrantCreated,
    #[serde(rename = "permission.grant_revoked")]
    GrantRevoked,
}

impl Action {
    pub const ALL: [Action; 38] = [
        Self::Registered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::TokenRefreshed,
        Self::LoggedOut,
        Self::SessionRevoked,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::TenantUpdated,
        Self::TenantPlanChanged,
        Self::MemberRoleChanged,
        Self::MemberRemoved,
        Self::OwnershipTransferred,
        Self::InvitationCreated,
        Self::InvitationResent,
        Self::InvitationRevoked,
        Self::InvitationAccepted,
        Self::WorkspaceCreated,
        Self::WorkspaceUpdated,
        Self::WorkspaceDeleted,
        Self::ProjectCreated,
        Self::ProjectUpdated,
        Self::ProjectDeleted,
        Self::WorkspaceMemberAdded,
        Self::WorkspaceMemberRoleChanged,
        Self::WorkspaceMemberRemoved,
        Self::ConnectionCreated,
        Self::ConnectionDeleted,
        Self::ConnectionRefreshFailed,
        Self::BaseLinked,
        Self::BaseUnlinked,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::GrantCreated,
        Self::GrantRevoked,
    ];

    /// The wire name, e.g. `auth.login_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "user.registered",
            Self::LoginSucceeded => "auth.login_succeeded",
            Self::LoginFailed => "auth.login_failed",
            Self::TokenRefreshed => "auth.token_refreshed",
            Self::LoggedOut => "auth.logged_out",
            Self::SessionRevoked => "auth.session_revoked",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::TenantUpdated => "tenant.updated",
            Self::TenantPlanChanged => "tenant.plan_changed",
            Self::MemberRoleChanged => "tenant.member_role_changed",
            Self::MemberRemoved => "tenant.member_removed",
            Self::OwnershipTransferred => "tenant.ownership_transferred",
            Self::InvitationCreated => "tenant.invitation_created",
            Self::InvitationResent => "tenant.invitation_resent",
            Self::InvitationRevoked => "tenant.invitation_revoked",
            Self::InvitationAccepted => "tenant.invitation_accepted",
            Self::WorkspaceCreated => "workspace.created",
            Self::WorkspaceUpdated => "workspace.updated",
            Self::WorkspaceDeleted => "workspace.deleted",
            Self::ProjectCreated => "workspace.project_created",
            Self::ProjectUpdated => "workspace.project_updated",
            Self::ProjectDeleted => "workspace.project_deleted",
            Self::WorkspaceMemberAdded => "workspace.member_added",
            Self::WorkspaceMemberRoleChanged => "workspace.member_role_changed",
            Self::WorkspaceMemberRemoved => "workspace.member_removed",
            Self::ConnectionCreated => "workspace.connection_created",
            Self::ConnectionDeleted => "workspace.connection_deleted",
            Self::ConnectionRefreshFailed => "workspace.connection_refresh_failed",
            Self::BaseLinked => "workspace.base_linked",
            Self::BaseUnlinked => "workspace.base_unlinked",
            Self::RoleCreated => "permission.role_created",
            Self::RoleUpdated => "permission.role_updated",
            Self::RoleDeleted => "permission.role_deleted",
            Self::GrantCreated => "permission.grant_created",
            Self::GrantRevoked => "permission.grant_revoked",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| UnknownAction(s.into()))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique per event: the consumer's idempotency key.
    pub event_id: String,
    pub action: Action,
    /// Epoch milliseconds.
    pub occurred_at_ms: i64,
    /// None for what belongs to no tenant (a failed login for an unknown email).
    pub tenant_id: Option<String>,
    /// Who acted (none when anonymous).
    pub actor_id: Option<String>,
    /// The user acted upon.
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    #[serde(default)]
    pub details: Map<String, Value>,
}

/// Where a request came from, as every audit event records it.
#[derive(Clone, Debug)]
pub struct Origin {
    pub request_id: String,
    pub ip: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Self { request_id, ip: Some(ip).filter(|ip| ip != "unknown") })
    }
}

impl AuditEvent {
    pub fn new(action: Action, origin: &Origin) -> Self {
        Self {
            event_id: uuid::Uuid::now_v7().to_string(),
            action,
            occurred_at_ms: storage::now_millis(),
            tenant_id: None,
            actor_id: None,
            subject_id: None,
            ip: origin.ip.clone(),
            request_id: origin.request_id.clone(),
            details: Map::new(),
        }
    }

    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The actor, who is also the subject unless [`Self::subject`] says otherwise.
    pub fn actor(mut self, user_id: impl Into<String>) -> Self {
        let id = user_id.into();
        self.subject_id.get_or_insert_with(|| id.clone());
        self.actor_id = Some(id);
        self
    }

    pub fn subject(mut self, user_id: impl Into<String>) -> Self {
        self.subject_id = Some(user_id.into());
        self
    }

    pub fn detail(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.details.insert(name.into(), value.into());
        self
    }

    pub fn occurred_at(&self) -> String {
        let nanos = i128::from(self.occurred_at_ms) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn origin() -> Origin {
        Origin { request_id: "r1".into(), ip: Some("203.0.113.9".into()) }
    }

    #[test]
    fn every_action_round_trips_through_its_wire_name() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        assert!("user.exploded".parse::<Action>().is_err());
    }

    #[test]
    fn an_event_survives_the_queue_body_round_trip() {
        let event = AuditEvent::new(Action::UserUpdated, &origin())
            .tenant("t1")
            .actor("admin")
            .subject("u2")
            .detail("fields", serde_json::json!(["first_name"]));
        let body = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<AuditEvent>(&body).unwrap(), event);
        assert_eq!((event.actor_id.as_deref(), event.subject_id.as_deref()), (Some("admin"), Some("u2")));
    }

    #[test]
    fn the_actor_is_the_subject_unless_told_otherwise() {
        let event = AuditEvent::new(Action::LoggedOut, &origin()).actor("u1");
        assert_eq!(event.subject_id.as_deref(), Some("u1"));
    }

    #[test]
    fn occurred_at_is_rfc3339() {
        let mut event = AuditEvent::new(Action::LoginFailed, &origin());
        event.occurred_at_ms = 1_700_000_000_123;
        assert_eq!(event.occurred_at(), "2023-11-14T22:13:20.123Z");
    }
}
