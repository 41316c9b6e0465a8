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
    /// A password reset was requested for an existing account (the reset token travels sealed).
    #[serde(rename = "auth.password_reset_requested")]
    PasswordResetRequested,
    /// A password was set through a reset token; every session of the user ended.
    #[serde(rename = "auth.password_reset_completed")]
    PasswordResetCompleted,
    /// REGISTRATION_MODE=verify_email: someone asked for an account with an email that has none; the
    /// verification token travels sealed for the notifications service. The tenant is the one the account
    /// will create once verified.
    #[serde(rename = "auth.registration_requested")]
    RegistrationRequested,
    /// REGISTRATION_MODE=verify_email: someone asked to register an email that already has an account; its
    /// owner is told (the requester gets the same answer as for any other email).
    #[serde(rename = "auth.registration_attempted")]
    RegistrationAttempted,
    /// REGISTRATION_MODE=verify_email: a user asked to change their email; the confirmation token travels
    /// sealed for the notifications service, which emails it to the new address.
    #[serde(rename = "user.email_change_requested")]
    EmailChangeRequested,
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
    #[serde(rename = "webhook.endpoint_created")]
    WebhookEndpointCreated,
    #[serde(rename = "webhook.endpoint_updated")]
    WebhookEndpointUpdated,
    #[serde(rename = "webhook.endpoint_deleted")]
    WebhookEndpointDeleted,
    #[serde(rename = "webhook.secret_rotated")]
    WebhookSecretRotated,
    #[serde(rename = "webhook.endpoint_disabled")]
    WebhookEndpointDisabled,
    /// `webhook.*` events are never delivered by webhook (see the webhooks fan-out).
    #[serde(rename = "webhook.message_failed")]
    WebhookMessageFailed,
    #[serde(rename = "airtable.record.created")]
    AirtableRecordCreated,
    #[serde(rename = "airtable.record.updated")]
    AirtableRecordUpdated,
    #[serde(rename = "airtable.record.deleted")]
    AirtableRecordDeleted,
    #[serde(rename = "airtable.table.changed")]
    AirtableTableChanged,
    #[serde(rename = "automation.created")]
    AutomationCreated,
    #[serde(rename = "automation.updated")]
    AutomationUpdated,
    #[serde(rename = "automation.deleted")]
    AutomationDeleted,
    #[serde(rename = "automation.run_succeeded")]
    AutomationRunSucceeded,
    #[serde(rename = "automation.run_failed")]
    AutomationRunFailed,
    /// An automation's notify step: one event per recipient (the notifications service's in-app notice).
    #[serde(rename = "automation.notification")]
    AutomationNotification,
    #[serde(rename = "file.ready")]
    FileReady,
    #[serde(rename = "file.rejected")]
    FileRejected,
    #[serde(rename = "file.expired")]
    FileExpired,
    #[serde(rename = "file.deleted")]
    FileDeleted,
}

