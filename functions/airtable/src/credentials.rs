//! Which Airtable credential serves a request, and whether the caller may make it — asked once per upstream
//! request, in one place ([`CredentialResolver`]).
//!
//! [`TenantCredentials`] (both runtimes): the base resolves through the caller's tenant — the workspace that
//! links it, the caller's permission there (per table where granted: reads need `records:read`, record writes
//! and uploads `records:write`, comment writes `comments:write`, meta writes `schema:write`, webhooks
//! `webhooks:manage`), that workspace's connection. A base not linked in the caller's tenant, or not
//! permitted, answers exactly what a base that does not exist answers (Airtable's own 403 body), in both dialects.
//! The base listing and whoami are answered from the links, never upstream. [`PlatformCredential`] (every
//! caller, every base, one token) remains for the crate's unit tests only.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access::{Permission, Permissions, Reach};
use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use storage::cache::Cache;
use tenancy::airtable::{AirtableCallError, AirtableClient};
use tenancy::demo::DemoProvisioner;
use tenancy::resolve::{CallerAccess, base_scope};
use tenancy::secrets::OAuthTokens;
use tenancy::{BaseLink, Connection, ConnectionKind, Secrets, TenancyStore};

use crate::error::GatewayError;
use crate::upstream::UpstreamRequest;

/// A token, and an identity for it that is safe to put in cache keys and limiter keys (a hash prefix:
/// two credentials never share cached data, and the token itself never leaves this struct).
pub struct Credential {
    identity: String,
    token: SecretString,
}

impl Credential {
    pub fn new(token: SecretString) -> Self {
        let digest = Sha256::digest(token.expose_secret().as_bytes());
        Self { identity: format!("cred-{}", hex::encode(&digest[..8])), token }
    }

    /// A connection's token: its identity is the connection's, so a rotated token keeps the connection's
    /// cached reads and its limiter slot.
    pub fn for_connection(tenant: &str, connection: &str, token: SecretString) -> Self {
        let digest = Sha256::digest(format!("{tenant}\u{0}{connection}").as_bytes());
        Self { identity: format!("conn-{}", hex::encode(&digest[..8])), token }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn token(&self) -> &SecretString {
        &self.token
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("identity", &self.identity).finish_non_exhaustive()
    }
}

/// A base the caller may reach, for the base listing and whoami.
#[derive(Clone, Debug)]
pub struct VisibleBase {
    pub id: String,
    pub name: String,
    /// What the caller may do on the base as a whole (a table-level grant alone shows `records:read` on
    /// the tables it names only, so the base is listed with what the whole base allows).
    pub permissions: Permissions,
}

impl VisibleBase {
    /// Airtable's `permissionLevel` for what the caller may do.
    pub fn permission_level(&self) -> &'static str {
        if self.permissions.contains(Permission::SchemaWrite) {
            "create"
        } else if self.permissions.contains(Permission::RecordsWrite) {
            "edit"
        } else if self.permissions.contains(Permission::CommentsWrite) {
            "comment"
        } else {
            "read"
        }
    }
}

/// The Airtable scopes a set of permissions amounts to (for whoami).
pub fn airtable_scopes(permissions: Permissions) -> Vec<&'static str> {
    let mut scopes = Vec::new();
    let mut add = |held: bool, names: &[&'static str]| {
        if held {
            scopes.extend_from_slice(names);
        }
    };
    add(
        permissions.contains(Permission::RecordsRead),
        &["data.records:read", "data.recordComments:read", "schema.bases:read"],
    );
    add(permissions.contains(Permission::RecordsWrite), &["data.records:write"]);
    add(permissions.contains(Permission::CommentsWrite), &["data.recordComments:write"]);
    add(permissions.contains(Permission::SchemaWrite), &["schema.bases:write"]);
    add(permissions.contains(Permission::WebhooksManage), &["webhook:manage"]);
    scopes
}

/// What the resolver decided for one request.
#[derive(Debug)]
pub struct Resolved {
    pub credential: Arc<Credential>,
    /// `Some`: the caller holds the permission on these tables of the base only (table grants, by id), and
    /// the request names its table by name or reads the base's schema. The gateway then looks the name up in
    /// the schema, or filters the schema, before anything is answered ([`crate::gateway::Gateway`]).
    pub only_tables: Option<BTreeSet<String>>,
}

