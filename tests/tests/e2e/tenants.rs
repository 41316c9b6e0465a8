//! The tenant service: the tenant, plans and limits, members and roles, ownership, invitations — each route
//! with a role test and a cross-tenant matrix, on both adapter sets.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::support::accounts::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Account, accept, call, get_as, invite, join, login_ok, register, unique_email,
    with_admin,
};
use crate::support::{TestApp, assert_error};

const CURRENT: &str = "/api/v1/tenants/current";
const MEMBERS: &str = "/api/v1/tenants/current/members";
const INVITATIONS: &str = "/api/v1/tenants/current/invitations";

async fn read(app: &TestApp, path: &str, credential: &str) -> Value {
    let response = get_as(app, path, credential).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn send(app: &TestApp, method: Method, path: &str, credential: &str, body: Value) -> Response {
    call(app, method, path, credential, Some(body)).await
}

fn member_path(user_id: &str) -> String {
    format!("{MEMBERS}/{user_id}")
}

crate::both_adapters!(groups ["auth", "users", "tenants"];
    the_owner_names_the_tenant_and_slugs_are_unique,
    members_read_but_only_admins_change_the_tenant_or_invite,
    an_invitation_is_single_use_and_resending_replaces_its_token,
    a_revoked_invitation_cannot_be_accepted_and_an_accepted_one_cannot_be_revoked,
    inviting_an_address_with_an_account_looks_like_any_invitation,
    admins_change_roles_but_the_owner_stays_and_only_the_owner_transfers,
    a_removed_member_is_refused_at_once_and_members_may_leave,
    the_members_limit_refuses_the_invitation_beyond_it_and_writes_nothing,
    nothing_of_another_tenant_is_reachable,
    members_list_by_role_page_by_page,
    bad_input_is_a_4xx_in_the_error_shape_on_every_route,
);

crate::both_adapters_with!(short_lived, one_second_invitations;
    an_expired_invitation_is_refused,
);

crate::both_adapters_with!(as_platform_admin, with_admin;
    only_platform_admins_set_plans,
);

fn one_second_invitations(settings: &mut local_runner::Settings) {
    settings.tenants.invitation_ttl = std::time::Duration::from_secs(1);
}

async fn the_owner_names_the_tenant_and_slugs_are_unique(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    let tenant = read(&app, CURRENT, &a.access).await;
    assert_eq!(tenant["id"], a.tenant_id.as_str());
    assert_eq!(tenant["owner_user_id"], a.user_id.as_str());
    assert_eq!(tenant["plan"], "free");
    assert_eq!(tenant["limits"]["members"], 5);
    let slug = format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body =
        json!({"version": tenant["version"], "name": "  Acme Corp ", "slug": slug, "settings": {"theme": "dark"}});
    let updated: Value = send(&app, Method::PATCH, CURRENT, &a.access, body).await.json().await.unwrap();
    assert_eq!(updated["name"], "Acme Corp");
    assert_eq!(updated["slug"], slug.as_str());
    assert_eq!(updated["settings"]["theme"], "dark");
    assert_eq!(read(&app, CURRENT, &a.access).await["name"], "Acme Corp");

    // The slug is taken for B; a stale version and bad values are refused, changing nothing.
    let theirs = read(&app, CURRENT, &b.access).await;
    let body = json!({"version": theirs["version"], "slug": slug});
    assert_error(send(&app, Method::PATCH, CURRENT, &b.access, body).await, 409, "slug_taken").await;
    let stale = json!({"version": tenant["version"], "name": "Stale"});
    assert_error(send(&app, Method::PATCH, CURRENT, &a.access, stale).await, 409, "version_conflict").await;
    for bad in [json!({"slug": "A!"}), json!({"name": ""}), json!({"name": "x".repeat(101)}), json!({"plan": "pro"})] {
        let mut body = bad.clone();
        body["version"] = updated["version"].clone();
        assert_eq!(send(&app, Method::PATCH, CURRENT, &a.access, body).await.status(), 400, "{bad}");
    }
    assert_eq!(read(&app, CURRENT, &a.access).await["name"], "Acme Corp");
    // Freeing the slug lets another tenant take it.
    let body = json!({"version": updated["version"], "slug": null});
    assert_eq!(send(&app, Method::PATCH, CURRENT, &a.access, body).await.status(), 200);
    let body = json!({"version": theirs["version"], "slug": slug});
    assert_eq!(send(&app, Method::PATCH, CURRENT, &b.access, body).await.status(), 200);
}

async fn members_read_but_only_admins_change_the_tenant_or_invite(app: TestApp) {
    let owner = register(&app).await;
    let member = join(&app, &owner.access, "member").await;
    assert_eq!(member.tenant_id, owner.tenant_id);
    let tenant = read(&app, CURRENT, &member.access).await;
    assert_eq!(tenant["id"], owner.tenant_id.as_str());
    let usage = read(&app, "/api/v1/tenants/current/usage", &member.access).await;
    assert_eq!(usage["usage"][0], json!({"limit": "members", "allowed": 5, "used": 2}));
    let members = read(&app, MEMBERS, &member.access).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);

    let body = json!({"version": tenant["version"], "name": "Mine now"});
    assert_error(send(&app, Method::PATCH, CURRENT, &member.access, body).await, 403, "forbidden").await;
    let body = json!({"email": unique_email()});
    assert_error(send(&app, Method::POST, INVITATIONS, &member.access, body).await, 403, "forbidden").await;
    assert_error(get_as(&app, INVITATIONS, &member.access).await, 403, "forbidden").await;
    let body = json!({"role": "admin", "version": 0});
    let own = member_path(&member.user_id);
    assert_error(send(&app, Method::PATCH, &own, &member.access, body).await, 403, "forbidden").await;
    let body = json!({"user_id": member.user_id});
    let transfer = "/api/v1/tenants/current/transfer-ownership";
    assert_error(send(&app, Method::POST, transfer, &member.access, body).await, 403, "forbidden").await;
    let owner_path = member_path(&owner.user_id);
    assert_error(call(&app, Method::DELETE, &owner_path, &member.access, None).await, 403, "forbidden").await;
}

