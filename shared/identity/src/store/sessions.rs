//! Sessions: one item per refresh-token family, expiring (TTL) at the session's absolute end.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use storage::StoreError;
use storage::table::{Condition, Item};

use super::{IdentityStore, StoreFailure, from_attrs, keys, to_attrs};
use crate::records::Session;

#[derive(Serialize, Deserialize)]
struct Stored {
    session_id: String,
    user_id: String,
    tenant_id: String,
    refresh_jti: String,
    created_at: String,
}

fn session_item(session: &Session) -> anyhow::Result<Item> {
    let stored = Stored {
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        tenant_id: session.tenant_id.clone(),
        refresh_jti: session.refresh_jti.clone(),
        created_at: session.created_at.clone(),
    };
    let mut item = Item::new(keys::session(&session.tenant_id, &session.user_id, &session.id), to_attrs(&stored)?);
    item.expires_at = Some(session.ends_at);
    item.version = session.version;
    Ok(item)
}

fn session_from(item: &Item) -> anyhow::Result<Session> {
    let s: Stored = from_attrs(item)?;
    Ok(Session {
        id: s.session_id,
        user_id: s.user_id,
        tenant_id: s.tenant_id,
        refresh_jti: s.refresh_jti,
        created_at: s.created_at,
        ends_at: item.expires_at.unwrap_or_default(),
        version: item.version,
    })
}

impl IdentityStore {
    pub async fn create_session(&self, session: &Session) -> anyhow::Result<()> {
        self.table.put(session_item(session)?, Condition::MustNotExist).await.context("Failed to create a session")?;
        Ok(())
    }

    /// The session, unless revoked (deleted) or past its absolute end (expired items are gone to readers).
    pub async fn session(&self, tenant_id: &str, user_id: &str, session_id: &str) -> anyhow::Result<Option<Session>> {
        let key = keys::session(tenant_id, user_id, session_id);
        let item = self.table.get(&key).await.context("Failed to read a session")?;
        item.as_ref().map(session_from).transpose()
    }

    /// Makes `new_jti` the only refresh token the session accepts, if nobody rotated it since it was read
    /// (two refreshes racing with one token: one wins, the other is treated as reuse).
    pub async fn rotate_session(&self, session: &Session, new_jti: &str) -> Result<Session, StoreFailure> {
        let rotated = Session { refresh_jti: new_jti.to_string(), ..session.clone() };
        match self.table.update(session_item(&rotated)?).await {
            Ok(stored) => Ok(Session { version: stored.version, ..rotated }),
            Err(StoreError::ConditionFailed) => Err(StoreFailure::VersionConflict),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to rotate a session").into()),
        }
    }

    /// Revokes the session: its refresh token and its access tokens stop working.
    pub async fn delete_session(&self, tenant_id: &str, user_id: &str, session_id: &str) -> anyhow::Result<()> {
        let key = keys::session(tenant_id, user_id, session_id);
        self.table.delete(&key, Condition::Always).await.context("Failed to delete a session")?;
        Ok(())
    }
}
