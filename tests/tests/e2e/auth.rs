//! The auth routes and the authorizer in front of the protected ones, in both runtimes' storage.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::support::accounts::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, call, get_as, login, login_ok, register, unique_email, with_admin,
};
use crate::support::{TestApp, assert_error};

async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": refresh_token})).await
}

crate::both_adapters!(groups ["auth", "users"];
    registering_returns_201_with_tokens_that_reach_a_protected_route,
    a_new_user_owns_a_new_tenant_and_a_client_cannot_choose_one,
    registering_an_email_again_in_another_case_is_a_409,
    weak_common_and_overlong_passwords_are_refused_at_registration,
    login_returns_a_token_pair_and_token_responses_are_not_cached,
    login_does_not_reveal_whether_an_email_exists,
    refreshing_rotates_the_refresh_token,
    reusing_a_refresh_token_revokes_the_whole_session_family,
    logout_kills_the_refresh_token_and_the_access_token_immediately,
    api_keys_are_shown_once_listed_without_secrets_and_work_as_bearer_tokens,
    a_revoked_api_key_stops_working,
    an_api_key_cannot_manage_api_keys,
    protected_routes_refuse_a_missing_or_forged_credential,
);

crate::both_adapters_with!(throttled, tight_throttle;
    repeated_failed_logins_for_one_account_answer_429_with_retry_after,
    repeated_failed_logins_from_one_ip_answer_429_with_retry_after,
    public_routes_answer_429_beyond_the_per_ip_limit,
);

crate::both_adapters_with!(bootstrapped, with_admin;
    the_admin_from_settings_is_a_platform_admin_created_once,
);

fn tight_throttle(settings: &mut local_runner::Settings) {
    let throttle = &mut settings.auth.throttle;
    throttle.failures_per_account = 3;
    throttle.failures_per_ip = 5;
    throttle.public_requests_per_ip = 12;
}

async fn registering_returns_201_with_tokens_that_reach_a_protected_route(app: TestApp) {
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD, "first_name": "Ann", "last_name": "Lee"});
    let response = app.post_json("/api/v1/auth/register", &body).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], email.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0 && s <= 900));
    for field in ["user_id", "tenant_id", "access_token", "refresh_token"] {
        assert!(body[field].as_str().is_some_and(|v| !v.is_empty()), "{field} in {body}");
    }
    let me = get_as(&app, "/api/v1/users/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!((me["id"].clone(), me["first_name"].clone()), (body["user_id"].clone(), json!("Ann")));
}

async fn a_new_user_owns_a_new_tenant_and_a_client_cannot_choose_one(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    assert_ne!(a.tenant_id, b.tenant_id);
    let me: Value = get_as(&app, "/api/v1/users/me", &a.access).await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["tenant_admin"]));
    let body = json!({"email": unique_email(), "password": PASSWORD, "tenant_id": a.tenant_id});
    assert_error(app.post_json("/api/v1/auth/register", &body).await, 400, "invalid_body").await;
}

async fn registering_an_email_again_in_another_case_is_a_409(app: TestApp) {
    let account = register(&app).await;
    let shouted = format!("  {}  ", account.email.to_uppercase());
    let response = app.post_json("/api/v1/auth/register", &json!({"email": shouted, "password": PASSWORD})).await;
    assert_error(response, 409, "email_taken").await;
    // Login is case-insensitive too.
    login_ok(&app, &account.email.to_uppercase(), PASSWORD).await;
}

async fn weak_common_and_overlong_passwords_are_refused_at_registration(app: TestApp) {
    let too_long = "x".repeat(73);
    for password in ["short1!", "password123", "Qwertyuiop", too_long.as_str()] {
        let response =
            app.post_json("/api/v1/auth/register", &json!({"email": unique_email(), "password": password})).await;
        assert_error(response, 400, "weak_password").await;
    }
    let response =
        app.post_json("/api/v1/auth/register", &json!({"email": "not-an-email", "password": PASSWORD})).await;
    assert_error(response, 400, "invalid_email").await;
    // 72 bytes is the most bcrypt reads, and is accepted.
    let response =
        app.post_json("/api/v1/auth/register", &json!({"email": unique_email(), "password": "y".repeat(72)})).await;
    assert_eq!(response.status(), 201);
}

