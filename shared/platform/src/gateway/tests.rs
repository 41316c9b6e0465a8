#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerPolicy;
use lambda_http::aws_lambda_events::iam::IamPolicyStatement;
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::*;
use crate::Caller;
use crate::caller::AuthType;
use crate::config::HttpSettings;

#[utoipa::path(get, path = "/open", security(()), responses((status = 200)))]
async fn open() -> &'static str {
    "open"
}

#[utoipa::path(get, path = "/things/{id}", responses((status = 200)))]
async fn thing(caller: Caller) -> String {
    format!("{}@{}", caller.user_id, caller.tenant_id)
}

/// The same, on the Airtable-compatible surface.
#[utoipa::path(get, path = "/v0/things/{id}", responses((status = 200)))]
async fn v0_thing(caller: Caller) -> String {
    format!("{}@{}", caller.user_id, caller.tenant_id)
}

enum Verdict {
    Allow,
    DenyPolicy,
    Unauthorized,
}

struct StandIn {
    verdict: Verdict,
    calls: AtomicUsize,
}

#[async_trait]
impl Authorizer for StandIn {
    async fn authorize(&self, request: AuthorizerRequest) -> Result<AuthorizerResponse, AuthorizerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(request.type_.as_deref(), Some("REQUEST"));
        assert!(request.resource.as_deref().is_some_and(|r| r.ends_with("/things/{id}")), "{:?}", request.resource);
        assert_eq!(request.path_parameters.get("id").map(String::as_str), Some("42"));
        assert!(request.headers.contains_key("authorization"));
        let effect = match self.verdict {
            Verdict::Allow => IamPolicyEffect::Allow,
            Verdict::DenyPolicy => IamPolicyEffect::Deny,
            Verdict::Unauthorized => return Err(AuthorizerError::Unauthorized),
        };
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".into()];
        statement.effect = effect;
        statement.resource = vec!["arn:aws:execute-api:*:*:*/*/*/*".into()];
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some("2012-10-17".into());
        policy.statement = vec![statement];
        let caller = Caller {
            user_id: "u1".into(),
            tenant_id: "t1".into(),
            roles: vec![],
            session_id: "s1".into(),
            auth_type: AuthType::Jwt,
            plan: Some("free".into()),
            key_scope: crate::caller::KeyScope::default(),
        };
        let mut response = AuthorizerResponse::default();
        response.principal_id = Some("u1".into());
        response.policy_document = policy;
        response.context = serde_json::to_value(caller.to_context()).unwrap();
        Ok(response)
    }
}

async fn call(verdict: Verdict, path: &str) -> (StatusCode, String, usize) {
    let (status, _, body, calls) = call_limited(verdict, path, None).await;
    (status, body, calls)
}

async fn call_limited(
    verdict: Verdict,
    path: &str,
    tenant_limits: Option<Arc<dyn TenantLimiter>>,
) -> (StatusCode, axum::http::HeaderMap, String, usize) {
    let authorizer = Arc::new(StandIn { verdict, calls: AtomicUsize::new(0) });
    let (router, api) =
        OpenApiRouter::new().routes(routes!(open)).routes(routes!(thing)).routes(routes!(v0_thing)).split_for_parts();
    let gateway = Arc::new(Gateway {
        routes: RouteTable::from_openapi(&api).unwrap(),
        authorizer: authorizer.clone(),
        tenant_limits,
    });
    let app =
        crate::app::finish(router.layer(axum::middleware::from_fn_with_state(gateway, gate)), &HttpSettings::default());
    let request = Request::get(path).header("authorization", "Bearer x").body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, headers, body, authorizer.calls.load(Ordering::SeqCst))
}

/// Admits tenant `t1` `left` more times, then refuses with 1.2 s to wait; records what it was asked.
struct Budget {
    left: AtomicUsize,
    asked: std::sync::Mutex<Vec<(String, Option<String>)>>,
}

