//! The emulator behaves as Airtable does, driven through its router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::{ConfigPatch, EmulatorConfig};
use crate::seed::{DEMO_BASE, OPS_BASE, PROJECTS};
use crate::state::{DEV_TOKEN, Emulator};

pub(super) fn emulator() -> Emulator {
    // No rate limit unless a test asks for one: these tests fire requests back to back.
    let config = EmulatorConfig { base_rps: 0.0, token_rps: 0.0, ..EmulatorConfig::default() };
    Emulator::new(crate::seed::demo_bases(), vec![DEV_TOKEN.into()], config)
}

pub(super) async fn call(emulator: &Emulator, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    call_as(emulator, DEV_TOKEN, method, path, body).await
}

/// A request with another bearer token than the dev token.
pub(super) async fn call_as(
    emulator: &Emulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let response = super::router(emulator.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn projects(path: &str) -> String {
    format!("/v0/{DEMO_BASE}/{PROJECTS}{path}")
}

fn names(page: &Value) -> Vec<String> {
    page["records"].as_array().unwrap().iter().map(|r| r["fields"]["Name"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn walking_every_page_returns_each_record_exactly_once_even_while_records_change() {
    let emulator = emulator();
    let (_, first) = call(&emulator, "GET", &projects("?pageSize=10"), None).await;
    let mut seen = names(&first);
    let mut offset = first["offset"].as_str().unwrap().to_string();
    assert!(offset.starts_with("itr"), "{offset}");
    // A record created mid-walk is not part of this walk.
    call(&emulator, "POST", &projects(""), Some(json!({"fields": {"Name": "Late"}}))).await;
    loop {
        let (status, page) = call(&emulator, "GET", &projects(&format!("?pageSize=10&offset={offset}")), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(names(&page));
        match page["offset"].as_str() {
            Some(next) => offset = next.to_string(),
            None => break,
        }
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 30);
    assert_eq!(unique.len(), 30);
}

#[tokio::test]
async fn sort_fields_max_records_views_and_formulas_shape_the_list() {
    let emulator = emulator();
    let q = "?maxRecords=3&fields%5B%5D=Name&fields%5B%5D=Priority&sort%5B0%5D%5Bfield%5D=Name&sort%5B0%5D%5Bdirection%5D=desc";
    let (_, page) = call(&emulator, "GET", &projects(q), None).await;
    assert_eq!(names(&page), ["Project 30", "Project 29", "Project 28"]);
    assert!(page["offset"].is_null());
    let fields = page["records"][0]["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["Name", "Priority"]);

    let (_, done) = call(&emulator, "GET", &projects("?view=Done"), None).await;
    assert_eq!(done["records"].as_array().unwrap().len(), 10);
    let (_, formula) =
        call(&emulator, "GET", &projects("?filterByFormula=%7BName%7D%3D%27Project%2007%27"), None).await;
    assert_eq!(names(&formula), ["Project 07"]);

    let body = json!({"filterByFormula": "{Priority}>=5", "fields": ["Name"], "returnFieldsByFieldId": true});
    let (status, posted) = call(&emulator, "POST", &projects("/listRecords"), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(posted["records"][0]["fields"].as_object().unwrap().keys().all(|k| k.starts_with("fld")));
}

#[tokio::test]
async fn patch_merges_put_replaces_and_upsert_matches_on_the_merge_fields() {
    let emulator = emulator();
    let (_, created) =
        call(&emulator, "POST", &projects(""), Some(json!({"fields": {"Name": "X", "Priority": 1}}))).await;
    let id = created["id"].as_str().unwrap();
    assert!(created["createdTime"].as_str().unwrap().ends_with('Z'));
    let (_, patched) =
        call(&emulator, "PATCH", &projects(&format!("/{id}")), Some(json!({"fields": {"Priority": 2}}))).await;
    assert_eq!(patched["fields"], json!({"Name": "X", "Priority": 2}));
    let (_, put) = call(&emulator, "PUT", &projects(&format!("/{id}")), Some(json!({"fields": {"Priority": 3}}))).await;
    assert_eq!(put["fields"], json!({"Priority": 3}));

    let upsert = json!({
        "performUpsert": {"fieldsToMergeOn": ["Name"]},
        "records": [{"fields": {"Name": "Project 01", "Priority": 9}}, {"fields": {"Name": "Brand new"}}],
    });
    let (status, result) = call(&emulator, "PATCH", &projects(""), Some(upsert)).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["updatedRecords"].as_array().unwrap().len(), 1);
    assert_eq!(result["createdRecords"].as_array().unwrap().len(), 1);
    assert_eq!(result["records"][0]["fields"]["Priority"], 9);
    assert_eq!(result["records"][0]["fields"]["Status"], "In progress", "PATCH upsert keeps other fields");
}

#[tokio::test]
async fn batches_beyond_ten_and_bad_input_get_airtables_errors() {
    let emulator = emulator();
    let eleven: Vec<Value> = (0..11).map(|i| json!({"fields": {"Name": format!("n{i}")}})).collect();
    let (status, body) = call(&emulator, "POST", &projects(""), Some(json!({"records": eleven}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["type"], "INVALID_RECORDS");

    let (status, body) = call(&emulator, "POST", &projects(""), Some(json!({"fields": {"Nope": 1}}))).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("UNKNOWN_FIELD_NAME"))
    );
    let (status, body) = call(&emulator, "POST", &projects(""), Some(json!({"fields": {"Priority": "high"}}))).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_VALUE_FOR_COLUMN"))
    );
    let (status, body) = call(&emulator, "GET", &projects("/recNope000000000001"), None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::NOT_FOUND, Some("MODEL_ID_NOT_FOUND")));
    let (status, body) = call(&emulator, "GET", "/v0/appNope0000000001/Projects", None).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"))
    );
    let (status, body) = call(&emulator, "GET", &projects("?filterByFormula=AND("), None).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_FILTER_BY_FORMULA"))
    );
    let (status, body) = call(&emulator, "GET", "/v1/nothing", None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"})));
}

#[tokio::test]
async fn batch_delete_removes_the_named_records_and_tables_resolve_by_name() {
    let emulator = emulator();
    let (_, page) = call(&emulator, "GET", &format!("/v0/{DEMO_BASE}/Projects?maxRecords=2"), None).await;
    let ids: Vec<&str> = page["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let path = format!("/v0/{DEMO_BASE}/Projects?records%5B%5D={}&records%5B%5D={}", ids[0], ids[1]);
    let (status, deleted) = call(&emulator, "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["records"][1], json!({"id": ids[1], "deleted": true}));
    let (status, _) = call(&emulator, "GET", &projects(&format!("/{}", ids[0])), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_meta_api_lists_bases_and_their_schema() {
    let emulator = emulator();
    let (_, bases) = call(&emulator, "GET", "/v0/meta/bases", None).await;
    assert_eq!(bases["bases"].as_array().unwrap().len(), 2);
    let (_, schema) = call(&emulator, "GET", &format!("/v0/meta/bases/{DEMO_BASE}/tables"), None).await;
    assert_eq!(schema["tables"][0]["id"], PROJECTS);
    assert_eq!(schema["tables"][0]["views"][1]["name"], "Active projects");
    let (_, me) = call(&emulator, "GET", "/v0/meta/whoami", None).await;
    assert!(me["id"].as_str().unwrap().starts_with("usr"));
}

#[tokio::test]
async fn a_burst_beyond_five_per_second_is_refused_and_penalises_only_that_base() {
    let emulator = emulator();
    emulator.configure(ConfigPatch { base_rps: Some(5.0), penalty_ms: Some(60_000), ..ConfigPatch::default() });
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call(&emulator, "GET", &projects("?maxRecords=1"), None).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5, "{statuses:?}");
    let (status, body) = call(&emulator, "GET", &projects("?maxRecords=1"), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["errors"][0]["error"], "RATE_LIMIT_REACHED");
    let (status, _) = call(&emulator, "GET", &format!("/v0/{OPS_BASE}/Incidents"), None).await;
    assert_eq!(status, StatusCode::OK, "another base is not penalised");
    let stats = emulator.stats();
    assert_eq!(stats.base(DEMO_BASE).rate_limited, 4);
    assert_eq!(stats.base(DEMO_BASE).requests, 9);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_a_staged_outage_answers_503() {
    let emulator = emulator();
    let request = Request::get(projects("")).header("authorization", "Bearer wrong").body(Body::empty()).unwrap();
    let response = super::router(emulator.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    emulator.configure(ConfigPatch { outage: Some(true), ..ConfigPatch::default() });
    assert_eq!(call(&emulator, "GET", &projects(""), None).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(emulator.stats().failed, 1);
}