impl Resolved {
    pub fn whole(credential: Arc<Credential>) -> Self {
        Self { credential, only_tables: None }
    }
}

#[async_trait]
pub trait CredentialResolver: Send + Sync {
    /// The credential for `caller` to send `request` (which names a base), or Airtable's own refusal.
    async fn resolve(&self, caller: &Caller, request: &UpstreamRequest) -> Result<Resolved, GatewayError>;

    /// The bases the caller may reach (`None`: ask Airtable with the one credential — unit tests only).
    async fn bases(&self, caller: &Caller) -> Result<Option<Vec<VisibleBase>>, GatewayError>;

    /// After Airtable refused `stale` (401): a fresh credential when its connection can get one (an OAuth
    /// connection refreshes), else `None` and the refusal stands.
    async fn renew(
        &self,
        _caller: &Caller,
        _request: &UpstreamRequest,
        _stale: &Credential,
    ) -> Result<Option<Arc<Credential>>, GatewayError> {
        Ok(None)
    }
}

/// What a request needs: the base, the table when it names one, and the permission.
#[derive(Debug, PartialEq, Eq)]
pub struct Need<'a> {
    pub base: &'a str,
    pub table: Option<&'a str>,
    pub permission: Permission,
}

/// Reads what a request needs from the upstream path it will send (so no route can forget to say it).
pub fn need(request: &UpstreamRequest) -> Option<Need<'_>> {
    let s: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let write = !request.read && request.method != Method::GET;
    let (base, table, permission) = match s.as_slice() {
        ["v0", "meta", "bases", base, "tables", rest @ ..] => {
            let permission = if write { Permission::SchemaWrite } else { Permission::RecordsRead };
            (*base, rest.first().copied(), permission)
        }
        ["v0", "bases", base, "webhooks", ..] => (*base, None, Permission::WebhooksManage),
        ["v0", base, table, _record, "comments", ..] => {
            let permission = if write { Permission::CommentsWrite } else { Permission::RecordsRead };
            (*base, Some(*table), permission)
        }
        // Uploads name the record, not its table: they need the whole base's write permission.
        ["v0", base, _record, _field, "uploadAttachment"] => (*base, None, Permission::RecordsWrite),
        ["v0", base, table, ..] if *base != "meta" && *base != "bases" => {
            let permission = if write { Permission::RecordsWrite } else { Permission::RecordsRead };
            (*base, Some(*table), permission)
        }
        _ => return None,
    };
    Some(Need { base, table, permission })
}

/// `GET /v0/meta/bases/{baseId}/tables`: the base's schema.
fn is_schema_read(request: &UpstreamRequest) -> bool {
    request.method == Method::GET
        && matches!(request.segments.as_slice(),
            [v0, meta, bases, _, tables] if v0 == "v0" && meta == "meta" && bases == "bases" && tables == "tables")
}

/// Airtable's answer for a base that does not exist or that the token may not see; the gateway gives it
/// for every base the caller may not reach, so existence does not leak.
pub fn no_such_base() -> GatewayError {
    const BODY: &str = r#"{"error":{"type":"INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND","message":"Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct."}}"#;
    GatewayError::Upstream {
        status: StatusCode::FORBIDDEN,
        body: Bytes::from_static(BODY.as_bytes()),
        retry_after: None,
    }
}

fn unavailable(message: &str) -> GatewayError {
    GatewayError::Invalid {
        status: StatusCode::SERVICE_UNAVAILABLE,
        kind: "SERVICE_UNAVAILABLE",
        message: message.into(),
    }
}

/// How long a decision input (a base's link, a user's grants, a connection) is remembered at most. Under
/// `cargo run` a write through the workspaces routes forgets it at once (`tenancy::store::changes`); a Lambda
/// function sees another function's writes within this bound.
pub const REMEMBER_FOR: Duration = Duration::from_secs(5);

/// Decision inputs remembered while their tenant's epoch is unchanged, and for [`REMEMBER_FOR`] at most.
struct Memo<K, V> {
    entries: Mutex<HashMap<K, (u64, Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    fn new() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &K, epoch: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at_epoch, at, _)| *at_epoch == epoch && at.elapsed() < REMEMBER_FOR)
            .map(|(_, _, value)| value.clone())
    }

    /// `epoch`: the tenant's epoch read *before* `value` was loaded.
    fn put(&self, key: K, epoch: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(key, (epoch, Instant::now(), value));
    }
}

