//! What clients see of tenants, members and invitations.

use identity::plans::Limits;
use identity::{Invitation, InvitationStatus, Tenant, TenantRole, User, UserStatus};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub slug: Option<String>,
    pub plan: String,
    /// The plan's limits.
    pub limits: Limits,
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub owner_user_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Send it back with an update: the update applies only if nobody changed the tenant since.
    pub version: u64,
}

impl TenantView {
    pub fn new(tenant: Tenant, limits: &Limits) -> Self {
        Self {
            id: tenant.tenant_id,
            name: tenant.name,
            slug: tenant.slug,
            plan: tenant.plan,
            limits: limits.clone(),
            settings: tenant.settings,
            owner_user_id: tenant.owner_user_id,
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
            version: tenant.version,
        }
    }
}

/// One limit beside its current use.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitUse {
    /// The limit's name, as in `limits`.
    pub limit: &'static str,
    pub allowed: u64,
    pub used: u64,
}

/// The limits the platform measures today, each beside its use: `members` (members plus pending
/// invitations), `file_storage_bytes` (files declared and not rejected, expired or deleted), and the API rate.
/// The other limits of the plan are enforced by their services.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub plan: String,
    pub usage: Vec<LimitUse>,
    pub rate_limit: RateLimitUse,
    pub metered: MeteredUse,
}

/// This calendar month's (UTC) use as analytics metered it (`GET /api/v1/analytics/usage` has the detail): the
/// requests of signed-in callers that a service answered, on every runtime, up to `USAGE_FLUSH_SECS` behind.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeteredUse {
    pub api_requests_this_month: u64,
    /// Those answered with a 5xx.
    pub api_errors_this_month: u64,
    /// Calls the Airtable gateway made to Airtable for the tenant.
    pub airtable_upstream_calls_this_month: u64,
}

/// The plan's API rate per tenant (a token bucket: `requests_per_second` sustained, `burst` at once; beyond
/// it, 429 with `Retry-After`), and this calendar month's (UTC) requests as the gateway counted them. The
/// counts are the local gateway's; where API Gateway enforces the rate (AWS) they are `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitUse {
    pub requests_per_second: u64,
    pub burst: u64,
    /// Protected requests that passed authorization, refused ones included.
    pub requests_this_month: Option<u64>,
    /// Those refused with 429 for the rate.
    pub throttled_this_month: Option<u64>,
}

/// A member's role in the tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Owner,
    Admin,
    Member,
}

impl From<TenantRole> for MemberRole {
    fn from(role: TenantRole) -> Self {
        match role {
            TenantRole::Owner => Self::Owner,
            TenantRole::Admin => Self::Admin,
            TenantRole::Member => Self::Member,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: MemberRole,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub created_at: String,
    /// The user's version (send it back with a role change).
    pub version: u64,
}

impl MemberView {
    pub fn new(tenant: &Tenant, user: User) -> Self {
        let role = TenantRole::of(tenant, &user).into();
        Self {
            user_id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role,
            status: user.status,
            created_at: user.created_at,
            version: user.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
    /// Pass as `cursor` for the next page; null on the last page. With `role`, a page may hold fewer than
    /// `limit` members.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: MemberRole,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub accepted_by: Option<String>,
}

impl InvitationView {
    pub fn new(invitation: Invitation, now: i64) -> Self {
        let status = match invitation.status {
            InvitationStatus::Pending if now >= invitation.expires_at => "expired",
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
        };
        Self {
            id: invitation.id,
            email: invitation.email,
            role: invitation.role.into(),
            status,
            invited_by: invitation.invited_by,
            created_at: invitation.created_at,
            expires_at: rfc3339(invitation.expires_at),
            accepted_by: invitation.accepted_by,
        }
    }
}

/// A new (or re-issued) invitation and its token, shown once. The notifications service also emails the invitee
/// a link carrying it; the invitee accepts with `POST accept_path`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedInvitation {
    pub invitation: InvitationView,
    pub token: String,
    pub accept_path: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
    pub next_cursor: Option<String>,
}

pub fn rfc3339(epoch_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
