//! The Airtable-compatible surface: Airtable's JSON and error bodies, and a session driven exactly the way
//! pyairtable drives Airtable (its request shapes, read from pyairtable 3's source).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::{BASE, Client, PROJECTS, ids, unpack};
use crate::support::TestApp;

crate::both_adapters!(
    the_meta_routes_answer_as_airtable_does,
    list_records_by_get_and_by_post_agree_and_share_the_cache,
    errors_keep_airtables_shape,
    a_session_driven_the_way_pyairtable_drives_airtable_works,
);

fn table(rest: &str) -> String {
    format!("/v0/{BASE}/Projects{rest}")
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn the_meta_routes_answer_as_airtable_does(app: TestApp) {
    let client = Client::start(app).await;
    let bases = json_of(client.get("/v0/meta/bases").await).await;
    assert_eq!(bases["bases"][0], json!({"id": BASE, "name": "Demo", "permissionLevel": "create"}));
    let schema = json_of(client.get(&format!("/v0/meta/bases/{BASE}/tables")).await).await;
    assert_eq!(schema["tables"][0]["id"], PROJECTS);
    assert!(schema["tables"][0]["primaryFieldId"].as_str().unwrap().starts_with("fld"));
    let me = json_of(client.get("/v0/meta/whoami").await).await;
    assert_eq!(me["id"], client.account.user_id.as_str());
}

async fn list_records_by_get_and_by_post_agree_and_share_the_cache(app: TestApp) {
    let client = Client::start(app).await;
    let query = "?pageSize=4&fields%5B%5D=Name&sort%5B0%5D%5Bfield%5D=Name&sort%5B0%5D%5Bdirection%5D=desc";
    let (status, cache, by_get) = unpack(client.get(&table(query)).await).await;
    assert_eq!((status, cache.as_str()), (200, "MISS"));
    let body = json!({"pageSize": 4, "fields": ["Name"], "sort": [{"field": "Name", "direction": "desc"}]});
    let (status, cache, by_post) = unpack(client.send(Method::POST, &table("/listRecords"), Some(body)).await).await;
    assert_eq!((status, cache.as_str()), (200, "HIT"), "the same question, asked by POST, is the same cache entry");
    assert_eq!(by_get["records"], by_post["records"]);
    assert_eq!(by_get["records"][0]["fields"], json!({"Name": "Project 30"}));
}

async fn errors_keep_airtables_shape(app: TestApp) {
    let client = Client::start(app).await;
    let typed = |body: &Value| body["error"]["type"].as_str().map(String::from);
    let (status, _, body) =
        unpack(client.send(Method::POST, &table(""), Some(json!({"fields": {"Nope": 1}}))).await).await;
    assert_eq!((status, typed(&body).as_deref()), (422, Some("UNKNOWN_FIELD_NAME")), "{body}");
    let (status, _, body) = unpack(client.get(&table("/recNope000000000001")).await).await;
    assert_eq!((status, typed(&body).as_deref()), (404, Some("MODEL_ID_NOT_FOUND")), "{body}");
    let eleven: Vec<_> = (0..11).map(|i| json!({"fields": {"Name": format!("{i}")}})).collect();
    let (status, _, body) = unpack(client.send(Method::POST, &table(""), Some(json!({"records": eleven}))).await).await;
    assert_eq!((status, typed(&body).as_deref()), (422, Some("INVALID_RECORDS")), "{body}");
    let (status, _, body) = unpack(client.get(&table("?filterByFormula=AND(")).await).await;
    assert_eq!((status, typed(&body).as_deref()), (422, Some("INVALID_FILTER_BY_FORMULA")), "{body}");
    let (status, _, body) = unpack(client.get(&table("?pageSize=101")).await).await;
    assert_eq!((status, typed(&body).is_some()), (422, true), "{body}");
}

/// pyairtable 3: `table.all()` (GET, following `offset`), `get`, `create`, `batch_create` (POST ≤ 10 per
/// request), `update` (PATCH), `batch_upsert` (PATCH with `performUpsert`), `batch_delete` (DELETE with
/// `records[]`, ≤ 10 per request) — with an API key as the bearer.
async fn a_session_driven_the_way_pyairtable_drives_airtable_works(app: TestApp) {
    let client = Client::start(app).await;
    let mut all = Vec::new();
    let mut offset: Option<String> = None;
    loop {
        let query = match &offset {
            Some(o) => format!("?pageSize=10&offset={o}"),
            None => "?pageSize=10".into(),
        };
        let page = json_of(client.get(&table(&query)).await).await;
        all.extend(ids(&page));
        match page["offset"].as_str() {
            Some(next) => offset = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!((all.len(), all.iter().collect::<HashSet<_>>().len()), (30, 30));

    let one = json_of(client.get(&table(&format!("/{}", all[0]))).await).await;
    assert_eq!(one["id"], all[0].as_str());

    let payload = json!({"fields": {"Name": "From pyairtable"}, "typecast": false, "returnFieldsByFieldId": false});
    let created = json_of(client.send(Method::POST, &table(""), Some(payload)).await).await;
    let created_id = created["id"].as_str().unwrap().to_string();

    let mut batch = Vec::new();
    let names: Vec<String> = (0..25).map(|i| format!("Batch {i:02}")).collect();
    for chunk in names.chunks(10) {
        let records: Vec<_> = chunk.iter().map(|n| json!({"fields": {"Name": n}})).collect();
        let body = json!({"records": records, "typecast": false, "returnFieldsByFieldId": false});
        batch.extend(ids(&json_of(client.send(Method::POST, &table(""), Some(body)).await).await));
    }
    assert_eq!(batch.len(), 25);

    let update = json!({"fields": {"Priority": 3}, "typecast": false, "returnFieldsByFieldId": false});
    let updated = json_of(client.send(Method::PATCH, &table(&format!("/{created_id}")), Some(update)).await).await;
    assert_eq!(updated["fields"], json!({"Name": "From pyairtable", "Priority": 3}));

    let upsert = json!({
        "records": [{"fields": {"Name": "Batch 00", "Priority": 9}}, {"fields": {"Name": "Upserted new"}}],
        "typecast": false, "returnFieldsByFieldId": false, "performUpsert": {"fieldsToMergeOn": ["Name"]},
    });
    let upserted = json_of(client.send(Method::PATCH, &table(""), Some(upsert)).await).await;
    assert_eq!(upserted["updatedRecords"], json!([batch[0]]));
    let new_id = upserted["createdRecords"][0].as_str().unwrap().to_string();

    let mut doomed = batch.clone();
    doomed.extend([created_id, new_id]);
    let mut deleted = 0;
    for chunk in doomed.chunks(10) {
        let query: String = chunk.iter().map(|id| format!("records%5B%5D={id}")).collect::<Vec<_>>().join("&");
        let answer = json_of(client.send(Method::DELETE, &table(&format!("?{query}")), None).await).await;
        assert!(answer["records"].as_array().unwrap().iter().all(|r| r["deleted"] == true));
        deleted += answer["records"].as_array().unwrap().len();
    }
    assert_eq!(deleted, 27);
    let after = json_of(client.get(&table("?pageSize=100")).await).await;
    assert_eq!(ids(&after).len(), 30, "back to the seeded records, and the cache knows it");
}