/// How long an opened connection secret is kept in memory (keyed by the connection's version, so a
/// rotation or a new token is seen at once; a deleted connection is unreachable through its links anyway).
const OPENED_TTL: Duration = Duration::from_secs(300);
/// An OAuth access token is refreshed this long before Airtable says it expires.
const REFRESH_MARGIN_SECS: i64 = 120;

/// The resolver both runtimes use.
pub struct TenantCredentials {
    store: TenancyStore,
    secrets: Secrets,
    /// `AIRTABLE_API_KEY`: serves `platform` connections (bases a platform admin attached to a tenant).
    platform: Option<Arc<Credential>>,
    airtable: AirtableClient,
    cache: Arc<dyn Cache>,
    namespace: String,
    demo: Option<Arc<dyn DemoProvisioner>>,
    opened: Mutex<HashMap<(String, String), Opened>>,
    /// (tenant, base) → its link, if any.
    links: Memo<(String, String), Option<BaseLink>>,
    /// (tenant, user, tenant role) → the user's access, before its API key narrows it.
    access: Memo<(String, String, access::TenantRole), CallerAccess>,
    /// (tenant, connection) → the connection, if it still exists.
    connections: Memo<(String, String), Option<Connection>>,
}

/// An opened connection secret: the connection's version, when it was opened, the credential.
type Opened = (u64, Instant, Arc<Credential>);

impl TenantCredentials {
    pub fn new(
        store: TenancyStore,
        secrets: Secrets,
        platform_token: Option<SecretString>,
        airtable: AirtableClient,
        cache: Arc<dyn Cache>,
        namespace: &str,
    ) -> Self {
        Self {
            store,
            secrets,
            platform: platform_token.map(|t| Arc::new(Credential::new(t))),
            airtable,
            cache,
            namespace: namespace.to_string(),
            demo: None,
            opened: Mutex::new(HashMap::new()),
            links: Memo::new(),
            access: Memo::new(),
            connections: Memo::new(),
        }
    }

    async fn link(&self, tenant: &str, base: &str, epoch: u64) -> Result<Option<BaseLink>, GatewayError> {
        let key = (tenant.to_string(), base.to_string());
        if let Some(link) = self.links.get(&key, epoch) {
            return Ok(link);
        }
        let link = self.store.base_link(tenant, base).await.map_err(GatewayError::Unexpected)?;
        self.links.put(key, epoch, link.clone());
        Ok(link)
    }

    async fn caller_access(&self, caller: &Caller, epoch: u64) -> Result<CallerAccess, GatewayError> {
        let role = tenancy::resolve::tenant_role(caller);
        let key = (caller.tenant_id.clone(), caller.user_id.clone(), role);
        let access = match self.access.get(&key, epoch) {
            Some(access) => access,
            None => {
                let access = CallerAccess::load_for_user(&self.store, &caller.tenant_id, &caller.user_id, role)
                    .await
                    .map_err(GatewayError::Unexpected)?;
                self.access.put(key, epoch, access.clone());
                access
            }
        };
        Ok(access.narrowed(caller))
    }

    async fn connection(&self, tenant: &str, link: &BaseLink, epoch: u64) -> Result<Connection, GatewayError> {
        let key = (tenant.to_string(), link.connection_id.clone());
        let connection = match self.connections.get(&key, epoch) {
            Some(connection) => connection,
            None => {
                let connection = self
                    .store
                    .connection(tenant, &link.workspace_id, &link.connection_id)
                    .await
                    .map_err(GatewayError::Unexpected)?;
                self.connections.put(key, epoch, connection.clone());
                connection
            }
        };
        connection.ok_or_else(no_such_base)
    }

    /// The credential of `link`'s connection, for the platform's own calls to Airtable (change capture): there
    /// is no caller, so no permission decision; the link itself is the tenant's consent.
    pub async fn for_link(&self, tenant: &str, link: &BaseLink) -> Result<Arc<Credential>, GatewayError> {
        self.credential(tenant, link, tenancy::store::changes::epoch(tenant)).await
    }

    /// The workspaces table's store (links and connections).
    pub fn store(&self) -> &TenancyStore {
        &self.store
    }

    /// The local runner's demo data: a tenant's first base listing provisions its demo workspace.
    pub fn with_demo(mut self, demo: Option<Arc<dyn DemoProvisioner>>) -> Self {
        self.demo = demo;
        self
    }

