//! `/metrics` under `cargo run`: every group's requests by route template (never the raw path), their latency
//! histogram and 5xx count, and the business counters — parsed by the Prometheus reference parser (PyPI's
//! prometheus-client), and equal to a known workload.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::TestApp;

crate::both_adapters!(groups ["health", "auth", "users"];
    the_metrics_parse_with_the_reference_parser_and_count_a_known_workload_by_route_template,
);

/// Every sample of `text`, as the reference parser reads it.
async fn parse(text: &str) -> Vec<Value> {
    use tokio::io::AsyncWriteExt;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let python = repo.join(".venv/bin/python");
    assert!(python.exists(), "no {}: run infra/scripts/services.sh install", python.display());
    let mut child = tokio::process::Command::new(python)
        .arg(repo.join("tests/python/parse_metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "the reference parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

async fn the_metrics_parse_with_the_reference_parser_and_count_a_known_workload_by_route_template(app: TestApp) {
    for _ in 0..3 {
        assert_eq!(app.get("/health").await.status(), 200);
    }
    let account = crate::support::accounts::register(&app).await;
    let me = format!("/api/v1/users/{}", account.user_id);
    for _ in 0..2 {
        let response = app.client.get(app.at(&me)).bearer_auth(&account.access).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Refused by the gateway before the group (no credential), and a path no route has.
    assert_eq!(app.get(&me).await.status(), 401);
    let stray = format!("/no/such/path/{}", uuid::Uuid::new_v4().simple());
    assert_eq!(app.get(&stray).await.status(), 404);

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains(&stray) && !text.contains(&account.user_id), "labels are templates, never raw paths");
    let samples = parse(&text).await;
    let requests = "pyairtable_http_requests_total";
    let health = [("service", "health"), ("route", "/health"), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&samples, requests, &health), Some(3.0));
    let user = [("service", "users"), ("route", "/api/v1/users/{id}"), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&samples, requests, &user), Some(2.0));
    let refused = [("service", "gateway"), ("route", "/api/v1/users/{id}"), ("status", "401")];
    assert_eq!(value(&samples, requests, &refused), Some(1.0));
    let unmatched = [("service", "shell"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&samples, requests, &unmatched), Some(1.0));
    let register = [("service", "auth"), ("route", "/api/v1/auth/register"), ("method", "POST"), ("status", "201")];
    assert_eq!(value(&samples, requests, &register), Some(1.0));
    // The histogram: cumulative buckets ending at the count, a sum, no 5xx.
    let labels = [("service", "health"), ("route", "/health"), ("method", "GET")];
    let histogram = "pyairtable_http_request_duration_seconds";
    assert_eq!(value(&samples, &format!("{histogram}_count"), &labels), Some(3.0));
    let inf = [labels.as_slice(), &[("le", "+Inf")]].concat();
    assert_eq!(value(&samples, &format!("{histogram}_bucket"), &inf), Some(3.0));
    assert!(value(&samples, &format!("{histogram}_sum"), &labels).is_some_and(|s| s > 0.0));
    assert_eq!(value(&samples, "pyairtable_http_request_errors_total", &labels), Some(0.0));
    let families = samples.last().unwrap()["families"].as_u64().unwrap();
    assert!(families >= 3, "{families} families");
}
