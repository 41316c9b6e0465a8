//! What clients see. A connection's secret never appears here.

use serde::Serialize;
use tenancy::{BaseLink, Connection, ConnectionKind, Membership, Project, Workspace};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The local runner's per-tenant demo workspace.
    pub demo: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// What the caller may do in it.
    pub permissions: Vec<&'static str>,
    /// Send it back with an update: it applies only if nobody changed the workspace since.
    pub version: u64,
}

impl WorkspaceView {
    pub fn new(w: Workspace, permissions: access::Permissions) -> Self {
        Self {
            id: w.id,
            name: w.name,
            description: w.description,
            demo: w.demo,
            created_by: w.created_by,
            created_at: w.created_at,
            updated_at: w.updated_at,
            permissions: permissions.sorted_names(),
            version: w.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub archived: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id,
            workspace_id: p.workspace_id,
            name: p.name,
            description: p.description,
            archived: p.archived,
            created_by: p.created_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceMemberView {
    pub user_id: String,
    pub workspace_id: String,
    /// `admin`, `editor`, `commenter` or `viewer`.
    pub role: String,
    pub added_by: String,
    pub added_at: String,
    pub version: u64,
}

impl From<Membership> for WorkspaceMemberView {
    fn from(m: Membership) -> Self {
        Self {
            user_id: m.user_id,
            workspace_id: m.workspace_id,
            role: m.role,
            added_by: m.added_by,
            added_at: m.added_at,
            version: m.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceMemberList {
    pub members: Vec<WorkspaceMemberView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub workspace_id: String,
    pub kind: ConnectionKind,
    pub label: String,
    /// The Airtable user the token belongs to.
    pub airtable_user_id: Option<String>,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: String,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id,
            workspace_id: c.workspace_id,
            kind: c.kind,
            label: c.label,
            airtable_user_id: c.airtable_user_id,
            scopes: c.scopes,
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaseView {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub project_id: Option<String>,
    pub connection_id: String,
    pub linked_by: String,
    pub linked_at: String,
}

impl From<BaseLink> for BaseView {
    fn from(b: BaseLink) -> Self {
        Self {
            id: b.base_id,
            name: b.name,
            workspace_id: b.workspace_id,
            project_id: b.project_id,
            connection_id: b.connection_id,
            linked_by: b.linked_by,
            linked_at: b.linked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaseList {
    pub bases: Vec<BaseView>,
    pub next_cursor: Option<String>,
}