    fn remembered(&self, tenant: &str, connection: &Connection) -> Option<Arc<Credential>> {
        let opened = self.opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        opened
            .get(&(tenant.to_string(), connection.id.clone()))
            .filter(|(version, at, _)| *version == connection.version && at.elapsed() < OPENED_TTL)
            .map(|(_, _, credential)| credential.clone())
    }

    fn remember(&self, tenant: &str, connection: &Connection, credential: Arc<Credential>) {
        let mut opened = self.opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if opened.len() > 10_000 {
            opened.clear();
        }
        opened.insert((tenant.to_string(), connection.id.clone()), (connection.version, Instant::now(), credential));
    }

    async fn credential(&self, tenant: &str, link: &BaseLink, epoch: u64) -> Result<Arc<Credential>, GatewayError> {
        let connection = self.connection(tenant, link, epoch).await?;
        match connection.kind {
            ConnectionKind::Platform => self
                .platform
                .clone()
                .ok_or_else(|| unavailable("The gateway has no platform Airtable token (AIRTABLE_API_KEY)")),
            ConnectionKind::Pat => {
                if let Some(credential) = self.remembered(tenant, &connection) {
                    return Ok(credential);
                }
                let sealed = connection.secret.as_deref().ok_or_else(no_such_base)?;
                let token =
                    self.secrets.open(tenant, &connection.id, sealed).await.map_err(GatewayError::Unexpected)?;
                let credential = Arc::new(Credential::for_connection(tenant, &connection.id, token));
                self.remember(tenant, &connection, credential.clone());
                Ok(credential)
            }
            ConnectionKind::Oauth => self.oauth(tenant, connection, None).await,
        }
    }

