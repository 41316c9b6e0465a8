//! Roles: the built-in ones (a const table, below) and a tenant's custom ones (a [`Roles`] catalogue).
//!
//! A user holds one tenant role ([`TenantRole`]: `owner`, `admin`, `member`) and, through grants, workspace
//! roles ([`WorkspaceRole`]: `admin`, `editor`, `commenter`, `viewer`) or custom roles on tenants, workspaces,
//! projects, bases or single tables. As a [`BuiltinRole`] each has one name: the tenant's are prefixed
//! (`tenant_owner`, `tenant_admin`, `tenant_member`; `tenant_admin` is also the platform's JWT role), the
//! workspace admin is `workspace_admin`, and `editor`, `commenter`, `viewer` stand alone. A custom role is
//! written `custom:<id>` ([`RoleId`]).
//!
//! The built-in roles ([`ROLE_TABLE`]; `role_table_renders_as_documented` keeps this copy equal to
//! [`role_table_markdown`]'s rendering):
//!
//! <!-- role table -->
//! | permission         | tenant_owner | tenant_admin | tenant_member | workspace_admin | editor | commenter | viewer |
//! |--------------------|--------------|--------------|---------------|-----------------|--------|-----------|--------|
//! | records:read       | ✓            | ✓            |               | ✓               | ✓      | ✓         | ✓      |
//! | records:write      | ✓            | ✓            |               | ✓               | ✓      |           |        |
//! | comments:write     | ✓            | ✓            |               | ✓               | ✓      | ✓         |        |
//! | schema:write       | ✓            | ✓            |               | ✓               |        |           |        |
//! | members:manage     | ✓            | ✓            |               | ✓               |        |           |        |
//! | connections:manage | ✓            | ✓            |               | ✓               |        |           |        |
//! | automations:manage | ✓            | ✓            |               | ✓               | ✓      |           |        |
//! | webhooks:manage    | ✓            | ✓            |               | ✓               |        |           |        |
//! | audit:read         | ✓            | ✓            |               | ✓               |        |           |        |
//! | billing:manage     | ✓            |              |               |                 |        |           |        |
//! | workspaces:manage  | ✓            | ✓            |               |                 |        |           |        |
//! <!-- end of role table -->
//!
//! `tenant_member` grants nothing by itself: a member does what their other grants say.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{echo, is_valid_id};
use crate::permission::{Permission, Permissions};

/// A role that exists in every tenant, with fixed permissions ([`ROLE_TABLE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinRole {
    TenantOwner,
    TenantAdmin,
    TenantMember,
    WorkspaceAdmin,
    Editor,
    Commenter,
    Viewer,
}

use Permission::*;

const WORKSPACE_ADMIN: Permissions = Permissions::of(&[
    RecordsRead,
    RecordsWrite,
    CommentsWrite,
    SchemaWrite,
    MembersManage,
    ConnectionsManage,
    AutomationsManage,
    WebhooksManage,
    AuditRead,
]);
const EDITOR: Permissions = Permissions::of(&[RecordsRead, RecordsWrite, CommentsWrite, AutomationsManage]);
const COMMENTER: Permissions = Permissions::of(&[RecordsRead, CommentsWrite]);
const VIEWER: Permissions = Permissions::of(&[RecordsRead]);