async fn an_invitation_is_single_use_and_resending_replaces_its_token(app: TestApp) {
    let owner = register(&app).await;
    let email = unique_email();
    let (issued, first_token) = invite(&app, &owner.access, &email, "admin").await;
    assert!(first_token.starts_with("pyinv_"), "{issued}");
    assert_eq!(issued["accept_path"], "/api/v1/invitations/accept");
    assert_eq!(issued["invitation"]["status"], "pending");
    assert_eq!(issued["invitation"]["email"], email.as_str());
    let id = issued["invitation"]["id"].as_str().unwrap().to_string();
    let listed = read(&app, INVITATIONS, &owner.access).await;
    assert_eq!(listed["invitations"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&first_token), "the token is shown once");

    let resent = send(&app, Method::POST, &format!("{INVITATIONS}/{id}/resend"), &owner.access, json!({})).await;
    assert_eq!(resent.status(), 200);
    let resent: Value = resent.json().await.unwrap();
    let token = resent["token"].as_str().unwrap().to_string();
    assert_ne!(token, first_token);
    assert_error(accept(&app, &first_token).await, 400, "invalid_invitation").await;

    let weak = app.post_json("/api/v1/invitations/accept", &json!({"token": token, "password": "password"})).await;
    assert_error(weak, 400, "weak_password").await;
    let joined = accept(&app, &token).await;
    assert_eq!(joined.status(), 201);
    let joined: Value = joined.json().await.unwrap();
    assert_eq!(joined["tenant_id"], owner.tenant_id.as_str());
    assert_eq!(joined["email"], email.as_str());
    let access = joined["access_token"].as_str().unwrap();
    let me = read(&app, "/api/v1/users/me", access).await;
    assert_eq!(me["tenant_id"], owner.tenant_id.as_str());
    let members = read(&app, &format!("{MEMBERS}?role=admin"), &owner.access).await;
    assert!(members["members"].as_array().unwrap().iter().any(|m| m["email"] == email.as_str()), "{members}");

    // Single use, and the accepted invitation says so.
    assert_error(accept(&app, &token).await, 400, "invalid_invitation").await;
    assert_error(accept(&app, "pyinv_forged").await, 400, "invalid_invitation").await;
    let listed = read(&app, INVITATIONS, &owner.access).await;
    assert_eq!(listed["invitations"][0]["status"], "accepted");
    assert_eq!(listed["invitations"][0]["accepted_by"], joined["user_id"]);
    let again = send(&app, Method::POST, &format!("{INVITATIONS}/{id}/resend"), &owner.access, json!({})).await;
    assert_error(again, 409, "invitation_not_pending").await;
}

