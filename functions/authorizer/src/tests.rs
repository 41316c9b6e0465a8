#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use identity::records::Tenant;
use identity::tokens::{KeySet, Subject};
use identity::{ApiKey, Session, TokenSettings, User, UserStatus};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::gateway::allows;
use secrecy::SecretString;

use super::*;

const SECRET: &str = "the-authorizer-test-secret-32-bytes!";
const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/api/v1/users/me";

struct Fixture {
    state: State,
    user: User,
    session_id: String,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tokens(secret: &str, settings: TokenSettings) -> TokenService {
    TokenService::new(KeySet::hmac(Algorithm::HS256, &SecretString::from(secret), Some("k1".into())).unwrap(), settings)
}

/// An embedded identity table with one active user and one live session.
async fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("authorizer-test-{}", uuid::Uuid::new_v4()));
    let store = IdentityStore::new(storage::embedded::EmbeddedEnv::open(&dir).unwrap().table(identity::TABLE));
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: uuid::Uuid::now_v7().to_string(),
        email: format!("{}@example.com", uuid::Uuid::new_v4().simple()),
        first_name: None,
        last_name: None,
        roles: vec!["tenant_admin".into()],
        status: UserStatus::Active,
        password_hash: SecretString::from("$2b$04$unused"),
        created_at: identity::now_rfc3339(),
        updated_at: identity::now_rfc3339(),
        version: 0,
    };
    let tenant = Tenant::new(user.tenant_id.clone(), user.id.clone(), identity::now_rfc3339());
    store.create_account(&tenant, &user).await.unwrap();
    let session_id = uuid::Uuid::new_v4().to_string();
    let session = Session {
        id: session_id.clone(),
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        refresh_jti: "r1".into(),
        created_at: identity::now_rfc3339(),
        ends_at: identity::tokens::now() + 3600,
        version: 0,
    };
    store.create_session(&session).await.unwrap();
    let user = store.user(&user.tenant_id, &user.id).await.unwrap().unwrap();
    Fixture { state: State::new(store, tokens(SECRET, TokenSettings::default())), user, session_id, dir }
}

impl Fixture {
    fn subject(&self) -> Subject {
        Subject {
            user_id: self.user.id.clone(),
            tenant_id: self.user.tenant_id.clone(),
            roles: self.user.roles.clone(),
            session_id: self.session_id.clone(),
        }
    }

    fn access_token(&self) -> String {
        self.state.tokens.issue_access(&self.subject()).unwrap().token
    }

    async fn api_key(&self, expires_at: Option<i64>) -> (String, ApiKey) {
        self.scoped_api_key(expires_at, None, false).await
    }

    async fn scoped_api_key(
        &self,
        expires_at: Option<i64>,
        workspace_id: Option<&str>,
        read_only: bool,
    ) -> (String, ApiKey) {
        let material = identity::api_keys::generate().unwrap();
        let key = ApiKey {
            key_id: uuid::Uuid::new_v4().to_string(),
            user_id: self.user.id.clone(),
            tenant_id: self.user.tenant_id.clone(),
            name: "ci".into(),
            shown_prefix: material.shown_prefix.clone(),
            hash: material.hash.clone(),
            created_at: identity::now_rfc3339(),
            expires_at,
            workspace_id: workspace_id.map(String::from),
            read_only,
        };
        self.state.store.create_api_key(&key).await.unwrap();
        (identity::api_keys::reveal(&material).to_string(), key)
    }

    async fn authorize(&self, authorization: &str) -> Result<AuthorizerResponse, AuthorizerError> {
        authorize(&self.state, request(authorization)).await
    }

    /// Claims as this fixture's tokens carry them, for forging variants.
    fn claims(&self) -> serde_json::Value {
        let now = identity::tokens::now();
        serde_json::json!({
            "iss": "pyairtable", "aud": "pyairtable-api", "sub": self.user.id, "tenant": self.user.tenant_id,
            "roles": ["platform_admin"], "sid": self.session_id, "jti": "j", "iat": now, "nbf": now,
            "exp": now + 300, "token_use": "access",
        })
    }
}

fn request(authorization: &str) -> AuthorizerRequest {
    let mut request = AuthorizerRequest::default();
    request.method_arn = Some(ARN.into());
    request.headers.insert("authorization", authorization.parse().unwrap());
    request
}

