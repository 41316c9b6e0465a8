//! Notifications end to end, on both adapter sets: invitation emails with a working accept link (the embedded
//! outbox under embedded storage, moto's SES store with the AWS adapters), security notices in the inbox and
//! by email whatever the preferences, preferences suppressing a non-critical email, the inbox (pages, unread
//! filter, read, read-all), other users' and tenants' ids as 404s, templates (roles, validation, the sandbox,
//! use), the outbox for platform admins only, and the invitation token never in clear in the audit trail or a
//! webhook; SMS and push (a security notice by SMS to an opted-in number and by push to a registered device:
//! the embedded outbox, or moto's SNS store), the caller's devices (idempotent registration, other users' ids
//! as 404s, the per-user limit, validation) and phone number validation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::accounts::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Account, accept, call, get_as, invite, join, login_ok, register, unique_email,
};
use crate::support::{TestApp, assert_error};

thread_local! {
    /// Whether the test's runner uses the AWS adapters (set by the settings tweak, on the test's thread): emails
    /// are then read from moto's SES store, else from the embedded outbox.
    static ON_AWS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn notification_groups(settings: &mut local_runner::Settings) {
    ON_AWS.with(|aws| aws.set(settings.storage.mode == storage::backend::StorageMode::Aws));
    settings.groups = Some(
        ["auth", "tenants", "users", "audit", "workspaces", "webhooks", "notifications"].map(String::from).to_vec(),
    );
    settings.webhooks.allowed = "127.0.0.0/8".parse().unwrap();
    settings.notifications.invitation_url = "https://app.example.com/accept-invitation".into();
    settings.notifications.password_reset_url = "https://app.example.com/reset-password".into();
}

crate::both_adapters_in!(notification_groups;
    an_invitation_reaches_the_invitee_by_email_and_its_link_accepts,
    a_new_api_key_is_a_security_notice_in_app_and_by_email_even_with_email_turned_off,
    preferences_suppress_a_non_critical_email_but_keep_the_inbox_entry,
    the_inbox_pages_filters_and_reads,
    another_users_or_tenants_notification_is_a_404,
    templates_are_for_owners_and_admins_checked_before_stored_and_used,
    runaway_templates_are_refused_quickly,
    the_outbox_is_for_platform_admins,
    the_invitation_token_is_never_in_clear_in_the_audit_trail_or_a_webhook,
    password_reset_answers_alike_for_known_and_unknown_emails,
    password_reset_emails_a_link_whose_token_resets_once_and_ends_every_session,
    password_reset_token_is_never_in_clear_in_the_audit_trail,
    a_security_notice_goes_by_sms_and_push_to_a_user_with_a_number_and_a_device,
    sms_is_opt_in_and_phone_numbers_are_e164,
    devices_are_the_callers_own_idempotent_bounded_and_checked,
);

fn short_resets(settings: &mut local_runner::Settings) {
    notification_groups(settings);
    settings.auth.reset_ttl = Duration::from_secs(2);
    settings.auth.throttle.resets_per_email = 3;
    settings.auth.throttle.resets_per_ip = 6;
}

crate::both_adapters_with!(short_password_resets, short_resets;
    password_reset_tokens_expire,
    password_reset_requests_are_throttled_per_email_and_per_ip,
);

fn verify_email_mode(settings: &mut local_runner::Settings) {
    notification_groups(settings);
    settings.notifications.verify_email_url = "https://app.example.com/verify-email".into();
    settings.notifications.email_change_url = "https://app.example.com/confirm-email".into();
    settings.auth.registration = auth::RegistrationMode::VerifyEmail;
}

crate::both_adapters_with!(verify_email, verify_email_mode;
    registration_verifies_the_email_before_the_account_exists_and_answers_alike_for_taken_emails,
    an_email_change_waits_for_the_new_address_and_answers_alike_for_taken_emails,
);

fn tight_rate(settings: &mut local_runner::Settings) {
    notification_groups(settings);
    settings.notifications.emails_per_hour = 1;
    settings.notifications.sms_per_hour = 1;
}

crate::both_adapters_with!(rate_limited, tight_rate;
    over_the_tenants_email_rate_emails_are_dropped_and_the_inbox_still_fills,
    over_the_tenants_sms_rate_an_sms_is_dropped,
);

// ---------------------------------------------------------------- helpers

async fn json_of(response: reqwest::Response, status: u16, what: &str) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{what}: {body}");
    body
}

/// Every message of the embedded outbox (read as the platform admin), newest first.
async fn outbox(app: &TestApp) -> Vec<Value> {
    let admin = login_ok(app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/notifications/outbox?limit=100&cursor={c}"),
            None => "/api/v1/notifications/outbox?limit=100".to_string(),
        };
        let page = json_of(get_as(app, &path, &admin.access).await, 200, "the outbox").await;
        found.extend(page["messages"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            return found;
        }
    }
}