async fn a_revoked_invitation_cannot_be_accepted_and_an_accepted_one_cannot_be_revoked(app: TestApp) {
    let owner = register(&app).await;
    let (issued, token) = invite(&app, &owner.access, &unique_email(), "member").await;
    let path = format!("{INVITATIONS}/{}", issued["invitation"]["id"].as_str().unwrap());
    assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), 204);
    assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), 204, "idempotent");
    assert_error(accept(&app, &token).await, 400, "invalid_invitation").await;

    let (issued, token) = invite(&app, &owner.access, &unique_email(), "member").await;
    assert_eq!(accept(&app, &token).await.status(), 201);
    let path = format!("{INVITATIONS}/{}", issued["invitation"]["id"].as_str().unwrap());
    assert_error(call(&app, Method::DELETE, &path, &owner.access, None).await, 409, "invitation_accepted").await;
}

async fn an_expired_invitation_is_refused(app: TestApp) {
    let owner = register(&app).await;
    let (_, token) = invite(&app, &owner.access, &unique_email(), "member").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_error(accept(&app, &token).await, 400, "invalid_invitation").await;
    let listed = read(&app, INVITATIONS, &owner.access).await;
    assert_eq!(listed["invitations"][0]["status"], "expired");
}

async fn inviting_an_address_with_an_account_looks_like_any_invitation(app: TestApp) {
    let (owner, elsewhere) = (register(&app).await, register(&app).await);
    let (taken, token) = invite(&app, &owner.access, &elsewhere.email, "member").await;
    let (fresh, _) = invite(&app, &owner.access, &unique_email(), "member").await;
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v["invitation"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (keys, v["invitation"]["status"].clone())
    };
    assert_eq!(shape(&taken), shape(&fresh));
    // The holder of the token learns it at acceptance; the other tenant's account is untouched.
    assert_error(accept(&app, &token).await, 409, "email_taken").await;
    assert_eq!(read(&app, "/api/v1/users/me", &elsewhere.access).await["tenant_id"], elsewhere.tenant_id.as_str());
}

async fn admins_change_roles_but_the_owner_stays_and_only_the_owner_transfers(app: TestApp) {
    let owner = register(&app).await;
    let admin = join(&app, &owner.access, "admin").await;
    let member = join(&app, &owner.access, "member").await;
    let version = |m: &Value| m["version"].clone();
    let read_member = |id: String| {
        let app = &app;
        let access = owner.access.clone();
        async move {
            let list = read(app, &format!("{MEMBERS}?limit=100"), &access).await;
            list["members"].as_array().unwrap().iter().find(|m| m["user_id"] == id.as_str()).cloned().unwrap()
        }
    };
    // An admin promotes a member; the new admin's next request already has admin rights.
    let m = read_member(member.user_id.clone()).await;
    let body = json!({"role": "admin", "version": version(&m)});
    let promoted: Value =
        send(&app, Method::PATCH, &member_path(&member.user_id), &admin.access, body).await.json().await.unwrap();
    assert_eq!(promoted["role"], "admin");
    assert_eq!(get_as(&app, INVITATIONS, &member.access).await.status(), 200);
    // Stale version, owner role, the owner's own role.
    let stale = json!({"role": "member", "version": version(&m)});
    let path = member_path(&member.user_id);
    assert_error(send(&app, Method::PATCH, &path, &admin.access, stale).await, 409, "version_conflict").await;
    let body = json!({"role": "owner", "version": promoted["version"]});
    assert_error(send(&app, Method::PATCH, &path, &admin.access, body).await, 400, "invalid_role").await;
    let o = read_member(owner.user_id.clone()).await;
    assert_eq!(o["role"], "owner");
    let body = json!({"role": "member", "version": version(&o)});
    let owner_path = member_path(&owner.user_id);
    assert_error(send(&app, Method::PATCH, &owner_path, &admin.access, body).await, 409, "owner_role_fixed").await;
    // Through the users routes too.
    let me = read(&app, "/api/v1/users/me", &owner.access).await;
    let body = json!({"version": me["version"], "roles": ["member"]});
    assert_error(send(&app, Method::PUT, "/api/v1/users/me", &owner.access, body).await, 409, "owner_role_fixed").await;
    // Only the owner transfers; then the old owner is an admin and the new one the owner.
    let transfer = "/api/v1/tenants/current/transfer-ownership";
    let body = json!({"user_id": admin.user_id});
    assert_error(send(&app, Method::POST, transfer, &admin.access, body.clone()).await, 403, "forbidden").await;
    let answer = send(&app, Method::POST, transfer, &owner.access, body.clone()).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["role"], "owner");
    assert_eq!(read(&app, CURRENT, &owner.access).await["owner_user_id"], admin.user_id.as_str());
    assert_eq!(read_member(owner.user_id.clone()).await["role"], "admin");
    assert_error(send(&app, Method::POST, transfer, &owner.access, body).await, 403, "forbidden").await;
}

