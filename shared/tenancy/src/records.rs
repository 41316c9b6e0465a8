//! The workspaces table's records as the services use them. Their keys live in [`crate::store`]. Every record
//! carries its tenant in its key; `version` is the optimistic lock (the version read), not stored as an
//! attribute.

use serde::{Deserialize, Serialize};

/// A workspace: the unit that holds Airtable connections, linked bases, projects and members.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// The per-tenant demo workspace the local runner provisions (its base is the tenant's own copy).
    #[serde(default)]
    pub demo: bool,
    #[serde(skip)]
    pub version: u64,
}

/// A project inside a workspace: a way to group its bases (grants on a project cover the bases in it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub archived: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub version: u64,
}

/// A user's membership of a workspace with a built-in workspace role (`admin`, `editor`, `commenter`,
/// `viewer`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Membership {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    pub added_by: String,
    pub added_at: String,
    #[serde(skip)]
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// A personal access token the workspace's admin pasted in.
    Pat,
    /// Tokens from Airtable's OAuth flow (access + rotating refresh token).
    Oauth,
    /// The platform's own token (`AIRTABLE_API_KEY`), attached to a named tenant by a platform admin. No
    /// secret is stored.
    Platform,
}

/// An Airtable connection of a workspace. Its secret is an envelope from the keys port, bound to the tenant
/// and the connection id (a copy moved to another tenant or connection does not decrypt); never in clear.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub workspace_id: String,
    pub kind: ConnectionKind,
    pub label: String,
    /// The Airtable user the token belongs to (`whoami`).
    #[serde(default)]
    pub airtable_user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Base64 of the keys port's envelope: the token (PAT), or the OAuth token set as JSON.
    #[serde(default)]
    pub secret: Option<String>,
    /// OAuth: when the access token expires (epoch seconds).
    #[serde(default)]
    pub access_expires_at: Option<i64>,
    pub created_by: String,
    pub created_at: String,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(skip)]
    pub version: u64,
}

/// A base linked to a workspace through one of its connections. A base is linked at most once per tenant, so
/// a request for it resolves to exactly one workspace and connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaseLink {
    pub base_id: String,
    pub workspace_id: String,
    #[serde(default)]
    pub project_id: Option<String>,
    pub connection_id: String,
    /// The base's name when it was linked (Airtable's).
    pub name: String,
    pub linked_by: String,
    pub linked_at: String,
    #[serde(skip)]
    pub version: u64,
}

/// A tenant's own role: a named set of permissions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomRole {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub permissions: access::Permissions,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub version: u64,
}

/// A role given to a user on a resource.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub user_id: String,
    /// A built-in role's name or a custom role's id.
    pub role: String,
    /// The resource, in [`access::Scope`]'s string form.
    pub scope: String,
    pub created_by: String,
    pub created_at: String,
    #[serde(skip)]
    pub version: u64,
}

impl Workspace {
    /// A new workspace (fresh id, created now).
    pub fn new(tenant: &str, name: String, description: Option<String>, created_by: &str) -> Self {
        let now = crate::now_rfc3339();
        Self {
            id: crate::new_id("ws_"),
            tenant_id: tenant.to_string(),
            name,
            description,
            created_by: created_by.to_string(),
            created_at: now.clone(),
            updated_at: now,
            demo: false,
            version: 0,
        }
    }
}

impl Membership {
    /// `user` joins `workspace` in `role`, added now by `added_by`.
    pub fn new(workspace: &str, user: &str, role: access::WorkspaceRole, added_by: &str) -> Self {
        Self {
            workspace_id: workspace.to_string(),
            user_id: user.to_string(),
            role: role.as_str().into(),
            added_by: added_by.to_string(),
            added_at: crate::now_rfc3339(),
            version: 0,
        }
    }
}

impl Connection {
    /// A new connection (fresh id, created now) with no secret and nothing known of its Airtable user yet.
    pub fn new(workspace: &str, kind: ConnectionKind, label: String, created_by: &str) -> Self {
        Self {
            id: crate::new_id("conn_"),
            workspace_id: workspace.to_string(),
            kind,
            label,
            airtable_user_id: None,
            scopes: Vec::new(),
            secret: None,
            access_expires_at: None,
            created_by: created_by.to_string(),
            created_at: crate::now_rfc3339(),
            updated_at: None,
            version: 0,
        }
    }
}

impl BaseLink {
    /// `base` (named `name` at Airtable) linked now to `connection`'s workspace, outside any project.
    pub fn new(base: &str, name: String, connection: &Connection, linked_by: &str) -> Self {
        Self {
            base_id: base.to_string(),
            workspace_id: connection.workspace_id.clone(),
            project_id: None,
            connection_id: connection.id.clone(),
            name,
            linked_by: linked_by.to_string(),
            linked_at: crate::now_rfc3339(),
            version: 0,
        }
    }
}
