//! Who is calling: the context the authorizer attached, read the same way in both runtimes.
//!
//! On AWS, API Gateway puts the authorizer's context into `requestContext.authorizer` and lambda_http turns
//! it into a [`RequestContext`] extension; the local runner's gateway inserts the very same extension.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use serde_json::Value;

use crate::ApiError;

pub const ROLE_PLATFORM_ADMIN: &str = "platform_admin";
pub const ROLE_TENANT_ADMIN: &str = "tenant_admin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    Jwt,
    ApiKey,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub tenant_id: String,
    pub roles: Vec<String>,
    /// The session (JWT) or the API key id.
    pub session_id: String,
    pub auth_type: AuthType,
    /// What the API key was narrowed to (sessions never are).
    pub key_scope: KeyScope,
    /// The tenant's plan when the authorizer read it (`None` from a context without one: an older
    /// authorizer's, or a cached decision from before plans reached the context; read as the default plan).
    pub plan: Option<String>,
}

/// An API key's narrowing: one workspace, reads only, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyScope {
    pub workspace: Option<String>,
    pub read_only: bool,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.has_role(ROLE_PLATFORM_ADMIN)
    }

    /// Admin of its own tenant (a platform admin is one everywhere).
    pub fn is_tenant_admin(&self) -> bool {
        self.has_role(ROLE_TENANT_ADMIN) || self.is_platform_admin()
    }

    /// The authorizer's context map. API Gateway (REST) passes only strings, numbers and booleans, so
    /// roles travel comma-separated.
    pub fn to_context(&self) -> HashMap<String, Value> {
        let mut context = HashMap::from([
            ("user_id".into(), self.user_id.clone().into()),
            ("tenant_id".into(), self.tenant_id.clone().into()),
            ("roles".into(), self.roles.join(",").into()),
            ("session_id".into(), self.session_id.clone().into()),
            ("auth_type".into(), self.auth_type.as_str().into()),
        ]);
        if let Some(plan) = &self.plan {
            context.insert("plan".into(), plan.clone().into());
        }
        if let Some(workspace) = &self.key_scope.workspace {
            context.insert("key_workspace".into(), workspace.clone().into());
        }
        if self.key_scope.read_only {
            context.insert("key_read_only".into(), "true".into());
        }
        context
    }

    pub fn from_context(fields: &HashMap<String, Value>) -> Option<Self> {
        let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        let auth_type = match text("auth_type")?.as_str() {
            "jwt" => AuthType::Jwt,
            "api_key" => AuthType::ApiKey,
            _ => return None,
        };
        Some(Self {
            user_id: text("user_id")?,
            tenant_id: text("tenant_id")?,
            roles: text("roles").map(|r| r.split(',').map(String::from).collect()).unwrap_or_default(),
            session_id: text("session_id")?,
            auth_type,
            plan: text("plan"),
            key_scope: KeyScope {
                workspace: text("key_workspace"),
                // Anything but an explicit "false" narrows: a mangled context fails closed.
                read_only: fields
                    .get("key_read_only")
                    .is_some_and(|v| v.as_str() != Some("false") && v != &Value::Bool(false)),
            },
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Caller::from_extensions(&parts.extensions)
            .ok_or_else(|| ApiError::unauthorized("This route needs an authenticated caller"))
    }
}

impl Caller {
    /// The caller of a request whose extensions these are (`None`: a public route's, or a mangled context).
    pub fn from_extensions(extensions: &http::Extensions) -> Option<Self> {
        let fields = match extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV1(ctx)) => Some(&ctx.authorizer.fields),
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
            _ => None,
        };
        fields.and_then(Caller::from_context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_survives_the_round_trip_through_the_authorizer_context() {
        let caller = Caller {
            user_id: "u1".into(),
            tenant_id: "t1".into(),
            roles: vec!["member".into(), ROLE_TENANT_ADMIN.into()],
            session_id: "s1".into(),
            auth_type: AuthType::ApiKey,
            plan: Some("pro".into()),
            key_scope: KeyScope { workspace: Some("ws_1".into()), read_only: true },
        };
        assert_eq!(Caller::from_context(&caller.to_context()), Some(caller));
    }

    #[test]
    fn a_context_without_a_plan_is_a_caller_without_one() {
        let caller = Caller {
            user_id: "u1".into(),
            tenant_id: "t1".into(),
            roles: vec!["member".into()],
            session_id: "s1".into(),
            auth_type: AuthType::Jwt,
            plan: None,
            key_scope: KeyScope::default(),
        };
        let context = caller.to_context();
        assert!(!context.contains_key("plan"));
        assert_eq!(Caller::from_context(&context), Some(caller));
    }

    #[test]
    fn a_context_missing_the_tenant_is_no_caller() {
        let mut context = HashMap::new();
        context.insert("user_id".to_string(), Value::from("u1"));
        context.insert("auth_type".to_string(), Value::from("jwt"));
        context.insert("session_id".to_string(), Value::from("s1"));
        assert_eq!(Caller::from_context(&context), None);
    }
}
