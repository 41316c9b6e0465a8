//! What the gateway is for: the cache (single-flight, invalidation, stale-if-error, tenant isolation) and
//! the upstream limiter, measured at the emulator.

use std::time::Instant;

use reqwest::Method;
use serde_json::json;

use super::{BASE, Client, records};
use crate::support::TestApp;

crate::both_adapters!(
    a_hundred_concurrent_identical_reads_make_one_upstream_call,
    a_write_invalidates_the_tables_cached_reads,
    an_upstream_outage_with_a_warm_cache_yields_stale_answers_not_errors,
    tenants_never_share_cached_results,
    fifty_concurrent_writers_against_a_five_rps_base_see_no_upstream_429s,
    the_metrics_route_counts_cache_outcomes_and_upstream_calls,
);

async fn a_hundred_concurrent_identical_reads_make_one_upstream_call(app: TestApp) {
    let client = Client::start(app).await;
    // Slow enough upstream that all hundred arrive while the first is still in flight.
    client.stage(json!({"latency_ms": 500})).await;
    let before = client.upstream().await.requests;
    let path = records("?pageSize=10&sort%5B0%5D%5Bfield%5D=Name");
    let replies = futures::future::join_all((0..100).map(|_| client.read(&path, &[]))).await;
    assert!(replies.iter().all(|(status, _, _)| *status == 200));
    assert!(replies.iter().all(|(_, _, body)| *body == replies[0].2));
    assert_eq!(client.upstream().await.requests - before, 1, "one upstream call for 100 identical reads");
    assert_eq!(replies.iter().filter(|(_, cache, _)| cache == "MISS").count(), 1);
}

async fn a_write_invalidates_the_tables_cached_reads(app: TestApp) {
    let client = Client::start(app).await;
    let list = records("?filterByFormula=%7BName%7D%3D%27Project%2005%27");
    let (_, cache, before) = client.read(&list, &[]).await;
    assert_eq!(cache, "MISS");
    assert_eq!(client.read(&list, &[]).await.1, "HIT");
    let id = before["records"][0]["id"].as_str().unwrap();
    let v0 = format!("/v0/{BASE}/Projects/{id}");
    let written = client.send(Method::PATCH, &v0, Some(json!({"fields": {"Notes": "changed"}}))).await;
    assert_eq!(written.status(), 200);
    let (status, cache, after) = client.read(&list, &[]).await;
    assert_eq!(
        (status, cache.as_str()),
        (200, "MISS"),
        "a write through /v0 by table name invalidates /api/v1 reads by id"
    );
    assert_eq!(after["records"][0]["fields"]["Notes"], "changed");
}

async fn an_upstream_outage_with_a_warm_cache_yields_stale_answers_not_errors(app: TestApp) {
    let client = Client::start(app).await;
    let paths = [records("?pageSize=5"), records("/recProj0000000002"), format!("/v0/{BASE}/Projects?pageSize=5")];
    let mut warm = Vec::new();
    for path in &paths {
        let (status, cache, body) = client.read(path, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{path}");
        warm.push(body);
    }
    client.stage(json!({"outage": true})).await;
    for (path, warm) in paths.iter().zip(&warm) {
        // max-age=0: this client wants a fresh answer, so the gateway asks Airtable, which is down.
        let (status, cache, body) = client.read(path, &[("cache-control", "max-age=0")]).await;
        assert_eq!((status, cache.as_str()), (200, "STALE"), "{path}");
        assert_eq!(&body, warm);
    }
    let (status, _, body) = client.read(&records("?pageSize=6"), &[]).await;
    assert_eq!((status, body["code"].as_str()), (502, Some("upstream_error")), "nothing cached: an error");
}

async fn tenants_never_share_cached_results(app: TestApp) {
    let client = Client::start(app).await;
    let other = client.another_tenant().await;
    let path = records("?pageSize=3");
    assert_eq!(client.read(&path, &[]).await.1, "MISS");
    let theirs = client.send_as(&other, Method::GET, &path, None, &[]).await;
    assert_eq!(theirs.headers()["x-cache"], "MISS", "another tenant's first read is its own miss");
    assert_eq!(client.read(&path, &[]).await.1, "HIT");
    let theirs = client.send_as(&other, Method::GET, &path, None, &[]).await;
    assert_eq!(theirs.headers()["x-cache"], "HIT");
}

async fn fifty_concurrent_writers_against_a_five_rps_base_see_no_upstream_429s(app: TestApp) {
    let client = Client::start(app).await;
    // Airtable's writes are slow; a little latency keeps several in flight at once.
    client.stage(json!({"write_latency_ms": 150})).await;
    let before = client.upstream().await.base(BASE);
    let started = Instant::now();
    let path = records("");
    let writers =
        (0..50).map(|i| client.send(Method::POST, &path, Some(json!({"fields": {"Name": format!("Writer {i}")}}))));
    let statuses: Vec<u16> = futures::future::join_all(writers).await.iter().map(|r| r.status().as_u16()).collect();
    let elapsed = started.elapsed();
    let stats = client.upstream().await;
    let after = stats.base(BASE);
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(after.rate_limited - before.rate_limited, 0, "Airtable never answered 429");
    let admitted = &after.admitted_at_ms[before.admitted_at_ms.len()..];
    assert_eq!(admitted.len(), 50);
    let span_s = (admitted[admitted.len() - 1] - admitted[0]) as f64 / 1000.0;
    let rate = (admitted.len() - 1) as f64 / span_s;
    eprintln!(
        "50 writers: {rate:.2} upstream requests/s over {span_s:.2} s (max {} in any 1 s window); all done in {:.2} s",
        stats.max_in_window(BASE, 1000),
        elapsed.as_secs_f64()
    );
    // The limiter spaces requests 200 ms apart: close to 5/s, never meaningfully above.
    assert!((3.5..=5.5).contains(&rate), "{rate:.2} requests/s");
}

async fn the_metrics_route_counts_cache_outcomes_and_upstream_calls(app: TestApp) {
    let client = Client::start(app).await;
    let path = records("?pageSize=2");
    client.read(&path, &[]).await;
    client.read(&path, &[]).await;
    let text = client.app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("airtable_cache_requests_total{result=\"hit\"} 1"), "{text}");
    assert!(text.contains("airtable_cache_requests_total{result=\"miss\"} 1"), "{text}");
    assert!(text.contains("airtable_upstream_requests_total 1"), "{text}");
    assert!(text.contains("airtable_limiter_wait_seconds_count 1"), "{text}");
}