    /// An OAuth connection's access token, refreshed when it is about to expire. Refreshes are serialised
    /// across instances by a short lock in the shared cache and by the connection's version: Airtable's
    /// refresh tokens are single use, so two concurrent refreshes would make one of them `invalid_grant`.
    async fn oauth(
        &self,
        tenant: &str,
        mut connection: Connection,
        stale: Option<&SecretString>,
    ) -> Result<Arc<Credential>, GatewayError> {
        let lock = format!("{}:oauth-refresh:{tenant}:{}", self.namespace, connection.id);
        for _ in 0..50 {
            let sealed = connection.secret.clone().ok_or_else(no_such_base)?;
            let current = match self.remembered(tenant, &connection) {
                Some(credential) => credential,
                None => {
                    let tokens = self.open_tokens(tenant, &connection.id, &sealed).await?;
                    let token = SecretString::from(tokens.access_token);
                    let credential = Arc::new(Credential::for_connection(tenant, &connection.id, token));
                    self.remember(tenant, &connection, credential.clone());
                    credential
                }
            };
            let expiring = connection.access_expires_at.unwrap_or(0) - REFRESH_MARGIN_SECS <= storage::now_secs();
            // Refused by Airtable and still the stored one: nobody has refreshed it since.
            let refused = stale.is_some_and(|s| s.expose_secret() == current.token().expose_secret());
            if !expiring && !refused {
                return Ok(current);
            }
            let locked = self.cache.set_if_absent(&lock, b"1", Duration::from_secs(15)).await.unwrap_or(false);
            if locked {
                let outcome = self.refresh(tenant, &connection, &sealed).await;
                _ = self.cache.delete(&lock).await;
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            connection = self
                .store
                .connection(tenant, &connection.workspace_id, &connection.id)
                .await
                .map_err(GatewayError::Unexpected)?
                .ok_or_else(no_such_base)?;
        }
        Err(unavailable("The Airtable connection's token is being refreshed; try again"))
    }

    async fn open_tokens(&self, tenant: &str, connection: &str, sealed: &str) -> Result<OAuthTokens, GatewayError> {
        let opened = self.secrets.open(tenant, connection, sealed).await.map_err(GatewayError::Unexpected)?;
        serde_json::from_str(opened.expose_secret()).map_err(|e| GatewayError::Unexpected(e.into()))
    }

    async fn refresh(
        &self,
        tenant: &str,
        connection: &Connection,
        sealed: &str,
    ) -> Result<Arc<Credential>, GatewayError> {
        let tokens = self.open_tokens(tenant, &connection.id, sealed).await?;
        let fresh = match self.airtable.refresh(&SecretString::from(tokens.refresh_token)).await {
            Ok(fresh) => fresh,
            Err(AirtableCallError::InvalidGrant(reason)) => {
                tracing::warn!(connection = %connection.id, %reason, "Airtable refused the connection's refresh token");
                return Err(unavailable("The workspace's Airtable connection must be authorized again"));
            }
            Err(e) => return Err(unavailable(&format!("Airtable's token endpoint failed: {e}"))),
        };
        let sealed = serde_json::to_string(&OAuthTokens {
            access_token: fresh.access_token.expose_secret().to_string(),
            refresh_token: fresh.refresh_token.expose_secret().to_string(),
        })
        .map_err(|e| GatewayError::Unexpected(e.into()))?;
        let mut updated = connection.clone();
        updated.secret = Some(
            self.secrets
                .seal(tenant, &connection.id, &SecretString::from(sealed))
                .await
                .map_err(GatewayError::Unexpected)?,
        );
        updated.access_expires_at = Some(storage::now_secs() + fresh.expires_in);
        updated.updated_at = Some(tenancy::now_rfc3339());
        let stored =
            self.store.put_connection(tenant, &updated).await.map_err(|e| GatewayError::Unexpected(e.into()))?;
        let credential = Arc::new(Credential::for_connection(tenant, &connection.id, fresh.access_token));
        self.remember(tenant, &stored, credential.clone());
        Ok(credential)
    }
}

#[async_trait]
impl CredentialResolver for TenantCredentials {
    async fn resolve(&self, caller: &Caller, request: &UpstreamRequest) -> Result<Resolved, GatewayError> {
        let need = need(request).ok_or_else(no_such_base)?;
        let tenant = &caller.tenant_id;
        let epoch = tenancy::store::changes::epoch(tenant);
        let link = self.link(tenant, need.base, epoch).await?.ok_or_else(no_such_base)?;
        let access = self.caller_access(caller, epoch).await?;
        let only_tables = if access.allows(need.permission, &base_scope(&link, need.table)) {
            None
        } else {
            // Table grants hold by table id: a table named by name, or the schema, is for the gateway to
            // check against the base's schema; anything else needs the whole base.
            let by_name = match need.table {
                Some(table) => !crate::ids::TableRef::parse(table).is_some_and(|t| t.is_id()),
                None => is_schema_read(request),
            };
            match access.reach(need.permission, &base_scope(&link, None)) {
                Reach::Tables(tables) if by_name => Some(tables),
                _ => return Err(no_such_base()),
            }
        };
        let credential = self.credential(tenant, &link, epoch).await?;
        Ok(Resolved { credential, only_tables })
    }

    async fn renew(
        &self,
        caller: &Caller,
        request: &UpstreamRequest,
        stale: &Credential,
    ) -> Result<Option<Arc<Credential>>, GatewayError> {
        let Some(need) = need(request) else { return Ok(None) };
        let tenant = &caller.tenant_id;
        let Some(link) = self.store.base_link(tenant, need.base).await.map_err(GatewayError::Unexpected)? else {
            return Ok(None);
        };
        let connection = self
            .store
            .connection(tenant, &link.workspace_id, &link.connection_id)
            .await
            .map_err(GatewayError::Unexpected)?;
        match connection {
            Some(connection) if connection.kind == ConnectionKind::Oauth => {
                Ok(Some(self.oauth(tenant, connection, Some(stale.token())).await?))
            }
            _ => Ok(None),
        }
    }

    async fn bases(&self, caller: &Caller) -> Result<Option<Vec<VisibleBase>>, GatewayError> {
        tenancy::demo::ensure(&self.store, &self.secrets, self.demo.as_deref(), caller).await;
        let links = self.store.all_base_links(&caller.tenant_id).await.map_err(GatewayError::Unexpected)?;
        let access = self.caller_access(caller, tenancy::store::changes::epoch(&caller.tenant_id)).await?;
        let visible = links
            .into_iter()
            .filter_map(|link| {
                let scope = base_scope(&link, None);
                match access.reach(Permission::RecordsRead, &scope) {
                    Reach::None => None,
                    Reach::Whole | Reach::Tables(_) => {
                        let permissions = access.effective(&scope) | Permission::RecordsRead.into();
                        Some(VisibleBase { id: link.base_id, name: link.name, permissions })
                    }
                }
            })
            .collect();
        Ok(Some(visible))
    }
}

/// Every caller uses one token for every base: the crate's unit tests (and nothing deployed).
pub struct PlatformCredential(Arc<Credential>);

impl PlatformCredential {
    pub fn new(token: SecretString) -> Self {
        Self(Arc::new(Credential::new(token)))
    }
}

#[async_trait]
impl CredentialResolver for PlatformCredential {
    async fn resolve(&self, _: &Caller, _: &UpstreamRequest) -> Result<Resolved, GatewayError> {
        Ok(Resolved::whole(self.0.clone()))
    }