#[async_trait]
impl TenantLimiter for Budget {
    async fn admit(&self, tenant_id: &str, plan: Option<&str>) -> Admission {
        self.asked.lock().unwrap().push((tenant_id.to_string(), plan.map(String::from)));
        match self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Admission::Admitted,
            Err(_) => Admission::Refused { retry_after: std::time::Duration::from_millis(1_200) },
        }
    }
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after_rounded_up_in_the_requests_dialect() {
    let budget = Arc::new(Budget { left: AtomicUsize::new(1), asked: Default::default() });
    let limiter: Arc<dyn TenantLimiter> = budget.clone();
    let (status, _, body, _) = call_limited(Verdict::Allow, "/things/42", Some(limiter.clone())).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "u1@t1"));

    let (status, headers, body, _) = call_limited(Verdict::Allow, "/things/42", Some(limiter.clone())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "2");
    assert!(body.contains(r#""code":"rate_limited""#), "{body}");

    let (status, headers, body, _) = call_limited(Verdict::Allow, "/v0/things/42", Some(limiter.clone())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "2");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errors"][0]["error"], "RATE_LIMIT_REACHED", "{body}");

    // Public routes and refused callers never reach the limiter; the authorizer's tenant and plan do.
    call_limited(Verdict::Allow, "/open", Some(limiter.clone())).await;
    call_limited(Verdict::Unauthorized, "/things/42", Some(limiter)).await;
    let asked = budget.asked.lock().unwrap().clone();
    assert_eq!(asked, vec![("t1".to_string(), Some("free".to_string())); 3]);
}

#[tokio::test]
async fn the_route_table_reads_public_and_protected_routes_from_the_api_document() {
    let (_, api) = OpenApiRouter::<()>::new().routes(routes!(open)).routes(routes!(thing)).split_for_parts();
    let table = RouteTable::from_openapi(&api).unwrap();
    let (open_route, _) = table.lookup(&Method::GET, "/open").unwrap();
    assert!(open_route.public);
    let (thing_route, params) = table.lookup(&Method::GET, "/things/7").unwrap();
    assert!(!thing_route.public);
    assert_eq!(params["id"], "7");
    assert!(table.lookup(&Method::POST, "/things/7").is_none());
    // One trailing slash hits the route without it, as on API Gateway; two do not.
    let (slashed, params) = table.lookup(&Method::GET, "/things/7/").unwrap();
    assert_eq!((slashed.path.as_str(), params["id"].as_str()), ("/things/{id}", "7"));
    assert!(table.lookup(&Method::GET, "/things/7//").is_none());
}

#[tokio::test]
async fn a_public_route_never_calls_the_authorizer() {
    let (status, body, calls) = call(Verdict::Unauthorized, "/open").await;
    assert_eq!((status, body.as_str(), calls), (StatusCode::OK, "open", 0));
}

#[tokio::test]
async fn an_allowed_caller_reaches_the_handler_with_the_authorizer_context() {
    let (status, body, calls) = call(Verdict::Allow, "/things/42").await;
    assert_eq!((status, body.as_str(), calls), (StatusCode::OK, "u1@t1", 1));
}

#[tokio::test]
async fn an_unauthorized_verdict_is_a_401_in_the_error_shape() {
    let (status, body, _) = call(Verdict::Unauthorized, "/things/42").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");
}

#[tokio::test]
async fn a_deny_policy_is_a_403_in_the_error_shape() {
    let (status, body, _) = call(Verdict::DenyPolicy, "/things/42").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains(r#""code":"forbidden""#), "{body}");
}

#[tokio::test]
async fn under_v0_the_gateways_refusals_are_in_airtables_shape() {
    let (status, body, _) = call(Verdict::Unauthorized, "/v0/things/42").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}})
    );

    let (status, body, _) = call(Verdict::DenyPolicy, "/v0/things/42").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["type"], "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "{body}");

    let (status, body, _) = call(Verdict::Allow, "/v0/things/42").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "u1@t1"));
}
