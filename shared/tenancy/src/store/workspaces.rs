//! Workspaces and their projects; deleting a workspace takes everything inside it along.

use anyhow::Context;
use storage::StoreError;
use storage::table::{Condition, Item, WriteOp};

use super::{Listing, StoreFailure, TenancyStore, item, keys};
use crate::records::{Membership, Project, Workspace};

impl TenancyStore {
    pub async fn workspace(&self, tenant: &str, id: &str) -> anyhow::Result<Option<Workspace>> {
        self.read(&keys::workspace(tenant, id)).await
    }

    pub async fn workspaces(
        &self,
        tenant: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<Workspace>, StoreFailure> {
        self.page(keys::workspaces(tenant), "WS#", limit, cursor).await
    }

    /// Every workspace of the tenant (bounded by the plan's workspace limit).
    pub async fn all_workspaces(&self, tenant: &str) -> anyhow::Result<Vec<Workspace>> {
        self.all(keys::workspaces(tenant), "WS#").await
    }

    /// Creates a workspace with its creator as its first admin member, in one transaction.
    pub async fn create_workspace(&self, workspace: &Workspace, creator: &Membership) -> Result<(), StoreFailure> {
        let tenant = &workspace.tenant_id;
        let mut ops = vec![WriteOp::Put {
            item: item(keys::workspace(tenant, &workspace.id), workspace, 0)?,
            condition: Condition::MustNotExist,
        }];
        ops.extend(self.membership_puts(tenant, creator, Condition::MustNotExist)?);
        self.table().transact(ops).await.map_err(|e| match e {
            StoreError::ConditionFailed => StoreFailure::AlreadyExists,
            other => other.into(),
        })
    }

    /// Stores `workspace` if nobody wrote it since it was read.
    pub async fn update_workspace(&self, workspace: &Workspace) -> Result<Workspace, StoreFailure> {
        let key = keys::workspace(&workspace.tenant_id, &workspace.id);
        let stored = self.table().update(item(key, workspace, workspace.version)?).await?;
        Ok(Workspace { version: stored.version, ..workspace.clone() })
    }

    /// Deletes a workspace and everything in it. The base links go first (in one transaction with the
    /// workspace record when they fit), so nothing is reachable through it from the first write on; then
    /// members' access items, grants scoped to it, connections, projects.
    pub async fn delete_workspace(&self, tenant: &str, workspace: &Workspace) -> Result<(), StoreFailure> {
        let ws = &workspace.id;
        let links: Vec<crate::BaseLink> = self.all(keys::inside(tenant, ws), "BASE#").await?;
        let mut first = vec![WriteOp::Delete {
            key: keys::workspace(tenant, ws),
            condition: Condition::VersionIs(workspace.version),
        }];
        for link in &links {
            first.push(WriteOp::Delete { key: keys::base(tenant, &link.base_id), condition: Condition::Always });
        }
        // A transaction holds at most 100 writes, one of them kept for the outbox item of an event committed
        // with this write; links beyond go in the next batches (the workspace is already gone, and a link
        // whose workspace is gone resolves to nothing).
        let room = storage::table::MAX_TRANSACTION_ITEMS - 1;
        let rest = if first.len() > room { first.split_off(room) } else { Vec::new() };
        self.table().transact(first).await?;
        let mut deletes: Vec<storage::table::Key> = rest
            .into_iter()
            .filter_map(|op| match op {
                WriteOp::Delete { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        let members: Vec<Membership> = self.all(keys::inside(tenant, ws), "MEMBER#").await?;
        deletes.extend(members.iter().map(|m| keys::access_member(tenant, &m.user_id, ws)));
        for grant in self.all_grants(tenant).await? {
            if grant.scope.parse::<access::Scope>().is_ok_and(|s| s.workspace.as_deref() == Some(ws.as_str())) {
                deletes.push(keys::grant(tenant, &grant.id));
                deletes.push(keys::access_grant(tenant, &grant.user_id, &grant.id));
            }
        }
        deletes.extend(self.keys(keys::inside(tenant, ws)).await?);
        for chunk in deletes.chunks(25) {
            let ops = chunk.iter().map(|key| WriteOp::Delete { key: key.clone(), condition: Condition::Always });
            self.table().transact(ops.collect()).await.context("Failed to delete a workspace's items")?;
        }
        Ok(())
    }

    /// Marks the tenant's demo workspace as provisioned; `false` when it already was (someone else won).
    pub async fn claim_demo(&self, tenant: &str) -> anyhow::Result<bool> {
        let marker = Item::new(keys::demo_marker(tenant), serde_json::Map::new());
        match self.table().put(marker, Condition::MustNotExist).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to claim the demo workspace")),
        }
    }

    /// Gives the claim back (provisioning failed; the next request tries again).
    pub async fn release_demo(&self, tenant: &str) -> anyhow::Result<()> {
        self.table().delete(&keys::demo_marker(tenant), Condition::Always).await.context("Failed to release")
    }

    pub async fn demo_claimed(&self, tenant: &str) -> anyhow::Result<bool> {
        Ok(self.table().get(&keys::demo_marker(tenant)).await.context("Failed to read the demo marker")?.is_some())
    }

    pub async fn project(&self, tenant: &str, ws: &str, id: &str) -> anyhow::Result<Option<Project>> {
        self.read(&keys::project(tenant, ws, id)).await
    }

    pub async fn projects(
        &self,
        tenant: &str,
        ws: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<Project>, StoreFailure> {
        self.page(keys::inside(tenant, ws), "PROJECT#", limit, cursor).await
    }

    /// Creates (version 0) or updates (the version read) a project.
    pub async fn put_project(&self, tenant: &str, project: &Project) -> Result<Project, StoreFailure> {
        let key = keys::project(tenant, &project.workspace_id, &project.id);
        let stored = self.table().update(item(key, project, project.version)?).await?;
        Ok(Project { version: stored.version, ..project.clone() })
    }

    pub async fn delete_project(&self, tenant: &str, project: &Project) -> Result<(), StoreFailure> {
        let key = keys::project(tenant, &project.workspace_id, &project.id);
        Ok(self.table().delete(&key, Condition::VersionIs(project.version)).await?)
    }
}