/// Every built-in role with its permissions, in [`BuiltinRole::ALL`] order.
pub const ROLE_TABLE: [(BuiltinRole, Permissions); 7] = [
    (BuiltinRole::TenantOwner, BuiltinRole::TenantOwner.permissions()),
    (BuiltinRole::TenantAdmin, BuiltinRole::TenantAdmin.permissions()),
    (BuiltinRole::TenantMember, BuiltinRole::TenantMember.permissions()),
    (BuiltinRole::WorkspaceAdmin, BuiltinRole::WorkspaceAdmin.permissions()),
    (BuiltinRole::Editor, BuiltinRole::Editor.permissions()),
    (BuiltinRole::Commenter, BuiltinRole::Commenter.permissions()),
    (BuiltinRole::Viewer, BuiltinRole::Viewer.permissions()),
];

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 7] = [
        BuiltinRole::TenantOwner,
        BuiltinRole::TenantAdmin,
        BuiltinRole::TenantMember,
        BuiltinRole::WorkspaceAdmin,
        BuiltinRole::Editor,
        BuiltinRole::Commenter,
        BuiltinRole::Viewer,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            BuiltinRole::TenantOwner => "tenant_owner",
            BuiltinRole::TenantAdmin => "tenant_admin",
            BuiltinRole::TenantMember => "tenant_member",
            BuiltinRole::WorkspaceAdmin => "workspace_admin",
            BuiltinRole::Editor => "editor",
            BuiltinRole::Commenter => "commenter",
            BuiltinRole::Viewer => "viewer",
        }
    }

    /// What the role allows wherever it is granted (the one source of [`ROLE_TABLE`]).
    pub const fn permissions(self) -> Permissions {
        match self {
            BuiltinRole::TenantOwner => Permissions::ALL,
            BuiltinRole::TenantAdmin => Permissions::ALL.without(BillingManage),
            BuiltinRole::TenantMember => Permissions::EMPTY,
            BuiltinRole::WorkspaceAdmin => WORKSPACE_ADMIN,
            BuiltinRole::Editor => EDITOR,
            BuiltinRole::Commenter => COMMENTER,
            BuiltinRole::Viewer => VIEWER,
        }
    }
}

impl fmt::Display for BuiltinRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BuiltinRole {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, RoleError> {
        BuiltinRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| RoleError::Unknown { given: echo(s) })
    }
}

/// The role a user holds in their tenant (organization). `owner` and `admin` act as a grant of
/// [`BuiltinRole::TenantOwner`] / [`BuiltinRole::TenantAdmin`] at the tenant scope; `member` grants nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantRole {
    Owner,
    Admin,
    Member,
}

impl TenantRole {
    pub const ALL: [TenantRole; 3] = [TenantRole::Owner, TenantRole::Admin, TenantRole::Member];

    /// `owner`, `admin`, `member` (as identity's tenant roles).
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantRole::Owner => "owner",
            TenantRole::Admin => "admin",
            TenantRole::Member => "member",
        }
    }

    pub const fn builtin(self) -> BuiltinRole {
        match self {
            TenantRole::Owner => BuiltinRole::TenantOwner,
            TenantRole::Admin => BuiltinRole::TenantAdmin,
            TenantRole::Member => BuiltinRole::TenantMember,
        }
    }

    /// What the tenant role allows everywhere in the tenant.
    pub const fn permissions(self) -> Permissions {
        self.builtin().permissions()
    }
}

impl FromStr for TenantRole {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, RoleError> {
        TenantRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| RoleError::Unknown { given: echo(s) })
    }
}

impl From<TenantRole> for BuiltinRole {
    fn from(role: TenantRole) -> BuiltinRole {
        role.builtin()
    }
}

/// A user's role in one workspace, granted at that workspace's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    Admin,
    Editor,
    Commenter,
    Viewer,
}

impl WorkspaceRole {
    pub const ALL: [WorkspaceRole; 4] =
        [WorkspaceRole::Admin, WorkspaceRole::Editor, WorkspaceRole::Commenter, WorkspaceRole::Viewer];

    /// `admin`, `editor`, `commenter`, `viewer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Admin => "admin",
            WorkspaceRole::Editor => "editor",
            WorkspaceRole::Commenter => "commenter",
            WorkspaceRole::Viewer => "viewer",
        }
    }

    pub const fn builtin(self) -> BuiltinRole {
        match self {
            WorkspaceRole::Admin => BuiltinRole::WorkspaceAdmin,
            WorkspaceRole::Editor => BuiltinRole::Editor,
            WorkspaceRole::Commenter => BuiltinRole::Commenter,
            WorkspaceRole::Viewer => BuiltinRole::Viewer,
        }
    }
}

impl FromStr for WorkspaceRole {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, RoleError> {
        WorkspaceRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| RoleError::Unknown { given: echo(s) })
    }
}

impl From<WorkspaceRole> for BuiltinRole {
    fn from(role: WorkspaceRole) -> BuiltinRole {
        role.builtin()
    }
}

