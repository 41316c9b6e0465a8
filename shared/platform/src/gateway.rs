//! What API Gateway does before a group function runs, for the local runner: find the route, call the
//! authorizer function on protected ones, evaluate its IAM policy, and hand the group the same
//! `RequestContext` (with the authorizer's context) that lambda_http builds on AWS.
//!
//! Which routes exist and which are public comes from the OpenAPI document the groups' routers produce
//! (an operation with an empty security requirement, `security(())`, is public): one route table for the
//! runner, the template-parity test and `/openapi.json`.
//!
//! After the authorizer allowed a request, the gateway asks its [`TenantLimiter`] (when it has one) whether
//! the caller's tenant may send it now, as API Gateway's usage plans do on AWS, and answers 429 with
//! `Retry-After` when not.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerRequestTypeRequestIdentity,
    ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyRequestContext,
};
use lambda_http::aws_lambda_events::iam::IamPolicyEffect;
use lambda_http::request::RequestContext;
use utoipa::openapi::OpenApi;

use crate::{ApiError, Caller, RequestId};

pub type AuthorizerRequest = ApiGatewayCustomAuthorizerRequestTypeRequest;
pub type AuthorizerResponse = ApiGatewayCustomAuthorizerResponse;

/// How an authorizer function can fail, as API Gateway tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// The function failed with the message "Unauthorized": API Gateway answers 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// Any other failure: API Gateway answers 500.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The authorizer function's handler, callable in-process.
#[async_trait]
pub trait Authorizer: Send + Sync {
    async fn authorize(&self, request: AuthorizerRequest) -> Result<AuthorizerResponse, AuthorizerError>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    /// The path template, `{param}` style (as in OpenAPI, axum and API Gateway).
    pub path: String,
    pub public: bool,
}

#[derive(Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    matcher: matchit::Router<Vec<usize>>,
}

impl RouteTable {
    pub fn from_openapi(doc: &OpenApi) -> anyhow::Result<Self> {
        let mut routes = Vec::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
                (Method::HEAD, &item.head),
                (Method::OPTIONS, &item.options),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    routes.push(Route { method, path: path.clone(), public: is_public(op)? });
                }
            }
        }
        let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, route) in routes.iter().enumerate() {
            by_path.entry(route.path.as_str()).or_default().push(i);
        }
        let mut matcher = matchit::Router::new();
        for (path, indexes) in by_path {
            matcher.insert(path, indexes).map_err(|e| anyhow::anyhow!("route {path}: {e}"))?;
        }
        Ok(Self { routes, matcher })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route a request hits, with its path parameters. Like API Gateway (REST), a path with one trailing
    /// `/` that matches no route hits the route without it (airtable.js writes to `/v0/{base}/{table}/`).
    pub fn lookup(&self, method: &Method, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        let found = self.lookup_exact(method, path);
        if found.is_some() || path.len() <= 1 {
            return found;
        }
        path.strip_suffix('/').and_then(|trimmed| self.lookup_exact(method, trimmed))
    }

    fn lookup_exact(&self, method: &Method, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        let matched = self.matcher.at(path).ok()?;
        let route = matched.value.iter().map(|&i| &self.routes[i]).find(|r| r.method == method)?;
        let params = matched.params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Some((route, params))
    }
}

fn is_public(op: &utoipa::openapi::path::Operation) -> anyhow::Result<bool> {
    Ok(is_public_operation(&serde_json::json!({ "security": op.security })))
}

/// The one rule for public routes, on an OpenAPI operation object: one of its security requirements is
/// empty (`security(())` on the handler). The gateway, the runner's document and the tests all ask here.
pub fn is_public_operation(operation: &serde_json::Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())))
}

/// A tenant's request against its plan's API rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the rate: the earliest the tenant's next request can pass.
    Refused {
        retry_after: std::time::Duration,
    },
}

/// Per-tenant API rate limits (the plan's), for the local gateway; platform knows no plans, so the runner
/// hands one in.
#[async_trait]
pub trait TenantLimiter: Send + Sync {
    /// Counts one request of `tenant_id` (on `plan`, as the authorizer read it; `None`: the default plan)
    /// and says whether it may pass now. A limiter that cannot decide (its store failed) admits.
    async fn admit(&self, tenant_id: &str, plan: Option<&str>) -> Admission;
}

pub struct Gateway {
    pub routes: RouteTable,
    pub authorizer: Arc<dyn Authorizer>,
    /// Per-tenant rate limits on protected routes; `None`: none.
    pub tenant_limits: Option<Arc<dyn TenantLimiter>>,
}

