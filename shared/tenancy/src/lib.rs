//! Tenancy below the tenant: workspaces, their projects and members, their Airtable connections (secrets
//! sealed by the keys port), the bases linked to them, custom roles and grants — the workspaces table — and
//! [`resolve`], which turns a caller and a base into the decision the gateway enforces.

pub mod airtable;
pub mod demo;
pub mod records;
pub mod resolve;
pub mod secrets;
pub mod store;

pub use records::{BaseLink, Connection, ConnectionKind, CustomRole, GrantRecord, Membership, Project, Workspace};
pub use secrets::Secrets;
pub use store::{LinkOutcome, Listing, StoreFailure, TenancyStore};

/// The workspaces table's logical name (`TABLE_WORKSPACES` on AWS).
pub const TABLE: &str = "workspaces";

/// Now, as the RFC 3339 text every record and response carries.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A new id with a readable prefix (`ws_…`, `conn_…`): a UUIDv7 without dashes, so ids sort by creation.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}