/// The role of a grant: a built-in one, or a custom one of the tenant's [`Roles`] by id. Its string form (and
/// serde) is the built-in name, or `custom:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleId {
    Builtin(BuiltinRole),
    Custom(String),
}

/// The prefix of a custom role's [`RoleId`] string.
pub const CUSTOM_PREFIX: &str = "custom:";

impl RoleId {
    /// A custom role's id, checked (`[A-Za-z0-9_-]{1,64}`).
    pub fn custom(id: &str) -> Result<RoleId, RoleError> {
        if is_valid_id(id) { Ok(RoleId::Custom(id.to_owned())) } else { Err(RoleError::BadId { given: echo(id) }) }
    }
}

impl From<BuiltinRole> for RoleId {
    fn from(role: BuiltinRole) -> RoleId {
        RoleId::Builtin(role)
    }
}

impl From<WorkspaceRole> for RoleId {
    fn from(role: WorkspaceRole) -> RoleId {
        RoleId::Builtin(role.builtin())
    }
}

impl From<TenantRole> for RoleId {
    fn from(role: TenantRole) -> RoleId {
        RoleId::Builtin(role.builtin())
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleId::Builtin(role) => f.write_str(role.as_str()),
            RoleId::Custom(id) => write!(f, "{CUSTOM_PREFIX}{id}"),
        }
    }
}

impl FromStr for RoleId {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, RoleError> {
        match s.strip_prefix(CUSTOM_PREFIX) {
            Some(id) => RoleId::custom(id),
            None => s.parse().map(RoleId::Builtin),
        }
    }
}

impl Serialize for RoleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RoleId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RoleIdVisitor;
        impl serde::de::Visitor<'_> for RoleIdVisitor {
            type Value = RoleId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a role: a built-in name or custom:<id>")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RoleId, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(RoleIdVisitor)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("unknown role {given:?}; the built-in roles are {}, and a custom role is custom:<id>", builtin_names())]
    Unknown { given: String },
    #[error("bad role id {given:?}: an id is 1 to 64 of A-Z, a-z, 0-9, _ and -")]
    BadId { given: String },
    #[error("a role's name is 1 to {MAX_NAME_LEN} characters, not blank")]
    BadName,
    #[error("custom role {id:?} is defined twice")]
    Duplicate { id: String },
}

fn builtin_names() -> String {
    BuiltinRole::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// The longest custom role name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// A tenant's own role: an id (what grants name), a display name and its permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRole {
    pub id: String,
    pub name: String,
    pub permissions: Permissions,
}

impl CustomRole {
    /// A custom role, checked: the id is `[A-Za-z0-9_-]{1,64}`, the name 1 to [`MAX_NAME_LEN`] characters and
    /// not blank.
    pub fn new(id: &str, name: &str, permissions: Permissions) -> Result<CustomRole, RoleError> {
        let role = CustomRole { id: id.to_owned(), name: name.to_owned(), permissions };
        role.validate()?;
        Ok(role)
    }

    pub fn validate(&self) -> Result<(), RoleError> {
        if !is_valid_id(&self.id) {
            return Err(RoleError::BadId { given: echo(&self.id) });
        }
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME_LEN {
            return Err(RoleError::BadName);
        }
        Ok(())
    }

    pub fn role_id(&self) -> RoleId {
        RoleId::Custom(self.id.clone())
    }
}

/// A tenant's catalogue of custom roles, by id. Built-in roles need no entry. Serialised as a list of
/// [`CustomRole`]s (ids unique, each checked).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<CustomRole>", into = "Vec<CustomRole>")]
pub struct Roles {
    custom: BTreeMap<String, CustomRole>,
}

impl Roles {
    /// No custom roles: only the built-in ones exist.
    pub fn new() -> Roles {
        Roles::default()
    }

    /// Adds `role`, or replaces the role of the same id (returning it).
    pub fn define(&mut self, role: CustomRole) -> Result<Option<CustomRole>, RoleError> {
        role.validate()?;
        Ok(self.custom.insert(role.id.clone(), role))
    }

