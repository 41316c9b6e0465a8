//! The platform's one permission decision engine: pure logic, no I/O.
//!
//! A tenant (organization) holds workspaces, a workspace projects; Airtable bases are linked to a workspace,
//! optionally inside a project; a base has tables. A user has a tenant role (`owner`, `admin`, `member`) and
//! grants: a role (built-in or one of the tenant's custom roles) on a scope (the tenant, a workspace, a project,
//! a base or one table). The callers load the principal and the tenant's roles; this crate decides.
//!
//! - [`Permission`] / [`Permissions`]: what may be done (`records:read`, …), one bit each.
//! - [`role`]: the built-in roles and their table ([`ROLE_TABLE`]), custom roles ([`Roles`]), [`RoleId`].
//! - [`scope`]: [`Scope`], what covers what, and the string form (`workspace:wsX/base:appZ/table:tblQ`).
//! - [`Grant`], [`Principal`].
//! - The decisions ([`decision`]): [`allows`] (may they do this here?), [`effective`] (everything they may do
//!   here), [`reach`] (on a whole base, some of its tables, or none?).
//!
//! ```
//! use access::{BuiltinRole, Grant, Permission, Principal, Reach, Roles, Scope, TenantRole, WorkspaceRole};
//!
//! let roles = Roles::new();
//! let alice = Principal::new(TenantRole::Member)
//!     .with_grant(Grant::workspace(WorkspaceRole::Editor, "wsA"))
//!     .with_grant(Grant::new(BuiltinRole::Viewer, "workspace:wsB/base:appB/table:tblB".parse()?));
//!
//! let table = Scope::table("wsA", "appA", "tblA").in_project("prA");
//! assert!(access::allows(&alice, &roles, Permission::RecordsWrite, &table));
//! assert!(!access::allows(&alice, &roles, Permission::SchemaWrite, &table));
//! assert_eq!(
//!     access::reach(&alice, &roles, Permission::RecordsRead, &Scope::base("wsB", "appB")),
//!     Reach::Tables(["tblB".to_owned()].into()),
//! );
//! # Ok::<(), access::ScopeError>(())
//! ```
//!
//! **Allow-only and additive.** A permission holds on a target iff the tenant role or at least one grant whose
//! scope covers the target has it. There are no deny rules: a grant never takes away what another gives, and a
//! grant of a custom role the catalogue does not hold gives nothing (deleting a custom role revokes it
//! everywhere).
//!
//! **Fast.** [`allows`] and [`effective`] iterate the grants comparing ids, allocate nothing, and cost O(g) for
//! g grants (a custom role adds an O(log r) catalogue lookup); [`allows`] stops at the first grant that
//! allows. `cargo bench -p access` measures them.

pub mod decision;
pub mod grant;
pub mod id;
pub mod permission;
pub mod role;
pub mod scope;

pub use decision::{Reach, allows, effective, reach};
pub use grant::{Grant, Principal};
pub use id::{MAX_ID_LEN, is_valid_id};
pub use permission::{Permission, Permissions, UnknownPermission};
pub use role::{
    BuiltinRole, CustomRole, ROLE_TABLE, RoleError, RoleId, Roles, TenantRole, WorkspaceRole, role_table_markdown,
};
pub use scope::{Level, MAX_SCOPE_LEN, Scope, ScopeError};
