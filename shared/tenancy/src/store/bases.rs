//! Bases linked to workspaces: one resolution item per base per tenant (so a base resolves to exactly one
//! workspace and connection) and one listing item in its workspace.

use storage::StoreError;
use storage::table::{Condition, WriteOp};

use super::{Listing, StoreFailure, TenancyStore, item, keys};
use crate::records::BaseLink;

/// What linking a base came to.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// The base is already linked in this tenant (to this workspace or another).
    AlreadyLinked,
}

impl TenancyStore {
    /// The link that resolves `base` in `tenant`, if any.
    pub async fn base_link(&self, tenant: &str, base: &str) -> anyhow::Result<Option<BaseLink>> {
        self.read(&keys::base(tenant, base)).await
    }

    /// Every base linked in the tenant (bounded by the plan's connections and the bases they reach).
    pub async fn all_base_links(&self, tenant: &str) -> anyhow::Result<Vec<BaseLink>> {
        self.all(keys::bases(tenant), "BASE#").await
    }

    pub async fn workspace_bases(
        &self,
        tenant: &str,
        ws: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Listing<BaseLink>, StoreFailure> {
        self.page(keys::inside(tenant, ws), "BASE#", limit, cursor).await
    }

    pub async fn link_base(&self, tenant: &str, link: &BaseLink) -> Result<LinkOutcome, StoreFailure> {
        let ops = vec![
            WriteOp::Put {
                item: item(keys::base(tenant, &link.base_id), link, 0)?,
                condition: Condition::MustNotExist,
            },
            WriteOp::Put {
                item: item(keys::workspace_base(tenant, &link.workspace_id, &link.base_id), link, 0)?,
                condition: Condition::Always,
            },
        ];
        match self.table().transact(ops).await {
            Ok(()) => Ok(LinkOutcome::Linked),
            Err(StoreError::ConditionFailed) => Ok(LinkOutcome::AlreadyLinked),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn unlink_base(&self, tenant: &str, link: &BaseLink) -> Result<(), StoreFailure> {
        let ops = vec![
            WriteOp::Delete { key: keys::base(tenant, &link.base_id), condition: Condition::Always },
            WriteOp::Delete {
                key: keys::workspace_base(tenant, &link.workspace_id, &link.base_id),
                condition: Condition::Always,
            },
        ];
        Ok(self.table().transact(ops).await?)
    }
}