    pub fn remove(&mut self, id: &str) -> Option<CustomRole> {
        self.custom.remove(id)
    }

    pub fn custom(&self, id: &str) -> Option<&CustomRole> {
        self.custom.get(id)
    }

    /// What `role` allows: a built-in role's row of [`ROLE_TABLE`], a custom role's permissions, nothing for a
    /// custom id this catalogue does not hold. O(1) for a built-in role, O(log r) for a custom one; no allocation.
    pub fn permissions(&self, role: &RoleId) -> Permissions {
        match role {
            RoleId::Builtin(role) => role.permissions(),
            RoleId::Custom(id) => self.custom_permissions(id),
        }
    }

    /// A custom role's permissions; nothing if it is unknown.
    pub fn custom_permissions(&self, id: &str) -> Permissions {
        self.custom.get(id).map_or(Permissions::EMPTY, |role| role.permissions)
    }

    /// The custom roles, by id.
    pub fn iter(&self) -> impl Iterator<Item = &CustomRole> {
        self.custom.values()
    }

    pub fn len(&self) -> usize {
        self.custom.len()
    }

    pub fn is_empty(&self) -> bool {
        self.custom.is_empty()
    }
}

impl TryFrom<Vec<CustomRole>> for Roles {
    type Error = RoleError;

    fn try_from(list: Vec<CustomRole>) -> Result<Roles, RoleError> {
        let mut roles = Roles::new();
        for role in list {
            let id = role.id.clone();
            if roles.define(role)?.is_some() {
                return Err(RoleError::Duplicate { id: echo(&id) });
            }
        }
        Ok(roles)
    }
}

impl From<Roles> for Vec<CustomRole> {
    fn from(roles: Roles) -> Vec<CustomRole> {
        roles.custom.into_values().collect()
    }
}