async fn login_returns_a_token_pair_and_token_responses_are_not_cached(app: TestApp) {
    let account = register(&app).await;
    let response = login(&app, &account.email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["user_id"].as_str(), body["tenant_id"].as_str()),
        (Some(account.user_id.as_str()), Some(account.tenant_id.as_str()))
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_ne!(body["refresh_token"].as_str(), Some(account.refresh.as_str()));
}

async fn login_does_not_reveal_whether_an_email_exists(app: TestApp) {
    let account = register(&app).await;
    let without_request_id = |mut body: Value| {
        body.as_object_mut().unwrap().remove("request_id");
        body
    };
    let wrong_password =
        assert_error(login(&app, &account.email, "not the password at all").await, 401, "unauthorized").await;
    let unknown_email =
        assert_error(login(&app, &unique_email(), "not the password at all").await, 401, "unauthorized").await;
    let malformed_email =
        assert_error(login(&app, "nobody", "not the password at all").await, 401, "unauthorized").await;
    assert_eq!(without_request_id(wrong_password.clone()), without_request_id(unknown_email));
    assert_eq!(without_request_id(wrong_password), without_request_id(malformed_email));
}

async fn refreshing_rotates_the_refresh_token(app: TestApp) {
    let account = register(&app).await;
    let response = refresh(&app, &account.refresh).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    let (access, next_refresh) = (pair["access_token"].as_str().unwrap(), pair["refresh_token"].as_str().unwrap());
    assert_ne!(next_refresh, account.refresh);
    assert_eq!(get_as(&app, "/api/v1/users/me", access).await.status(), 200);
    assert_eq!(refresh(&app, next_refresh).await.status(), 200);
    // An access token is not a refresh token.
    assert_error(refresh(&app, &account.access).await, 401, "unauthorized").await;
}

async fn reusing_a_refresh_token_revokes_the_whole_session_family(app: TestApp) {
    let account = register(&app).await;
    let rotated: Value = refresh(&app, &account.refresh).await.json().await.unwrap();
    let (newest_access, newest_refresh) =
        (rotated["access_token"].as_str().unwrap(), rotated["refresh_token"].as_str().unwrap());

    // The thief (or the victim) presents the old token again.
    assert_error(refresh(&app, &account.refresh).await, 401, "unauthorized").await;

    assert_error(refresh(&app, newest_refresh).await, 401, "unauthorized").await;
    assert_eq!(get_as(&app, "/api/v1/users/me", newest_access).await.status(), 401);
    assert_eq!(get_as(&app, "/api/v1/users/me", &account.access).await.status(), 401);
    // Other sessions of the same user are untouched.
    let other = login_ok(&app, &account.email, PASSWORD).await;
    assert_eq!(get_as(&app, "/api/v1/users/me", &other.access).await.status(), 200);
}

async fn logout_kills_the_refresh_token_and_the_access_token_immediately(app: TestApp) {
    let account = register(&app).await;
    assert_eq!(get_as(&app, "/api/v1/users/me", &account.access).await.status(), 200);
    let response = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": account.refresh})).await;
    assert_eq!(response.status(), 204);
    assert_error(get_as(&app, "/api/v1/users/me", &account.access).await, 401, "unauthorized").await;
    assert_error(refresh(&app, &account.refresh).await, 401, "unauthorized").await;
    // Logging out twice is harmless.
    let again = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": account.refresh})).await;
    assert_eq!(again.status(), 204);
}