/// Middleware for the local runner (inside the request-id middleware).
pub async fn gate(State(gateway): State<Arc<Gateway>>, mut req: Request, next: Next) -> Response {
    let Some((route, params)) = gateway.routes.lookup(req.method(), req.uri().path()) else {
        return next.run(req).await; // the router answers 404/405 in the error shape
    };
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let mut context = ApiGatewayProxyRequestContext::default();
    context.request_id = Some(request_id.clone());
    context.resource_path = Some(route.path.clone());
    context.http_method = route.method.clone();
    context.stage = Some("local".into());
    context.path = Some(req.uri().path().to_string());
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        context.identity.source_ip = Some(peer.ip().to_string());
    }
    if !route.public {
        let arn = method_arn(&route.method, req.uri().path());
        let event = authorizer_event(&req, route, params, &arn, &request_id);
        match gateway.authorizer.authorize(event).await {
            Ok(response) if allows(&response, &arn) => {
                if let Some(fields) = response.context.as_object() {
                    context.authorizer.fields = fields.clone().into_iter().collect();
                }
                context.authorizer.fields.insert("principalId".into(), response.principal_id.clone().into());
                if let Some(refused) = limit(&gateway, &context.authorizer.fields).await {
                    return refused;
                }
            }
            Ok(_) => {
                return ApiError::forbidden("User is not authorized to access this resource").into_response();
            }
            Err(AuthorizerError::Unauthorized) => {
                return ApiError::unauthorized("Unauthorized").into_response();
            }
            Err(AuthorizerError::Failed(e)) => {
                return ApiError::Unexpected(e.context("authorizer failed")).into_response();
            }
        }
    }
    req.extensions_mut().insert(RequestContext::ApiGatewayV1(context));
    next.run(req).await
}

/// The tenant's rate, after the authorizer allowed the request: 429 with Retry-After (whole seconds, rounded
/// up) when over it. A context without a caller passes (the handler's extractor refuses it).
async fn limit(gateway: &Gateway, fields: &HashMap<String, serde_json::Value>) -> Option<Response> {
    let limiter = gateway.tenant_limits.as_ref()?;
    let caller = Caller::from_context(fields)?;
    match limiter.admit(&caller.tenant_id, caller.plan.as_deref()).await {
        Admission::Admitted => None,
        Admission::Refused { retry_after } => {
            let retry_after_secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let message = "Too many requests for this tenant's plan; retry after the indicated time".into();
            Some(ApiError::TooManyRequests { message, retry_after_secs: retry_after_secs.max(1) }.into_response())
        }
    }
}

pub fn method_arn(method: &Method, path: &str) -> String {
    format!("arn:aws:execute-api:local:000000000000:local/local/{method}{path}")
}

fn authorizer_event(
    req: &Request,
    route: &Route,
    params: HashMap<String, String>,
    arn: &str,
    request_id: &str,
) -> AuthorizerRequest {
    let mut event = AuthorizerRequest::default();
    event.type_ = Some("REQUEST".into());
    event.method_arn = Some(arn.to_string());
    event.resource = Some(route.path.clone());
    event.path = Some(req.uri().path().to_string());
    event.http_method = Some(route.method.clone());
    event.headers = req.headers().clone();
    event.multi_value_headers = req.headers().clone();
    if let Some(query) = req.uri().query() {
        let Ok(map) = query.parse::<lambda_http::aws_lambda_events::query_map::QueryMap>();
        event.query_string_parameters = map.clone();
        event.multi_value_query_string_parameters = map;
    }
    event.path_parameters = params;
    event.request_context.request_id = Some(request_id.to_string());
    event.request_context.resource_path = Some(route.path.clone());
    event.request_context.stage = Some("local".into());
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let mut identity = ApiGatewayCustomAuthorizerRequestTypeRequestIdentity::default();
        identity.source_ip = Some(peer.ip().to_string());
        event.request_context.identity = Some(identity);
    }
    event
}

/// API Gateway's policy evaluation: an explicit Deny wins; otherwise some Allow must match the method ARN.
pub fn allows(response: &AuthorizerResponse, arn: &str) -> bool {
    let matching = |effect: IamPolicyEffect| {
        response.policy_document.statement.iter().any(|s| {
            s.effect == effect
                && s.action.iter().any(|a| a == "execute-api:Invoke" || a == "*")
                && s.resource.iter().any(|r| glob_matches(r, arn))
        })
    };
    !matching(IamPolicyEffect::Deny) && matching(IamPolicyEffect::Allow)
}

/// `*` matches any run of characters (IAM resource wildcards).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod glob_tests {
    use super::glob_matches;

    #[test]
    fn iam_wildcards_match_like_api_gateway() {
        let arn = "arn:aws:execute-api:local:000000000000:local/local/GET/api/v1/users/me";
        assert!(glob_matches("arn:aws:execute-api:local:000000000000:local/local/*", arn));
        assert!(glob_matches("arn:aws:execute-api:*:*:*/*/GET/*", arn));
        assert!(glob_matches(arn, arn));
        assert!(!glob_matches("arn:aws:execute-api:*:*:*/*/POST/*", arn));
        assert!(!glob_matches("arn:aws:execute-api:local:000000000000:other/*", arn));
    }
}