fn forge(alg: Algorithm, claims: &serde_json::Value, secret: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("k1".into());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn refused(result: Result<AuthorizerResponse, AuthorizerError>) -> bool {
    matches!(result, Err(AuthorizerError::Unauthorized))
}

#[tokio::test]
async fn a_valid_access_token_is_allowed_with_the_callers_context_on_the_whole_api() {
    let f = fixture().await;
    let response = f.authorize(&format!("Bearer {}", f.access_token())).await.unwrap();
    assert_eq!(response.principal_id.as_deref(), Some(f.user.id.as_str()));
    let context = response.context.as_object().unwrap();
    assert_eq!(context["user_id"], f.user.id.as_str());
    assert_eq!(context["tenant_id"], f.user.tenant_id.as_str());
    assert_eq!(context["roles"], "tenant_admin");
    assert_eq!(context["session_id"], f.session_id.as_str());
    assert_eq!(context["auth_type"], "jwt");
    assert_eq!(context["plan"], "free");
    let statement = &response.policy_document.statement[0];
    assert_eq!(statement.resource, vec!["arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*".to_string()]);
    assert!(allows(&response, "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/DELETE/api/v1/users/x"));
    assert!(!allows(&response, "arn:aws:execute-api:eu-west-1:123456789012:other/dev/GET/api/v1/users/me"));
}

#[tokio::test]
async fn a_read_only_key_is_allowed_reads_only_and_a_workspace_key_loses_tenant_wide_roles() {
    let f = fixture().await;
    let stage = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev";
    let (key, _) = f.scoped_api_key(None, Some("ws_one"), true).await;
    let response = f.authorize(&format!("Bearer {key}")).await.unwrap();
    let context = response.context.as_object().unwrap();
    assert_eq!(context["key_workspace"], "ws_one");
    assert_eq!(context["key_read_only"], "true");
    assert_eq!(context["roles"], "", "tenant_admin is not the key's");
    for readable in ["GET/api/v1/workspaces", "GET/v0/appX/tblY", "POST/v0/appX/tblY/listRecords"] {
        assert!(allows(&response, &format!("{stage}/{readable}")), "{readable}");
    }
    for write in [
        "POST/v0/appX/tblY",
        "PATCH/v0/appX/tblY/recZ",
        "DELETE/api/v1/users/x",
        "POST/api/v1/workspaces",
        "PUT/v0/appX/tblY/listRecords",
    ] {
        assert!(!allows(&response, &format!("{stage}/{write}")), "{write}");
    }
    let (plain, _) = f.api_key(None).await;
    let response = f.authorize(&format!("Bearer {plain}")).await.unwrap();
    assert!(response.context.get("key_read_only").is_none() && response.context.get("key_workspace").is_none());
    assert_eq!(response.context["roles"], "tenant_admin");
    assert!(allows(&response, &format!("{stage}/POST/v0/appX/tblY")));
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_and_anything_but_bearer_is_refused() {
    let f = fixture().await;
    assert!(f.authorize(&format!("bearer {}", f.access_token())).await.is_ok());
    assert!(refused(f.authorize(&format!("Basic {}", f.access_token())).await));
    assert!(refused(f.authorize("Bearer ").await));
    assert!(refused(
        authorize(&f.state, {
            let mut r = request("x");
            r.headers.clear();
            r
        })
        .await
    ));
}

#[tokio::test]
async fn roles_come_from_the_user_record_not_the_token() {
    let f = fixture().await;
    // A token claiming platform_admin, validly signed: the caller still has only the stored roles.
    let token = forge(Algorithm::HS256, &f.claims(), SECRET);
    let response = f.authorize(&format!("Bearer {token}")).await.unwrap();
    assert_eq!(response.context["roles"], "tenant_admin");
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let f = fixture().await;
    let other = tokens("a-different-secret-also-32-bytes-long!", TokenSettings::default());
    let token = other.issue_access(&f.subject()).unwrap().token;
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    use base64::Engine;
    let f = fixture().await;
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token =
        format!("{}.{}.", b64(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})), b64(f.claims()));
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
}

#[tokio::test]
async fn a_token_with_an_algorithm_not_on_the_list_is_refused() {
    let f = fixture().await;
    // HS384 is a fine algorithm, but this key is bound to HS256.
    assert!(refused(f.authorize(&format!("Bearer {}", forge(Algorithm::HS384, &f.claims(), SECRET))).await));
    // RS256 is not on the allow-list at all.
    use base64::Engine;
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"})),
        b64(f.claims()),
        "c2ln"
    );
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let f = fixture().await;
    let mut claims = f.claims();
    let now = identity::tokens::now();
    (claims["iat"], claims["nbf"], claims["exp"]) = ((now - 1000).into(), (now - 1000).into(), (now - 100).into());
    assert!(refused(f.authorize(&format!("Bearer {}", forge(Algorithm::HS256, &claims, SECRET))).await));
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_refused() {
    let f = fixture().await;
    for (field, value) in [("iss", "https://evil.example"), ("aud", "another-api")] {
        let mut claims = f.claims();
        claims[field] = value.into();
        assert!(refused(f.authorize(&format!("Bearer {}", forge(Algorithm::HS256, &claims, SECRET))).await), "{field}");
    }
}

#[tokio::test]
async fn a_refresh_token_used_as_an_access_token_is_refused() {
    let f = fixture().await;
    let refresh = f.state.tokens.issue_refresh(&f.subject(), identity::tokens::now() + 3600).unwrap().token;
    assert!(refused(f.authorize(&format!("Bearer {refresh}")).await));
}

#[tokio::test]
async fn a_token_of_a_revoked_session_is_refused() {
    let f = fixture().await;
    let token = f.access_token();
    f.state.store.delete_session(&f.user.tenant_id, &f.user.id, &f.session_id).await.unwrap();
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
}

