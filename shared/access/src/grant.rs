//! Grants (a role on a scope) and principals (a tenant role and grants): what a decision is made from.

use serde::{Deserialize, Serialize};

use crate::role::{RoleId, TenantRole, WorkspaceRole};
use crate::scope::Scope;

/// A role on a scope: the role's permissions hold on every target the scope covers ([`Scope::covers`]).
/// Serialised as `{"role": "viewer", "scope": "workspace:wsX/base:appZ/table:tblQ"}` (both strings checked).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: RoleId,
    pub scope: Scope,
}

impl Grant {
    pub fn new(role: impl Into<RoleId>, scope: Scope) -> Grant {
        Grant { role: role.into(), scope }
    }

    /// A workspace role in workspace `workspace`.
    pub fn workspace(role: WorkspaceRole, workspace: impl Into<String>) -> Grant {
        Grant::new(role, Scope::workspace(workspace))
    }
}

/// Who asks: their tenant role (which acts as a grant of its built-in role at the tenant scope: everything for
/// `owner`, everything but `billing:manage` for `admin`, nothing for `member`) and their other grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub tenant_role: TenantRole,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

impl Principal {
    pub fn new(tenant_role: TenantRole) -> Principal {
        Principal { tenant_role, grants: Vec::new() }
    }

    #[must_use]
    pub fn with_grant(mut self, grant: Grant) -> Principal {
        self.grants.push(grant);
        self
    }

    /// The grant the tenant role implies, if it implies one (`owner`, `admin`).
    pub fn tenant_grant(&self) -> Option<Grant> {
        (!self.tenant_role.permissions().is_empty()).then(|| Grant::new(self.tenant_role, Scope::tenant()))
    }
}