/// `(subject, body)` of every email sent to `to`: moto's SES store with the AWS adapters, else the embedded
/// outbox (read as the platform admin).
async fn emails_to(app: &TestApp, to: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if ON_AWS.with(std::cell::Cell::get) {
        let data = moto_data(&std::env::var("MOTO_ENDPOINT_URL").unwrap()).await;
        for message in data["ses"]["Message"].as_array().into_iter().flatten() {
            let to_addresses = &message["destinations"]["ToAddresses"];
            if to_addresses.as_array().is_some_and(|a| a.iter().any(|a| a == to)) {
                found.push((
                    message["subject"].as_str().unwrap_or_default().to_string(),
                    message["body"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        return found;
    }
    for mail in outbox(app).await {
        if mail["to"] == to && mail["channel"] == "email" {
            found.push((mail["subject"].as_str().unwrap().to_string(), mail["body"].as_str().unwrap().to_string()));
        }
    }
    found
}

/// The text of every SMS sent to `phone`: moto's SNS store (`SMS` instances) with the AWS adapters, else the
/// embedded outbox.
async fn sms_to(app: &TestApp, phone: &str) -> Vec<String> {
    if ON_AWS.with(std::cell::Cell::get) {
        let data = moto_data(&std::env::var("MOTO_ENDPOINT_URL").unwrap()).await;
        let sent = data["sns"]["SMS"].as_array().into_iter().flatten();
        return sent
            .filter(|sms| sms["phone_number"] == phone)
            .map(|sms| sms["message"].as_str().unwrap_or_default().to_string())
            .collect();
    }
    let kept = outbox(app).await.into_iter().filter(|m| m["channel"] == "sms" && m["to"] == phone);
    kept.map(|m| {
        assert_eq!(m["subject"], "", "an SMS has no subject: {m}");
        m["body"].as_str().unwrap().to_string()
    })
    .collect()
}

/// `(title, body)` of every push to a device: with the AWS adapters the messages moto's SNS endpoint for the
/// device's token received (their `GCM` payload), else the embedded outbox's pushes to the device's id.
async fn pushes_to(app: &TestApp, device_id: &str, token: &str) -> Vec<(String, String)> {
    if ON_AWS.with(std::cell::Cell::get) {
        let data = moto_data(&std::env::var("MOTO_ENDPOINT_URL").unwrap()).await;
        let mut found = Vec::new();
        for endpoint in data["sns"]["PlatformEndpoint"].as_array().into_iter().flatten() {
            if endpoint["token"] != token {
                continue;
            }
            for message in endpoint["messages"].as_object().into_iter().flatten().map(|(_, m)| m) {
                let message: Value = serde_json::from_str(message.as_str().unwrap()).unwrap();
                assert!(message["default"].is_string() && message["APNS"].is_string(), "{message}");
                let gcm: Value = serde_json::from_str(message["GCM"].as_str().unwrap()).unwrap();
                let notification = &gcm["notification"];
                found.push((
                    notification["title"].as_str().unwrap().to_string(),
                    notification["body"].as_str().unwrap().to_string(),
                ));
            }
        }
        return found;
    }
    let kept = outbox(app).await.into_iter().filter(|m| m["channel"] == "push" && m["to"] == device_id);
    kept.map(|m| (m["subject"].as_str().unwrap().to_string(), m["body"].as_str().unwrap().to_string())).collect()
}

/// moto's whole state (`/moto-api/data.json`); under concurrent writes moto sometimes fails to serialise it,
/// so a few tries.
async fn moto_data(moto: &str) -> Value {
    let mut last = String::new();
    for _ in 0..10 {
        let response = reqwest::get(format!("{moto}/moto-api/data.json")).await.unwrap();
        let (status, text) = (response.status(), response.text().await.unwrap_or_default());
        match serde_json::from_str(&text) {
            Ok(data) if status.is_success() => return data,
            _ => last = format!("{status}: {}", text.chars().take(200).collect::<String>()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("moto's data.json did not answer JSON: {last}");
}

/// Waits for `n` emails to `to`.
async fn wait_for_emails(app: &TestApp, to: &str, n: usize) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let emails = emails_to(app, to).await;
        if emails.len() >= n {
            return emails;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{n} email(s) to {to} within 60 s; got {emails:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn inbox(app: &TestApp, who: &Account, query: &str) -> Value {
    json_of(get_as(app, &format!("/api/v1/notifications?{query}"), &who.access).await, 200, "the inbox").await
}

/// Waits until the inbox holds `n` notifications of `kind`; returns them (newest first).
async fn wait_for_notices(app: &TestApp, who: &Account, kind: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let page = inbox(app, who, "limit=100").await;
        let of_kind: Vec<Value> =
            page["notifications"].as_array().unwrap().iter().filter(|n| n["type"] == kind).cloned().collect();
        if of_kind.len() >= n {
            return of_kind;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{n} {kind} notice(s) within 20 s; got {page}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn create_key(app: &TestApp, who: &Account, name: &str) -> Value {
    let body = json!({"name": name});
    json_of(call(app, Method::POST, "/api/v1/auth/api-keys", &who.access, Some(body)).await, 201, "an API key").await
}

fn delivery<'a>(notice: &'a Value, channel: &str) -> &'a Value {
    notice["deliveries"].as_array().unwrap().iter().find(|d| d["channel"] == channel).unwrap()
}

/// The `token=` parameter of the first link in `body`.
fn token_in(body: &str) -> String {
    let at = body.find("token=").unwrap_or_else(|| panic!("no token= in {body:?}")) + "token=".len();
    body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

// ---------------------------------------------------------------- scenarios

async fn an_invitation_reaches_the_invitee_by_email_and_its_link_accepts(app: TestApp) {
    let owner = register(&app).await;
    let invitee = unique_email();
    let invited_at = Instant::now();
    let (answer, token) = invite(&app, &owner.access, &invitee, "member").await;
    let emails = wait_for_emails(&app, &invitee, 1).await;
    println!("invitation to email: {:?}", invited_at.elapsed());
    let (subject, body) = &emails[0];
    assert!(subject.contains("invited"), "{subject}");
    assert!(body.contains("https://app.example.com/accept-invitation?token=pyinv_"), "{body}");
    assert_eq!(token_in(body), token, "the emailed link carries the invitation's token");

    // Resending issues a new token, emailed again; the old link stops working, the new one signs the invitee in.
    let id = answer["invitation"]["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/current/invitations/{id}/resend");
    let resent = json_of(call(&app, Method::POST, &path, &owner.access, None).await, 200, "resending").await;
    let emails = wait_for_emails(&app, &invitee, 2).await;
    let new_token = emails.iter().map(|(_, body)| token_in(body)).find(|t| *t != token).unwrap();
    assert_eq!(new_token, resent["token"].as_str().unwrap());
    assert_eq!(accept(&app, &token).await.status(), 400, "the first link no longer works");
    let accepted = accept(&app, &new_token).await;
    let status = accepted.status();
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(status, 201, "accepting with the emailed link's token: {body}");
    assert_eq!(body["tenant_id"], owner.tenant_id);
}

async fn a_new_api_key_is_a_security_notice_in_app_and_by_email_even_with_email_turned_off(app: TestApp) {
    let user = register(&app).await;
    let off = json!({"in_app": false, "email": false});
    let prefs =
        json!({"categories": {"security": off, "account": off, "tenant": off, "workspace": off, "permission": off}});
    let put = call(&app, Method::PUT, "/api/v1/notifications/preferences", &user.access, Some(prefs)).await;
    let now = json_of(put, 200, "turning everything off").await;
    let security = now["categories"].as_array().unwrap().iter().find(|c| c["category"] == "security").unwrap();
    assert_eq!((security["email"].as_bool(), security["critical"].as_bool()), (Some(false), Some(true)));

    let key = create_key(&app, &user, "ci").await;
    let notice = &wait_for_notices(&app, &user, "api_key.created", 1).await[0];
    assert_eq!(notice["critical"], true);
    assert_eq!(notice["category"], "security");
    assert_eq!(notice["read"], false);
    assert!(notice["body"].as_str().unwrap().contains(key["id"].as_str().unwrap()), "{notice}");
    let emails = wait_for_emails(&app, &user.email, 1).await;
    assert!(emails[0].0.contains("Security notice"), "{emails:?}");
    // The email's delivery is logged on the notification.
    let started = Instant::now();
    loop {
        let notice = &wait_for_notices(&app, &user, "api_key.created", 1).await[0];
        let email = delivery(notice, "email");
        if email["status"] == "delivered" {
            assert_eq!(email["attempts"], 1);
            assert_eq!(delivery(notice, "in_app")["status"], "delivered");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{notice}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The key itself never appears in the notice or the email.
    let secret = key["key"].as_str().unwrap();
    assert!(!emails[0].1.contains(secret) && !notice["body"].as_str().unwrap().contains(secret));
}

async fn preferences_suppress_a_non_critical_email_but_keep_the_inbox_entry(app: TestApp) {
    let owner = register(&app).await;
    let member = join(&app, &owner.access, "member").await;
    let prefs = json!({"categories": {"account": {"in_app": true, "email": false}}, "locale": "en"});
    let put = call(&app, Method::PUT, "/api/v1/notifications/preferences", &member.access, Some(prefs)).await;
    json_of(put, 200, "account emails off").await;
    let got = json_of(get_as(&app, "/api/v1/notifications/preferences", &member.access).await, 200, "prefs").await;
    let account = got["categories"].as_array().unwrap().iter().find(|c| c["category"] == "account").unwrap();
    assert_eq!((account["in_app"].as_bool(), account["email"].as_bool()), (Some(true), Some(false)));

    // The owner renames the member: an account notice (not critical).
    let path = format!("/api/v1/users/{}", member.user_id);
    let user = json_of(get_as(&app, &path, &owner.access).await, 200, "the member").await;
    let body = json!({"version": user["version"], "first_name": "Renamed"});
    json_of(call(&app, Method::PUT, &path, &owner.access, Some(body)).await, 200, "renaming").await;
    let notice = &wait_for_notices(&app, &member, "user.updated", 1).await[0];
    assert_eq!(notice["critical"], false);
    assert_eq!(delivery(notice, "email")["status"], "skipped_preference");
    assert_eq!(delivery(notice, "in_app")["status"], "delivered");
    // A security notice still emails; by then the account notice's email would have gone too: it did not.
    create_key(&app, &member, "after").await;
    // (The member's inbox also got their invitation, long before.)
    let started = Instant::now();
    while !emails_to(&app, &member.email).await.iter().any(|(subject, _)| subject.contains("Security notice")) {
        assert!(started.elapsed() < Duration::from_secs(20), "no security email");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let emails = emails_to(&app, &member.email).await;
    assert!(
        !emails.iter().any(|(subject, _)| subject.contains("account")),
        "the account notice was emailed: {emails:?}"
    );

    // Bad input is a 400.
    let bad = json!({"locale": "English"});
    let put = call(&app, Method::PUT, "/api/v1/notifications/preferences", &member.access, Some(bad)).await;
    assert_error(put, 400, "invalid_field").await;
    let bad = json!({"categories": {"gossip": {"in_app": true, "email": true}}});
    let put = call(&app, Method::PUT, "/api/v1/notifications/preferences", &member.access, Some(bad)).await;
    assert_eq!(put.status(), 400);
}

async fn the_inbox_pages_filters_and_reads(app: TestApp) {
    let user = register(&app).await;
    for i in 0..3 {
        create_key(&app, &user, &format!("k{i}")).await;
    }
    let all = wait_for_notices(&app, &user, "api_key.created", 3).await;
    let count = json_of(get_as(&app, "/api/v1/notifications/unread-count", &user.access).await, 200, "count").await;
    assert_eq!(count["unread"], 3);

    // Pages of two, newest first, no repeats.
    let first = inbox(&app, &user, "limit=2").await;
    assert_eq!(first["notifications"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = inbox(&app, &user, &format!("limit=2&cursor={cursor}")).await;
    let ids: Vec<&str> = first["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["notifications"].as_array().unwrap())
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);
    let times: Vec<&str> = all.iter().map(|n| n["created_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Read one: it leaves the unread filter and the count.
    let read = json_of(
        call(&app, Method::POST, &format!("/api/v1/notifications/{}/read", ids[0]), &user.access, None).await,
        200,
        "reading one",
    )
    .await;
    assert_eq!(read["read"], true);
    assert!(read["read_at"].is_string());
    let again = call(&app, Method::POST, &format!("/api/v1/notifications/{}/read", ids[0]), &user.access, None).await;
    assert_eq!(json_of(again, 200, "reading it again").await["read_at"], read["read_at"]);
    let unread = inbox(&app, &user, "unread=true").await;
    let unread_ids: Vec<&str> =
        unread["notifications"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(unread_ids, &ids[1..]);
    let count = json_of(get_as(&app, "/api/v1/notifications/unread-count", &user.access).await, 200, "count").await;
    assert_eq!(count["unread"], 2);

    // Read all.
    let marked = call(&app, Method::POST, "/api/v1/notifications/read-all", &user.access, None).await;
    assert_eq!(json_of(marked, 200, "read-all").await["marked"], 2);
    let count = json_of(get_as(&app, "/api/v1/notifications/unread-count", &user.access).await, 200, "count").await;
    assert_eq!(count["unread"], 0);
    assert!(inbox(&app, &user, "unread=true").await["notifications"].as_array().unwrap().is_empty());
    assert_eq!(inbox(&app, &user, "").await["notifications"].as_array().unwrap().len(), 3, "read ones stay listed");

    // Bad paging is a 400.
    assert_error(get_as(&app, "/api/v1/notifications?limit=0", &user.access).await, 400, "invalid_limit").await;
    assert_error(get_as(&app, "/api/v1/notifications?cursor=nope", &user.access).await, 400, "invalid_cursor").await;
    assert_error(get_as(&app, "/api/v1/notifications?unread=maybe", &user.access).await, 400, "invalid_unread").await;
}

async fn another_users_or_tenants_notification_is_a_404(app: TestApp) {
    let owner = register(&app).await;
    let colleague = join(&app, &owner.access, "admin").await;
    let stranger = register(&app).await;
    create_key(&app, &owner, "mine").await;
    let id = wait_for_notices(&app, &owner, "api_key.created", 1).await[0]["id"].as_str().unwrap().to_string();
    let read = format!("/api/v1/notifications/{id}/read");
    for who in [&colleague, &stranger] {
        assert_error(call(&app, Method::POST, &read, &who.access, None).await, 404, "not_found").await;
        assert!(inbox(&app, who, "").await["notifications"].as_array().unwrap().iter().all(|n| n["id"] != id.as_str()));
        let count = json_of(get_as(&app, "/api/v1/notifications/unread-count", &who.access).await, 200, "c").await;
        assert_eq!(count["unread"], 0);
        // Reading all of one's own changes nothing of the owner's.
        call(&app, Method::POST, "/api/v1/notifications/read-all", &who.access, None).await;
    }
    let malformed = call(&app, Method::POST, "/api/v1/notifications/ntf_x/read", &owner.access, None).await;
    assert_error(malformed, 404, "not_found").await;
    let count = json_of(get_as(&app, "/api/v1/notifications/unread-count", &owner.access).await, 200, "c").await;
    assert_eq!(count["unread"], 1, "the owner's notification is still unread");
}

async fn templates_are_for_owners_and_admins_checked_before_stored_and_used(app: TestApp) {
    let owner = register(&app).await;
    let admin = join(&app, &owner.access, "admin").await;
    let member = join(&app, &owner.access, "member").await;
    let path = "/api/v1/notifications/templates/api_key.created";
    let preview = format!("{path}/preview");
    let good = json!({"subject": "[{{ tenant_name }}] new key {{ data.api_key_id }}", "body": "Key {{ data.api_key_id }} for {{ recipient.email }}."});

    // Members are refused every template route; owners and admins are not.
    assert_error(get_as(&app, path, &member.access).await, 403, "forbidden").await;
    assert_error(call(&app, Method::PUT, path, &member.access, Some(good.clone())).await, 403, "forbidden").await;
    assert_error(call(&app, Method::POST, &preview, &member.access, Some(json!({}))).await, 403, "forbidden").await;
    let builtin = json_of(get_as(&app, path, &admin.access).await, 200, "the built-in template").await;
    assert_eq!((builtin["source"].as_str(), builtin["critical"].as_bool()), (Some("default"), Some(true)));
    let french = json_of(
        get_as(&app, "/api/v1/notifications/templates/tenant.invitation_created?locale=fr", &owner.access).await,
        200,
        "a French built-in",
    )
    .await;
    assert!(french["subject"].as_str().unwrap().starts_with("Invitation"));
    assert_error(get_as(&app, "/api/v1/notifications/templates/user.exploded", &owner.access).await, 404, "not_found")
        .await;
    assert_error(get_as(&app, &format!("{path}?locale=EN_us"), &owner.access).await, 400, "invalid_field").await;

    // Validation: syntax errors name the part and line; undefined values are refused; nothing is stored.
    let broken = json!({"subject": "ok", "body": "line one\n{% for x in %}"});
    let refused =
        assert_error(call(&app, Method::PUT, path, &owner.access, Some(broken)).await, 400, "invalid_template").await;
    assert!(refused["error"].as_str().unwrap().contains("body, line 2"), "{refused}");
    let undefined = json!({"subject": "{{ no_such_thing.here }}", "body": "x"});
    let refused =
        assert_error(call(&app, Method::PUT, path, &owner.access, Some(undefined)).await, 400, "invalid_template")
            .await;
    assert!(refused["error"].as_str().unwrap().contains("subject, line 1"), "{refused}");
    let empty = json!({"subject": " ", "body": "x"});
    assert_error(call(&app, Method::PUT, path, &owner.access, Some(empty)).await, 400, "invalid_template").await;
    assert_eq!(json_of(get_as(&app, path, &owner.access).await, 200, "still").await["source"], "default");

    // A preview of a draft, then the tenant's own template, used for the next notice.
    let shown =
        json_of(call(&app, Method::POST, &preview, &admin.access, Some(good.clone())).await, 200, "preview").await;
    assert_eq!(shown["subject"], "[Acme] new key key_01234567");
    let stored = json_of(call(&app, Method::PUT, path, &admin.access, Some(good)).await, 200, "storing").await;
    assert_eq!(stored["source"], "tenant");
    assert_eq!(json_of(get_as(&app, path, &owner.access).await, 200, "now").await["source"], "tenant");
    let key = create_key(&app, &owner, "templated").await;
    let emails = wait_for_emails(&app, &owner.email, 1).await;
    assert!(emails[0].0.ends_with(&format!("] new key {}", key["id"].as_str().unwrap())), "{emails:?}");
    assert_eq!(emails[0].1, format!("Key {} for {}.", key["id"].as_str().unwrap(), owner.email));
}

async fn runaway_templates_are_refused_quickly(app: TestApp) {
    let owner = register(&app).await;
    let path = "/api/v1/notifications/templates/api_key.created";
    let cases = [
        ("an endless loop", "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}"),
        ("huge output", "{% for i in range(9000) %}{{ recipient.email }}{{ recipient.email }}{% endfor %}"),
        ("an include", "{% include 'secrets.txt' %}"),
        ("a macro", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"),
    ];
    for (what, body) in cases {
        let started = Instant::now();
        let draft = json!({"subject": "s", "body": body});
        let put = call(&app, Method::PUT, path, &owner.access, Some(draft.clone())).await;
        let refused = assert_error(put, 400, "invalid_template").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
        let preview = call(&app, Method::POST, &format!("{path}/preview"), &owner.access, Some(draft)).await;
        assert_error(preview, 400, "invalid_template").await;
        println!("{what}: refused in {took:?}: {}", refused["error"]);
    }
    assert_eq!(json_of(get_as(&app, path, &owner.access).await, 200, "unchanged").await["source"], "default");
}

async fn the_outbox_is_for_platform_admins(app: TestApp) {
    let owner = register(&app).await;
    assert_error(get_as(&app, "/api/v1/notifications/outbox", &owner.access).await, 403, "forbidden").await;
    let admin = login_ok(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = json_of(get_as(&app, "/api/v1/notifications/outbox?limit=5", &admin.access).await, 200, "outbox").await;
    assert!(page["messages"].is_array());
    assert_error(get_as(&app, "/api/v1/notifications/outbox?limit=500", &admin.access).await, 400, "invalid_limit")
        .await;
}

async fn over_the_tenants_email_rate_emails_are_dropped_and_the_inbox_still_fills(app: TestApp) {
    let user = register(&app).await;
    create_key(&app, &user, "first").await;
    wait_for_notices(&app, &user, "api_key.created", 1).await;
    wait_for_emails(&app, &user.email, 1).await;
    create_key(&app, &user, "second").await;
    let started = Instant::now();
    loop {
        let notices = wait_for_notices(&app, &user, "api_key.created", 2).await;
        if delivery(&notices[0], "email")["status"] == "rate_limited" {
            assert_eq!(delivery(&notices[0], "in_app")["status"], "delivered");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{notices:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(emails_to(&app, &user.email).await.len(), 1, "the second email was dropped");
}

async fn the_invitation_token_is_never_in_clear_in_the_audit_trail_or_a_webhook(app: TestApp) {
    // A loopback receiver for the tenant's webhooks.
    let received: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let receiver = axum::Router::new().fallback(move |body: String| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(body);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let owner = register(&app).await;
    let endpoint = json!({"url": url, "event_types": ["tenant.invitation_created"]});
    json_of(
        call(&app, Method::POST, "/api/v1/webhooks/endpoints", &owner.access, Some(endpoint)).await,
        201,
        "an endpoint",
    )
    .await;
    let invitee = unique_email();
    let (answer, token) = invite(&app, &owner.access, &invitee, "admin").await;
    let invitation = answer["invitation"]["id"].as_str().unwrap();

    // The webhook carries the event with the sealed token only.
    let started = Instant::now();
    let payload = loop {
        let bodies = received.lock().unwrap().clone();
        if let Some(body) = bodies.into_iter().find(|b| b.contains(invitation)) {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no webhook delivery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!payload.contains(&token), "the webhook payload holds the token in clear");
    let event: Value = serde_json::from_str(&payload).unwrap();
    let sealed = event["data"]["sealed_token"].as_str().unwrap();
    assert!(sealed.len() > 40 && !sealed.contains("pyinv_"), "{sealed}");
    assert_eq!(event["data"]["email"], invitee.as_str());

    // The audit trail too.
    let started = Instant::now();
    loop {
        let page = json_of(
            get_as(&app, "/api/v1/audit-logs?action=tenant.invitation_created", &owner.access).await,
            200,
            "the audit trail",
        )
        .await;
        let text = page.to_string();
        if text.contains(invitation) {
            assert!(!text.contains(&token), "the audit trail holds the token in clear");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no audit entry: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // While the invitee's email has it, and it works.
    let emails = wait_for_emails(&app, &invitee, 1).await;
    assert_eq!(token_in(&emails[0].1), token);
    // The notification kept for the invitee holds no body (its token would be in it).
    assert!(!emails.is_empty());
    let accepted = accept(&app, &token).await;
    assert_eq!(accepted.status(), 201);
}

// ---------------------------------------------------------------- password reset

const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn request_reset(app: &TestApp, email: &str) -> (u16, Value) {
    let response = app.post_json("/api/v1/auth/password-reset", &json!({"email": email})).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/password-reset/confirm", &json!({"token": token, "password": password})).await
}

/// Requests a reset for `email` and returns the token its `n`-th email carries.
async fn reset_token_by_email(app: &TestApp, email: &str, n: usize) -> String {
    assert_eq!(request_reset(app, email).await.0, 202);
    let emails = wait_for_emails(app, email, n).await;
    let (subject, body) =
        emails.iter().filter(|(subject, _)| subject.contains("Reset")).nth(n - 1).unwrap_or(&emails[n - 1]);
    assert!(subject.contains("Reset"), "{subject}");
    assert!(body.contains("https://app.example.com/reset-password?token=pyrst_"), "{body}");
    token_in(body)
}

async fn password_reset_answers_alike_for_known_and_unknown_emails(app: TestApp) {
    let user = register(&app).await;
    let unknown = unique_email();
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let known = request_reset(&app, &user.email).await;
        known_times.push(started.elapsed());
        let started = Instant::now();
        let other = request_reset(&app, &unknown).await;
        unknown_times.push(started.elapsed());
        assert_eq!(known, other, "the same status and body, account or not");
        assert_eq!(known.0, 202);
    }
    println!("password reset request: known {known_times:?}, unknown {unknown_times:?}");
    let floor = auth::password_reset::MIN_REQUEST_TIME;
    assert!(known_times.iter().chain(&unknown_times).all(|t| *t >= floor), "{known_times:?} {unknown_times:?}");
    // A malformed email is a 400 either way (nothing about accounts in it).
    let (status, body) = request_reset(&app, "not an email").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_email")), "{body}");
    // Only the known address gets mail.
    wait_for_emails(&app, &user.email, 2).await;
    assert!(emails_to(&app, &unknown).await.is_empty());
}

async fn password_reset_emails_a_link_whose_token_resets_once_and_ends_every_session(app: TestApp) {
    let user = register(&app).await;
    let second = login_ok(&app, &user.email, crate::support::accounts::PASSWORD).await;
    let token = reset_token_by_email(&app, &user.email, 1).await;

    // The password policy applies.
    assert_error(confirm_reset(&app, &token, "password").await, 400, "weak_password").await;
    let done = confirm_reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), 204);

    // Single use: the same 400 as an unknown token.
    let again =
        assert_error(confirm_reset(&app, &token, "yet another passphrase 7").await, 400, "invalid_reset_token").await;
    let unknown =
        assert_error(confirm_reset(&app, "pyrst_unknown", NEW_PASSWORD).await, 400, "invalid_reset_token").await;
    assert_eq!(again["error"], unknown["error"]);

    // Every session ended: access tokens and refresh tokens of both sessions.
    for session in [&user, &second] {
        assert_eq!(get_as(&app, "/api/v1/users/me", &session.access).await.status(), 401);
        let refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": session.refresh})).await;
        assert_eq!(refresh.status(), 401);
    }
    // The old password is refused, the new one signs in.
    assert_eq!(
        crate::support::accounts::login(&app, &user.email, crate::support::accounts::PASSWORD).await.status(),
        401
    );
    let fresh = login_ok(&app, &user.email, NEW_PASSWORD).await;

    // The "password changed" notice: in the inbox and by email.
    let notice = &wait_for_notices(&app, &fresh, "user.password_changed", 1).await[0];
    assert_eq!(notice["critical"], true);
    let emails = wait_for_emails(&app, &user.email, 2).await;
    assert!(emails.iter().any(|(subject, _)| subject.contains("password was changed")), "{emails:?}");
}

async fn password_reset_token_is_never_in_clear_in_the_audit_trail(app: TestApp) {
    let user = register(&app).await;
    let token = reset_token_by_email(&app, &user.email, 1).await;
    assert_eq!(confirm_reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    let fresh = login_ok(&app, &user.email, NEW_PASSWORD).await;
    let started = Instant::now();
    loop {
        let requested = json_of(
            get_as(&app, "/api/v1/audit-logs?action=auth.password_reset_requested", &fresh.access).await,
            200,
            "the audit trail",
        )
        .await;
        let completed = json_of(
            get_as(&app, "/api/v1/audit-logs?action=auth.password_reset_completed", &fresh.access).await,
            200,
            "the audit trail",
        )
        .await;
        let text = format!("{requested}{completed}");
        if text.contains(&user.user_id) && text.contains("password_reset_completed") {
            assert!(text.contains("sealed_token") || !text.contains("pyrst_"), "{text}");
            assert!(!text.contains(&token) && !text.contains("pyrst_"), "the audit trail holds the token in clear");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no audit entries: {text}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn password_reset_tokens_expire(app: TestApp) {
    let user = register(&app).await;
    let token = reset_token_by_email(&app, &user.email, 1).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_error(confirm_reset(&app, &token, NEW_PASSWORD).await, 400, "invalid_reset_token").await;
    // The old password still works, the sessions too.
    assert_eq!(get_as(&app, "/api/v1/users/me", &user.access).await.status(), 200);
    login_ok(&app, &user.email, crate::support::accounts::PASSWORD).await;
}

async fn password_reset_requests_are_throttled_per_email_and_per_ip(app: TestApp) {
    // Per email (3), account or not: the fourth is refused, with Retry-After.
    let unknown = unique_email();
    for _ in 0..3 {
        assert_eq!(request_reset(&app, &unknown).await.0, 202);
    }
    let refused = app.post_json("/api/v1/auth/password-reset", &json!({"email": unknown})).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "rate_limited").await;
    // Per IP (6): two more emails use it up.
    assert_eq!(request_reset(&app, &unique_email()).await.0, 202);
    assert_eq!(request_reset(&app, &unique_email()).await.0, 202);
    assert_eq!(request_reset(&app, &unique_email()).await.0, 429);
}

// ---------------------------------------------------------------- registration with REGISTRATION_MODE=verify_email

async fn request_registration(app: &TestApp, email: &str, password: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = app.post_json("/api/v1/auth/register", &json!({"email": email, "password": password})).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null), started.elapsed())
}

async fn registration_verifies_the_email_before_the_account_exists_and_answers_alike_for_taken_emails(app: TestApp) {
    let password = crate::support::accounts::PASSWORD;
    let email = unique_email();
    let (status, first, took) = request_registration(&app, &email, password).await;
    assert_eq!(status, 202, "{first}");
    assert!(took >= auth::verify_email::MIN_REQUEST_TIME, "{took:?}");
    // No account until the address is verified.
    assert_eq!(crate::support::accounts::login(&app, &email, password).await.status(), 401);

    // The email carries the link; its token creates the account and signs it in, once.
    let emails = wait_for_emails(&app, &email, 1).await;
    let (subject, body) = &emails[0];
    assert!(subject.contains("Confirm your email"), "{subject}");
    assert!(body.contains("https://app.example.com/verify-email?token=pyrvf_"), "{body}");
    let token = token_in(body);
    let verified = app.post_json("/api/v1/auth/register/verify", &json!({"token": token})).await;
    let verified = json_of(verified, 201, "verifying").await;
    assert_eq!(verified["email"], email.as_str());
    let me = get_as(&app, "/api/v1/users/me", verified["access_token"].as_str().unwrap()).await;
    let me = json_of(me, 200, "the new account").await;
    assert_eq!(me["email"], email.as_str());
    let owner = login_ok(&app, &email, password).await;
    let again = app.post_json("/api/v1/auth/register/verify", &json!({"token": token})).await;
    let again = assert_error(again, 400, "invalid_verification_token").await;
    let unknown = app.post_json("/api/v1/auth/register/verify", &json!({"token": "pyrvf_unknown"})).await;
    let unknown = assert_error(unknown, 400, "invalid_verification_token").await;
    assert_eq!(again["error"], unknown["error"]);

    // The same address again: the same answer, no second account; its owner is told, by email and in the inbox.
    let (status, taken, took) = request_registration(&app, &email, "another passphrase 99").await;
    assert_eq!((status, &taken), (202, &first), "the same status and body, account or not");
    assert!(took >= auth::verify_email::MIN_REQUEST_TIME, "{took:?}");
    let emails = wait_for_emails(&app, &email, 2).await;
    assert!(emails.iter().any(|(subject, _)| subject.contains("tried to register")), "{emails:?}");
    let notice = &wait_for_notices(&app, &owner, "auth.registration_attempted", 1).await[0];
    assert_eq!(notice["critical"], true);
    assert_eq!(crate::support::accounts::login(&app, &email, "another passphrase 99").await.status(), 401);

    // Malformed input is still a 400 (it says nothing about accounts).
    let (status, body, _) = request_registration(&app, "not an email", password).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_email")), "{body}");
    let (status, body, _) = request_registration(&app, &unique_email(), "password").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("weak_password")), "{body}");

    // The request is in the new tenant's audit trail, its token never in clear.
    let started = Instant::now();
    loop {
        let trail = get_as(&app, "/api/v1/audit-logs?action=auth.registration_requested", &owner.access).await;
        let trail = json_of(trail, 200, "the audit trail").await.to_string();
        assert!(!trail.contains(&token), "the token leaked into the audit trail");
        if trail.contains("auth.registration_requested") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no auth.registration_requested in {trail}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An account made through the verify_email flow.
async fn verified_account(app: &TestApp) -> Account {
    let email = unique_email();
    let (status, body, _) = request_registration(app, &email, crate::support::accounts::PASSWORD).await;
    assert_eq!(status, 202, "{body}");
    let emails = wait_for_emails(app, &email, 1).await;
    let token = token_in(&emails[0].1);
    let verified = app.post_json("/api/v1/auth/register/verify", &json!({"token": token})).await;
    assert_eq!(verified.status(), 201);
    login_ok(app, &email, crate::support::accounts::PASSWORD).await
}

async fn put_me(app: &TestApp, who: &Account, body: Value) -> reqwest::Response {
    call(app, Method::PUT, "/api/v1/users/me", &who.access, Some(body)).await
}

async fn an_email_change_waits_for_the_new_address_and_answers_alike_for_taken_emails(app: TestApp) {
    let user = verified_account(&app).await;
    let other = verified_account(&app).await;
    let me = json_of(get_as(&app, "/api/v1/users/me", &user.access).await, 200, "me").await;

    // A free address: 202, the name applied, the email not yet.
    let new_email = unique_email();
    let body = json!({"version": me["version"], "email": new_email, "first_name": "Ann"});
    let free = json_of(put_me(&app, &user, body).await, 202, "an email change").await;
    assert_eq!((free["email"].as_str(), free["first_name"].as_str()), (Some(user.email.as_str()), Some("Ann")));

    // A taken address: the same answer, nothing sent to it.
    let body = json!({"version": free["version"], "email": other.email});
    let taken = json_of(put_me(&app, &user, body).await, 202, "a change to a taken email").await;
    assert_eq!(taken["email"], user.email.as_str());

    // The new address gets the link; confirming moves the account there, once.
    let emails = wait_for_emails(&app, &new_email, 1).await;
    let (subject, body) = &emails[0];
    assert!(subject.contains("Confirm your new email"), "{subject}");
    assert!(body.contains("https://app.example.com/confirm-email?token=pyrem_"), "{body}");
    let token = token_in(body);
    let confirmed = app.post_json("/api/v1/users/email-change/confirm", &json!({"token": token})).await;
    let confirmed = json_of(confirmed, 200, "confirming").await;
    assert_eq!(confirmed["email"], new_email.as_str());
    let again = app.post_json("/api/v1/users/email-change/confirm", &json!({"token": token})).await;
    assert_error(again, 400, "invalid_email_change_token").await;
    login_ok(&app, &new_email, crate::support::accounts::PASSWORD).await;
    assert_eq!(
        crate::support::accounts::login(&app, &user.email, crate::support::accounts::PASSWORD).await.status(),
        401
    );

    // The taken address's owner got nothing about it (only their own verification email).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_other = emails_to(&app, &other.email).await;
    assert!(to_other.iter().all(|(subject, _)| !subject.contains("new email")), "{to_other:?}");
}

// ---------------------------------------------------------------- SMS and push

/// A fresh E.164 number (moto's SNS keeps every SMS of the run: each test has its own number).
fn unique_phone() -> String {
    let digits: u64 = u64::from(uuid::Uuid::new_v4().as_u128() as u32) % 10_000_000;
    format!("+1555{digits:07}")
}

/// A fresh FCM-shaped token.
fn fcm_token() -> String {
    format!("fcm-e2e:{}", uuid::Uuid::new_v4().simple())
}

async fn put_prefs(app: &TestApp, who: &Account, body: Value) -> reqwest::Response {
    call(app, Method::PUT, "/api/v1/notifications/preferences", &who.access, Some(body)).await
}

async fn register_device(app: &TestApp, who: &Account, body: Value) -> reqwest::Response {
    call(app, Method::POST, "/api/v1/notifications/devices", &who.access, Some(body)).await
}

async fn devices_of(app: &TestApp, who: &Account) -> Vec<Value> {
    let listed = json_of(get_as(app, "/api/v1/notifications/devices", &who.access).await, 200, "the devices").await;
    listed["devices"].as_array().unwrap().clone()
}

/// Waits until the newest notice of `kind` has every one of `channels` out of `pending`; returns it.
async fn wait_for_settled(app: &TestApp, who: &Account, kind: &str, channels: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let notice = wait_for_notices(app, who, kind, 1).await.remove(0);
        let settled = channels.iter().all(|channel| {
            notice["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["channel"] == *channel && d["status"] != "pending")
        });
        if settled {
            return notice;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{channels:?} of {kind} settled within 20 s: {notice}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn a_security_notice_goes_by_sms_and_push_to_a_user_with_a_number_and_a_device(app: TestApp) {
    let user = register(&app).await;
    let phone = unique_phone();
    // A number, SMS on for account notices only; security notices are critical: they go by SMS anyway.
    let prefs = json!({"phone_number": phone, "categories": {"account": {"in_app": true, "email": true, "sms": true}}});
    let now = json_of(put_prefs(&app, &user, prefs).await, 200, "a phone number").await;
    assert_eq!(now["phone_number"], phone.as_str());
    let category = |name: &str| now["categories"].as_array().unwrap().iter().find(|c| c["category"] == name).cloned();
    let account = category("account").unwrap();
    assert_eq!((account["sms"].as_bool(), account["push"].as_bool()), (Some(true), Some(true)));
    let security = category("security").unwrap();
    assert_eq!((security["sms"].as_bool(), security["critical"].as_bool()), (Some(false), Some(true)));

    let token = fcm_token();
    let body = json!({"platform": "fcm", "token": token, "name": "Ann's Pixel"});
    let device = json_of(register_device(&app, &user, body.clone()).await, 201, "a device").await;
    let id = device["id"].as_str().unwrap().to_string();
    assert_eq!(device["platform"], "fcm");
    assert_eq!(device["name"], "Ann's Pixel");
    assert_eq!(device["enabled"], true);
    assert_eq!(device["token_suffix"].as_str().unwrap(), &token[token.len() - 6..]);
    assert!(device["created_at"].is_string() && device.get("token").is_none(), "{device}");
    assert!(!device.to_string().contains(&token), "the token is never echoed: {device}");

    let key = create_key(&app, &user, "mobile").await;
    let notice = wait_for_settled(&app, &user, "api_key.created", &["email", "sms", "push"]).await;
    for channel in ["in_app", "email", "sms", "push"] {
        let delivered = delivery(&notice, channel);
        assert_eq!(delivered["status"], "delivered", "{channel}: {notice}");
        assert!(channel == "in_app" || delivered["message_id"].is_string(), "{channel}: {notice}");
    }
    let title = notice["title"].as_str().unwrap().to_string();
    let texts = sms_to(&app, &phone).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0], title.chars().take(300).collect::<String>(), "the SMS is the subject");
    assert!(texts[0].contains("Security notice"), "{texts:?}");
    let pushes = pushes_to(&app, &id, &token).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0].0, title);
    assert!(pushes[0].1.chars().count() <= 200, "{pushes:?}");
    assert!(notice["body"].as_str().unwrap().starts_with(&pushes[0].1), "the push body is the body's start");
    let secret = key["key"].as_str().unwrap();
    assert!(!texts[0].contains(secret) && !pushes[0].1.contains(secret));

    // A password reset goes by email alone: no SMS, no push.
    let reset = app.post_json("/api/v1/auth/password-reset", &json!({"email": user.email})).await;
    assert_eq!(reset.status(), 202);
    wait_for_emails(&app, &user.email, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sms_to(&app, &phone).await.len(), 1, "no SMS for a password reset");
    assert_eq!(pushes_to(&app, &id, &token).await.len(), 1, "no push for a password reset");
}

async fn sms_is_opt_in_and_phone_numbers_are_e164(app: TestApp) {
    let owner = register(&app).await;
    let member = join(&app, &owner.access, "member").await;
    // Not E.164: 400 in the error shape, nothing stored.
    for bad in ["4155552671", "+1 415 555 2671", "+0123456789", "+1234567", "+1234567890123456", "+1415555abcd"] {
        let put = put_prefs(&app, &member, json!({"phone_number": bad})).await;
        let refused = assert_error(put, 400, "invalid_field").await;
        assert!(refused["error"].as_str().unwrap().contains("phone_number"), "{refused}");
    }
    let got = json_of(get_as(&app, "/api/v1/notifications/preferences", &member.access).await, 200, "prefs").await;
    assert_eq!(got["phone_number"], Value::Null);
    // A number without opting in: a non-critical notice is no SMS (skipped), and there is no push without a device.
    let phone = unique_phone();
    json_of(put_prefs(&app, &member, json!({"phone_number": phone})).await, 200, "a number").await;
    let path = format!("/api/v1/users/{}", member.user_id);
    let user = json_of(get_as(&app, &path, &owner.access).await, 200, "the member").await;
    let body = json!({"version": user["version"], "first_name": "Renamed"});
    json_of(call(&app, Method::PUT, &path, &owner.access, Some(body)).await, 200, "renaming").await;
    let notice = wait_for_settled(&app, &member, "user.updated", &["email", "sms"]).await;
    assert_eq!(notice["critical"], false);
    assert_eq!(delivery(&notice, "sms")["status"], "skipped_preference", "{notice}");
    assert!(!notice["deliveries"].as_array().unwrap().iter().any(|d| d["channel"] == "push"), "{notice}");
    assert!(sms_to(&app, &phone).await.is_empty());
    // Other fields of the body still work as before, and null removes the number.
    let old_body = json!({"categories": {"account": {"in_app": true, "email": false}}});
    let now = json_of(put_prefs(&app, &member, old_body).await, 200, "an old body").await;
    assert_eq!(now["phone_number"], phone.as_str(), "absent: unchanged");
    let now = json_of(put_prefs(&app, &member, json!({"phone_number": null})).await, 200, "no number").await;
    assert_eq!(now["phone_number"], Value::Null);
}

async fn devices_are_the_callers_own_idempotent_bounded_and_checked(app: TestApp) {
    let owner = register(&app).await;
    let member = join(&app, &owner.access, "member").await;
    let other_tenant = register(&app).await;
    assert!(devices_of(&app, &owner).await.is_empty());

    // Validation: 400 in the error shape.
    let bad = [
        json!({"platform": "apns", "token": "abc123"}),
        json!({"platform": "apns", "token": "z".repeat(64)}),
        json!({"platform": "apns_sandbox", "token": "a".repeat(202)}),
        json!({"platform": "fcm", "token": "too-short"}),
        json!({"platform": "fcm", "token": "has spaces in it, which FCM tokens never do"}),
        json!({"platform": "fcm", "token": fcm_token(), "name": "n".repeat(101)}),
    ];
    for body in bad {
        assert_error(register_device(&app, &owner, body).await, 400, "invalid_field").await;
    }
    let unknown = register_device(&app, &owner, json!({"platform": "blackberry", "token": fcm_token()})).await;
    assert_eq!(unknown.status(), 400);
    let extra = register_device(&app, &owner, json!({"platform": "fcm", "token": fcm_token(), "secret": 1})).await;
    assert_eq!(extra.status(), 400);

    // An APNs device; the same platform and token again is the same device (200), named anew if named.
    let apns = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let first =
        json_of(register_device(&app, &owner, json!({"platform": "apns", "token": apns})).await, 201, "an APNs device")
            .await;
    let again = json_of(
        register_device(&app, &owner, json!({"platform": "apns", "token": apns, "name": "iPhone"})).await,
        200,
        "the same device",
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["name"], "iPhone");
    assert_eq!(again["token_suffix"], &apns[58..]);
    let id = first["id"].as_str().unwrap().to_string();

    // The caller's own only: another user's, another tenant's or a malformed id is a 404.
    assert!(devices_of(&app, &member).await.is_empty());
    assert!(devices_of(&app, &other_tenant).await.is_empty());
    let path = format!("/api/v1/notifications/devices/{id}");
    for stranger in [&member, &other_tenant] {
        assert_error(call(&app, Method::DELETE, &path, &stranger.access, None).await, 404, "not_found").await;
    }
    let malformed = call(&app, Method::DELETE, "/api/v1/notifications/devices/dev_nope", &owner.access, None).await;
    assert_error(malformed, 404, "not_found").await;

    // At most 10 per user: the eleventh is a 409; registering one of the ten again is still fine.
    for _ in 0..9 {
        json_of(register_device(&app, &owner, json!({"platform": "fcm", "token": fcm_token()})).await, 201, "a device")
            .await;
    }
    assert_eq!(devices_of(&app, &owner).await.len(), 10);
    let eleventh = register_device(&app, &owner, json!({"platform": "fcm", "token": fcm_token()})).await;
    assert_error(eleventh, 409, "device_limit_reached").await;
    json_of(register_device(&app, &owner, json!({"platform": "apns", "token": apns})).await, 200, "again").await;
    // The member's own count is theirs.
    json_of(register_device(&app, &member, json!({"platform": "apns", "token": apns})).await, 201, "theirs").await;

    // Deleting: 204, then gone (a 404), and room for another.
    let deleted = call(&app, Method::DELETE, &path, &owner.access, None).await;
    assert_eq!(deleted.status(), 204);
    assert_error(call(&app, Method::DELETE, &path, &owner.access, None).await, 404, "not_found").await;
    let left = devices_of(&app, &owner).await;
    assert_eq!(left.len(), 9);
    assert!(left.iter().all(|d| d["id"] != id.as_str() && d["enabled"] == true));
    json_of(register_device(&app, &owner, json!({"platform": "fcm", "token": fcm_token()})).await, 201, "room").await;
}

async fn over_the_tenants_sms_rate_an_sms_is_dropped(app: TestApp) {
    let user = register(&app).await;
    let phone = unique_phone();
    json_of(put_prefs(&app, &user, json!({"phone_number": phone})).await, 200, "a number").await;
    create_key(&app, &user, "first").await;
    let first = wait_for_settled(&app, &user, "api_key.created", &["sms"]).await;
    assert_eq!(delivery(&first, "sms")["status"], "delivered", "{first}");
    create_key(&app, &user, "second").await;
    let started = Instant::now();
    loop {
        let notices = wait_for_notices(&app, &user, "api_key.created", 2).await;
        let sms = delivery(&notices[0], "sms");
        if sms["status"] == "rate_limited" {
            assert_eq!(delivery(&notices[0], "in_app")["status"], "delivered");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{notices:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sms_to(&app, &phone).await.len(), 1, "the second SMS was dropped");
}