async fn a_removed_member_is_refused_at_once_and_members_may_leave(app: TestApp) {
    let owner = register(&app).await;
    let removed = join(&app, &owner.access, "member").await;
    let key: Value = call(&app, Method::POST, "/api/v1/auth/api-keys", &removed.access, Some(json!({"name": "k"})))
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    assert_eq!(get_as(&app, CURRENT, &key).await.status(), 200);
    let path = member_path(&removed.user_id);
    assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), 204);
    assert_error(get_as(&app, CURRENT, &removed.access).await, 401, "unauthorized").await;
    assert_error(get_as(&app, CURRENT, &key).await, 401, "unauthorized").await;
    assert_error(call(&app, Method::DELETE, &path, &owner.access, None).await, 404, "not_found").await;

    // A member leaves; the owner cannot (also not through the users routes while others remain).
    let leaving = join(&app, &owner.access, "member").await;
    let path = member_path(&leaving.user_id);
    assert_eq!(call(&app, Method::DELETE, &path, &leaving.access, None).await.status(), 204);
    let stays = join(&app, &owner.access, "admin").await;
    let owner_path = member_path(&owner.user_id);
    assert_error(call(&app, Method::DELETE, &owner_path, &owner.access, None).await, 409, "owner_cannot_leave").await;
    assert_error(call(&app, Method::DELETE, &owner_path, &stays.access, None).await, 409, "owner_cannot_leave").await;
    let users_path = format!("/api/v1/users/{}", owner.user_id);
    assert_error(call(&app, Method::DELETE, &users_path, &stays.access, None).await, 409, "owner_cannot_leave").await;
    assert_eq!(get_as(&app, CURRENT, &owner.access).await.status(), 200);
}

async fn the_members_limit_refuses_the_invitation_beyond_it_and_writes_nothing(app: TestApp) {
    let owner = register(&app).await;
    // free: 5 members, pending invitations included. The owner, two members, two pending invitations.
    join(&app, &owner.access, "member").await;
    join(&app, &owner.access, "member").await;
    let (_, pending) = invite(&app, &owner.access, &unique_email(), "member").await;
    invite(&app, &owner.access, &unique_email(), "member").await;
    let before = read(&app, INVITATIONS, &owner.access).await["invitations"].as_array().unwrap().len();
    let body = json!({"email": unique_email()});
    let refused =
        assert_error(send(&app, Method::POST, INVITATIONS, &owner.access, body).await, 403, "plan_limit_reached").await;
    assert!(refused["error"].as_str().unwrap().contains("5 members"), "{refused}");
    let after = read(&app, INVITATIONS, &owner.access).await["invitations"].as_array().unwrap().len();
    assert_eq!(before, after, "nothing written");
    let usage = read(&app, "/api/v1/tenants/current/usage", &owner.access).await;
    assert_eq!(usage["usage"][0], json!({"limit": "members", "allowed": 5, "used": 5}));
    // A pending invitation still fits: it holds its seat.
    assert_eq!(accept(&app, &pending).await.status(), 201);
}