impl Action {
    pub const ALL: [Action; 63] = [
        Self::Registered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::TokenRefreshed,
        Self::LoggedOut,
        Self::SessionRevoked,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::RegistrationRequested,
        Self::RegistrationAttempted,
        Self::EmailChangeRequested,
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
        Self::WebhookEndpointCreated,
        Self::WebhookEndpointUpdated,
        Self::WebhookEndpointDeleted,
        Self::WebhookSecretRotated,
        Self::WebhookEndpointDisabled,
        Self::WebhookMessageFailed,
        Self::AirtableRecordCreated,
        Self::AirtableRecordUpdated,
        Self::AirtableRecordDeleted,
        Self::AirtableTableChanged,
        Self::AutomationCreated,
        Self::AutomationUpdated,
        Self::AutomationDeleted,
        Self::AutomationRunSucceeded,
        Self::AutomationRunFailed,
        Self::AutomationNotification,
        Self::FileReady,
        Self::FileRejected,
        Self::FileExpired,
        Self::FileDeleted,
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
            Self::PasswordResetRequested => "auth.password_reset_requested",
            Self::PasswordResetCompleted => "auth.password_reset_completed",
            Self::RegistrationRequested => "auth.registration_requested",
            Self::RegistrationAttempted => "auth.registration_attempted",
            Self::EmailChangeRequested => "user.email_change_requested",
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
            Self::WebhookEndpointCreated => "webhook.endpoint_created",
            Self::WebhookEndpointUpdated => "webhook.endpoint_updated",
            Self::WebhookEndpointDeleted => "webhook.endpoint_deleted",
            Self::WebhookSecretRotated => "webhook.secret_rotated",
            Self::WebhookEndpointDisabled => "webhook.endpoint_disabled",
            Self::WebhookMessageFailed => "webhook.message_failed",
            Self::AirtableRecordCreated => "airtable.record.created",
            Self::AirtableRecordUpdated => "airtable.record.updated",
            Self::AirtableRecordDeleted => "airtable.record.deleted",
            Self::AirtableTableChanged => "airtable.table.changed",
            Self::AutomationCreated => "automation.created",
            Self::AutomationUpdated => "automation.updated",
            Self::AutomationDeleted => "automation.deleted",
            Self::AutomationRunSucceeded => "automation.run_succeeded",
            Self::AutomationRunFailed => "automation.run_failed",
            Self::AutomationNotification => "automation.notification",
            Self::FileReady => "file.ready",
            Self::FileRejected => "file.rejected",
            Self::FileExpired => "file.expired",
            Self::FileDeleted => "file.deleted",
        }
    }
}

/// What an event type is about: notification preferences are per category, and `security` notices are
/// critical (they bypass preferences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Security,
    Account,
    Tenant,
    Workspace,
    Permission,
    /// Changes made in a linked Airtable base (change capture).
    Airtable,
    /// Automations: their definitions, runs and notices.
    Automation,
}

impl Action {
    /// The type's category.
    pub fn category(self) -> Category {
        match self {
            Self::Registered => Category::Account,
            Self::LoginSucceeded => Category::Security,
            Self::LoginFailed => Category::Security,
            Self::TokenRefreshed => Category::Security,
            Self::LoggedOut => Category::Security,
            Self::SessionRevoked => Category::Security,
            Self::PasswordResetRequested => Category::Security,
            Self::PasswordResetCompleted => Category::Security,
            Self::RegistrationRequested => Category::Account,
            Self::RegistrationAttempted => Category::Security,
            Self::EmailChangeRequested => Category::Account,
            Self::ApiKeyCreated => Category::Security,
            Self::ApiKeyRevoked => Category::Security,
            Self::UserUpdated => Category::Account,
            Self::UserDeleted => Category::Account,
            Self::TenantUpdated => Category::Tenant,
            Self::TenantPlanChanged => Category::Tenant,
            Self::MemberRoleChanged => Category::Tenant,
            Self::MemberRemoved => Category::Tenant,
            Self::OwnershipTransferred => Category::Tenant,
            Self::InvitationCreated => Category::Tenant,
            Self::InvitationResent => Category::Tenant,
            Self::InvitationRevoked => Category::Tenant,
            Self::InvitationAccepted => Category::Tenant,
            Self::WorkspaceCreated => Category::Workspace,
            Self::WorkspaceUpdated => Category::Workspace,
            Self::WorkspaceDeleted => Category::Workspace,
            Self::ProjectCreated => Category::Workspace,
            Self::ProjectUpdated => Category::Workspace,
            Self::ProjectDeleted => Category::Workspace,
            Self::WorkspaceMemberAdded => Category::Workspace,
            Self::WorkspaceMemberRoleChanged => Category::Workspace,
            Self::WorkspaceMemberRemoved => Category::Workspace,
            Self::ConnectionCreated => Category::Workspace,
            Self::ConnectionDeleted => Category::Workspace,
            Self::ConnectionRefreshFailed => Category::Workspace,
            Self::BaseLinked => Category::Workspace,
            Self::BaseUnlinked => Category::Workspace,
            Self::RoleCreated => Category::Permission,
            Self::RoleUpdated => Category::Permission,
            Self::RoleDeleted => Category::Permission,
            Self::GrantCreated => Category::Permission,
            Self::GrantRevoked => Category::Permission,
            Self::WebhookEndpointCreated
            | Self::WebhookEndpointUpdated
            | Self::WebhookEndpointDeleted
            | Self::WebhookSecretRotated
            | Self::WebhookEndpointDisabled
            | Self::WebhookMessageFailed => Category::Tenant,
            Self::AirtableRecordCreated
            | Self::AirtableRecordUpdated
            | Self::AirtableRecordDeleted
            | Self::AirtableTableChanged => Category::Airtable,
            Self::AutomationCreated
            | Self::AutomationUpdated
            | Self::AutomationDeleted
            | Self::AutomationRunSucceeded
            | Self::AutomationRunFailed
            | Self::AutomationNotification => Category::Automation,
            Self::FileReady | Self::FileRejected | Self::FileExpired | Self::FileDeleted => Category::Workspace,
        }
    }

