//! Accounts and authenticated requests: registering, logging in, calling as someone; the platform admin the
//! settings bootstrap; `both_adapters_with!` for scenarios that need tweaked settings.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::support::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN_EMAIL: &str = "root@platform.example";
pub const ADMIN_PASSWORD: &str = "the platform admin's passphrase";

/// Runs scenarios for both adapter sets with tweaked settings, in a module of their own:
/// `both_adapters_with!(throttled, tweak_fn; scenario, …)` makes `throttled::embedded::scenario` and
/// `throttled::aws::scenario`.
#[macro_export]
macro_rules! both_adapters_with {
    ($module:ident, $tweak:ident; $($name:ident),* $(,)?) => {
        mod $module {
            mod embedded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::support::TestApp::spawn_with($crate::support::Adapters::Embedded, super::super::$tweak).await;
                        super::super::$name(app).await;
                    }
                )*
            }
            mod aws {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::support::TestApp::spawn_with($crate::support::Adapters::Aws, super::super::$tweak).await;
                        super::super::$name(app).await;
                    }
                )*
            }
        }
    };
}

pub fn with_admin(settings: &mut local_runner::Settings) {
    settings.auth.admin = Some(auth::AdminAccount { email: ADMIN_EMAIL.into(), password: ADMIN_PASSWORD.into() });
}

/// A registered, signed-in user.
#[derive(Clone, Debug)]
pub struct Account {
    pub email: String,
    pub user_id: String,
    pub tenant_id: String,
    pub access: String,
    pub refresh: String,
}

impl Account {
    fn from_tokens(email: &str, body: &Value) -> Self {
        Self {
            email: email.to_string(),
            user_id: body["user_id"].as_str().unwrap().into(),
            tenant_id: body["tenant_id"].as_str().unwrap().into(),
            access: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
        }
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub async fn register(app: &TestApp) -> Account {
    let email = unique_email();
    let response = app.post_json("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(response.status(), 201);
    Account::from_tokens(&email, &response.json().await.unwrap())
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    app.post_json("/api/v1/auth/login", &json!({"email": email, "password": password})).await
}

pub async fn login_ok(app: &TestApp, email: &str, password: &str) -> Account {
    let response = login(app, email, password).await;
    assert_eq!(response.status(), 200);
    Account::from_tokens(email, &response.json().await.unwrap())
}

/// A request with `Authorization: Bearer <credential>` and an optional JSON body.
pub async fn call(app: &TestApp, method: Method, path: &str, credential: &str, body: Option<Value>) -> Response {
    let mut request = app.client.request(method, app.at(path)).bearer_auth(credential);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub async fn get_as(app: &TestApp, path: &str, credential: &str) -> Response {
    call(app, Method::GET, path, credential, None).await
}

/// Polls until `check` passes or 15 s have gone by (queues and pollers are asynchronous).
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("condition not met within 15 s");
}

/// An invitation to the caller's tenant: `(answer, token)`; the answer is the 201 body.
pub async fn invite(app: &TestApp, admin: &str, email: &str, role: &str) -> (Value, String) {
    let body = json!({"email": email, "role": role});
    let response = call(app, Method::POST, "/api/v1/tenants/current/invitations", admin, Some(body)).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "inviting {email}: {answer}");
    let token = answer["token"].as_str().unwrap().to_string();
    (answer, token)
}

/// Accepts an invitation token: the raw answer.
pub async fn accept(app: &TestApp, token: &str) -> Response {
    app.post_json("/api/v1/invitations/accept", &json!({"token": token, "password": PASSWORD, "first_name": "New"}))
        .await
}

/// A new member of `admin`'s tenant in `role` (`admin` or `member`), signed in.
pub async fn join(app: &TestApp, admin: &str, role: &str) -> Account {
    let email = unique_email();
    let (_, token) = invite(app, admin, &email, role).await;
    let response = accept(app, &token).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "accepting the invitation of {email}: {answer}");
    Account::from_tokens(&email, &answer)
}