async fn api_keys_are_shown_once_listed_without_secrets_and_work_as_bearer_tokens(app: TestApp) {
    let account = register(&app).await;
    let body = json!({"name": "ci runner", "expires_in_days": 30});
    let response = call(&app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(body)).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pyat_") && key.starts_with(created["prefix"].as_str().unwrap()));
    assert!(created["expires_at"].as_i64().is_some());

    let listed: Value = get_as(&app, "/api/v1/auth/api-keys", &account.access).await.json().await.unwrap();
    let keys = listed["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], created["id"]);
    assert_eq!(keys[0]["name"], "ci runner");
    assert!(!listed.to_string().contains(&key), "a listing must not carry the key");
    assert!(keys[0].get("key").is_none() && keys[0].get("hash").is_none());

    let me: Value = get_as(&app, "/api/v1/users/me", &key).await.json().await.unwrap();
    assert_eq!(me["id"], account.user_id.as_str());
}

async fn a_revoked_api_key_stops_working(app: TestApp) {
    let account = register(&app).await;
    let created: Value =
        call(&app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(json!({"name": "temp"})))
            .await
            .json()
            .await
            .unwrap();
    let (id, key) = (created["id"].as_str().unwrap(), created["key"].as_str().unwrap());
    assert!(created["expires_at"].is_null());
    assert_eq!(get_as(&app, "/api/v1/users/me", key).await.status(), 200);
    let path = format!("/api/v1/auth/api-keys/{id}");
    assert_eq!(call(&app, Method::DELETE, &path, &account.access, None).await.status(), 204);
    assert_error(get_as(&app, "/api/v1/users/me", key).await, 401, "unauthorized").await;
    assert_error(call(&app, Method::DELETE, &path, &account.access, None).await, 404, "not_found").await;
    // Another user cannot revoke (or even see) someone else's key.
    let other = register(&app).await;
    let accounts_key: Value =
        call(&app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(json!({"name": "x"})))
            .await
            .json()
            .await
            .unwrap();
    let path = format!("/api/v1/auth/api-keys/{}", accounts_key["id"].as_str().unwrap());
    assert_error(call(&app, Method::DELETE, &path, &other.access, None).await, 404, "not_found").await;
}

async fn an_api_key_cannot_manage_api_keys(app: TestApp) {
    let account = register(&app).await;
    let created: Value = call(&app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(json!({"name": "k"})))
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    let response = call(&app, Method::POST, "/api/v1/auth/api-keys", key, Some(json!({"name": "more"}))).await;
    assert_error(response, 403, "forbidden").await;
    assert_error(get_as(&app, "/api/v1/auth/api-keys", key).await, 403, "forbidden").await;
}

async fn protected_routes_refuse_a_missing_or_forged_credential(app: TestApp) {
    let account = register(&app).await;
    assert_error(app.get("/api/v1/users/me").await, 401, "unauthorized").await;
    let tampered = format!("{}x", account.access);
    for credential in [tampered.as_str(), "pyat_not-a-real-key", "garbage", account.refresh.as_str()] {
        assert_error(get_as(&app, "/api/v1/users/me", credential).await, 401, "unauthorized").await;
    }
}

async fn repeated_failed_logins_for_one_account_answer_429_with_retry_after(app: TestApp) {
    let account = register(&app).await;
    for _ in 0..3 {
        assert_eq!(login(&app, &account.email, "wrong wrong wrong").await.status(), 401);
    }
    let response = login(&app, &account.email, PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "rate_limited").await;
    // Another account from the same IP is not locked by this one's failures.
    let other = register(&app).await;
    assert_eq!(login(&app, &other.email, PASSWORD).await.status(), 200);
}

async fn repeated_failed_logins_from_one_ip_answer_429_with_retry_after(app: TestApp) {
    for _ in 0..5 {
        assert_eq!(login(&app, &unique_email(), "wrong wrong wrong").await.status(), 401);
    }
    let response = login(&app, &unique_email(), "wrong wrong wrong").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 429, "rate_limited").await;
}

async fn public_routes_answer_429_beyond_the_per_ip_limit(app: TestApp) {
    let body = json!({"refresh_token": "not-a-token"});
    for _ in 0..12 {
        assert_eq!(app.post_json("/api/v1/auth/refresh", &body).await.status(), 401);
    }
    let response =
        app.post_json("/api/v1/auth/register", &json!({"email": unique_email(), "password": PASSWORD})).await;
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() <= 60);
    assert_error(response, 429, "rate_limited").await;
}

async fn the_admin_from_settings_is_a_platform_admin_created_once(app: TestApp) {
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let me: Value = get_as(&app, "/api/v1/users/me", &admin.access).await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["platform_admin"]));
    // Registering the admin's email is refused: the account exists exactly once.
    let response = app.post_json("/api/v1/auth/register", &json!({"email": ADMIN_EMAIL, "password": PASSWORD})).await;
    assert_error(response, 409, "email_taken").await;
}
