//! The platform shell: health, readiness, error shape, request ids — in both runtimes' storage. Under `/v0`
//! every error the shell, the local gateway or the router answers is in Airtable's shape (issue 9, defect 3);
//! under `/api/v1` the same failures keep the platform's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::airtable::{BASE, Client, PROJECTS, records};
use crate::support::{TestApp, assert_airtable_error, assert_error};

crate::both_adapters!(
    health_answers_ok,
    ready_answers_ok_with_its_checks,
    an_unknown_route_is_a_404_in_the_error_shape,
    a_wrong_method_is_a_405_in_the_error_shape,
    a_well_formed_request_id_is_echoed,
    a_malformed_request_id_is_replaced,
    v0_refuses_a_missing_or_bad_credential_in_airtables_shape,
    v0_unknown_routes_and_methods_are_airtables_404,
    v0_oversized_bodies_and_heads_are_airtables_413_and_431,
    api_v1_keeps_the_platform_shape_for_the_same_failures,
    oversized_heads_answer_json_431_not_an_empty_body,
    v0_and_api_v1_rate_limits_answer_each_their_shape,
    v0_and_api_v1_refusals_of_a_base_answer_each_their_shape,
);

const V0_PATHS: [&str; 3] = ["/v0/meta/bases", "/v0/meta/whoami", "/v0/appXXXXXXXXXXXXXX/Projects"];

async fn v0_refuses_a_missing_or_bad_credential_in_airtables_shape(app: TestApp) {
    let paths = V0_PATHS.iter().map(|p| p.to_string()).chain([format!("/v0/{BASE}/{PROJECTS}/recXXXXXXXXXXXXXX")]);
    for path in paths {
        let body = assert_airtable_error(app.get(&path).await, 401, "AUTHENTICATION_REQUIRED").await;
        assert_eq!(body, json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}));
        for forged in ["pyat_not-a-key", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "patXXXXXXXX.YYYY"] {
            let response = app.client.get(app.at(&path)).bearer_auth(forged).send().await.unwrap();
            let body = assert_airtable_error(response, 401, "AUTHENTICATION_REQUIRED").await;
            assert_eq!(body["error"]["message"], "Authentication required");
        }
        let response = app.client.get(app.at(&path)).header("authorization", "Basic dTpw").send().await.unwrap();
        assert_airtable_error(response, 401, "AUTHENTICATION_REQUIRED").await;
    }
    // A refusal still carries the caller's request id.
    let response = app.client.get(app.at("/v0/meta/bases")).header("x-request-id", "v0-req.1").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "v0-req.1");
    assert_airtable_error(response, 401, "AUTHENTICATION_REQUIRED").await;
}

async fn v0_unknown_routes_and_methods_are_airtables_404(app: TestApp) {
    let client = Client::start(app).await;
    for path in ["/v0", "/v0/", "/v0/a/b/c/d/e/f", "/v0/meta", "/v0/meta/bases/x/y/z/w", "/v0/bases"] {
        for credential in [None, Some(client.api_key.as_str())] {
            let mut request = client.app.client.get(client.app.at(path));
            if let Some(key) = credential {
                request = request.bearer_auth(key);
            }
            assert_airtable_error(request.send().await.unwrap(), 404, "NOT_FOUND").await;
        }
    }
    // A method no route of the path serves: Airtable answers it as an unknown route, not 405.
    for (method, path) in [
        (Method::DELETE, "/v0/meta/bases".to_string()),
        (Method::POST, "/v0/meta/whoami".to_string()),
        (Method::PUT, format!("/v0/{BASE}/{PROJECTS}/listRecords")),
        (Method::TRACE, format!("/v0/{BASE}/{PROJECTS}")),
    ] {
        let response = client.send(method.clone(), &path, None).await;
        assert_airtable_error(response, 404, "NOT_FOUND").await;
    }
}

async fn v0_oversized_bodies_and_heads_are_airtables_413_and_431(app: TestApp) {
    let client = Client::start(app).await;
    let big = "x".repeat(platform::config::HttpSettings::default().max_body_bytes + 1);
    let response =
        client.send(Method::POST, &format!("/v0/{BASE}/{PROJECTS}"), Some(json!({"fields": {"Name": big}}))).await;
    assert_airtable_error(response, 413, "REQUEST_TOO_LARGE").await;

    let header = "h".repeat(platform::config::DEFAULT_MAX_HEADER_BYTES);
    let response = client.send_as(&client.api_key, Method::GET, "/v0/meta/bases", None, &[("x-big", &header)]).await;
    assert_airtable_error(response, 431, "REQUEST_HEADERS_TOO_LARGE").await;
    // Without a credential too: the head is refused before anything reads it.
    let response =
        client.app.client.get(client.app.at("/v0/meta/bases")).header("x-big", &header).send().await.unwrap();
    assert_airtable_error(response, 431, "REQUEST_HEADERS_TOO_LARGE").await;
}