    /// What the type means, for the catalogue (`GET /api/v1/events/types`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Registered => "A user registered, creating their tenant (or joining through an invitation).",
            Self::LoginSucceeded => "A user signed in.",
            Self::LoginFailed => "A sign-in failed (wrong password, unknown email, locked account).",
            Self::TokenRefreshed => "A session's refresh token was exchanged for new tokens.",
            Self::LoggedOut => "A session ended.",
            Self::SessionRevoked => "A whole session family was revoked after a refresh token was reused.",
            Self::PasswordResetRequested => {
                "A password reset was requested for an account; the reset token travels sealed for the notifications service."
            }
            Self::PasswordResetCompleted => "A password was reset with a reset token; every session of the user ended.",
            Self::RegistrationRequested => {
                "An account was asked for (REGISTRATION_MODE=verify_email); the verification token travels sealed for the notifications service."
            }
            Self::EmailChangeRequested => {
                "A user asked to change their email (REGISTRATION_MODE=verify_email); the new address confirms it with a token that travels sealed."
            }
            Self::RegistrationAttempted => {
                "Someone asked to register an email that already has an account; its owner is told by email."
            }
            Self::ApiKeyCreated => "An API key was created.",
            Self::ApiKeyRevoked => "An API key was revoked.",
            Self::UserUpdated => "A user's profile, roles or password changed.",
            Self::UserDeleted => "A user was deleted.",
            Self::TenantUpdated => "The tenant's name, slug or settings changed.",
            Self::TenantPlanChanged => "A platform admin changed the tenant's plan.",
            Self::MemberRoleChanged => "A member's tenant role changed.",
            Self::MemberRemoved => "A member was removed from the tenant.",
            Self::OwnershipTransferred => "The tenant's ownership moved to another member.",
            Self::InvitationCreated => {
                "A member was invited (data: invitation id, email, role, expiry, the token sealed for the notifications service)."
            }
            Self::InvitationResent => {
                "An invitation was sent again with a new token (data as for tenant.invitation_created)."
            }
            Self::InvitationRevoked => "An invitation was revoked.",
            Self::InvitationAccepted => "An invitation was accepted and the invitee joined.",
            Self::WorkspaceCreated => "A workspace was created.",
            Self::WorkspaceUpdated => "A workspace was renamed or changed.",
            Self::WorkspaceDeleted => "A workspace was deleted with everything in it.",
            Self::ProjectCreated => "A project was created in a workspace.",
            Self::ProjectUpdated => "A project was changed or archived.",
            Self::ProjectDeleted => "A project was deleted.",
            Self::WorkspaceMemberAdded => "A user was added to a workspace with a role.",
            Self::WorkspaceMemberRoleChanged => "A workspace member's role changed.",
            Self::WorkspaceMemberRemoved => "A user was removed from a workspace.",
            Self::ConnectionCreated => "An Airtable connection (token or OAuth) was added to a workspace.",
            Self::ConnectionDeleted => "An Airtable connection was removed.",
            Self::ConnectionRefreshFailed => {
                "Airtable refused an OAuth connection's refresh: it must be authorized again."
            }
            Self::BaseLinked => "An Airtable base was linked to a workspace.",
            Self::BaseUnlinked => "An Airtable base was unlinked from a workspace.",
            Self::RoleCreated => "A custom role was created.",
            Self::RoleUpdated => "A custom role's name or permissions changed.",
            Self::RoleDeleted => "A custom role was deleted.",
            Self::GrantCreated => "A role was granted to a user on a resource.",
            Self::GrantRevoked => "A grant was revoked.",
            Self::WebhookEndpointCreated => "A webhook endpoint was created.",
            Self::WebhookEndpointUpdated => "A webhook endpoint's URL, filter, description or state changed.",
            Self::WebhookEndpointDeleted => "A webhook endpoint was deleted.",
            Self::WebhookSecretRotated => "A webhook endpoint's signing secret was rotated.",
            Self::WebhookEndpointDisabled => {
                "A webhook endpoint was disabled for its failures (410 Gone, or failing for days)."
            }
            Self::WebhookMessageFailed => "A webhook message failed after its retries.",
            Self::AirtableRecordCreated => {
                "A record was created in a linked Airtable base (data: base_id, table_id, record_id, created_time, \
                 fields by field id, source)."
            }
            Self::AirtableRecordUpdated => {
                "A record was changed in a linked Airtable base (data: base_id, table_id, record_id, changed_fields, \
                 fields and previous by field id, source)."
            }
            Self::AirtableRecordDeleted => {
                "A record was deleted in a linked Airtable base (data: base_id, table_id, record_id, source)."
            }
            Self::AirtableTableChanged => {
                "A table of a linked Airtable base was created, deleted or changed its name, description or fields \
                 (data: base_id, table_id, change, the change's details)."
            }
            Self::AutomationCreated => "An automation was created (data: workspace_id, automation_id, trigger_type).",
            Self::AutomationUpdated => {
                "An automation's definition, name or state changed (data: workspace_id, automation_id, fields)."
            }
            Self::AutomationDeleted => "An automation was deleted (data: workspace_id, automation_id).",
            Self::AutomationRunSucceeded => {
                "An automation's run finished (data: workspace_id, automation_id, run_id, trigger_type, duration_ms)."
            }
            Self::AutomationRunFailed => {
                "An automation's run failed (data: workspace_id, automation_id, run_id, trigger_type, duration_ms, \
                 error)."
            }
            Self::AutomationNotification => {
                "An automation's notify step, for its recipient (the subject; data: automation_id, automation_name, \
                 run_id, subject, body)."
            }
            Self::FileReady => {
                "An upload was checked and inspected (data: workspace_id, file_id, name, content_type, size, sha256)."
            }
            Self::FileRejected => {
                "An upload was rejected and its bytes deleted (data: workspace_id, file_id, name, content_type, size, \
                 reason)."
            }
            Self::FileExpired => {
                "A declared upload never came before its URL expired (data: workspace_id, file_id, name, size)."
            }
            Self::FileDeleted => "A file was deleted (data: workspace_id, file_id, name, size).",
        }
    }

    /// The current version of the type's `data`.
    pub fn version(self) -> u32 {
        first_version()
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

/// The platform event envelope: every event of every service, on the bus and in the audit trail, as
/// `{"id", "type", "version", "time", "tenant", "actor", "subject", "ip", "request_id", "data"}`. The type's
/// catalogue entry ([`Action::describe`]) says what `data` holds; `version` moves on when that changes
/// incompatibly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event (a UUIDv7): every consumer's idempotency key.
    #[serde(rename = "id", alias = "event_id")]
    pub event_id: String,
    #[serde(rename = "type", alias = "action")]
    pub action: Action,
    /// The version of this type's `data`.
    #[serde(default = "first_version")]
    pub version: u32,
    /// When it happened: RFC 3339 with milliseconds on the wire, epoch milliseconds here.
    #[serde(rename = "time", alias = "occurred_at_ms", with = "rfc3339_millis")]
    pub occurred_at_ms: i64,
    /// None for what belongs to no tenant (a failed login for an unknown email).
    #[serde(rename = "tenant", alias = "tenant_id")]
    pub tenant_id: Option<String>,
    /// Who acted (none when anonymous).
    #[serde(rename = "actor", alias = "actor_id")]
    pub actor_id: Option<String>,
    /// The user acted upon.
    #[serde(rename = "subject", alias = "subject_id")]
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    #[serde(default, rename = "data", alias = "details")]
    pub details: Map<String, Value>,
}

