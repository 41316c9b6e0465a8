//! What the workspaces group's projects, members and permissions routes need beyond the rest of the store:
//! a workspace's whole member list, role changes that cannot leave a workspace without an admin, grants written
//! only while their role and workspace exist, a project's deletion with its grants, and another user's access
//! (for decisions asked about someone else).

use access::Roles;
use storage::table::{Condition, WriteOp};

use super::{StoreFailure, TenancyStore, item, keys};
use crate::records::{BaseLink, GrantRecord, Membership, Project};

impl TenancyStore {
    /// Every member of a workspace (bounded by the tenant's members).
    pub async fn all_members(&self, tenant: &str, ws: &str) -> anyhow::Result<Vec<Membership>> {
        self.all(keys::inside(tenant, ws), "MEMBER#").await
    }

    /// Every base linked to a workspace.
    pub async fn all_workspace_bases(&self, tenant: &str, ws: &str) -> anyhow::Result<Vec<BaseLink>> {
        self.all(keys::inside(tenant, ws), "BASE#").await
    }

    /// [`TenancyStore::update_member`], only if `keeps` (another member, read as an admin) is unchanged: two
    /// concurrent demotions of a workspace's last two admins cannot both pass.
    pub async fn update_member_keeping(
        &self,
        tenant: &str,
        membership: &Membership,
        keeps: &Membership,
    ) -> Result<Membership, StoreFailure> {
        let mut ops = self.membership_puts(tenant, membership, Condition::VersionIs(membership.version))?;
        ops.push(keeps_check(tenant, keeps));
        self.table().transact(ops).await?;
        Ok(Membership { version: membership.version + 1, ..membership.clone() })
    }

    /// [`TenancyStore::remove_member`], only if `keeps` (another member, read as an admin) is unchanged.
    pub async fn remove_member_keeping(
        &self,
        tenant: &str,
        membership: &Membership,
        keeps: &Membership,
    ) -> Result<(), StoreFailure> {
        let (ws, user) = (&membership.workspace_id, &membership.user_id);
        let ops = vec![
            WriteOp::Delete {
                key: keys::member(tenant, ws, user),
                condition: Condition::VersionIs(membership.version),
            },
            WriteOp::Delete { key: keys::access_member(tenant, user, ws), condition: Condition::Always },
            keeps_check(tenant, keeps),
        ];
        Ok(self.table().transact(ops).await?)
    }

    /// [`TenancyStore::create_grant`], only while the workspace it is in (if any) and the custom role it names
    /// (if any) exist; `VersionConflict` when either is gone.
    pub async fn create_grant_checked(
        &self,
        tenant: &str,
        grant: &GrantRecord,
        workspace: Option<&str>,
        custom_role: Option<&str>,
    ) -> Result<(), StoreFailure> {
        let mut ops = vec![
            WriteOp::Put { item: item(keys::grant(tenant, &grant.id), grant, 0)?, condition: Condition::MustNotExist },
            WriteOp::Put {
                item: item(keys::access_grant(tenant, &grant.user_id, &grant.id), grant, 0)?,
                condition: Condition::MustNotExist,
            },
        ];
        if let Some(ws) = workspace {
            ops.push(WriteOp::Check { key: keys::workspace(tenant, ws), condition: Condition::MustExist });
        }
        if let Some(role) = custom_role {
            ops.push(WriteOp::Check { key: keys::role(tenant, role), condition: Condition::MustExist });
        }
        Ok(self.table().transact(ops).await?)
    }

    /// Deletes a project (if nobody changed it since it was read), then the grants scoped to it.
    pub async fn delete_project_with_grants(&self, tenant: &str, project: &Project) -> Result<(), StoreFailure> {
        self.delete_project(tenant, project).await?;
        let mut deletes = Vec::new();
        for grant in self.all_grants(tenant).await? {
            let in_project = grant.scope.parse::<access::Scope>().is_ok_and(|s| {
                s.workspace.as_deref() == Some(project.workspace_id.as_str())
                    && s.project.as_deref() == Some(project.id.as_str())
            });
            if in_project {
                deletes.push(keys::grant(tenant, &grant.id));
                deletes.push(keys::access_grant(tenant, &grant.user_id, &grant.id));
            }
        }
        for chunk in deletes.chunks(25) {
            let ops = chunk.iter().map(|key| WriteOp::Delete { key: key.clone(), condition: Condition::Always });
            self.table().transact(ops.collect()).await.map_err(anyhow::Error::new)?;
        }
        Ok(())
    }

    /// The tenant's custom roles as the engine's catalogue (a role that does not validate is left out: it
    /// grants nothing).
    pub async fn role_catalogue(&self, tenant: &str) -> anyhow::Result<Roles> {
        let mut roles = Roles::new();
        for role in self.all_roles(tenant).await? {
            if let Ok(custom) = access::CustomRole::new(&role.id, &role.name, role.permissions) {
                _ = roles.define(custom);
            }
        }
        Ok(roles)
    }
}

fn keeps_check(tenant: &str, keeps: &Membership) -> WriteOp {
    WriteOp::Check {
        key: keys::member(tenant, &keeps.workspace_id, &keeps.user_id),
        condition: Condition::VersionIs(keeps.version),
    }
}