async fn nothing_of_another_tenant_is_reachable(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    let b_member = join(&app, &b.access, "member").await;
    let (issued, _) = invite(&app, &b.access, &unique_email(), "member").await;
    let b_invitation = format!("{INVITATIONS}/{}", issued["invitation"]["id"].as_str().unwrap());
    for user in [&b.user_id, &b_member.user_id] {
        let path = member_path(user);
        let body = json!({"role": "admin", "version": 0});
        assert_error(send(&app, Method::PATCH, &path, &a.access, body).await, 404, "not_found").await;
        assert_error(call(&app, Method::DELETE, &path, &a.access, None).await, 404, "not_found").await;
        let body = json!({"user_id": user});
        let transfer = "/api/v1/tenants/current/transfer-ownership";
        assert_error(send(&app, Method::POST, transfer, &a.access, body).await, 404, "not_found").await;
    }
    assert_error(call(&app, Method::DELETE, &b_invitation, &a.access, None).await, 404, "not_found").await;
    let resend = format!("{b_invitation}/resend");
    assert_error(send(&app, Method::POST, &resend, &a.access, json!({})).await, 404, "not_found").await;
    let listed = read(&app, &format!("{MEMBERS}?limit=100"), &a.access).await.to_string();
    let invitations = read(&app, INVITATIONS, &a.access).await.to_string();
    for leaked in [&b.user_id, &b_member.user_id, &b.email, &b_member.email, &b.tenant_id] {
        assert!(!listed.contains(leaked.as_str()) && !invitations.contains(leaked.as_str()), "{leaked}");
    }
    let plan = format!("/api/v1/tenants/{}/plan", b.tenant_id);
    assert_error(send(&app, Method::PUT, &plan, &a.access, json!({"plan": "pro"})).await, 403, "forbidden").await;
    assert_eq!(read(&app, CURRENT, &b.access).await["plan"], "free");
    // B's member and data are intact.
    assert_eq!(read(&app, CURRENT, &b_member.access).await["id"], b.tenant_id.as_str());
}

