//! From a caller to a decision: the caller's access in its tenant (tenant role, workspace memberships,
//! grants, the tenant's custom roles) loaded in one partition read, then asked of the one engine
//! ([`access`]). Every group and the gateway decide through [`CallerAccess`]; nothing else decides.
//!
//! Table grants name a table by id (`tbl…`). A request may name its table by name: the gateway then looks the
//! name up in the base's schema (`airtable::gateway`), so a renamed table stays granted and no name is stored.

use access::{Grant, Permission, Permissions, Principal, Reach, RoleId, Roles, Scope, TenantRole, WorkspaceRole};
use platform::Caller;

use crate::records::BaseLink;
use crate::store::TenancyStore;
use crate::store::access_items::UserAccess;

/// The tenant role the authorizer's context says the caller has: admins (and the owner, always an admin)
/// hold it tenant-wide; a platform admin acting in its own tenant is one too.
pub fn tenant_role(caller: &Caller) -> TenantRole {
    if caller.is_tenant_admin() { TenantRole::Admin } else { TenantRole::Member }
}

/// What one caller may do in its tenant.
#[derive(Clone, Debug)]
pub struct CallerAccess {
    pub principal: Principal,
    pub roles: Roles,
    /// At most these permissions, whatever the grants say: a read-only API key's `records:read`.
    pub ceiling: Permissions,
}

impl CallerAccess {
    /// Reads the caller's memberships and grants (one partition) and the tenant's custom roles only when a
    /// grant names one, then narrows them to what the caller's API key allows.
    pub async fn load(store: &TenancyStore, caller: &Caller) -> anyhow::Result<Self> {
        let access = Self::load_for_user(store, &caller.tenant_id, &caller.user_id, tenant_role(caller)).await?;
        Ok(access.narrowed(caller))
    }

    /// What the caller's API key leaves of its user's access: a key narrowed to a workspace keeps only what
    /// its user holds inside that workspace (the authorizer already dropped the tenant-wide roles); a
    /// read-only key reads at most.
    pub fn narrowed(mut self, caller: &Caller) -> Self {
        if let Some(workspace) = &caller.key_scope.workspace {
            self.principal.tenant_role = TenantRole::Member;
            self.principal.grants.retain(|g| g.scope.workspace.as_deref() == Some(workspace.as_str()));
        }
        if caller.key_scope.read_only {
            self.ceiling = Permission::RecordsRead.into();
        }
        self
    }

    /// A user's access in `tenant` with `tenant_role` (for a decision about another user, the role from the
    /// identity store's user record): memberships, grants, and custom roles when a grant names one.
    pub async fn load_for_user(
        store: &TenancyStore,
        tenant: &str,
        user: &str,
        tenant_role: TenantRole,
    ) -> anyhow::Result<Self> {
        let held = store.user_access(tenant, user).await?;
        let roles = if held.grants.iter().any(|g| g.role.starts_with(access::role::CUSTOM_PREFIX)) {
            store.role_catalogue(tenant).await?
        } else {
            Roles::new()
        };
        Ok(Self { principal: principal(tenant_role, &held), roles, ceiling: Permissions::ALL })
    }

    pub fn allows(&self, permission: Permission, target: &Scope) -> bool {
        self.ceiling.contains(permission) && access::allows(&self.principal, &self.roles, permission, target)
    }

    pub fn effective(&self, target: &Scope) -> Permissions {
        access::effective(&self.principal, &self.roles, target).intersection(self.ceiling)
    }

    /// Whether `permission` holds on the base as a whole, on some of its tables, or not at all.
    pub fn reach(&self, permission: Permission, base: &Scope) -> Reach {
        if !self.ceiling.contains(permission) {
            return Reach::None;
        }
        access::reach(&self.principal, &self.roles, permission, base)
    }

    /// Whether the caller sees the workspace at all (any permission in it, or on anything inside it).
    pub fn sees_workspace(&self, workspace: &str) -> bool {
        let scope = Scope::workspace(workspace);
        !self.effective(&scope).is_empty()
            || self.principal.grants.iter().any(|g| g.scope.workspace.as_deref() == Some(workspace))
    }
}

/// The principal a user's stored access makes: the tenant role, one grant per membership (its workspace
/// role on the workspace), and every grant record.
pub fn principal(tenant_role: TenantRole, held: &UserAccess) -> Principal {
    let mut grants = Vec::with_capacity(held.memberships.len() + held.grants.len());
    for membership in &held.memberships {
        if let Ok(role) = membership.role.parse::<WorkspaceRole>() {
            grants.push(Grant { role: RoleId::from(role), scope: Scope::workspace(membership.workspace_id.as_str()) });
        }
    }
    for record in &held.grants {
        let (Ok(role), Ok(scope)) = (record.role.parse::<RoleId>(), record.scope.parse::<Scope>()) else {
            continue;
        };
        grants.push(Grant { role, scope });
    }
    Principal { tenant_role, grants }
}

/// The resource a request for `link`'s base (and `table`, when it names one) is.
pub fn base_scope(link: &BaseLink, table: Option<&str>) -> Scope {
    let mut scope = Scope::base(link.workspace_id.as_str(), link.base_id.as_str());
    if let Some(project) = &link.project_id {
        scope = scope.in_project(project.as_str());
    }
    if let Some(table) = table {
        scope.table = Some(table.to_string());
    }
    scope
}