#[tokio::test]
async fn a_deleted_user_is_refused_by_token_and_by_api_key() {
    let f = fixture().await;
    let token = f.access_token();
    let (key, _) = f.api_key(None).await;
    f.state.store.delete_user(&f.user).await.unwrap();
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
    assert!(refused(f.authorize(&format!("Bearer {key}")).await));
}

#[tokio::test]
async fn a_disabled_user_is_refused() {
    let f = fixture().await;
    let token = f.access_token();
    let disabled = User { status: UserStatus::Disabled, ..f.user.clone() };
    f.state.store.update_user(&disabled, &f.user.email).await.unwrap();
    assert!(refused(f.authorize(&format!("Bearer {token}")).await));
}

#[tokio::test]
async fn an_api_key_is_allowed_as_a_bearer_credential() {
    let f = fixture().await;
    let (key, record) = f.api_key(Some(identity::tokens::now() + 3600)).await;
    let response = f.authorize(&format!("Bearer {key}")).await.unwrap();
    assert_eq!(response.context["auth_type"], "api_key");
    assert_eq!(response.context["session_id"], record.key_id.as_str());
    assert_eq!(response.context["user_id"], f.user.id.as_str());
    assert_eq!(response.context["plan"], "free");
}

#[tokio::test]
async fn the_context_carries_the_tenants_current_plan() {
    let f = fixture().await;
    let mut tenant = f.state.store.tenant(&f.user.tenant_id).await.unwrap().unwrap();
    tenant.plan = "pro".into();
    let slug = tenant.slug.clone();
    f.state.store.update_tenant(&tenant, slug.as_deref()).await.unwrap();
    let response = f.authorize(&format!("Bearer {}", f.access_token())).await.unwrap();
    assert_eq!(response.context["plan"], "pro");
    let (key, _) = f.api_key(None).await;
    assert_eq!(f.authorize(&format!("Bearer {key}")).await.unwrap().context["plan"], "pro");
}

#[tokio::test]
async fn a_revoked_api_key_is_refused() {
    let f = fixture().await;
    let (key, record) = f.api_key(None).await;
    f.state.store.delete_api_key(&f.user.tenant_id, &f.user.id, &record.key_id).await.unwrap();
    assert!(refused(f.authorize(&format!("Bearer {key}")).await));
}

#[tokio::test]
async fn an_unknown_or_expired_api_key_is_refused() {
    let f = fixture().await;
    let unknown = identity::api_keys::generate().unwrap();
    assert!(refused(f.authorize(&format!("Bearer {}", identity::api_keys::reveal(&unknown))).await));
    let (expired, _) = f.api_key(Some(identity::tokens::now() - 1)).await;
    assert!(refused(f.authorize(&format!("Bearer {expired}")).await));
}

#[test]
fn the_policy_resource_covers_the_whole_api_stage() {
    assert_eq!(
        api_wide_resource("arn:aws:execute-api:local:000000000000:local/local/GET/api/v1/users/me").as_deref(),
        Some("arn:aws:execute-api:local:000000000000:local/local/*")
    );
    assert_eq!(api_wide_resource("not-an-arn"), None);
}

#[tokio::test]
async fn the_usage_identifier_key_is_the_tenants_usage_key_by_token_and_by_api_key() {
    let f = fixture().await;
    let usage = identity::UsageKey {
        tenant_id: f.user.tenant_id.clone(),
        key_id: "k123".into(),
        value: "the-tenants-own-usage-key-value-0123456789".into(),
        plan: "free".into(),
        usage_plan_id: "up-free".into(),
        updated_at: identity::now_rfc3339(),
    };
    f.state.store.put_usage_key(&usage).await.unwrap();
    let response = f.authorize(&format!("Bearer {}", f.access_token())).await.unwrap();
    assert_eq!(response.usage_identifier_key.as_deref(), Some(usage.value.as_str()));
    let (key, _) = f.api_key(None).await;
    let response = f.authorize(&format!("Bearer {key}")).await.unwrap();
    assert_eq!(response.usage_identifier_key.as_deref(), Some(usage.value.as_str()));
}

#[tokio::test]
async fn a_tenant_without_its_usage_key_is_metered_on_the_fallback_key_or_none_without_one() {
    let f = fixture().await;
    let token = format!("Bearer {}", f.access_token());
    assert_eq!(f.authorize(&token).await.unwrap().usage_identifier_key, None);
    let Fixture { state, .. } = &f;
    let with_fallback = State::new(state.store.clone(), tokens(SECRET, TokenSettings::default()))
        .with_usage_fallback_key(Some("stack-123456789012-shared-usage-key".into()));
    let response = authorize(&with_fallback, request(&token)).await.unwrap();
    assert_eq!(response.usage_identifier_key.as_deref(), Some("stack-123456789012-shared-usage-key"));
}

#[test]
fn the_authorizer_declares_the_token_settings_and_the_fallback_key() {
    let names: Vec<&str> = GROUP.functions[0].settings.iter().map(|s| s.name).collect();
    assert!(names.contains(&"USAGE_FALLBACK_KEY") && names.contains(&"JWT_SIGNING_KEY"), "{names:?}");
    assert_eq!(names.len(), identity::TOKEN_SETTINGS.len() + 1);
}
