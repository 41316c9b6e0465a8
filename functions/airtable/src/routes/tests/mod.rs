//! The gateway's behaviour against the emulator, with the in-process cache and with redis-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use airtable_emulator::ConfigPatch;
use airtable_emulator::seed::{DEMO_BASE, PROJECTS};
use serde_json::json;

use harness::{Adapter, Harness, both_caches, caller};

const RECORDS: &str = "/api/v1/airtable/bases/appDemoBase000001/tables/tblProjects000001/records";

both_caches!(
    concurrent_identical_reads_make_one_upstream_call,
    a_write_invalidates_the_tables_reads_whichever_way_the_table_is_named,
    an_outage_with_a_warm_cache_is_answered_stale_not_with_errors,
    tenants_never_share_cached_results,
    no_cache_bypasses_the_cache_and_refreshes_it,
    airtables_429_penalises_the_base_and_nothing_is_sent_meanwhile,
    a_request_whose_slot_is_too_far_away_gets_429_with_retry_after,
    filter_values_cannot_inject_into_the_formula,
    batches_are_split_into_airtables_tens,
    single_flight_holds_across_instances_sharing_the_cache,
    the_limiter_paces_writes_from_several_instances_as_one,
);

async fn concurrent_identical_reads_make_one_upstream_call(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    h.stage(ConfigPatch { latency_ms: Some(200), ..ConfigPatch::default() });
    let who = caller("t1");
    let path = format!("{RECORDS}?pageSize=5");
    let replies = futures::future::join_all((0..100).map(|_| h.get(&who, &path))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(h.upstream_requests(), 1);
    assert_eq!(replies.iter().filter(|r| r.cache() == "MISS").count(), 1);
    assert!(replies.iter().all(|r| r.body == replies[0].body));
}

async fn a_write_invalidates_the_tables_reads_whichever_way_the_table_is_named(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    let who = caller("t1");
    let by_name = format!("/v0/{DEMO_BASE}/Projects/recProj0000000001");
    let by_id = format!("{RECORDS}/recProj0000000001");
    assert_eq!(h.get(&who, &by_name).await.cache(), "MISS");
    assert_eq!(h.get(&who, &by_id).await.cache(), "MISS");
    assert_eq!(h.get(&who, &by_name).await.cache(), "HIT");

    let patched = h.call(&who, "PATCH", &by_id, Some(json!({"fields": {"Priority": 42}})), &[]).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    for path in [&by_name, &by_id] {
        let reply = h.get(&who, path).await;
        assert_eq!(reply.cache(), "MISS", "{path}");
        assert_eq!(reply.body["fields"]["Priority"], 42);
    }
    let other_table = format!("/v0/{DEMO_BASE}/tblTasks000000001?pageSize=1");
    h.get(&who, &other_table).await;
    h.call(&who, "PATCH", &by_id, Some(json!({"fields": {"Priority": 43}})), &[]).await;
    assert_eq!(h.get(&who, &other_table).await.cache(), "HIT", "a write to one table keeps the others' reads");
}

async fn an_outage_with_a_warm_cache_is_answered_stale_not_with_errors(adapter: Adapter) {
    let h = Harness::start(adapter, |s| s.max_retries = 0).await;
    let who = caller("t1");
    let warm = h.get(&who, &format!("{RECORDS}?pageSize=3")).await;
    assert_eq!(warm.cache(), "MISS");
    h.stage(ConfigPatch { outage: Some(true), ..ConfigPatch::default() });
    // max-age=0: the copy is too old for this client, so the gateway must ask Airtable — which fails.
    let stale = h.call(&who, "GET", &format!("{RECORDS}?pageSize=3"), None, &[("cache-control", "max-age=0")]).await;
    assert_eq!((stale.status.as_u16(), stale.cache()), (200, "STALE"));
    assert_eq!(stale.body, warm.body);
    let cold = h.get(&who, &format!("{RECORDS}?pageSize=4")).await;
    assert_eq!((cold.status.as_u16(), cold.body["code"].as_str()), (502, Some("upstream_error")));
    let v0_cold = h.get(&who, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=4")).await;
    assert_eq!((v0_cold.status.as_u16(), v0_cold.body["error"]["type"].as_str()), (503, Some("SERVICE_UNAVAILABLE")));
}

async fn tenants_never_share_cached_results(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    let path = format!("{RECORDS}?pageSize=2");
    assert_eq!(h.get(&caller("tenant-a"), &path).await.cache(), "MISS");
    assert_eq!(h.get(&caller("tenant-b"), &path).await.cache(), "MISS");
    assert_eq!(h.get(&caller("tenant-a"), &path).await.cache(), "HIT");
    assert_eq!(h.upstream_requests(), 2);
}

async fn no_cache_bypasses_the_cache_and_refreshes_it(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    let who = caller("t1");
    let path = format!("{RECORDS}?pageSize=2");
    h.get(&who, &path).await;
    let bypass = h.call(&who, "GET", &path, None, &[("cache-control", "no-cache")]).await;
    assert_eq!((bypass.status.as_u16(), bypass.cache()), (200, "BYPASS"));
    assert_eq!(h.get(&who, &path).await.cache(), "HIT");
    assert_eq!(h.upstream_requests(), 2);
}

async fn airtables_429_penalises_the_base_and_nothing_is_sent_meanwhile(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    // One request's worth of budget upstream: the second request is refused and penalised there.
    h.stage(ConfigPatch { base_rps: Some(0.001), base_burst: Some(1.0), ..ConfigPatch::default() });
    let who = caller("t1");
    assert_eq!(h.get(&who, &format!("{RECORDS}?pageSize=3")).await.cache(), "MISS");
    let refused = h.get(&who, &format!("{RECORDS}?pageSize=4")).await;
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
    let stale = h.call(&who, "GET", &format!("{RECORDS}?pageSize=3"), None, &[("cache-control", "max-age=0")]).await;
    assert_eq!((stale.status.as_u16(), stale.cache()), (200, "STALE"));
    let write = h.call(&who, "POST", RECORDS, Some(json!({"fields": {"Name": "x"}})), &[]).await;
    assert_eq!(write.status, 429);
    assert_eq!(h.upstream_requests(), 2, "nothing is sent to a penalised base");
    assert_eq!(h.gateway.metrics().snapshot().upstream_429s, 1);
}

async fn a_request_whose_slot_is_too_far_away_gets_429_with_retry_after(adapter: Adapter) {
    let h = Harness::start(adapter, |s| s.max_wait = std::time::Duration::from_millis(250)).await;
    let who = caller("t1");
    let writes = (0..4).map(|i| h.call(&who, "POST", RECORDS, Some(json!({"fields": {"Name": format!("w{i}")}})), &[]));
    let replies = futures::future::join_all(writes).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(created + refused.len(), 4);
    assert!((1..=2).contains(&created), "slots at 0 and 200 ms fit a 250 ms bound: {created}");
    assert!(refused.iter().all(|r| r.headers.contains_key("retry-after") && r.body["code"] == "rate_limited"));
    assert_eq!(h.emulator.stats().rate_limited, 0);
}

async fn filter_values_cannot_inject_into_the_formula(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    let who = caller("t1");
    let exact = h.get(&who, &format!("{RECORDS}?filter%5BName%5D=Project%2007")).await;
    assert_eq!(exact.body["records"].as_array().unwrap().len(), 1, "{:?}", exact.body);
    let hostile = "Project 07' , TRUE(), '";
    let path = format!(
        "{RECORDS}?filter%5BName%5D={}",
        form_urlencoded::byte_serialize(hostile.as_bytes()).collect::<String>()
    );
    let injected = h.get(&who, &path).await;
    assert_eq!(injected.status, 200, "{:?}", injected.body);
    assert_eq!(injected.body["records"].as_array().unwrap().len(), 0);
}

async fn batches_are_split_into_airtables_tens(adapter: Adapter) {
    let h = Harness::start(adapter, |_| {}).await;
    let who = caller("t1");
    let records: Vec<_> = (0..25).map(|i| json!({"fields": {"Name": format!("Batch {i}")}})).collect();
    let created = h.call(&who, "POST", &format!("{RECORDS}/batch"), Some(json!({"records": records})), &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let ids: Vec<String> =
        created.body["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(h.emulator.stats().base(DEMO_BASE).writes, 3);

    let upsert = json!({"fieldsToMergeOn": ["Name"], "records": [{"fields": {"Name": "Batch 3", "Priority": 5}}, {"fields": {"Name": "Fresh"}}]});
    let upserted = h.call(&who, "POST", &format!("{RECORDS}/upsert"), Some(upsert), &[]).await;
    assert_eq!(upserted.status, 200, "{:?}", upserted.body);
    assert_eq!(upserted.body["updatedRecords"], json!([ids[3]]));
    assert_eq!(upserted.body["createdRecords"].as_array().unwrap().len(), 1);

    let deleted = h.call(&who, "POST", &format!("{RECORDS}/delete"), Some(json!({"ids": ids})), &[]).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!(deleted.body["records"].as_array().unwrap().len(), 25);
    let eleven: Vec<_> = (0..11).map(|i| json!({"fields": {"Name": format!("n{i}")}})).collect();
    let v0 = h.call(&who, "POST", &format!("/v0/{DEMO_BASE}/{PROJECTS}"), Some(json!({"records": eleven})), &[]).await;
    assert_eq!((v0.status.as_u16(), v0.body["error"]["type"].as_str()), (422, Some("INVALID_RECORDS")));
}

async fn single_flight_holds_across_instances_sharing_the_cache(adapter: Adapter) {
    let first = Harness::start(adapter, |_| {}).await;
    let second = first.another_instance();
    first.stage(ConfigPatch { latency_ms: Some(300), ..ConfigPatch::default() });
    let who = caller("t1");
    let path = format!("{RECORDS}?pageSize=6");
    let reads = (0..40).map(|i| if i % 2 == 0 { first.get(&who, &path) } else { second.get(&who, &path) });
    let replies = futures::future::join_all(reads).await;
    assert!(replies.iter().all(|r| r.status == 200 && r.body == replies[0].body));
    assert_eq!(first.upstream_requests(), 1, "one instance filled the entry; the other waited for it");
}

async fn the_limiter_paces_writes_from_several_instances_as_one(adapter: Adapter) {
    let first = Harness::start(adapter, |_| {}).await;
    let second = first.another_instance();
    let who = caller("t1");
    let writes = (0..16).map(|i| {
        let body = Some(json!({"fields": {"Name": format!("w{i}")}}));
        let instance = if i % 2 == 0 { &first } else { &second };
        instance.call(&who, "POST", RECORDS, body, &[])
    });
    let replies = futures::future::join_all(writes).await;
    assert!(replies.iter().all(|r| r.status == 201), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let stats = first.emulator.stats();
    assert_eq!(stats.rate_limited, 0);
    let admitted = stats.base(DEMO_BASE).admitted_at_ms;
    let span_ms = admitted[admitted.len() - 1] - admitted[0];
    // 16 requests at 5/s take at least 15 gaps of 200 ms (less a little jitter) whichever instance sent them.
    assert!(span_ms >= 2_700, "16 writes from two instances spanned only {span_ms} ms");
}
