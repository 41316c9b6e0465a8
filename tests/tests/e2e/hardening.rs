//! Identity hardening (issue 11): emails with invisible characters are refused; one source's failed logins lock
//! out that source and not the account's owner, while a distributed attack still meets the per-account bound;
//! the runner's embedded Airtable emulator accepts no well-known token.
//!
//! The client IP is the TCP peer (`platform::ClientIp`: the local gateway fills API Gateway's `sourceIp` from
//! it; `X-Forwarded-For` is never read, so a client cannot choose its IP). The runner listens on 127.0.0.1, and
//! every address of 127.0.0.0/8 is loopback on Linux, so a client bound to 127.0.0.2 is a second source.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::Response;
use serde_json::{Value, json};

use crate::support::accounts::{PASSWORD, register};
use crate::support::airtable::{BASE, Client, PROJECTS};
use crate::support::{TestApp, assert_error};

crate::both_adapters!(groups ["auth"]; registering_an_email_with_a_zero_width_space_answers_400);

crate::both_adapters_with!(pair_throttle, lock_pairs_after_three;
    one_sources_failed_logins_lock_out_that_source_and_not_the_owner_elsewhere,
);

crate::both_adapters_with!(account_throttle, lock_accounts_after_four;
    failed_logins_from_many_sources_still_lock_the_account,
);

crate::both_adapters_with!(runner_emulator, auth_and_airtable;
    the_runners_emulator_refuses_the_dev_token_while_the_gateway_answers,
);

fn lock_pairs_after_three(settings: &mut local_runner::Settings) {
    settings.groups = Some(vec!["auth".into()]);
    let throttle = &mut settings.auth.throttle;
    throttle.failures_per_account_and_ip = 3;
    throttle.failures_per_account = 100;
    throttle.failures_per_ip = 50;
}

fn lock_accounts_after_four(settings: &mut local_runner::Settings) {
    settings.groups = Some(vec!["auth".into()]);
    let throttle = &mut settings.auth.throttle;
    throttle.failures_per_account_and_ip = 3;
    throttle.failures_per_account = 4;
    throttle.failures_per_ip = 50;
}

fn auth_and_airtable(settings: &mut local_runner::Settings) {
    settings.groups = Some(vec!["auth".into(), "workspaces".into(), "airtable".into()]);
}

/// A client whose connections come from 127.0.0.`last`.
fn client_from(last: u8) -> reqwest::Client {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    reqwest::Client::builder().local_address(ip).build().unwrap()
}

async fn login_from(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> Response {
    client.post(app.at("/api/v1/auth/login")).json(&json!({"email": email, "password": password})).send().await.unwrap()
}

async fn registering_an_email_with_a_zero_width_space_answers_400(app: TestApp) {
    // It would display as root@example.com.
    let body = json!({"email": "root\u{200B}@example.com", "password": PASSWORD});
    let response = app.post_json("/api/v1/auth/register", &body).await;
    let body = assert_error(response, 400, "invalid_email").await;
    assert!(body["error"].as_str().unwrap().contains("invisible"), "{body}");
    // So does a mixed-script look-alike; the plain address is free to register.
    let body = json!({"email": "p\u{0430}ypal@example.com", "password": PASSWORD});
    assert_error(app.post_json("/api/v1/auth/register", &body).await, 400, "invalid_email").await;
    let body = json!({"email": "root@example.com", "password": PASSWORD});
    assert_eq!(app.post_json("/api/v1/auth/register", &body).await.status(), 201);
}

async fn one_sources_failed_logins_lock_out_that_source_and_not_the_owner_elsewhere(app: TestApp) {
    let owner = register(&app).await;
    let (attacker, elsewhere) = (client_from(2), client_from(3));
    for _ in 0..3 {
        assert_eq!(login_from(&app, &attacker, &owner.email, "wrong wrong wrong").await.status(), 401);
    }
    // The attacker's address is locked out of this account, even with the right password.
    let response = login_from(&app, &attacker, &owner.email, PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "rate_limited").await;
    // X-Forwarded-For is not a way out: the IP is the connection's.
    let spoofed = attacker
        .post(app.at("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"email": owner.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // The owner, from another address, signs in.
    assert_eq!(login_from(&app, &elsewhere, &owner.email, PASSWORD).await.status(), 200);
    // And the attacker's address is not locked out of other accounts.
    let other = register(&app).await;
    assert_eq!(login_from(&app, &attacker, &other.email, PASSWORD).await.status(), 200);
}

async fn failed_logins_from_many_sources_still_lock_the_account(app: TestApp) {
    let owner = register(&app).await;
    let (first, second, owners) = (client_from(4), client_from(5), client_from(6));
    for _ in 0..3 {
        assert_eq!(login_from(&app, &first, &owner.email, "wrong wrong wrong").await.status(), 401);
    }
    assert_eq!(login_from(&app, &second, &owner.email, "wrong wrong wrong").await.status(), 401);
    // Four failures from all sources: the account is locked from everywhere, for the rest of the window.
    let response = login_from(&app, &owners, &owner.email, PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 429, "rate_limited").await;
    let other = register(&app).await;
    assert_eq!(login_from(&app, &owners, &other.email, PASSWORD).await.status(), 200);
}

async fn the_runners_emulator_refuses_the_dev_token_while_the_gateway_answers(app: TestApp) {
    let found: Value = app.get("/_local/airtable-emulator").await.json().await.unwrap();
    assert_eq!(found.as_object().unwrap().keys().collect::<Vec<_>>(), ["url"], "only the address is served");
    let client = Client::start(app).await;
    let direct = client
        .app
        .client
        .get(format!("{}/v0/{BASE}/{PROJECTS}?pageSize=1", client.emulator))
        .bearer_auth(airtable_emulator::DEV_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);
    let body: Value = direct.json().await.unwrap();
    assert_eq!(body["error"]["type"], "AUTHENTICATION_REQUIRED", "{body}");
    assert_eq!(client.upstream().await.unauthorized, 1);
    // Through the gateway, a registered user's API key reads the same base.
    let response = client.get(&format!("/v0/{BASE}/{PROJECTS}?pageSize=1")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["records"].as_array().map(Vec::len), Some(1), "{body}");
}