async fn api_v1_keeps_the_platform_shape_for_the_same_failures(app: TestApp) {
    assert_error(app.get("/api/v1/users/me").await, 401, "unauthorized").await;
    let response = app.client.get(app.at("/api/v1/users/me")).bearer_auth("pyat_not-a-key").send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    assert_error(app.get("/api/v1/no/such/route").await, 404, "not_found").await;
    let response = app.client.delete(app.at("/api/v1/auth/login")).send().await.unwrap();
    let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(allow.contains("POST"), "Allow: {allow}");
    assert_error(response, 405, "method_not_allowed").await;

    let client = Client::start(app).await;
    let big = "x".repeat(platform::config::HttpSettings::default().max_body_bytes + 1);
    let response = client.send(Method::POST, &records(""), Some(json!({"fields": {"Name": big}}))).await;
    assert_error(response, 413, "payload_too_large").await;
    let header = "h".repeat(platform::config::DEFAULT_MAX_HEADER_BYTES);
    let response = client.send_as(&client.api_key, Method::GET, "/api/v1/users/me", None, &[("x-big", &header)]).await;
    assert_error(response, 431, "headers_too_large").await;
}

async fn oversized_heads_answer_json_431_not_an_empty_body(app: TestApp) {
    // More header fields than hyper's default (100): hyper used to refuse them itself, with an empty body.
    for (path, platform_shape) in [("/api/v1/users/me", true), ("/v0/meta/bases", false), ("/health", true)] {
        let mut request = app.client.get(app.at(path));
        for i in 0..150 {
            request = request.header(format!("x-h{i}"), "1");
        }
        let response = request.send().await.unwrap();
        if platform_shape {
            assert_error(response, 431, "headers_too_large").await;
        } else {
            assert_airtable_error(response, 431, "REQUEST_HEADERS_TOO_LARGE").await;
        }
    }
    // A head of 200 KiB: over the limit, under what the server reads.
    let response = app.client.get(app.at("/health")).header("x-big", "h".repeat(200 * 1024)).send().await.unwrap();
    assert_error(response, 431, "headers_too_large").await;
    // Within the limits: served.
    assert_eq!(
        app.client.get(app.at("/health")).header("x-big", "h".repeat(8 * 1024)).send().await.unwrap().status(),
        200
    );
}

async fn v0_and_api_v1_rate_limits_answer_each_their_shape(app: TestApp) {
    let client = Client::start(app).await;
    // Airtable admits one request to the base, then answers 429 and penalises it: so does the gateway.
    client.stage(json!({"base_rps": 0.01, "base_burst": 1.0})).await;
    let mut v0 = None;
    for max in 1..=4 {
        let response = client.get(&format!("/v0/{BASE}/{PROJECTS}?maxRecords={max}")).await;
        if response.status() == 429 {
            v0 = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let response = v0.expect("a 429 on /v0 once the base is over its limit");
    assert!(response.headers().contains_key("retry-after"), "Retry-After on /v0's 429");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["error"], "RATE_LIMIT_REACHED", "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    let response = client.get(&records("?maxRecords=9")).await;
    assert!(response.headers().contains_key("retry-after"), "Retry-After on /api/v1's 429");
    assert_error(response, 429, "rate_limited").await;
}

async fn health_answers_ok(app: TestApp) {
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

async fn ready_answers_ok_with_its_checks(app: TestApp) {
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let checks = body["checks"].as_object().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.values().all(|v| v == "ok"), "{body}");
}

async fn an_unknown_route_is_a_404_in_the_error_shape(app: TestApp) {
    assert_error(app.get("/no/such/route").await, 404, "not_found").await;
}

async fn a_wrong_method_is_a_405_in_the_error_shape(app: TestApp) {
    let response = app.client.delete(app.at("/health")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
}

async fn a_well_formed_request_id_is_echoed(app: TestApp) {
    let response = app.client.get(app.at("/no/such/route")).header("X-Request-ID", "abc-123.x").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123.x");
    let body = assert_error(response, 404, "not_found").await;
    assert_eq!(body["request_id"], "abc-123.x");
}

async fn a_malformed_request_id_is_replaced(app: TestApp) {
    let response = app.client.get(app.at("/health")).header("X-Request-ID", "bad id <script>").send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "bad id <script>");
    assert!(platform::request_id::is_well_formed(&id));
}

async fn v0_and_api_v1_refusals_of_a_base_answer_each_their_shape(app: TestApp) {
    let client = Client::start(app).await;
    // A well-formed base id the credential cannot reach: Airtable's 403.
    let unknown = "appNOPENOPENOPE12";
    let response = client.get(&format!("/v0/{unknown}/{PROJECTS}")).await;
    let body = assert_airtable_error(response, 403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND").await;
    assert_eq!(body["error"]["message"], platform::dialect::INVALID_PERMISSIONS);
    let response = client.get(&format!("/v0/meta/bases/{unknown}/tables")).await;
    assert_airtable_error(response, 403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND").await;
    let response = client.get(&format!("/api/v1/airtable/bases/{unknown}/tables/{PROJECTS}/records")).await;
    assert_error(response, 403, "forbidden").await;
}
