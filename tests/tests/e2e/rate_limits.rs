//! Per-tenant API rate limits by plan, at the local gateway (API Gateway's usage plans on AWS): a tenant
//! beyond its plan's burst is answered 429 with Retry-After, in each surface's dialect, while another tenant
//! is not; after Retry-After it is admitted again; the usage route reports what was counted. Every plan here
//! allows 1 request per second with a burst of 2 (the other scenarios' runners have generous rates).

use std::time::Duration;

use reqwest::Response;
use serde_json::{Value, json};

use crate::support::accounts::{Account, get_as, register};
use crate::support::{TestApp, assert_error};

const CURRENT: &str = "/api/v1/tenants/current";
const USAGE: &str = "/api/v1/tenants/current/usage";
const AIRTABLE_BASES: &str = "/v0/meta/bases";

fn tight(settings: &mut local_runner::Settings) {
    settings.groups = Some(vec!["auth".into(), "tenants".into(), "workspaces".into(), "airtable".into()]);
    settings.tenants.plans = settings.tenants.plans.clone().with_api_rate(1, 2);
}

crate::both_adapters_with!(tight_plans, tight;
    a_tenant_beyond_its_burst_gets_429_in_each_dialect_and_another_tenant_does_not,
);

/// What one tenant sent and how much of it was refused.
#[derive(Default)]
struct Sent {
    requests: u64,
    refused: u64,
}

impl Sent {
    /// Sends GET `path` as `account` until one is refused (each admitted one spends a token, so a refusal
    /// comes however slow the machine); returns how many were admitted first, and the refusal.
    async fn until_refused(&mut self, app: &TestApp, path: &str, account: &Account) -> (u64, Response) {
        for admitted in 0..20 {
            let response = get_as(app, path, &account.access).await;
            self.requests += 1;
            if response.status() == 429 {
                self.refused += 1;
                return (admitted, response);
            }
            assert_eq!(response.status(), 200, "GET {path}");
        }
        panic!("20 requests in a row and none refused at 1 request/s with a burst of 2");
    }
}

fn retry_after(response: &Response) -> u64 {
    let value = response.headers().get("retry-after").expect("Retry-After on a 429");
    let secs: u64 = value.to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "Retry-After {secs} at 1 request/s");
    secs
}

async fn usage(app: &TestApp, account: &Account) -> Value {
    let response = get_as(app, USAGE, &account.access).await;
    assert_eq!(response.status(), 200, "GET {USAGE}");
    response.json().await.unwrap()
}

async fn a_tenant_beyond_its_burst_gets_429_in_each_dialect_and_another_tenant_does_not(app: TestApp) {
    let (ann, bob) = (register(&app).await, register(&app).await);
    let mut sent = Sent::default();

    // The platform's dialect: the burst of 2 passes (a third may, on a slow machine), then 429.
    let (admitted, refused) = sent.until_refused(&app, CURRENT, &ann).await;
    assert!((2..=3).contains(&admitted), "admitted {admitted} before the first 429");
    let wait = retry_after(&refused);
    assert_error(refused, 429, "rate_limited").await;

    // Another tenant, at the same moment, is not affected.
    for _ in 0..2 {
        assert_eq!(get_as(&app, CURRENT, &bob.access).await.status(), 200);
    }

    // Airtable's dialect under /v0, from the same bucket: the tenant's rate is one for the whole API.
    let (_, refused) = sent.until_refused(&app, AIRTABLE_BASES, &ann).await;
    retry_after(&refused);
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["error"], "RATE_LIMIT_REACHED", "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    // After Retry-After the tenant is admitted again; its usage shows the plan's rate and what was counted
    // (this request included).
    tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
    let counted = usage(&app, &ann).await;
    sent.requests += 1;
    assert_eq!(counted["usage"][0], json!({"limit": "members", "allowed": 5, "used": 1}));
    assert_eq!(
        counted["rate_limit"],
        json!({
            "requests_per_second": 1,
            "burst": 2,
            "requests_this_month": sent.requests,
            "throttled_this_month": sent.refused,
        })
    );
    assert_eq!(sent.refused, 2);

    // The other tenant's count is its own.
    let theirs = usage(&app, &bob).await;
    assert_eq!(theirs["rate_limit"]["requests_this_month"], 3);
    assert_eq!(theirs["rate_limit"]["throttled_this_month"], 0);
}
