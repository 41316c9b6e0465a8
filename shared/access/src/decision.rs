//! The decisions: [`allows`], [`effective`] and [`reach`].
//!
//! Allow-only and additive: a principal may do what at least one of their grants (or their tenant role) allows
//! on a scope covering the target; there are no deny rules, a grant never takes away what another gives, and a
//! grant naming a custom role the catalogue does not hold gives nothing.
//!
//! Cost, for a principal with g grants and a catalogue of r custom roles: [`allows`] and [`effective`] are
//! O(g) (each grant: at most four id comparisons of ≤ 64 bytes, a constant lookup for a built-in role and an
//! O(log r) one for a custom role) and allocate nothing; [`allows`] stops at the first grant that allows.
//! [`reach`] is O(g + t log t) for t table grants in the base, and allocates only the table set it returns.

use std::collections::BTreeSet;

use crate::grant::{Grant, Principal};
use crate::permission::{Permission, Permissions};
use crate::role::{RoleId, Roles};
use crate::scope::Scope;

/// Whether `principal` may do `permission` on `target`.
pub fn allows(principal: &Principal, roles: &Roles, permission: Permission, target: &Scope) -> bool {
    principal.tenant_role.permissions().contains(permission)
        || principal.grants.iter().any(|grant| grant_allows(grant, roles, permission, target))
}

#[inline]
fn grant_allows(grant: &Grant, roles: &Roles, permission: Permission, target: &Scope) -> bool {
    // The cheaper test first: a built-in role's permissions are a constant, a custom role's a map lookup.
    match &grant.role {
        RoleId::Builtin(role) => role.permissions().contains(permission) && grant.scope.covers(target),
        RoleId::Custom(id) => grant.scope.covers(target) && roles.custom_permissions(id).contains(permission),
    }
}

/// Everything `principal` may do on `target`: the union of the permissions of the grants covering it (and of
/// the tenant role).
pub fn effective(principal: &Principal, roles: &Roles, target: &Scope) -> Permissions {
    principal
        .grants
        .iter()
        .filter(|grant| grant.scope.covers(target))
        .fold(principal.tenant_role.permissions(), |set, grant| set.union(roles.permissions(&grant.role)))
}

/// How far `permission` reaches into one base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Not at all: the base is not the principal's for this permission.
    None,
    /// The whole base (a grant on it or above it).
    Whole,
    /// These tables of it only (table grants), by id.
    Tables(BTreeSet<String>),
}

impl Reach {
    pub fn is_none(&self) -> bool {
        matches!(self, Reach::None)
    }

    /// Whether the reach includes table `table` of the base.
    pub fn includes_table(&self, table: &str) -> bool {
        match self {
            Reach::None => false,
            Reach::Whole => true,
            Reach::Tables(tables) => tables.contains(table),
        }
    }
}

/// Whether `principal` may do `permission` on the base `base_target` as a whole, on some of its tables only,
/// or not at all: what the gateway filters base listings and schemas with. `base_target` is the base as the
/// platform knows it (`Scope::base(w, b)`, `.in_project(p)` when it is in one); its table level, if any, is
/// ignored. A target that names no base gets `Whole` or `None`.
pub fn reach(principal: &Principal, roles: &Roles, permission: Permission, base_target: &Scope) -> Reach {
    if principal.tenant_role.permissions().contains(permission) {
        return Reach::Whole;
    }
    let mut tables = BTreeSet::new();
    for grant in &principal.grants {
        let scope = &grant.scope;
        if !(scope.is_well_formed()
            && scope.covers_above_table(base_target)
            && roles.permissions(&grant.role).contains(permission))
        {
            continue;
        }
        match &scope.table {
            None => return Reach::Whole,
            Some(table) => {
                tables.insert(table.clone());
            }
        }
    }
    if tables.is_empty() { Reach::None } else { Reach::Tables(tables) }
}

#[cfg(test)]
mod tests;
