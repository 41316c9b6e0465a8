//! The platform shell: health, readiness, error shape, request ids — in both runtimes' storage.

use crate::support::{TestApp, assert_error};

crate::both_adapters!(
    health_answers_ok,
    ready_answers_ok_with_its_checks,
    an_unknown_route_is_a_404_in_the_error_shape,
    a_wrong_method_is_a_405_in_the_error_shape,
    a_well_formed_request_id_is_echoed,
    a_malformed_request_id_is_replaced,
);

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