fn first_version() -> u32 {
    1
}

/// Epoch milliseconds as RFC 3339 (`2023-11-14T22:13:20.123Z`); reads either form.
mod rfc3339_millis {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn format(ms: i64) -> String {
        let nanos = i128::from(ms) * 1_000_000;
        let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else { return String::new() };
        let at = at.replace_nanosecond(at.millisecond() as u32 * 1_000_000).unwrap_or(at);
        at.format(&Rfc3339).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        struct Millis;
        impl Visitor<'_> for Millis {
            type Value = i64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time or epoch milliseconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                let at = OffsetDateTime::parse(v, &Rfc3339).map_err(E::custom)?;
                i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Millis)
    }
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

impl Event {
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
            version: first_version(),
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
        rfc3339_millis::format(self.occurred_at_ms)
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
        let event = Event::new(Action::UserUpdated, &origin())
            .tenant("t1")
            .actor("admin")
            .subject("u2")
            .detail("fields", serde_json::json!(["first_name"]));
        let body = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&body).unwrap(), event);
        assert_eq!((event.actor_id.as_deref(), event.subject_id.as_deref()), (Some("admin"), Some("u2")));
    }

    #[test]
    fn the_actor_is_the_subject_unless_told_otherwise() {
        let event = Event::new(Action::LoggedOut, &origin()).actor("u1");
        assert_eq!(event.subject_id.as_deref(), Some("u1"));
    }

    #[test]
    fn the_envelope_has_the_catalogues_field_names_and_reads_the_old_ones() {
        let mut event = Event::new(Action::UserUpdated, &origin()).tenant("t1").actor("u1").detail("k", "v");
        event.occurred_at_ms = 1_700_000_000_123;
        let wire = serde_json::to_value(&event).unwrap();
        let mut keys: Vec<&str> = wire.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["actor", "data", "id", "ip", "request_id", "subject", "tenant", "time", "type", "version"]);
        assert_eq!(wire["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(wire["type"], "user.updated");
        // What the audit table stored before the envelope.
        let old = serde_json::json!({"event_id": "e1", "action": "user.updated", "occurred_at_ms": 1_700_000_000_123_i64,
            "tenant_id": "t1", "actor_id": "u1", "subject_id": "u1", "ip": null, "request_id": "r1", "details": {"k": "v"}});
        let read: Event = serde_json::from_value(old).unwrap();
        assert_eq!((read.event_id.as_str(), read.occurred_at_ms, read.version), ("e1", 1_700_000_000_123, 1));
        assert_eq!(read.details["k"], "v");
    }

    #[test]
    fn every_type_is_described() {
        for action in Action::ALL {
            assert!(action.describe().ends_with('.'), "{action:?}");
        }
    }

    #[test]
    fn occurred_at_is_rfc3339() {
        let mut event = Event::new(Action::LoginFailed, &origin());
        event.occurred_at_ms = 1_700_000_000_123;
        assert_eq!(event.occurred_at(), "2023-11-14T22:13:20.123Z");
    }
}
