//! The REQUEST authorizer, called by API Gateway on AWS and by the local runner's gateway in-process.
//!
//! `Authorization: Bearer <credential>` where the credential is an access JWT or an API key (`pyat_…`).
//! A JWT must verify (see [`identity::tokens`]) and its session must still exist; for both kinds the user
//! must still exist and be active. The caller's roles come from the user record, not the token, so a
//! demotion applies at once. The context also carries the tenant's plan (read beside the user, concurrently;
//! a missing tenant record reads as the default plan), for the gateway's per-tenant rate. On AWS the answer's
//! `usageIdentifierKey` is the tenant's API Gateway usage key (read beside the tenant, [`identity::UsageKey`],
//! made by the tenants group's usage-plans consumer), so API Gateway meters the request on the usage plan of the
//! tenant's plan; until that key exists, the stack's shared fallback key (`USAGE_FALLBACK_KEY`, on the free
//! usage plan). API Gateway caches the whole answer with the decision (`ReauthorizeEvery`), so a plan change
//! reaches a cached credential within that time. Every refusal is `Unauthorized` (API Gateway answers 401);
//! storage failures are `Failed` (500): the authorizer fails closed.

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerPolicy;
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use identity::{IdentityStore, Tenant, TokenService, TokenUse, UsageKey, User};
use platform::Caller;
use platform::caller::{AuthType, KeyScope};
use platform::gateway::{Authorizer, AuthorizerError, AuthorizerRequest, AuthorizerResponse};
use platform::group::{Access, Function, Group, Kind, Resources, Use};

/// The authorizer: reads the identity table (tokens, keys, sessions, users) and verifies JWTs.
pub static GROUP: Group = Group {
    name: "authorizer",
    functions: &[Function {
        binary: "authorizer",
        kind: Kind::Authorizer,
        uses: &[Use::Table(identity::TABLE, Access::Read)],
        settings: SETTINGS,
    }],
};

/// The token settings, and `USAGE_FALLBACK_KEY`: the API Gateway key (its value) of a tenant whose own usage
/// key is not made yet (template.yaml's `SharedUsageKey`, on the free usage plan). Unset (`cargo run`): no
/// `usageIdentifierKey` at all.
const SETTINGS: &[platform::group::Setting] = &{
    let mut all = [platform::group::Setting::optional("USAGE_FALLBACK_KEY"); identity::TOKEN_SETTINGS.len() + 1];
    let mut i = 0;
    while i < identity::TOKEN_SETTINGS.len() {
        all[i] = identity::TOKEN_SETTINGS[i];
        i += 1;
    }
    all
};

pub struct State {
    store: IdentityStore,
    tokens: TokenService,
    usage_fallback_key: Option<String>,
}

impl State {
    pub fn new(store: IdentityStore, tokens: TokenService) -> Self {
        Self { store, tokens, usage_fallback_key: None }
    }

    /// The usage key answered for a tenant without its own yet.
    pub fn with_usage_fallback_key(mut self, key: Option<String>) -> Self {
        self.usage_fallback_key = key;
        self
    }

    pub async fn build(resources: &Resources, tokens: TokenService) -> anyhow::Result<Self> {
        Ok(Self::new(IdentityStore::new(resources.table(identity::TABLE).await?), tokens))
    }
}

pub async fn authorize(state: &State, request: AuthorizerRequest) -> Result<AuthorizerResponse, AuthorizerError> {
    let resource =
        request.method_arn.as_deref().and_then(api_wide_resource).ok_or_else(|| deny("no usable methodArn"))?;
    let credential = bearer(&request).ok_or_else(|| deny("no bearer credential"))?;
    let (caller, usage_key) = if identity::api_keys::looks_like_api_key(credential) {
        by_api_key(state, credential).await?
    } else {
        by_access_token(state, credential).await?
    };
    let resources = if caller.key_scope.read_only { reads_of(&resource) } else { vec![resource] };
    let mut response = allow(&caller, resources);
    response.usage_identifier_key = usage_key.map(|k| k.value).or_else(|| state.usage_fallback_key.clone());
    Ok(response)
}

