//! Permissions: what a role lets its holder do, one enum value each ([`Permission`]), and a set of them as one
//! `u16` ([`Permissions`], `Copy`, no allocation). On the wire a permission is its string (`records:read`), a set
//! is a sorted list of those strings.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// One thing a principal may do. Its string form (`as_str`, `FromStr`, serde) is the API's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Permission {
    /// List and read records (and the schema of what one may read).
    RecordsRead,
    /// Create, update and delete records.
    RecordsWrite,
    /// Comment on records.
    CommentsWrite,
    /// Create and change tables and fields.
    SchemaWrite,
    /// Add, remove and change the roles of members.
    MembersManage,
    /// Link and unlink Airtable connections (bases, tokens).
    ConnectionsManage,
    AutomationsManage,
    WebhooksManage,
    /// Read the audit log.
    AuditRead,
    /// Plans, invoices and payment methods: the tenant owner's alone.
    BillingManage,
    /// Create, rename and delete workspaces and projects.
    WorkspacesManage,
}

impl Permission {
    /// Every permission, in declaration (bit) order.
    pub const ALL: [Permission; 11] = [
        Permission::RecordsRead,
        Permission::RecordsWrite,
        Permission::CommentsWrite,
        Permission::SchemaWrite,
        Permission::MembersManage,
        Permission::ConnectionsManage,
        Permission::AutomationsManage,
        Permission::WebhooksManage,
        Permission::AuditRead,
        Permission::BillingManage,
        Permission::WorkspacesManage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::RecordsRead => "records:read",
            Permission::RecordsWrite => "records:write",
            Permission::CommentsWrite => "comments:write",
            Permission::SchemaWrite => "schema:write",
            Permission::MembersManage => "members:manage",
            Permission::ConnectionsManage => "connections:manage",
            Permission::AutomationsManage => "automations:manage",
            Permission::WebhooksManage => "webhooks:manage",
            Permission::AuditRead => "audit:read",
            Permission::BillingManage => "billing:manage",
            Permission::WorkspacesManage => "workspaces:manage",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a permission; its message names the valid ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {given:?}; the permissions are {}", valid_permissions())]
pub struct UnknownPermission {
    pub given: String,
}

fn valid_permissions() -> String {
    Permission::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPermission {
            // Bounded: an error message never carries a megabyte of input back.
            given: s.chars().take(64).collect(),
        })
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PermissionVisitor;
        impl Visitor<'_> for PermissionVisitor {
            type Value = Permission;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission such as \"records:read\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Permission, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(PermissionVisitor)
    }
}

/// A set of [`Permission`]s: one bit each. `Copy`; every operation is a few instructions.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u16);

impl Permissions {
    pub const EMPTY: Permissions = Permissions(0);
    pub const ALL: Permissions = Permissions::of(&Permission::ALL);

    /// The set of `permissions` (usable in `const` items).
    pub const fn of(permissions: &[Permission]) -> Permissions {
        let mut bits = 0;
        let mut i = 0;
        while i < permissions.len() {
            bits |= permissions[i].bit();
            i += 1;
        }
        Permissions(bits)
    }

    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is in `self`.
    pub const fn contains_all(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    #[must_use]
    pub const fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    #[must_use]
    pub const fn without(self, permission: Permission) -> Permissions {
        Permissions(self.0 & !permission.bit())
    }

    #[must_use]
    pub const fn with(self, permission: Permission) -> Permissions {
        Permissions(self.0 | permission.bit())
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The permissions in declaration order (that of [`Permission::ALL`]).
    pub fn iter(self) -> Iter {
        Iter { set: self, next: 0 }
    }

    /// The permissions' strings, sorted (the serialised order).
    pub fn sorted_names(self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.iter().map(Permission::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl std::ops::BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, other: Permissions) -> Permissions {
        self.union(other)
    }
}

impl std::ops::BitOrAssign for Permissions {
    fn bitor_assign(&mut self, other: Permissions) {
        *self = self.union(other);
    }
}

impl From<Permission> for Permissions {
    fn from(permission: Permission) -> Permissions {
        Permissions(permission.bit())
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Permissions {
        let mut set = Permissions::EMPTY;
        set.extend(iter);
        set
    }
}

impl Extend<Permission> for Permissions {
    fn extend<I: IntoIterator<Item = Permission>>(&mut self, iter: I) {
        for permission in iter {
            self.insert(permission);
        }
    }
}

impl IntoIterator for Permissions {
    type Item = Permission;
    type IntoIter = Iter;
    fn into_iter(self) -> Iter {
        self.iter()
    }
}

/// The permissions of a [`Permissions`], in declaration order.
#[derive(Clone, Debug)]
pub struct Iter {
    set: Permissions,
    next: usize,
}

impl Iterator for Iter {
    type Item = Permission;
    fn next(&mut self) -> Option<Permission> {
        while let Some(&permission) = Permission::ALL.get(self.next) {
            self.next += 1;
            if self.set.contains(permission) {
                return Some(permission);
            }
        }
        None
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::as_str)).finish()
    }
}

/// Comma-separated, sorted: `comments:write,records:read`.
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sorted_names().join(","))
    }
}