async fn members_list_by_role_page_by_page(app: TestApp) {
    let owner = register(&app).await;
    join(&app, &owner.access, "admin").await;
    join(&app, &owner.access, "member").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{MEMBERS}?limit=1&cursor={c}"),
            None => format!("{MEMBERS}?limit=1"),
        };
        let page = read(&app, &path, &owner.access).await;
        seen.extend(page["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["admin", "member", "owner"]);
    let owners = read(&app, &format!("{MEMBERS}?role=owner"), &owner.access).await;
    assert_eq!(owners["members"].as_array().unwrap().len(), 1);
    assert_error(get_as(&app, &format!("{MEMBERS}?role=king"), &owner.access).await, 400, "invalid_role").await;
    assert_error(get_as(&app, &format!("{MEMBERS}?cursor=forged"), &owner.access).await, 400, "invalid_cursor").await;
}

async fn only_platform_admins_set_plans(app: TestApp) {
    let tenant_owner: Account = register(&app).await;
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let path = format!("/api/v1/tenants/{}/plan", tenant_owner.tenant_id);
    let own = send(&app, Method::PUT, &path, &tenant_owner.access, json!({"plan": "enterprise"})).await;
    assert_error(own, 403, "forbidden").await;
    assert_error(send(&app, Method::PUT, &path, &admin.access, json!({"plan": "gold"})).await, 400, "unknown_plan")
        .await;
    let nobody = format!("/api/v1/tenants/{}/plan", uuid::Uuid::now_v7());
    assert_error(send(&app, Method::PUT, &nobody, &admin.access, json!({"plan": "pro"})).await, 404, "not_found").await;
    let set: Value = send(&app, Method::PUT, &path, &admin.access, json!({"plan": "pro"})).await.json().await.unwrap();
    assert_eq!(set["plan"], "pro");
    let seen = read(&app, CURRENT, &tenant_owner.access).await;
    assert_eq!((seen["plan"].clone(), seen["limits"]["members"].clone()), (json!("pro"), json!(50)));
}

crate::both_adapters_with!(invite_only, closed_registration;
    invite_only_registration_refuses_everyone_alike_and_invitations_still_work,
);

fn closed_registration(settings: &mut local_runner::Settings) {
    with_admin(settings);
    settings.auth.registration = auth::RegistrationMode::InviteOnly;
}

async fn invite_only_registration_refuses_everyone_alike_and_invitations_still_work(app: TestApp) {
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let register = |email: String| {
        let app = &app;
        async move {
            app.post_json("/api/v1/auth/register", &json!({"email": email, "password": "a long enough passphrase"}))
                .await
        }
    };
    // A registered address and a fresh one get the same answer.
    let taken = assert_error(register(ADMIN_EMAIL.to_string()).await, 403, "registration_closed").await;
    let fresh = assert_error(register(unique_email()).await, 403, "registration_closed").await;
    assert_eq!(taken["error"], fresh["error"]);
    let member = join(&app, &admin.access, "member").await;
    assert_eq!(read(&app, CURRENT, &member.access).await["id"], admin.tenant_id.as_str());
}

async fn bad_input_is_a_4xx_in_the_error_shape_on_every_route(app: TestApp) {
    let owner = register(&app).await;
    for (body, code) in [
        (json!({"email": "not an email"}), "invalid_email"),
        (json!({"email": "root\u{200b}@example.com"}), "invalid_email"),
        (json!({"email": unique_email(), "role": "owner"}), "invalid_role"),
    ] {
        assert_error(send(&app, Method::POST, INVITATIONS, &owner.access, body).await, 400, code).await;
    }
    let unknown = send(&app, Method::POST, INVITATIONS, &owner.access, json!({"email": unique_email(), "x": 1})).await;
    assert_eq!(unknown.status(), 400);
    for path in [format!("{INVITATIONS}/not-a-uuid"), format!("{INVITATIONS}/{}", uuid::Uuid::now_v7())] {
        assert_error(call(&app, Method::DELETE, &path, &owner.access, None).await, 404, "not_found").await;
        let resend = format!("{path}/resend");
        assert_error(send(&app, Method::POST, &resend, &owner.access, json!({})).await, 404, "not_found").await;
    }
    let transfer = "/api/v1/tenants/current/transfer-ownership";
    let body = json!({"user_id": "not-a-uuid"});
    assert_error(send(&app, Method::POST, transfer, &owner.access, body).await, 404, "not_found").await;
    let body = json!({"user_id": owner.user_id});
    assert_error(send(&app, Method::POST, transfer, &owner.access, body).await, 400, "invalid_transfer").await;
    let body = json!({"role": "admin", "version": "one"});
    let path = member_path(&owner.user_id);
    assert_eq!(send(&app, Method::PATCH, &path, &owner.access, body).await.status(), 400);
    assert_error(get_as(&app, &format!("{INVITATIONS}?limit=0"), &owner.access).await, 400, "invalid_limit").await;
    let long = format!("pyinv_{}", "x".repeat(200));
    assert_error(accept(&app, &long).await, 400, "invalid_invitation").await;
}

/// Per-tenant API rate on AWS (moto): a registration gives the new tenant its own API Gateway key on the free
/// usage plan; a platform admin's plan change moves it to the pro one and off the free one; a redelivered
/// event makes no second key. (Embedded storage has no API Gateway: the local gateway enforces the rates.)
mod usage_plans_on_aws {
    use std::time::Duration;

    use events::{Action, Event, Origin};
    use reqwest::Method;
    use serde_json::json;
    use storage::backend::{Backend, StorageMode, StorageSettings};
    use storage::queue::OutgoingMessage;

    use crate::support::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login_ok, register, with_admin};
    use crate::support::{Adapters, TestApp};

    fn tenants_and_admin(settings: &mut local_runner::Settings) {
        settings.groups = Some(vec!["auth".into(), "users".into(), "tenants".into()]);
        with_admin(settings);
    }

    async fn apigateway() -> aws_sdk_apigateway::Client {
        let settings = storage::aws::AwsSettings {
            endpoint_url: Some(std::env::var("MOTO_ENDPOINT_URL").unwrap()),
            region: Some("us-east-1".into()),
        };
        aws_sdk_apigateway::Client::new(&storage::aws::sdk_config(&settings).await)
    }

    /// The tenant's keys: (name, id), by the name suffix `-tenant-<id>`.
    async fn keys_of(client: &aws_sdk_apigateway::Client, tenant_id: &str) -> Vec<(String, String)> {
        let suffix = format!("-tenant-{tenant_id}");
        let page = client.get_api_keys().limit(500).send().await.unwrap();
        page.items()
            .iter()
            .filter(|k| k.name().is_some_and(|n| n.ends_with(&suffix)))
            .map(|k| (k.name().unwrap().to_string(), k.id().unwrap().to_string()))
            .collect()
    }

    /// The names of the usage plans the key is on.
    async fn plans_of(client: &aws_sdk_apigateway::Client, key_id: &str) -> Vec<String> {
        let page = client.get_usage_plans().key_id(key_id).send().await.unwrap();
        page.items().iter().map(|p| p.name().unwrap().to_string()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenants_usage_key_follows_its_plan_and_a_redelivered_event_makes_no_second_key() {
        let app = TestApp::spawn_with(Adapters::Aws, tenants_and_admin).await;
        let client = apigateway().await;
        let owner = register(&app).await;

        eventually(|| async {
            match keys_of(&client, &owner.tenant_id).await.pop() {
                Some((_, id)) => plans_of(&client, &id).await.iter().any(|p| p.ends_with("-free")),
                None => false,
            }
        })
        .await;
        let key = keys_of(&client, &owner.tenant_id).await.pop();
        let (name, key_id) = key.unwrap();
        let namespace = name.strip_suffix(&format!("-tenant-{}", owner.tenant_id)).unwrap().to_string();
        assert_eq!(plans_of(&client, &key_id).await, [format!("{namespace}-free")]);
        let described = client.get_api_key().api_key(&key_id).include_value(true).send().await.unwrap();
        assert_eq!(described.customer_id(), Some(owner.tenant_id.as_str()));
        assert!(described.enabled());
        assert!(described.value().is_some_and(|v| v.len() >= 30));

        let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let path = format!("/api/v1/tenants/{}/plan", owner.tenant_id);
        let set = crate::support::accounts::call(&app, Method::PUT, &path, &admin.access, Some(json!({"plan": "pro"})));
        assert_eq!(set.await.status(), 200);
        let pro = vec![format!("{namespace}-pro")];
        eventually(|| async { plans_of(&client, &key_id).await == pro }).await;

        // The registration's event again, as SQS would redeliver it.
        let mut storage = StorageSettings::defaults(StorageMode::Aws);
        storage.table_prefix = format!("{namespace}-");
        storage.provision = true;
        storage.aws.endpoint_url = Some(std::env::var("MOTO_ENDPOINT_URL").unwrap());
        storage.aws.region = Some("us-east-1".into());
        let backend = std::sync::Arc::new(Backend::open(&storage).await.unwrap());
        let resources =
            platform::group::Resources::for_function(backend, tenants::GROUP.function("usage-plans").unwrap());
        let queue = resources.queue(&events::routing::queue_spec(events::routing::USAGE_PLANS)).await.unwrap();
        let origin = Origin { request_id: "req-redelivered".into(), ip: None };
        let event = Event::new(Action::Registered, &origin).tenant(&owner.tenant_id).subject(&owner.user_id);
        queue.send(OutgoingMessage::new(serde_json::to_string(&event).unwrap())).await.unwrap();
        // Then a later change, which the consumer handles after it.
        let set = crate::support::accounts::call(
            &app,
            Method::PUT,
            &path,
            &admin.access,
            Some(json!({"plan": "enterprise"})),
        );
        assert_eq!(set.await.status(), 200);
        let enterprise = vec![format!("{namespace}-enterprise")];
        eventually(|| async { plans_of(&client, &key_id).await == enterprise }).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(keys_of(&client, &owner.tenant_id).await, [(name.clone(), key_id.clone())], "one key");
        assert_eq!(plans_of(&client, &key_id).await, enterprise, "on its plan's usage plan only");
    }
}