    async fn bases(&self, _: &Caller) -> Result<Option<Vec<VisibleBase>>, GatewayError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_stable_distinct_and_never_the_token() {
        let a = Credential::new(SecretString::from("patA.secret"));
        let b = Credential::new(SecretString::from("patB.secret"));
        assert_eq!(a.identity(), Credential::new(SecretString::from("patA.secret")).identity());
        assert_ne!(a.identity(), b.identity());
        assert!(!format!("{a:?}").contains("secret"));
    }

    fn request(method: Method, read: bool, path: &[&str]) -> UpstreamRequest {
        UpstreamRequest {
            method,
            segments: path.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            base: None,
            read,
        }
    }

    #[test]
    fn every_upstream_path_names_its_base_table_and_permission() {
        use Permission::*;
        type Want = Option<(&'static str, Option<&'static str>, Permission)>;
        let cases: &[(Method, bool, &[&str], Want)] = &[
            (Method::GET, true, &["v0", "appB", "Projects"], Some(("appB", Some("Projects"), RecordsRead))),
            (Method::POST, true, &["v0", "appB", "tblT", "listRecords"], Some(("appB", Some("tblT"), RecordsRead))),
            (Method::GET, true, &["v0", "appB", "tblT", "recR"], Some(("appB", Some("tblT"), RecordsRead))),
            (Method::POST, false, &["v0", "appB", "tblT"], Some(("appB", Some("tblT"), RecordsWrite))),
            (Method::PATCH, false, &["v0", "appB", "tblT", "recR"], Some(("appB", Some("tblT"), RecordsWrite))),
            (Method::DELETE, false, &["v0", "appB", "tblT"], Some(("appB", Some("tblT"), RecordsWrite))),
            (
                Method::GET,
                false,
                &["v0", "appB", "tblT", "recR", "comments"],
                Some(("appB", Some("tblT"), RecordsRead)),
            ),
            (
                Method::POST,
                false,
                &["v0", "appB", "tblT", "recR", "comments"],
                Some(("appB", Some("tblT"), CommentsWrite)),
            ),
            (
                Method::DELETE,
                false,
                &["v0", "appB", "tblT", "recR", "comments", "comC"],
                Some(("appB", Some("tblT"), CommentsWrite)),
            ),
            (Method::GET, true, &["v0", "meta", "bases", "appB", "tables"], Some(("appB", None, RecordsRead))),
            (Method::POST, false, &["v0", "meta", "bases", "appB", "tables"], Some(("appB", None, SchemaWrite))),
            (
                Method::PATCH,
                false,
                &["v0", "meta", "bases", "appB", "tables", "tblT"],
                Some(("appB", Some("tblT"), SchemaWrite)),
            ),
            (
                Method::POST,
                false,
                &["v0", "meta", "bases", "appB", "tables", "tblT", "fields"],
                Some(("appB", Some("tblT"), SchemaWrite)),
            ),
            (Method::GET, false, &["v0", "bases", "appB", "webhooks"], Some(("appB", None, WebhooksManage))),
            (
                Method::POST,
                false,
                &["v0", "bases", "appB", "webhooks", "achW", "refresh"],
                Some(("appB", None, WebhooksManage)),
            ),
            (
                Method::POST,
                false,
                &["v0", "appB", "recR", "fldF", "uploadAttachment"],
                Some(("appB", None, RecordsWrite)),
            ),
            (Method::GET, true, &["v0", "meta", "bases"], None),
            (Method::GET, true, &["v0", "meta", "whoami"], None),
        ];
        for (method, read, path, want) in cases {
            let request = request(method.clone(), *read, path);
            let got = need(&request).map(|n| (n.base, n.table, n.permission));
            assert_eq!(got, *want, "{method} {path:?}");
        }
    }
}
