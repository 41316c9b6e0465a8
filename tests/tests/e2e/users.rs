//! The users routes: profiles, optimistic locking, roles, tenant isolation, deletion.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::support::accounts::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, call, get_as, join, login, login_ok, register, unique_email, with_admin,
};
use crate::support::{TestApp, assert_error};

async fn put_as(app: &TestApp, path: &str, credential: &str, body: Value) -> Response {
    call(app, Method::PUT, path, credential, Some(body)).await
}

async fn read(app: &TestApp, path: &str, credential: &str) -> Value {
    let response = get_as(app, path, credential).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// No field of a user view names or holds a password hash.
fn assert_no_secrets(body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("password") && !text.contains("hash") && !text.contains("$2b$"), "{text}");
}

crate::both_adapters!(groups ["auth", "users", "tenants"];
    a_user_reads_and_updates_their_own_profile,
    an_update_with_a_stale_version_is_a_409_and_changes_nothing,
    concurrent_updates_from_one_version_let_exactly_one_win,
    changing_email_moves_the_login_and_a_taken_email_is_a_409,
    a_tenant_admin_cannot_grant_platform_admin,
    a_member_cannot_change_roles_or_list_users,
    users_of_another_tenant_are_a_404_on_every_route,
    a_tenant_admin_lists_only_their_tenant,
    unknown_and_malformed_ids_are_404s_and_bad_pages_are_400s,
    deleting_a_user_ends_login_tokens_and_api_keys,
);

crate::both_adapters_with!(as_platform_admin, with_admin;
    the_platform_admin_lists_every_tenant_page_by_page,
    the_platform_admin_manages_users_of_other_tenants,
);

