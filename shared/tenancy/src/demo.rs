//! The local runner's demo workspaces: each tenant, on its first listing of workspaces or bases, gets a
//! "Demo" workspace whose connection reaches only the tenant's own copy of the demo bases (the emulator makes
//! one per tenant), so tenants never see each other's demo data and the README's first steps work. The
//! runner provides the copies ([`DemoProvisioner`]); on AWS there is none and nothing happens.

use async_trait::async_trait;
use platform::Caller;
use secrecy::SecretString;

use crate::{BaseLink, Connection, ConnectionKind, Membership, Secrets, TenancyStore, Workspace};

/// Fresh demo data for one tenant.
pub struct DemoData {
    /// A token that reaches the copies and nothing else.
    pub token: SecretString,
    /// (base id, name) of each copy.
    pub bases: Vec<(String, String)>,
    /// The Airtable user the token belongs to.
    pub airtable_user_id: String,
}

#[async_trait]
pub trait DemoProvisioner: Send + Sync {
    async fn provision(&self, tenant: &str) -> anyhow::Result<DemoData>;
}

/// Makes sure the caller's tenant has its demo workspace (once per tenant: a claim item decides who makes
/// it). Failures are logged and given back, so the next request tries again; the caller's request goes on.
pub async fn ensure(
    store: &TenancyStore,
    secrets: &Secrets,
    provisioner: Option<&dyn DemoProvisioner>,
    caller: &Caller,
) {
    let Some(provisioner) = provisioner else { return };
    match store.demo_claimed(&caller.tenant_id).await {
        Ok(false) => {}
        Ok(true) => return,
        Err(e) => return tracing::warn!(error = ?e, "could not read the demo marker"),
    }
    match store.claim_demo(&caller.tenant_id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => return tracing::warn!(error = ?e, "could not claim the demo workspace"),
    }
    if let Err(e) = create(store, secrets, provisioner, caller).await {
        tracing::warn!(error = ?e, "could not provision the demo workspace");
        if let Err(e) = store.release_demo(&caller.tenant_id).await {
            tracing::warn!(error = ?e, "could not release the demo claim");
        }
    }
}

async fn create(
    store: &TenancyStore,
    secrets: &Secrets,
    provisioner: &dyn DemoProvisioner,
    caller: &Caller,
) -> anyhow::Result<()> {
    let tenant = &caller.tenant_id;
    let data = provisioner.provision(tenant).await?;
    let description = Some("Your own copy of the demo bases (local runner only)".to_string());
    let workspace = Workspace { demo: true, ..Workspace::new(tenant, "Demo".into(), description, &caller.user_id) };
    let creator = Membership::new(&workspace.id, &caller.user_id, access::WorkspaceRole::Admin, &caller.user_id);
    store.create_workspace(&workspace, &creator).await?;
    let mut connection = Connection::new(&workspace.id, ConnectionKind::Pat, "Demo data".into(), &caller.user_id);
    connection.secret = Some(secrets.seal(tenant, &connection.id, &data.token).await?);
    connection.airtable_user_id = Some(data.airtable_user_id);
    store.put_connection(tenant, &connection).await?;
    for (base_id, name) in data.bases {
        store.link_base(tenant, &BaseLink::new(&base_id, name, &connection, &caller.user_id)).await?;
    }
    Ok(())
}
