//! The rest of Airtable's /v0 surface — comments, webhooks, meta writes, uploadAttachment — and the number and
//! select-option defects, driven through the router with Airtable's paths and bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::tests::{call, emulator};
use crate::config::ConfigPatch;
use crate::seed::{DEMO_BASE, OPS_BASE, PROJECTS, TASK_ATTACHMENTS, TASKS};
use crate::state::{DEV_TOKEN, Emulator, USER_ID};

const RECORD: &str = "recProj0000000001";
const TASK: &str = "recTask0000000001";

fn comments(path: &str) -> String {
    format!("/v0/{DEMO_BASE}/{PROJECTS}/{RECORD}/comments{path}")
}

fn webhooks(path: &str) -> String {
    format!("/v0/bases/{DEMO_BASE}/webhooks{path}")
}

fn error_type(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or("")
}

async fn raw(emulator: &Emulator, method: &str, path: &str, body: String) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {DEV_TOKEN}"))
        .header("content-type", "application/json")
        .header("host", "emulator.test:8787")
        .body(Body::from(body))
        .unwrap();
    let response = super::router(emulator.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn comments_are_created_listed_newest_first_in_pages_updated_and_deleted() {
    let emulator = emulator();
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, comment) = call(&emulator, "POST", &comments(""), Some(json!({"text": format!("c{i}")}))).await;
        assert_eq!(status, StatusCode::OK, "{comment}");
        assert!(comment["id"].as_str().unwrap().starts_with("com"));
        assert_eq!(comment["author"]["id"], USER_ID);
        assert!(comment["author"]["email"].is_string() && comment["author"]["name"].is_string());
        assert!(comment["lastUpdatedTime"].is_null());
        assert!(comment["createdTime"].as_str().unwrap().ends_with('Z'));
        ids.push(comment["id"].as_str().unwrap().to_string());
    }
    let (_, page) = call(&emulator, "GET", &comments("?pageSize=2"), None).await;
    let texts: Vec<&str> = page["comments"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["c2", "c1"], "newest first");
    let offset = page["offset"].as_str().unwrap();
    let (_, rest) = call(&emulator, "GET", &comments(&format!("?pageSize=2&offset={offset}")), None).await;
    assert_eq!(rest["comments"][0]["text"], "c0");
    assert!(rest["offset"].is_null());

    let (status, updated) =
        call(&emulator, "PATCH", &comments(&format!("/{}", ids[0])), Some(json!({"text": "edited"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["text"], "edited");
    assert!(updated["lastUpdatedTime"].is_string());

    let (status, deleted) = call(&emulator, "DELETE", &comments(&format!("/{}", ids[1])), None).await;
    assert_eq!((status, deleted), (StatusCode::OK, json!({"id": ids[1], "deleted": true})));
    let (_, all) = call(&emulator, "GET", &comments(""), None).await;
    assert_eq!(all["comments"].as_array().unwrap().len(), 2);

    // Mentions of the token's user (by email too) resolve to its id.
    let text = "Ping @[emulator@example.com]";
    let (_, mention) = call(&emulator, "POST", &comments(""), Some(json!({"text": text}))).await;
    assert_eq!(mention["text"], format!("Ping @[{USER_ID}]"));
    assert_eq!(mention["mentioned"][USER_ID]["type"], "user");
    // A threaded reply names its parent.
    let (_, reply) =
        call(&emulator, "POST", &comments(""), Some(json!({"text": "re", "parentCommentId": ids[0]}))).await;
    assert_eq!(reply["parentCommentId"], ids[0].as_str());
}

#[tokio::test]
async fn comment_errors_are_airtables() {
    let emulator = emulator();
    let missing_record = format!("/v0/{DEMO_BASE}/{PROJECTS}/recNope0000000001/comments");
    let (status, body) = call(&emulator, "GET", &missing_record, None).await;
    assert_eq!((status, error_type(&body)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"));
    let (status, body) = call(&emulator, "POST", &missing_record, Some(json!({"text": "x"}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"));
    let (status, body) = call(&emulator, "PATCH", &comments("/comNope0000000001"), Some(json!({"text": "x"}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"));
    let (status, _) = call(&emulator, "DELETE", &comments("/comNope0000000001"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&emulator, "POST", &comments(""), Some(json!({}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_MISSING_FIELDS"));
    let long = "x".repeat(crate::comments::MAX_TEXT + 1);
    for bad in [
        json!({"text": ""}),
        json!({"text": 3}),
        json!({"text": long}),
        json!({"text": "x", "extra": 1}),
        json!({"text": "x", "parentCommentId": RECORD}),
        json!(["text"]),
    ] {
        let (status, body) = call(&emulator, "POST", &comments(""), Some(bad.clone())).await;
        assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"), "{bad}");
    }
    for query in ["pageSize=0", "pageSize=101", "pageSize=x", "nope=1", "pageSize=1&pageSize=2"] {
        let (status, body) = call(&emulator, "GET", &comments(&format!("?{query}")), None).await;
        assert_eq!(
            (status, error_type(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"),
            "{query}"
        );
    }
    // A segment that is no comment id is no route (Airtable's bare 404).
    let (status, body) = call(&emulator, "PATCH", &comments("/comShort"), Some(json!({"text": "x"}))).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"})));
    let (status, body) = call(&emulator, "PATCH", &comments("/comNope0000000001"), Some(json!({}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_MISSING_FIELDS"));
    let (status, body) = call(&emulator, "GET", &comments("?offset=comNope"), None).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_OFFSET_VALUE"));
    let (status, _) = call(&emulator, "GET", &format!("/v0/{DEMO_BASE}/Nope/{RECORD}/comments"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn record_metadata_comment_count_is_added_to_listed_and_single_records() {
    let emulator = emulator();
    call(&emulator, "POST", &comments(""), Some(json!({"text": "one"}))).await;
    call(&emulator, "POST", &comments(""), Some(json!({"text": "two"}))).await;
    let list = format!("/v0/{DEMO_BASE}/{PROJECTS}?maxRecords=2&recordMetadata%5B%5D=commentCount");
    let (status, page) = call(&emulator, "GET", &list, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"][0]["id"], RECORD);
    assert_eq!(page["records"][0]["commentCount"], 2);
    assert_eq!(page["records"][1]["commentCount"], 0);
    let body = json!({"maxRecords": 1, "recordMetadata": ["commentCount"]});
    let (_, page) = call(&emulator, "POST", &format!("/v0/{DEMO_BASE}/{PROJECTS}/listRecords"), Some(body)).await;
    assert_eq!(page["records"][0]["commentCount"], 2);
    let (_, one) =
        call(&emulator, "GET", &format!("/v0/{DEMO_BASE}/{PROJECTS}/{RECORD}?recordMetadata[]=commentCount"), None)
            .await;
    assert_eq!(one["commentCount"], 2);
    let (_, plain) = call(&emulator, "GET", &format!("/v0/{DEMO_BASE}/{PROJECTS}/{RECORD}"), None).await;
    assert!(plain.get("commentCount").is_none());
}

#[tokio::test]
async fn webhooks_are_created_listed_refreshed_toggled_and_deleted() {
    let emulator = emulator();
    let spec = json!({"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": PROJECTS}}});
    let body = json!({"notificationUrl": "https://example.com/hook", "specification": spec});
    let (status, created) = call(&emulator, "POST", &webhooks(""), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(crate::ids::is_id("ach", &id), "{id}");
    let secret = base64::engine::general_purpose::STANDARD.decode(created["macSecretBase64"].as_str().unwrap());
    assert!(secret.is_ok_and(|s| s.len() >= 32));
    let expires = created["expirationTime"].as_str().unwrap().to_string();

    let (_, list) = call(&emulator, "GET", &webhooks(""), None).await;
    let hook = &list["webhooks"][0];
    assert_eq!(hook["id"], id.as_str());
    assert_eq!(hook["notificationUrl"], "https://example.com/hook");
    assert_eq!(hook["specification"], spec);
    assert_eq!(hook["areNotificationsEnabled"], true);
    assert_eq!(hook["isHookEnabled"], true);
    assert_eq!(hook["cursorForNextPayload"], 1);

    let (status, body) =
        call(&emulator, "POST", &webhooks(&format!("/{id}/enableNotifications")), Some(json!({"enable": false}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, list) = call(&emulator, "GET", &webhooks(""), None).await;
    assert_eq!(list["webhooks"][0]["areNotificationsEnabled"], false);

    let (status, refreshed) = call(&emulator, "POST", &webhooks(&format!("/{id}/refresh")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(refreshed["expirationTime"].as_str().unwrap() >= expires.as_str());

    let (status, body) = call(&emulator, "DELETE", &webhooks(&format!("/{id}")), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, list) = call(&emulator, "GET", &webhooks(""), None).await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn record_changes_after_creation_become_payloads_in_airtables_shape() {
    let emulator = emulator();
    let projects = format!("/v0/{DEMO_BASE}/{PROJECTS}");
    // Before the webhook: not reported.
    call(&emulator, "POST", &projects, Some(json!({"fields": {"Name": "Before"}}))).await;
    let spec = json!({"options": {
        "filters": {"dataTypes": ["tableData"]},
        "includes": {"includePreviousCellValues": true, "includeCellValuesInFieldIds": "all"},
    }});
    let (_, created) = call(&emulator, "POST", &webhooks(""), Some(json!({"specification": spec}))).await;
    let id = created["id"].as_str().unwrap().to_string();
    let (_, record) = call(&emulator, "POST", &projects, Some(json!({"fields": {"Name": "New", "Priority": 2}}))).await;
    let new_id = record["id"].as_str().unwrap().to_string();
    call(&emulator, "PATCH", &format!("{projects}/{RECORD}"), Some(json!({"fields": {"Priority": 9}}))).await;
    call(&emulator, "DELETE", &format!("{projects}/{new_id}"), None).await;
    // Another base's writes are not this webhook's.
    call(&emulator, "POST", &format!("/v0/{OPS_BASE}/Incidents"), Some(json!({"fields": {"Summary": "x"}}))).await;

    let (status, page) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads")), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let payloads = page["payloads"].as_array().unwrap();
    assert_eq!(payloads.len(), 3, "{page}");
    assert_eq!(page["cursor"], 4);
    assert_eq!(page["mightHaveMore"], false);
    let numbers: Vec<u64> = payloads.iter().map(|p| p["baseTransactionNumber"].as_u64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(payloads[0]["payloadFormat"], "v0");
    assert_eq!(payloads[0]["actionMetadata"]["source"], "publicApi");
    assert_eq!(payloads[0]["actionMetadata"]["sourceMetadata"]["user"]["id"], USER_ID);
    let table = &payloads[0]["changedTablesById"][PROJECTS];
    let created_record = &table["createdRecordsById"][&new_id];
    assert_eq!(created_record["cellValuesByFieldId"]["fldProName0000001"], "New");
    assert!(created_record["createdTime"].is_string());
    let changed = &payloads[1]["changedTablesById"][PROJECTS]["changedRecordsById"][RECORD];
    let priority = "fldProPrior000001";
    assert_eq!(changed["current"]["cellValuesByFieldId"], json!({ priority: 9 }));
    assert_eq!(changed["previous"]["cellValuesByFieldId"][priority], 3);
    assert_eq!(changed["unchanged"]["cellValuesByFieldId"]["fldProName0000001"], "Project 01");
    assert_eq!(payloads[2]["changedTablesById"][PROJECTS]["destroyedRecordIds"], json!([new_id]));

    // Cursor and limit page through them; a later cursor sees only what follows.
    let (_, first) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=1&limit=2")), None).await;
    assert_eq!(first["payloads"].as_array().unwrap().len(), 2);
    assert_eq!((first["cursor"].as_u64(), first["mightHaveMore"].as_bool()), (Some(3), Some(true)));
    let (_, rest) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=3")), None).await;
    assert_eq!(rest["payloads"].as_array().unwrap().len(), 1);
    let (_, none) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=4")), None).await;
    assert_eq!((none["payloads"].clone(), none["cursor"].as_u64()), (json!([]), Some(4)));
    let (_, list) = call(&emulator, "GET", &webhooks(""), None).await;
    assert_eq!(list["webhooks"][0]["cursorForNextPayload"], 4);
}

#[tokio::test]
async fn webhook_filters_limit_what_becomes_a_payload() {
    let emulator = emulator();
    let spec = |filters: Value| json!({"specification": {"options": {"filters": filters}}});
    let (_, scoped) = call(
        &emulator,
        "POST",
        &webhooks(""),
        Some(spec(json!({"dataTypes": ["tableData"], "recordChangeScope": TASKS}))),
    )
    .await;
    let (_, adds) =
        call(&emulator, "POST", &webhooks(""), Some(spec(json!({"dataTypes": ["tableData"], "changeTypes": ["add"]}))))
            .await;
    let (_, fields) = call(&emulator, "POST", &webhooks(""), Some(spec(json!({"dataTypes": ["tableFields"]})))).await;
    call(&emulator, "PATCH", &format!("/v0/{DEMO_BASE}/{PROJECTS}/{RECORD}"), Some(json!({"fields": {"Priority": 4}})))
        .await;
    call(&emulator, "POST", &format!("/v0/{DEMO_BASE}/Tasks"), Some(json!({"fields": {"Title": "t"}}))).await;
    let field = json!({"name": "Budget", "type": "currency", "options": {"precision": 2, "symbol": "$"}});
    call(&emulator, "POST", &format!("/v0/meta/bases/{DEMO_BASE}/tables/{PROJECTS}/fields"), Some(field)).await;
    let count = |page: &Value| page["payloads"].as_array().unwrap().len();
    let payloads = |id: &Value| webhooks(&format!("/{}/payloads", id["id"].as_str().unwrap()));
    let (_, page) = call(&emulator, "GET", &payloads(&scoped), None).await;
    assert_eq!(count(&page), 1, "only the Tasks create: {page}");
    assert!(page["payloads"][0]["changedTablesById"][TASKS]["createdRecordsById"].is_object());
    let (_, page) = call(&emulator, "GET", &payloads(&adds), None).await;
    assert_eq!(count(&page), 1, "only adds: {page}");
    let (_, page) = call(&emulator, "GET", &payloads(&fields), None).await;
    assert_eq!(count(&page), 1, "{page}");
    let created = page["payloads"][0]["changedTablesById"][PROJECTS]["createdFieldsById"].as_object().unwrap();
    assert_eq!(created.values().next().unwrap(), &json!({"name": "Budget", "type": "currency"}));
}

#[tokio::test]
async fn webhook_errors_are_airtables() {
    let emulator = emulator();
    let hook = webhooks("/achNope0000000001");
    for (method, path) in
        [("DELETE", hook.clone()), ("POST", format!("{hook}/refresh")), ("GET", format!("{hook}/payloads"))]
    {
        let (status, body) = call(&emulator, method, &path, None).await;
        assert_eq!((status, error_type(&body)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"), "{method} {path}");
    }
    let (status, _) =
        call(&emulator, "POST", &format!("{hook}/enableNotifications"), Some(json!({"enable": true}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&emulator, "POST", &webhooks(""), Some(json!({}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_MISSING_FIELDS"));
    let (status, body) = call(&emulator, "DELETE", &webhooks("/achShort"), None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"})));
    let long_url = format!("https://example.com/{}", "a".repeat(crate::webhooks::MAX_URL));
    let bad_bodies = [
        json!({"specification": {}}),
        json!({"specification": {"options": {}}}),
        json!({"specification": {"options": {"filters": {"dataTypes": ["tableData", "tableData"]}}}}),
        json!({"notificationUrl": 3, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
        json!({"notificationUrl": long_url, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
        json!({"secret": 1, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
        json!({"specification": {"options": {"filters": {"dataTypes": []}}}}),
        json!({"specification": {"options": {"filters": {"dataTypes": ["nope"]}}}}),
        json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": "tblNope0000000001"}}}}),
        json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"], "extra": 1}}}}),
        json!({"notificationUrl": "ftp://x", "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
    ];
    for body in bad_bodies {
        let (status, answer) = call(&emulator, "POST", &webhooks(""), Some(body.clone())).await;
        assert_eq!(
            (status, error_type(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"),
            "{body}"
        );
    }
    let ok = json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}});
    for _ in 0..crate::webhooks::MAX_PER_BASE {
        assert_eq!(call(&emulator, "POST", &webhooks(""), Some(ok.clone())).await.0, StatusCode::OK);
    }
    let (status, body) = call(&emulator, "POST", &webhooks(""), Some(ok)).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "TOO_MANY_WEBHOOKS"));
    let (_, list) = call(&emulator, "GET", &webhooks(""), None).await;
    let id = list["webhooks"][0]["id"].as_str().unwrap();
    let (status, _) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?limit=51")), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=0")), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let enable = webhooks(&format!("/{id}/enableNotifications"));
    let (status, body) = call(&emulator, "POST", &enable, Some(json!({}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_MISSING_FIELDS"));
    let (status, body) = call(&emulator, "POST", &enable, Some(json!({"enable": "yes"}))).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"));
    let (status, _) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=1&cursor=2")), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&emulator, "GET", &webhooks(&format!("/{id}/payloads?cursor=2147483648")), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = call(&emulator, "GET", "/v0/bases/appNope0000000001/webhooks", None).await;
    assert_eq!((status, error_type(&body)), (StatusCode::FORBIDDEN, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"));
}

#[tokio::test]
async fn meta_writes_create_and_update_tables_and_fields() {
    let emulator = emulator();
    let tables = format!("/v0/meta/bases/{DEMO_BASE}/tables");
    let body = json!({
        "name": "Apartments",
        "description": "Places to visit",
        "fields": [
            {"name": "Name", "type": "singleLineText", "description": "Name of the apartment"},
            {"name": "Visited", "type": "checkbox", "options": {"color": "redBright", "icon": "star"}},
            {"name": "Kind", "type": "singleSelect", "options": {"choices": [{"name": "Flat", "color": "redLight2"}, {"name": "House"}]}},
        ],
    });
    let (status, table) = call(&emulator, "POST", &tables, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{table}");
    let table_id = table["id"].as_str().unwrap().to_string();
    assert!(crate::ids::is_id("tbl", &table_id));
    assert_eq!(table["primaryFieldId"], table["fields"][0]["id"]);
    assert_eq!(table["fields"][0]["description"], "Name of the apartment");
    assert_eq!(table["fields"][1]["options"], json!({"color": "redBright", "icon": "star"}));
    assert_eq!(table["fields"][2]["options"]["choices"][0]["color"], "redLight2");
    assert_eq!(table["views"][0]["type"], "grid");
    // The new table takes records at once.
    let (status, _) = call(
        &emulator,
        "POST",
        &format!("/v0/{DEMO_BASE}/Apartments"),
        Some(json!({"fields": {"Name": "A", "Kind": "Flat"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, updated) = call(
        &emulator,
        "PATCH",
        &format!("{tables}/{table_id}"),
        Some(json!({"name": "Homes", "description": "Renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!((updated["name"].as_str(), updated["description"].as_str()), (Some("Homes"), Some("Renamed")));

    let field = json!({"name": "Rent", "type": "number", "description": "Monthly", "options": {"precision": 2}});
    let (status, created) = call(&emulator, "POST", &format!("{tables}/{table_id}/fields"), Some(field)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let field_id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created,
        json!({"id": field_id, "name": "Rent", "type": "number", "description": "Monthly", "options": {"precision": 2}})
    );
    // pyairtable's FieldSchema.save() sends name and a null description.
    let (status, renamed) = call(
        &emulator,
        "PATCH",
        &format!("{tables}/{table_id}/fields/{field_id}"),
        Some(json!({"name": "Monthly rent", "description": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Monthly rent");
    assert!(renamed.get("description").is_none());

    let (_, schema) = call(&emulator, "GET", &tables, None).await;
    let homes = schema["tables"].as_array().unwrap().iter().find(|t| t["id"] == table_id.as_str()).unwrap();
    assert_eq!(homes["name"], "Homes");
    assert_eq!(homes["fields"][3]["name"], "Monthly rent");
    assert_eq!(homes["fields"][3]["options"]["precision"], 2);
}

#[tokio::test]
async fn meta_write_errors_are_airtables() {
    let emulator = emulator();
    let tables = format!("/v0/meta/bases/{DEMO_BASE}/tables");
    let fields = format!("{tables}/{PROJECTS}/fields");
    let cases = [
        (
            tables.clone(),
            json!({"name": "Projects", "fields": [{"name": "A", "type": "singleLineText"}]}),
            "DUPLICATE_TABLE_NAME",
        ),
        (tables.clone(), json!({"name": "T", "fields": []}), "INVALID_REQUEST_UNKNOWN"),
        (tables.clone(), json!({"name": "T"}), "INVALID_REQUEST_MISSING_FIELDS"),
        (
            tables.clone(),
            json!({"fields": [{"name": "A", "type": "singleLineText"}]}),
            "INVALID_REQUEST_MISSING_FIELDS",
        ),
        (tables.clone(), json!({"name": "T", "fields": [{"name": "a"}]}), "INVALID_REQUEST_UNKNOWN"),
        (tables.clone(), json!({"name": "", "fields": [{"name": "a", "type": "email"}]}), "INVALID_REQUEST_UNKNOWN"),
        (
            tables.clone(),
            json!({"name": "T", "views": [], "fields": [{"name": "a", "type": "email"}]}),
            "INVALID_REQUEST_UNKNOWN",
        ),
        (fields.clone(), json!({"name": "X"}), "INVALID_REQUEST_MISSING_FIELDS"),
        (fields.clone(), json!({"name": "X", "type": ""}), "INVALID_REQUEST_UNKNOWN"),
        (
            tables.clone(),
            json!({"name": "T", "fields": [{"name": "A", "type": "singleLineText"}, {"name": "a", "type": "email"}]}),
            "DUPLICATE_OR_EMPTY_FIELD_NAME",
        ),
        (
            tables.clone(),
            json!({"name": "T", "fields": [{"name": "A", "type": "checkbox", "options": {"icon": "check", "color": "greenBright"}}]}),
            "INVALID_REQUEST_UNKNOWN",
        ),
        (fields.clone(), json!({"name": "Name", "type": "singleLineText"}), "DUPLICATE_OR_EMPTY_FIELD_NAME"),
        (fields.clone(), json!({"name": "", "type": "singleLineText"}), "DUPLICATE_OR_EMPTY_FIELD_NAME"),
        (fields.clone(), json!({"name": "X", "type": "number"}), "INVALID_REQUEST_UNKNOWN"),
        (fields.clone(), json!({"name": "X", "type": "nope"}), "INVALID_REQUEST_UNKNOWN"),
        (fields.clone(), json!({"name": "X", "type": "email", "options": {"precision": 1}}), "INVALID_REQUEST_UNKNOWN"),
        (fields.clone(), json!({"name": "X", "type": "email", "color": "red"}), "INVALID_REQUEST_UNKNOWN"),
    ];
    for (path, body, kind) in cases {
        let (status, answer) = call(&emulator, "POST", &path, Some(body.clone())).await;
        assert_eq!((status, error_type(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, kind), "{body}: {answer}");
    }
    let (status, answer) =
        call(&emulator, "PATCH", &format!("{tables}/{PROJECTS}"), Some(json!({"name": "Tasks"}))).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "DUPLICATE_TABLE_NAME"));
    let (status, _) = call(&emulator, "PATCH", &format!("{tables}/{PROJECTS}"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, answer) =
        call(&emulator, "PATCH", &format!("{fields}/fldProStatu000001"), Some(json!({"name": "owner"}))).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "DUPLICATE_OR_EMPTY_FIELD_NAME"));
    let (status, answer) = call(&emulator, "PATCH", &format!("{fields}/Name"), Some(json!({"name": "x"}))).await;
    assert_eq!((status, answer), (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"})), "fields are named by id");
    let (status, answer) = call(&emulator, "PATCH", &format!("{fields}/fldProStatu000001"), Some(json!({}))).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"));
    let (status, answer) =
        call(&emulator, "PATCH", &format!("{fields}/fldNope0000000001"), Some(json!({"name": "x"}))).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"));
    let (status, answer) =
        call(&emulator, "PATCH", &format!("{tables}/tblNope0000000001"), Some(json!({"name": "x"}))).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::NOT_FOUND, "TABLE_NOT_FOUND"));
    let (status, _) =
        call(&emulator, "PATCH", &format!("{fields}/fldProStatu000001"), Some(json!({"type": "email"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a field's type cannot be changed");
}

#[tokio::test]
async fn upload_attachment_appends_a_file_served_back_at_its_url() {
    let emulator = emulator();
    let path = format!("/v0/{DEMO_BASE}/{TASK}/Attachments/uploadAttachment");
    // pyairtable encodes with base64.encodebytes: line breaks every 76 characters.
    let content = "Hello world, this is a file long enough to wrap its base64 encoding onto a second line.";
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let wrapped = format!("{}\n{}\n", &encoded[..76], &encoded[76..]);
    let body = json!({"contentType": "text/plain", "file": wrapped, "filename": "sample.txt"});
    let (status, answer) = raw(&emulator, "POST", &path, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], TASK);
    assert!(answer["createdTime"].is_string());
    let files = answer["fields"][TASK_ATTACHMENTS].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0]["id"].as_str().unwrap().starts_with("att"));
    assert_eq!((files[0]["filename"].as_str(), files[0]["type"].as_str()), (Some("sample.txt"), Some("text/plain")));
    assert_eq!(files[0]["size"], content.len());
    let url = files[0]["url"].as_str().unwrap();
    assert!(url.starts_with("http://emulator.test:8787/_emulator/attachments/att"), "{url}");

    // A second upload by field id appends; the record reads back with both.
    let body = json!({"contentType": "image/png", "file": "iVBORw0KGgo=", "filename": "a.png"});
    let by_id = format!("/v0/{DEMO_BASE}/{TASK}/{TASK_ATTACHMENTS}/uploadAttachment");
    assert_eq!(raw(&emulator, "POST", &by_id, body.to_string()).await.0, StatusCode::OK);
    let (_, record) = call(&emulator, "GET", &format!("/v0/{DEMO_BASE}/{TASKS}/{TASK}"), None).await;
    assert_eq!(record["fields"]["Attachments"].as_array().unwrap().len(), 2);

    let served_path = url.trim_start_matches("http://emulator.test:8787");
    let response =
        super::router(emulator.clone()).oneshot(Request::get(served_path).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(&bytes[..], content.as_bytes());
}

#[tokio::test]
async fn upload_attachment_refuses_what_airtable_refuses() {
    let emulator = emulator();
    let path = |record: &str, field: &str| format!("/v0/{DEMO_BASE}/{record}/{field}/uploadAttachment");
    let ok = json!({"contentType": "text/plain", "file": "SGVsbG8=", "filename": "h.txt"});
    let (status, body) = raw(&emulator, "POST", &path("recNope0000000001", "Attachments"), ok.to_string()).await;
    assert_eq!((status, error_type(&body)), (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND"));
    let (status, body) = raw(&emulator, "POST", &path(TASK, "Nope"), ok.to_string()).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_FIELD_NAME"));
    let (status, body) = raw(&emulator, "POST", &path(TASK, "Title"), ok.to_string()).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_VALUE_FOR_COLUMN"));
    for bad in [
        json!({"contentType": "text/plain", "file": "not base64!", "filename": "h.txt"}),
        json!({"contentType": "", "file": "SGVsbG8=", "filename": "h.txt"}),
        json!({"contentType": "a/b", "file": "SGVsbG8=", "filename": "h.txt", "url": "x"}),
        json!({"contentType": "text/plain", "file": "SGVsbG8=", "filename": ""}),
        json!({"contentType": "text/plain\nX: y", "file": "SGVsbG8=", "filename": "h.txt"}),
    ] {
        let (status, body) = raw(&emulator, "POST", &path(TASK, "Attachments"), bad.to_string()).await;
        assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"), "{bad}");
    }
    let missing = json!({"contentType": "text/plain", "file": "SGVsbG8="}).to_string();
    let (status, body) = raw(&emulator, "POST", &path(TASK, "Attachments"), missing).await;
    assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_MISSING_FIELDS"));
    // Just over 5 MB decoded: 413 in Airtable's shape; far over: the body limit answers the same.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; crate::attachments::MAX_UPLOAD + 1]);
    let body = json!({"contentType": "application/octet-stream", "file": big, "filename": "big.bin"});
    let (status, answer) = raw(&emulator, "POST", &path(TASK, "Attachments"), body.to_string()).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE"));
    let huge = "A".repeat(super::attachments::MAX_BODY + 10);
    let body = json!({"contentType": "application/octet-stream", "file": huge, "filename": "big.bin"});
    let (status, answer) = raw(&emulator, "POST", &path(TASK, "Attachments"), body.to_string()).await;
    assert_eq!((status, error_type(&answer)), (StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE"));
    // Exactly 5 MB is taken.
    let limit = base64::engine::general_purpose::STANDARD.encode(vec![7u8; crate::attachments::MAX_UPLOAD]);
    let body = json!({"contentType": "application/octet-stream", "file": limit, "filename": "max.bin"});
    assert_eq!(raw(&emulator, "POST", &path(TASK, "Attachments"), body.to_string()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_number_typecast_from_text_reads_back_as_an_integer() {
    // Defect 8: "8" with typecast was stored as 8.0 and answered as `8.0`.
    let emulator = emulator();
    let projects = format!("/v0/{DEMO_BASE}/{PROJECTS}");
    let (status, created) = raw(
        &emulator,
        "POST",
        &projects,
        json!({"fields": {"Name": "N", "Priority": "8"}, "typecast": true}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let response = super::router(emulator.clone())
        .oneshot(
            Request::get(format!("{projects}/{id}"))
                .header("authorization", format!("Bearer {DEV_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text =
        String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    assert!(text.contains(r#""Priority":8"#), "{text}");
    assert!(!text.contains("8.0"), "{text}");
    // A float that is integral (8.0 in JSON) is stored as 8 too; a fraction stays.
    let (_, float) = raw(&emulator, "POST", &projects, r#"{"fields": {"Priority": 8.0}}"#.into()).await;
    assert_eq!(float["fields"]["Priority"].to_string(), "8");
    let (_, fraction) =
        raw(&emulator, "POST", &projects, json!({"fields": {"Priority": "2.5"}, "typecast": true}).to_string()).await;
    assert_eq!(fraction["fields"]["Priority"].to_string(), "2.5");
}

#[tokio::test]
async fn a_typecast_write_adding_a_select_option_changes_the_schema() {
    // Defect 4's emulator half: the new choice is part of the base's schema afterwards.
    let emulator = emulator();
    let schema_choices = |schema: &Value| -> Vec<String> {
        let projects = schema["tables"].as_array().unwrap().iter().find(|t| t["id"] == PROJECTS).unwrap();
        let status = projects["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Status").unwrap();
        status["options"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let tables = format!("/v0/meta/bases/{DEMO_BASE}/tables");
    let (_, before) = call(&emulator, "GET", &tables, None).await;
    assert!(!schema_choices(&before).contains(&"Blocked".to_string()));
    let write = json!({"fields": {"Status": "Blocked"}});
    let (status, _) = call(&emulator, "POST", &format!("/v0/{DEMO_BASE}/{PROJECTS}"), Some(write.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "without typecast a new option is refused");
    let write = json!({"fields": {"Status": "Blocked"}, "typecast": true});
    let (status, _) = call(&emulator, "POST", &format!("/v0/{DEMO_BASE}/{PROJECTS}"), Some(write)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = call(&emulator, "GET", &tables, None).await;
    assert_eq!(schema_choices(&after), ["Todo", "In progress", "Done", "Blocked"]);
}

#[tokio::test]
async fn airtable_js_trailing_slash_and_method_option_are_accepted() {
    let emulator = emulator();
    let slash = format!("/v0/{DEMO_BASE}/{PROJECTS}/");
    let (status, created) =
        call(&emulator, "POST", &slash, Some(json!({"records": [{"fields": {"Name": "js"}}]}))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["records"][0]["id"].as_str().unwrap();
    let update = json!({"records": [{"id": id, "fields": {"Name": "js2"}}]});
    assert_eq!(call(&emulator, "PATCH", &slash, Some(update.clone())).await.0, StatusCode::OK);
    assert_eq!(call(&emulator, "PUT", &slash, Some(update)).await.0, StatusCode::OK);
    let list = format!("/v0/{DEMO_BASE}/{PROJECTS}/listRecords");
    let (status, page) = call(&emulator, "POST", &list, Some(json!({"method": "post", "maxRecords": 2}))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_new_routes_count_as_traffic_and_are_rate_limited_per_base() {
    let emulator = emulator();
    emulator.configure(ConfigPatch { base_rps: Some(5.0), penalty_ms: Some(60_000), ..ConfigPatch::default() });
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(call(&emulator, "GET", &comments(""), None).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 2, "{statuses:?}");
    let stats = emulator.stats();
    assert_eq!(stats.base(DEMO_BASE).requests, 7);
    // The webhooks API counts against its base as well: the penalised base refuses it too.
    let (status, body) = call(&emulator, "GET", &webhooks(""), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(emulator.stats().base(DEMO_BASE).requests, 8);
    let request = Request::get(webhooks("")).body(Body::empty()).unwrap();
    let response = super::router(emulator.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "a webhook call without a token is refused");
}

#[tokio::test]
async fn attachment_fields_take_airtables_write_format() {
    let emulator = emulator();
    let task = format!("/v0/{DEMO_BASE}/{TASKS}/{TASK}");
    let write = json!({"fields": {"Attachments": [{"url": "https://example.com/files/plan.pdf"}]}});
    let (status, record) = call(&emulator, "PATCH", &task, Some(write)).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let first = record["fields"]["Attachments"][0].clone();
    assert!(first["id"].as_str().unwrap().starts_with("att"));
    assert_eq!(first["filename"], "plan.pdf");
    // Clients send back what they read to keep a file, and add another by URL.
    let write = json!({"fields": {"Attachments": [first, {"url": "https://example.com/b.png", "filename": "b.png"}]}});
    let (_, record) = call(&emulator, "PATCH", &task, Some(write)).await;
    assert_eq!(record["fields"]["Attachments"].as_array().unwrap().len(), 2);
    assert_eq!(record["fields"]["Attachments"][0]["filename"], "plan.pdf");
    for bad in [json!("https://example.com/x"), json!([{"filename": "x"}]), json!([{"url": "x:y"}])] {
        let (status, body) = call(&emulator, "PATCH", &task, Some(json!({"fields": {"Attachments": bad}}))).await;
        assert_eq!((status, error_type(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_VALUE_FOR_COLUMN"));
    }
}