/// A read-only key's resources: every GET, and Airtable's POST listRecords (a read with its parameters in
/// the body), under the API-wide `…/{stage}/*`. API Gateway (and the local gateway, evaluating the same
/// policy) refuses anything else with 403 before a function runs.
fn reads_of(api_wide: &str) -> Vec<String> {
    let stage = api_wide.trim_end_matches('*');
    vec![format!("{stage}GET/*"), format!("{stage}POST/v0/*/listRecords")]
}

#[async_trait]
impl Authorizer for State {
    async fn authorize(&self, request: AuthorizerRequest) -> Result<AuthorizerResponse, AuthorizerError> {
        authorize(self, request).await
    }
}

async fn by_access_token(state: &State, token: &str) -> Result<(Caller, Option<UsageKey>), AuthorizerError> {
    let claims = state.tokens.verify(token, TokenUse::Access).map_err(|e| deny(e.0))?;
    let (session, user, tenant, usage_key) = tokio::try_join!(
        state.store.session(&claims.tenant, &claims.sub, &claims.sid),
        state.store.user(&claims.tenant, &claims.sub),
        state.store.tenant(&claims.tenant),
        state.store.usage_key(&claims.tenant),
    )?;
    if session.is_none() {
        return Err(deny("session revoked or ended"));
    }
    let user = active(user)?;
    Ok((caller(&user, claims.sid, AuthType::Jwt, tenant), usage_key))
}

async fn by_api_key(state: &State, key: &str) -> Result<(Caller, Option<UsageKey>), AuthorizerError> {
    let record = state.store.api_key_by_hash(&identity::api_keys::hash(key)).await?;
    let record = record.ok_or_else(|| deny("unknown or revoked API key"))?;
    if record.is_expired_at(identity::tokens::now()) {
        return Err(deny("expired API key"));
    }
    let (user, tenant, usage_key) = tokio::try_join!(
        state.store.user(&record.tenant_id, &record.user_id),
        state.store.tenant(&record.tenant_id),
        state.store.usage_key(&record.tenant_id),
    )?;
    let user = active(user)?;
    let mut caller = caller(&user, record.key_id, AuthType::ApiKey, tenant);
    caller.key_scope = KeyScope { workspace: record.workspace_id, read_only: record.read_only };
    if caller.key_scope.workspace.is_some() {
        // A key narrowed to a workspace acts with its user's rights there, never with tenant-wide powers.
        caller.roles.retain(|r| r != platform::caller::ROLE_TENANT_ADMIN && r != platform::caller::ROLE_PLATFORM_ADMIN);
    }
    Ok((caller, usage_key))
}

fn active(user: Option<User>) -> Result<User, AuthorizerError> {
    user.filter(User::is_active).ok_or_else(|| deny("user deleted or disabled"))
}

fn caller(user: &User, session_id: String, auth_type: AuthType, tenant: Option<Tenant>) -> Caller {
    let plan = tenant.map_or_else(|| identity::plans::DEFAULT_PLAN.to_string(), |t| t.plan);
    Caller {
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        roles: user.roles.clone(),
        session_id,
        auth_type,
        plan: Some(plan),
        key_scope: KeyScope::default(),
    }
}

/// The credential of `Authorization: Bearer <credential>` (scheme case-insensitive, RFC 9110 §11.1).
fn bearer(request: &AuthorizerRequest) -> Option<&str> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty() && !credential.contains(char::is_whitespace))
        .then_some(credential)
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{verb}/{path}` → `…:{api}/{stage}/*`: the whole
/// API, so API Gateway's cached decision (keyed by the token) serves every route the caller calls next.
fn api_wide_resource(method_arn: &str) -> Option<String> {
    let (prefix, rest) = method_arn.rsplit_once(':')?;
    let mut parts = rest.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    (prefix.starts_with("arn:") && !api.is_empty() && !stage.is_empty()).then(|| format!("{prefix}:{api}/{stage}/*"))
}

fn allow(caller: &Caller, resources: Vec<String>) -> AuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = resources;
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = AuthorizerResponse::default();
    response.principal_id = Some(caller.user_id.clone());
    response.policy_document = policy;
    response.context = serde_json::Value::Object(caller.to_context().into_iter().collect());
    response
}

/// Logs why (never the credential) and refuses.
fn deny(reason: &str) -> AuthorizerError {
    tracing::info!(reason, "authorizer denied the request");
    AuthorizerError::Unauthorized
}

#[cfg(test)]
mod tests;