/// A sorted list of strings.
impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names = self.sorted_names();
        let mut seq = serializer.serialize_seq(Some(names.len()))?;
        for name in names {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

/// A list of strings, in any order; duplicates are harmless, an unknown permission is an error.
impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PermissionsVisitor;
        impl<'de> Visitor<'de> for PermissionsVisitor {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of permissions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Permissions, A::Error> {
                let mut set = Permissions::EMPTY;
                while let Some(permission) = seq.next_element::<Permission>()? {
                    set.insert(permission);
                }
                Ok(set)
            }
        }
        deserializer.deserialize_seq(PermissionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn every_permission_round_trips_through_its_string_and_serde() {
        for permission in Permission::ALL {
            assert_eq!(permission.as_str().parse::<Permission>(), Ok(permission));
            assert_eq!(permission.to_string(), permission.as_str());
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
            assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), permission);
        }
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len(), "names are distinct");
    }

    #[test]
    fn an_unknown_permission_names_the_valid_ones() {
        let err = "records:delete".parse::<Permission>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"records:delete\""), "{message}");
        for permission in Permission::ALL {
            assert!(message.contains(permission.as_str()), "{message} lacks {permission}");
        }
        assert!("RECORDS:READ".parse::<Permission>().is_err(), "case matters");
        assert!(serde_json::from_str::<Permission>("\"records:delete\"").is_err());
        assert!(serde_json::from_str::<Permissions>(r#"["records:read","nope"]"#).is_err());
        let long = "x".repeat(10_000);
        assert!(long.parse::<Permission>().unwrap_err().to_string().len() < 400, "the echo is bounded");
    }

    #[test]
    fn a_set_contains_what_was_put_in_and_nothing_else() {
        let set = Permissions::of(&[Permission::RecordsRead, Permission::AuditRead]);
        assert!(set.contains(Permission::RecordsRead) && set.contains(Permission::AuditRead));
        assert!(!set.contains(Permission::RecordsWrite));
        assert_eq!(set.len(), 2);
        assert!(Permissions::EMPTY.is_empty() && !set.is_empty());
        assert_eq!(Permissions::ALL.len(), Permission::ALL.len());
        let both = set.union(Permission::RecordsWrite.into());
        assert_eq!(both, set | Permissions::from(Permission::RecordsWrite));
        assert!(both.contains_all(set) && !set.contains_all(both));
        assert_eq!(both.intersection(set), set);
        assert_eq!(both.without(Permission::RecordsWrite), set);
        assert_eq!(set.with(Permission::RecordsWrite), both);
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [Permission::RecordsRead, Permission::RecordsWrite, Permission::AuditRead]
        );
        assert_eq!(both.into_iter().collect::<Permissions>(), both);
    }

    #[test]
    fn a_set_serialises_as_a_sorted_list_of_strings() {
        let set = Permissions::of(&[Permission::WorkspacesManage, Permission::RecordsRead, Permission::AuditRead]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["audit:read","records:read","workspaces:manage"]"#);
        assert_eq!(set.to_string(), "audit:read,records:read,workspaces:manage");
        assert_eq!(format!("{set:?}"), r#"{"records:read", "audit:read", "workspaces:manage"}"#);
        let back: Permissions =
            serde_json::from_str(r#"["workspaces:manage","records:read","audit:read","audit:read"]"#).unwrap();
        assert_eq!(back, set);
        assert_eq!(serde_json::to_string(&Permissions::EMPTY).unwrap(), "[]");
        assert_eq!(serde_json::from_str::<Permissions>("[]").unwrap(), Permissions::EMPTY);
    }
}
