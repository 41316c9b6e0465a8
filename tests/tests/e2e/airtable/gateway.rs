//! What the gateway is for: the cache (single-flight, invalidation, stale-if-error, tenant isolation) and
//! the upstream limiter, measured at the emulator.

use std::time::Instant;

use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;
use crate::support::airtable::{BASE, Client, records, unpack};

use crate::support::airtable::gateway_settings;
crate::both_adapters_in!(gateway_settings;
    a_hundred_concurrent_identical_reads_make_one_upstream_call,
    a_write_invalidates_the_tables_cached_reads,
    an_upstream_outage_with_a_warm_cache_yields_stale_answers_not_errors,
    tenants_never_share_cached_results,
    fifty_concurrent_writers_against_a_five_rps_base_see_no_upstream_429s,
    the_metrics_route_counts_cache_outcomes_and_upstream_calls,
    fifty_writers_against_a_strict_sliding_window_upstream_see_no_429s_at_4_5_per_second,
    while_a_base_is_penalised_cached_reads_are_stale_and_uncached_ones_429_with_retry_after,
    an_upstream_429_reaches_a_v0_client_with_retry_after,
    an_upstream_429_reaches_an_api_v1_client_with_retry_after,
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

/// The two fifty-writer measurements (each runs once per adapter) take turns: on 2 cores, four at once
/// starve the limiter's timers of CPU and measure the machine instead of the limiter.
static PACING_MEASUREMENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn fifty_concurrent_writers_against_a_five_rps_base_see_no_upstream_429s(app: TestApp) {
    let _turn = PACING_MEASUREMENT.lock().await;
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

/// Defect: pacing at exactly 1/rps let jitter put 6 requests into one second at an upstream that counts a
/// sliding window (then 429 and a 30 s penalty). Against the emulator's strict mode: no 429, ≤ 5 in any
/// sliding second, and still ≥ 4.5 writes/s.
async fn fifty_writers_against_a_strict_sliding_window_upstream_see_no_429s_at_4_5_per_second(app: TestApp) {
    let _turn = PACING_MEASUREMENT.lock().await;
    let client = Client::start(app).await;
    client.stage(json!({"sliding_window": true, "write_latency_ms": 150})).await;
    let before = client.upstream().await.base(BASE);
    let started = Instant::now();
    let path = records("");
    // 50 writers at once; each keeps writing while the first 4 s last (the queue drains after).
    let writer = |i: usize| {
        let (client, path) = (&client, &path);
        async move {
            let mut statuses = Vec::new();
            let mut n = 0;
            while started.elapsed().as_secs_f64() < 4.0 || n == 0 {
                let body = json!({"fields": {"Name": format!("Strict writer {i}.{n}")}});
                statuses.push(client.send(Method::POST, path, Some(body)).await.status().as_u16());
                n += 1;
            }
            statuses
        }
    };
    let statuses: Vec<u16> = futures::future::join_all((0..50).map(writer)).await.into_iter().flatten().collect();
    let stats = client.upstream().await;
    let after = stats.base(BASE);
    let admitted = &after.admitted_at_ms[before.admitted_at_ms.len()..];
    let span_s = (admitted[admitted.len() - 1] - admitted[0]) as f64 / 1000.0;
    let rate = (admitted.len() - 1) as f64 / span_s;
    let busiest = max_in_window(admitted, 1000);
    eprintln!(
        "strict upstream, 50 writers: {} writes, {rate:.2}/s over {span_s:.2} s, max {busiest} in any 1 s, {} upstream 429s",
        admitted.len(),
        after.rate_limited - before.rate_limited
    );
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(after.rate_limited - before.rate_limited, 0, "the strict upstream never answered 429");
    assert!(busiest <= 5, "{busiest} requests arrived within one second");
    assert!(admitted.len() >= 50);
    assert!(rate >= 4.5, "{rate:.2} upstream writes/s");
}

/// The most admissions within any window of `window_ms`.
fn max_in_window(times: &[u64], window_ms: u64) -> usize {
    (0..times.len()).map(|i| times[i..].iter().take_while(|t| **t < times[i] + window_ms).count()).max().unwrap_or(0)
}

/// Makes the emulator answer the next request to the base but 429 the one after (and penalise the base).
async fn one_request_then_429(client: &Client) {
    client.stage(json!({"base_rps": 0.01, "base_burst": 1.0})).await;
}

async fn while_a_base_is_penalised_cached_reads_are_stale_and_uncached_ones_429_with_retry_after(app: TestApp) {
    let client = Client::start(app).await;
    let paths = [records("?pageSize=3"), format!("/v0/{BASE}/Projects?pageSize=3")];
    let mut warm = Vec::new();
    for path in &paths {
        let (status, cache, body) = client.read(path, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{path}");
        warm.push(body);
    }
    one_request_then_429(&client).await;
    // Whichever read meets the emulator's refusal, the base ends up penalised.
    let mut refused = false;
    for size in 4..8 {
        let response = client.send(Method::GET, &records(&format!("?pageSize={size}")), None).await;
        if response.status() == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the emulator refused one of the reads");
    let upstream_before = client.upstream().await.requests;

    for (path, warm) in paths.iter().zip(&warm) {
        // max-age=0: this client wants a fresh answer, but the base is penalised.
        let response =
            client.send_as(&client.api_key, Method::GET, path, None, &[("cache-control", "max-age=0")]).await;
        assert!(response.headers().get("retry-after").is_none(), "{path}: a stale answer is an answer");
        let (status, cache, body) = unpack(response).await;
        assert_eq!((status, cache.as_str()), (200, "STALE"), "{path}: a cached copy answers while penalised");
        assert_eq!(&body, warm);
        assert_eq!(client.read(path, &[]).await.1, "HIT", "{path}: a fresh copy is still a hit");
    }
    let response = client.send(Method::GET, &records("?pageSize=9"), None).await;
    assert_eq!(response.status(), 429, "nothing cached: 429");
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    let response = client.send(Method::GET, &format!("/v0/{BASE}/Projects?pageSize=9"), None).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(client.upstream().await.requests, upstream_before, "nothing was sent to the penalised base");
}

async fn an_upstream_429_reaches_a_v0_client_with_retry_after(app: TestApp) {
    let client = Client::start(app).await;
    upstream_429_has_retry_after(&client, |size| format!("/v0/{BASE}/Projects?pageSize={size}")).await;
}

async fn an_upstream_429_reaches_an_api_v1_client_with_retry_after(app: TestApp) {
    let client = Client::start(app).await;
    upstream_429_has_retry_after(&client, |size| records(&format!("?pageSize={size}"))).await;
}

async fn upstream_429_has_retry_after(client: &Client, path: impl Fn(usize) -> String) {
    one_request_then_429(client).await;
    for size in 2..6 {
        let before = client.upstream().await.rate_limited;
        let response = client.send(Method::GET, &path(size), None).await;
        if response.status() == 200 {
            continue;
        }
        assert_eq!(response.status(), 429);
        assert_eq!(client.upstream().await.rate_limited - before, 1, "this 429 came from upstream");
        let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let retry: u64 = retry.expect("an upstream 429 is relayed with Retry-After").parse().unwrap();
        assert!((1..=30).contains(&retry), "Retry-After {retry}");
        return;
    }
    panic!("the emulator never answered 429");
}