/// [`ROLE_TABLE`] as a Markdown table: a row per permission, a column per built-in role, `✓` where the role
/// has the permission.
pub fn role_table_markdown() -> String {
    let mut header = vec!["permission".to_owned()];
    header.extend(BuiltinRole::ALL.iter().map(|r| r.as_str().to_owned()));
    let mut rows = vec![header];
    for permission in Permission::ALL {
        let mut row = vec![permission.as_str().to_owned()];
        row.extend(ROLE_TABLE.iter().map(|(_, set)| if set.contains(permission) { "✓" } else { "" }.to_owned()));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let mut out = line(&rows[0]);
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for row in &rows[1..] {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The brief's table, written out independently of [`BuiltinRole::permissions`].
    fn expected(role: BuiltinRole, permission: Permission) -> bool {
        match role {
            BuiltinRole::TenantOwner => true,
            BuiltinRole::TenantAdmin => permission != BillingManage,
            BuiltinRole::TenantMember => false,
            BuiltinRole::WorkspaceAdmin => !matches!(permission, BillingManage | WorkspacesManage),
            BuiltinRole::Editor => matches!(permission, RecordsRead | RecordsWrite | CommentsWrite | AutomationsManage),
            BuiltinRole::Commenter => matches!(permission, RecordsRead | CommentsWrite),
            BuiltinRole::Viewer => permission == RecordsRead,
        }
    }

    #[test]
    fn every_builtin_role_has_exactly_the_permissions_of_the_table() {
        let mut checked = 0;
        for (i, (role, set)) in ROLE_TABLE.iter().enumerate() {
            assert_eq!(*role, BuiltinRole::ALL[i], "the table is in ALL order");
            assert_eq!(*set, role.permissions());
            for permission in Permission::ALL {
                assert_eq!(set.contains(permission), expected(*role, permission), "{role} × {permission}");
                assert_eq!(
                    Roles::new().permissions(&RoleId::Builtin(*role)).contains(permission),
                    expected(*role, permission)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 7 * 11);
    }

    #[test]
    fn role_table_renders_as_documented() {
        let source = include_str!("role.rs");
        let documented: Vec<&str> = source
            .lines()
            .skip_while(|l| !l.starts_with("//! <!-- role table -->"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! <!-- end of role table -->"))
            .map(|l| l.strip_prefix("//! ").unwrap_or(l))
            .collect();
        let rendered = role_table_markdown();
        assert_eq!(documented, rendered.lines().collect::<Vec<_>>(), "the module doc's table is stale:\n{rendered}");
        assert_eq!(rendered.lines().count(), 2 + Permission::ALL.len());
    }

    #[test]
    fn role_names_parse_and_print() {
        for role in BuiltinRole::ALL {
            assert_eq!(role.as_str().parse::<BuiltinRole>(), Ok(role));
            let id = RoleId::from(role);
            assert_eq!(id.to_string().parse::<RoleId>(), Ok(id.clone()));
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{role}\""));
        }
        for role in TenantRole::ALL {
            assert_eq!(role.as_str().parse::<TenantRole>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{}\"", role.as_str()));
        }
        for role in WorkspaceRole::ALL {
            assert_eq!(role.as_str().parse::<WorkspaceRole>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{}\"", role.as_str()));
        }
        assert_eq!(TenantRole::Admin.builtin(), BuiltinRole::TenantAdmin);
        assert_eq!(WorkspaceRole::Admin.builtin(), BuiltinRole::WorkspaceAdmin);
        let custom: RoleId = "custom:analyst".parse().unwrap();
        assert_eq!(custom, RoleId::Custom("analyst".into()));
        assert_eq!(serde_json::to_string(&custom).unwrap(), "\"custom:analyst\"");
        assert_eq!(serde_json::from_str::<RoleId>("\"custom:analyst\"").unwrap(), custom);
        let unknown = "superuser".parse::<RoleId>().unwrap_err().to_string();
        assert!(unknown.contains("viewer") && unknown.contains("custom:<id>"), "{unknown}");
        assert!(matches!("custom:".parse::<RoleId>(), Err(RoleError::BadId { .. })));
        assert!(matches!("custom:a b".parse::<RoleId>(), Err(RoleError::BadId { .. })));
        assert!("admin".parse::<RoleId>().is_err(), "ambiguous: tenant_admin or workspace_admin");
    }

    #[test]
    fn a_catalogue_holds_custom_roles_and_checks_them() {
        let analyst = Permissions::of(&[RecordsRead, AuditRead]);
        let mut roles = Roles::new();
        assert_eq!(roles.define(CustomRole::new("analyst", "Analyst", analyst).unwrap()).unwrap(), None);
        assert_eq!(roles.permissions(&RoleId::Custom("analyst".into())), analyst);
        assert_eq!(roles.custom("analyst").unwrap().name, "Analyst");
        assert_eq!(roles.permissions(&RoleId::Custom("ghost".into())), Permissions::EMPTY, "unknown grants nothing");
        let replaced = roles.define(CustomRole::new("analyst", "Analyst v2", VIEWER).unwrap()).unwrap();
        assert_eq!(replaced.unwrap().permissions, analyst);
        assert_eq!(roles.len(), 1);
        assert!(CustomRole::new("bad id", "x", VIEWER).is_err());
        assert_eq!(CustomRole::new("ok", "  ", VIEWER), Err(RoleError::BadName));
        assert_eq!(CustomRole::new("ok", &"n".repeat(129), VIEWER), Err(RoleError::BadName));
        let bypass = CustomRole { id: "a/b".into(), name: "x".into(), permissions: VIEWER };
        assert!(roles.define(bypass).is_err(), "define checks what was built by hand");

        let json = serde_json::to_string(&roles).unwrap();
        assert_eq!(json, r#"[{"id":"analyst","name":"Analyst v2","permissions":["records:read"]}]"#);
        assert_eq!(serde_json::from_str::<Roles>(&json).unwrap(), roles);
        let twice = r#"[{"id":"a","name":"A","permissions":[]},{"id":"a","name":"B","permissions":[]}]"#;
        assert!(serde_json::from_str::<Roles>(twice).is_err());
        assert!(serde_json::from_str::<Roles>(r#"[{"id":"a:b","name":"A","permissions":[]}]"#).is_err());
        assert_eq!(roles.remove("analyst").map(|r| r.id), Some("analyst".into()));
        assert!(roles.is_empty());
    }
}