async fn a_user_reads_and_updates_their_own_profile(app: TestApp) {
    let account = register(&app).await;
    let me = read(&app, "/api/v1/users/me", &account.access).await;
    assert_eq!(
        (me["email"].as_str(), me["tenant_id"].as_str()),
        (Some(account.email.as_str()), Some(account.tenant_id.as_str()))
    );
    assert_no_secrets(&me);
    let response = put_as(
        &app,
        "/api/v1/users/me",
        &account.access,
        json!({"version": me["version"], "first_name": " Ann ", "last_name": "Lee"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_no_secrets(&updated);
    assert_eq!((updated["first_name"].as_str(), updated["last_name"].as_str()), (Some("Ann"), Some("Lee")));
    assert_eq!(updated["version"].as_u64(), me["version"].as_u64().map(|v| v + 1));
    let by_id = read(&app, &format!("/api/v1/users/{}", account.user_id), &account.access).await;
    assert_eq!(by_id, updated);
}

async fn an_update_with_a_stale_version_is_a_409_and_changes_nothing(app: TestApp) {
    let account = register(&app).await;
    let me = read(&app, "/api/v1/users/me", &account.access).await;
    let stale = me["version"].clone();
    assert_eq!(
        put_as(&app, "/api/v1/users/me", &account.access, json!({"version": stale, "first_name": "One"}))
            .await
            .status(),
        200
    );
    let response =
        put_as(&app, "/api/v1/users/me", &account.access, json!({"version": stale, "first_name": "Two"})).await;
    assert_error(response, 409, "version_conflict").await;
    assert_eq!(read(&app, "/api/v1/users/me", &account.access).await["first_name"], "One");
    // The version is required.
    assert_error(
        put_as(&app, "/api/v1/users/me", &account.access, json!({"first_name": "Three"})).await,
        400,
        "invalid_body",
    )
    .await;
}

async fn concurrent_updates_from_one_version_let_exactly_one_win(app: TestApp) {
    let account = register(&app).await;
    let version = read(&app, "/api/v1/users/me", &account.access).await["version"].clone();
    let updates = (0..5).map(|i| {
        let body = json!({"version": version, "first_name": format!("Writer {i}")});
        put_as(&app, "/api/v1/users/me", &account.access, body)
    });
    let statuses: Vec<u16> = futures::future::join_all(updates).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 4, "{statuses:?}");
}

async fn changing_email_moves_the_login_and_a_taken_email_is_a_409(app: TestApp) {
    let (account, other) = (register(&app).await, register(&app).await);
    let version = read(&app, "/api/v1/users/me", &account.access).await["version"].clone();
    let new_email = unique_email();
    let response = put_as(
        &app,
        "/api/v1/users/me",
        &account.access,
        json!({"version": version, "email": new_email.to_uppercase()}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["email"], new_email.as_str());
    login_ok(&app, &new_email, PASSWORD).await;
    assert_eq!(login(&app, &account.email, PASSWORD).await.status(), 401);
    let response =
        put_as(&app, "/api/v1/users/me", &account.access, json!({"version": updated["version"], "email": other.email}))
            .await;
    assert_error(response, 409, "email_taken").await;
    // The old address is free again.
    let response = app.post_json("/api/v1/auth/register", &json!({"email": account.email, "password": PASSWORD})).await;
    assert_eq!(response.status(), 201);
}

async fn a_tenant_admin_cannot_grant_platform_admin(app: TestApp) {
    let account = register(&app).await;
    let version = read(&app, "/api/v1/users/me", &account.access).await["version"].clone();
    let body = json!({"version": version, "roles": ["tenant_admin", "platform_admin"]});
    assert_error(put_as(&app, "/api/v1/users/me", &account.access, body).await, 403, "forbidden").await;
    let body = json!({"version": version, "roles": ["superuser"]});
    assert_error(put_as(&app, "/api/v1/users/me", &account.access, body).await, 400, "invalid_profile").await;
}

async fn a_member_cannot_change_roles_or_list_users(app: TestApp) {
    let owner = register(&app).await;
    let version = read(&app, "/api/v1/users/me", &owner.access).await["version"].clone();
    // The owner cannot step down (ownership moves only by a transfer)…
    let body = json!({"version": version, "roles": ["member"]});
    assert_error(put_as(&app, "/api/v1/users/me", &owner.access, body).await, 409, "owner_role_fixed").await;
    // …and a member who joined by invitation cannot climb, disable anyone or list users.
    let account = join(&app, &owner.access, "member").await;
    let me = read(&app, "/api/v1/users/me", &account.access).await;
    assert_eq!(me["roles"], json!(["member"]));
    let body = json!({"version": me["version"], "roles": ["tenant_admin"]});
    assert_error(put_as(&app, "/api/v1/users/me", &account.access, body).await, 403, "forbidden").await;
    let body = json!({"version": me["version"], "status": "disabled"});
    assert_error(put_as(&app, "/api/v1/users/me", &account.access, body).await, 403, "forbidden").await;
    assert_error(get_as(&app, "/api/v1/users", &account.access).await, 403, "forbidden").await;
    // Their own profile stays theirs to edit.
    let body = json!({"version": me["version"], "first_name": "Still me"});
    assert_eq!(put_as(&app, "/api/v1/users/me", &account.access, body).await.status(), 200);
}

async fn users_of_another_tenant_are_a_404_on_every_route(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    let theirs = format!("/api/v1/users/{}", b.user_id);
    let nobody = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    for path in [&theirs, &nobody] {
        let not_found = assert_error(get_as(&app, path, &a.access).await, 404, "not_found").await;
        assert_eq!(not_found["error"], "No such user");
        assert_error(
            put_as(&app, path, &a.access, json!({"version": 1, "first_name": "Hacked"})).await,
            404,
            "not_found",
        )
        .await;
        assert_error(call(&app, Method::DELETE, path, &a.access, None).await, 404, "not_found").await;
    }
    let b_me = read(&app, "/api/v1/users/me", &b.access).await;
    assert!(b_me["first_name"].is_null());
    let listed = read(&app, "/api/v1/users", &a.access).await;
    assert!(!listed.to_string().contains(&b.user_id));
}

async fn a_tenant_admin_lists_only_their_tenant(app: TestApp) {
    let (a, _b) = (register(&app).await, register(&app).await);
    let listed = read(&app, "/api/v1/users?limit=10", &a.access).await;
    let users = listed["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], a.user_id.as_str());
    assert!(listed["next_cursor"].is_null());
    assert_no_secrets(&listed);
}

async fn unknown_and_malformed_ids_are_404s_and_bad_pages_are_400s(app: TestApp) {
    let account = register(&app).await;
    assert_error(get_as(&app, "/api/v1/users/not-a-uuid", &account.access).await, 404, "not_found").await;
    assert_error(get_as(&app, "/api/v1/users?limit=0", &account.access).await, 400, "invalid_limit").await;
    assert_error(get_as(&app, "/api/v1/users?cursor=forged", &account.access).await, 400, "invalid_cursor").await;
}

async fn deleting_a_user_ends_login_tokens_and_api_keys(app: TestApp) {
    let account = register(&app).await;
    let key: Value = call(&app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(json!({"name": "k"})))
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap();
    let path = format!("/api/v1/users/{}", account.user_id);
    assert_eq!(call(&app, Method::DELETE, &path, &account.access, None).await.status(), 204);

    assert_error(get_as(&app, "/api/v1/users/me", &account.access).await, 401, "unauthorized").await;
    assert_error(get_as(&app, "/api/v1/users/me", key).await, 401, "unauthorized").await;
    assert_error(login(&app, &account.email, PASSWORD).await, 401, "unauthorized").await;
    let refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": account.refresh})).await;
    assert_error(refresh, 401, "unauthorized").await;
    // The email can be registered again, as a new user.
    let again = app.post_json("/api/v1/auth/register", &json!({"email": account.email, "password": PASSWORD})).await;
    let again: Value = again.json().await.unwrap();
    assert_ne!(again["user_id"], account.user_id.as_str());
}

async fn the_platform_admin_lists_every_tenant_page_by_page(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=1&cursor={c}"),
            None => "/api/v1/users?limit=1".to_string(),
        };
        let page = read(&app, &path, &admin.access).await;
        assert!(page["users"].as_array().unwrap().len() <= 1);
        assert_no_secrets(&page);
        seen.extend(page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    for id in [&a.user_id, &b.user_id, &admin.user_id] {
        assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{id} in {seen:?}");
    }
}

async fn the_platform_admin_manages_users_of_other_tenants(app: TestApp) {
    let account = register(&app).await;
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let path = format!("/api/v1/users/{}", account.user_id);
    let user = read(&app, &path, &admin.access).await;
    assert_eq!(user["tenant_id"], account.tenant_id.as_str());

    let response = put_as(&app, &path, &admin.access, json!({"version": user["version"], "status": "disabled"})).await;
    assert_eq!(response.status(), 200);
    // A disabled account: login refused with the usual answer, its tokens refused.
    let refused = assert_error(login(&app, &account.email, PASSWORD).await, 401, "unauthorized").await;
    assert_eq!(refused["error"], "Invalid email or password");
    assert_error(get_as(&app, "/api/v1/users/me", &account.access).await, 401, "unauthorized").await;

    assert_eq!(call(&app, Method::DELETE, &path, &admin.access, None).await.status(), 204);
    assert_error(get_as(&app, &path, &admin.access).await, 404, "not_found").await;
}
