//! The rest of the /v0 surface through the whole runner (authorizer, gateway, emulator), as Airtable
//! documents it: record comments, webhooks, meta writes and uploadAttachment — each through the limiter
//! (the emulator counts every call) and invalidating the cached reads it changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::airtable::{BASE, Client, unpack};

use crate::support::airtable::gateway_settings;
crate::both_adapters_in!(gateway_settings;
    comments_round_trip_and_move_the_records_comment_count,
    webhooks_are_created_listed_paged_refreshed_toggled_and_deleted,
    meta_writes_change_the_schema_and_the_records_at_once,
    an_upload_lands_in_the_attachment_cell_and_is_bounded,
    malformed_requests_answer_airtables_errors_without_an_upstream_call,
);

const RECORD: &str = "recProj0000000001";

async fn call(client: &Client, method: Method, path: &str, body: Option<Value>) -> (u16, String, Value) {
    unpack(client.send(method, path, body).await).await
}

async fn ok(client: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, _, body) = call(client, method.clone(), path, body).await;
    assert_eq!(status, 200, "{method} {path}: {body}");
    body
}

async fn upstream_calls(client: &Client) -> u64 {
    client.upstream().await.requests
}

async fn comment_count(client: &Client) -> (String, i64) {
    let path = format!("/v0/{BASE}/Projects?pageSize=1&recordMetadata%5B%5D=commentCount");
    let (status, cache, page) = client.read(&path, &[]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["records"][0]["id"], RECORD, "{page}");
    (cache, page["records"][0]["commentCount"].as_i64().unwrap_or_else(|| panic!("no commentCount: {page}")))
}

async fn comments_round_trip_and_move_the_records_comment_count(app: TestApp) {
    let client = Client::start(app).await;
    let comments = format!("/v0/{BASE}/Projects/{RECORD}/comments");
    assert_eq!(comment_count(&client).await, ("MISS".into(), 0));
    assert_eq!(comment_count(&client).await, ("HIT".into(), 0));

    let first = ok(&client, Method::POST, &comments, Some(json!({"text": "First!"}))).await;
    let id = first["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("com") && id.len() == 17, "{first}");
    assert_eq!((first["text"].as_str(), first["lastUpdatedTime"].is_null()), (Some("First!"), true), "{first}");
    assert!(first["author"]["id"].as_str().is_some_and(|a| a.starts_with("usr")), "{first}");
    assert_eq!(comment_count(&client).await, ("MISS".into(), 1), "a comment write invalidates the table's reads");

    let reply = ok(&client, Method::POST, &comments, Some(json!({"text": "A reply", "parentCommentId": id}))).await;
    assert_eq!(reply["parentCommentId"], id.as_str(), "{reply}");
    let before = upstream_calls(&client).await;
    let listed = ok(&client, Method::GET, &format!("{comments}?pageSize=1"), None).await;
    assert_eq!(listed["comments"].as_array().map(Vec::len), Some(1), "{listed}");
    let offset = listed["offset"].as_str().unwrap_or_else(|| panic!("a second page: {listed}")).to_string();
    let next = ok(&client, Method::GET, &format!("{comments}?pageSize=1&offset={offset}"), None).await;
    let mut seen: Vec<&str> = [&listed, &next].iter().filter_map(|p| p["comments"][0]["id"].as_str()).collect();
    seen.sort_unstable();
    let mut expected = vec![id.as_str(), reply["id"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(seen, expected);
    let again = ok(&client, Method::GET, &format!("{comments}?pageSize=1"), None).await;
    assert_eq!(again["comments"], listed["comments"]);
    assert_eq!(upstream_calls(&client).await - before, 3, "comment reads are never cached");

    let edited = ok(&client, Method::PATCH, &format!("{comments}/{id}"), Some(json!({"text": "Never mind"}))).await;
    assert_eq!(edited["text"], "Never mind");
    assert!(edited["lastUpdatedTime"].is_string(), "{edited}");
    let deleted = ok(&client, Method::DELETE, &format!("{comments}/{id}"), None).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    assert_eq!(comment_count(&client).await.1, 1, "the reply is left");
    let (status, _, gone) = call(&client, Method::DELETE, &format!("{comments}/{id}"), None).await;
    assert_eq!(status, 404, "{gone}");
    assert!(gone["error"]["type"].is_string(), "{gone}");

    // Another tenant: nothing cached to leak, and its reads reach Airtable too.
    let other = client.another_tenant().await;
    let before = upstream_calls(&client).await;
    let response = client.send_as(&other, Method::GET, &comments, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-cache").is_none());
    assert_eq!(upstream_calls(&client).await, before + 1);
}

async fn webhooks_are_created_listed_paged_refreshed_toggled_and_deleted(app: TestApp) {
    let client = Client::start(app).await;
    let hooks = format!("/v0/bases/{BASE}/webhooks");
    let spec = json!({"options": {"filters": {"dataTypes": ["tableData"]}}});
    let created = ok(&client, Method::POST, &hooks, Some(json!({"specification": spec}))).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ach") && id.len() == 17, "{created}");
    assert!(created["macSecretBase64"].as_str().is_some_and(|s| !s.is_empty()), "{created}");
    assert!(created["expirationTime"].is_string(), "{created}");

    let listed = ok(&client, Method::GET, &hooks, None).await;
    let mine = listed["webhooks"].as_array().unwrap().iter().find(|w| w["id"] == id.as_str()).cloned();
    let mine = mine.unwrap_or_else(|| panic!("the new webhook is listed: {listed}"));
    assert_eq!(mine["specification"], spec, "{mine}");
    assert!(mine.get("macSecretBase64").is_none(), "the secret is shown once: {mine}");

    // A change to the base's records makes a payload.
    ok(&client, Method::POST, &format!("/v0/{BASE}/Projects"), Some(json!({"fields": {"Name": "Hooked"}}))).await;
    let payloads = format!("{hooks}/{id}/payloads");
    let page = ok(&client, Method::GET, &format!("{payloads}?cursor=1&limit=50"), None).await;
    let first = page["payloads"].as_array().unwrap_or_else(|| panic!("payloads: {page}"));
    assert!(!first.is_empty(), "{page}");
    assert!(first[0]["changedTablesById"].is_object(), "{page}");
    assert!(page["cursor"].as_u64().is_some_and(|c| c >= 2) && page["mightHaveMore"].is_boolean(), "{page}");
    let (status, _, body) = call(&client, Method::GET, &format!("{payloads}?limit=51"), None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (422, Some("INVALID_REQUEST_UNKNOWN")), "{body}");

    let refreshed = ok(&client, Method::POST, &format!("{hooks}/{id}/refresh"), None).await;
    assert!(refreshed["expirationTime"].is_string(), "{refreshed}");
    let toggle = format!("{hooks}/{id}/enableNotifications");
    let (status, _, _) = call(&client, Method::POST, &toggle, Some(json!({"enable": false}))).await;
    assert_eq!(status, 200);
    let listed = ok(&client, Method::GET, &hooks, None).await;
    let mine = listed["webhooks"].as_array().unwrap().iter().find(|w| w["id"] == id.as_str()).cloned().unwrap();
    assert_eq!(mine["areNotificationsEnabled"], false, "{mine}");

    let (status, _, _) = call(&client, Method::DELETE, &format!("{hooks}/{id}"), None).await;
    assert_eq!(status, 200);
    let listed = ok(&client, Method::GET, &hooks, None).await;
    assert!(listed["webhooks"].as_array().unwrap().iter().all(|w| w["id"] != id.as_str()), "{listed}");
    let (status, _, body) = call(&client, Method::DELETE, &format!("{hooks}/{id}"), None).await;
    assert_eq!(status, 404, "{body}");
}

async fn meta_writes_change_the_schema_and_the_records_at_once(app: TestApp) {
    let client = Client::start(app).await;
    let meta = format!("/v0/meta/bases/{BASE}/tables");
    let records = format!("/v0/{BASE}/Projects?pageSize=1&fields%5B%5D=Priority");
    let field_names = |schema: &Value| -> Vec<String> {
        let projects = schema["tables"].as_array().unwrap().iter().find(|t| t["name"] == "Projects").unwrap().clone();
        projects["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect()
    };
    let (_, cache, schema) = client.read(&meta, &[]).await;
    assert_eq!(cache, "MISS");
    let priority = schema["tables"][0]["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Priority").unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(client.read(&meta, &[]).await.1, "HIT");
    let (_, cache, page) = client.read(&records, &[]).await;
    assert_eq!((cache.as_str(), page["records"][0]["fields"]["Priority"].is_number()), ("MISS", true), "{page}");
    assert_eq!(client.read(&records, &[]).await.1, "HIT");

    // Create a field: the schema shows it at once.
    let budget = ok(
        &client,
        Method::POST,
        &format!("{meta}/Projects/fields"),
        Some(json!({"name": "Budget", "type": "number", "options": {"precision": 2}})),
    )
    .await;
    assert!(budget["id"].as_str().is_some_and(|id| id.starts_with("fld")), "{budget}");
    let (_, cache, schema) = client.read(&meta, &[]).await;
    assert_eq!(cache, "MISS", "pyairtable's schema(force=True) must see the new field");
    assert!(field_names(&schema).contains(&"Budget".to_string()), "{schema}");

    // Rename a field: the schema and the cached records both change.
    let renamed =
        ok(&client, Method::PATCH, &format!("{meta}/Projects/fields/{priority}"), Some(json!({"name": "Urgency"})))
            .await;
    assert_eq!(renamed["name"], "Urgency");
    let (_, cache, schema) = client.read(&meta, &[]).await;
    assert_eq!(cache, "MISS");
    assert!(
        field_names(&schema).contains(&"Urgency".to_string())
            && !field_names(&schema).contains(&"Priority".to_string())
    );
    let by_new_name = format!("/v0/{BASE}/Projects?pageSize=1");
    let (_, _, page) = client.read(&by_new_name, &[]).await;
    assert!(
        page["records"][0]["fields"]["Urgency"].is_number() && page["records"][0]["fields"].get("Priority").is_none(),
        "{page}"
    );
    let (status, _, body) = client.read(&records, &[]).await;
    assert_eq!(status, 422, "the old name is gone, not answered from the cache: {body}");

    // Create and rename a table.
    let fields = json!([{"name": "Number", "type": "singleLineText"}, {"name": "Amount", "type": "number", "options": {"precision": 0}}]);
    let table = ok(
        &client,
        Method::POST,
        &meta,
        Some(json!({"name": "Invoices", "description": "Money in", "fields": fields})),
    )
    .await;
    let table_id = table["id"].as_str().unwrap().to_string();
    assert!(table_id.starts_with("tbl") && table["primaryFieldId"].is_string(), "{table}");
    let updated = ok(&client, Method::PATCH, &format!("{meta}/{table_id}"), Some(json!({"name": "Receivables"}))).await;
    assert_eq!(updated["name"], "Receivables");
    let (_, cache, schema) = client.read(&meta, &[]).await;
    assert_eq!(cache, "MISS");
    assert!(
        schema["tables"].as_array().unwrap().iter().any(|t| t["id"] == table_id.as_str() && t["name"] == "Receivables")
    );
    let created =
        ok(&client, Method::POST, &format!("/v0/{BASE}/Receivables"), Some(json!({"fields": {"Number": "INV-1"}})))
            .await;
    assert_eq!(created["fields"]["Number"], "INV-1");
}

async fn an_upload_lands_in_the_attachment_cell_and_is_bounded(app: TestApp) {
    let client = Client::start(app).await;
    let task = "recTask0000000001";
    let cached = format!("/v0/{BASE}/Tasks/{task}");
    let by_id = format!("/v0/{BASE}/{}?pageSize=1", airtable_emulator::seed::TASKS);
    for path in [&cached, &by_id] {
        let (status, cache, before) = client.read(path, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{before}");
        assert_eq!(client.read(path, &[]).await.1, "HIT");
    }

    let upload = format!("/v0/{BASE}/{task}/Attachments/uploadAttachment");
    let body = json!({"contentType": "text/plain", "file": "SGVsbG8g\nd29ybGQ=\n", "filename": "hello.txt"});
    let answer = ok(&client, Method::POST, &upload, Some(body)).await;
    assert_eq!(answer["id"], task, "{answer}");
    let cell =
        answer["fields"][airtable_emulator::seed::TASK_ATTACHMENTS].as_array().unwrap_or_else(|| panic!("{answer}"));
    let file = cell.last().unwrap();
    assert_eq!(
        (file["filename"].as_str(), file["size"].as_u64(), file["type"].as_str()),
        (Some("hello.txt"), Some(11), Some("text/plain"))
    );
    assert!(file["id"].as_str().is_some_and(|id| id.starts_with("att")) && file["url"].is_string(), "{file}");
    let (_, cache, after) = client.read(&cached, &[]).await;
    assert_eq!(cache, "MISS", "the upload invalidated the base's reads");
    assert_eq!(after["fields"]["Attachments"].as_array().map(Vec::len), Some(cell.len()), "{after}");
    let (_, cache, page) = client.read(&by_id, &[]).await;
    assert_eq!(cache, "MISS", "reads by table id too: the path does not say which table");
    assert_eq!(page["records"][0]["fields"]["Attachments"].as_array().map(Vec::len), Some(cell.len()), "{page}");

    // Over MAX_BODY_BYTES (1 MiB by default) — the effective bound below Airtable's 5 MB — is refused here.
    let before = upstream_calls(&client).await;
    let big = "A".repeat(1_500_000);
    let (status, _, body) =
        call(&client, Method::POST, &upload, Some(json!({"contentType": "a/b", "file": big, "filename": "f"}))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (413, Some("REQUEST_TOO_LARGE")), "{body}");
    let (status, _, body) = call(
        &client,
        Method::POST,
        &format!("/v0/{BASE}/{task}/Name/uploadAttachment"),
        Some(json!({"contentType": "a/b", "file": "!!", "filename": "f"})),
    )
    .await;
    assert_eq!((status, body["error"]["type"].as_str()), (422, Some("INVALID_REQUEST_UNKNOWN")), "{body}");
    assert_eq!(upstream_calls(&client).await, before, "refused before Airtable");
}

async fn malformed_requests_answer_airtables_errors_without_an_upstream_call(app: TestApp) {
    let client = Client::start(app).await;
    let before = upstream_calls(&client).await;
    let comments = format!("/v0/{BASE}/Projects/{RECORD}/comments");
    let long = "x".repeat(100_001);
    let cases = [
        (Method::GET, format!("/v0/{BASE}/Projects/recNope/comments"), None, 404, "MODEL_ID_NOT_FOUND"),
        (Method::GET, format!("{comments}?pageSize=101"), None, 422, "INVALID_REQUEST_UNKNOWN"),
        (Method::POST, comments.clone(), Some(json!({})), 422, "INVALID_REQUEST_MISSING_FIELDS"),
        (Method::POST, comments.clone(), Some(json!({"text": long})), 422, "INVALID_REQUEST_UNKNOWN"),
        (Method::PATCH, format!("{comments}/nope"), Some(json!({"text": "a"})), 404, "NOT_FOUND"),
        (Method::DELETE, format!("/v0/bases/{BASE}/webhooks/nope"), None, 404, "NOT_FOUND"),
        (Method::GET, "/v0/bases/appNope/webhooks".to_string(), None, 404, "NOT_FOUND"),
        (
            Method::POST,
            format!("/v0/bases/{BASE}/webhooks"),
            Some(json!({"specification": {"options": {"filters": {"dataTypes": []}}}})),
            422,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            Method::POST,
            format!("/v0/meta/bases/{BASE}/tables"),
            Some(json!({"name": "T", "fields": []})),
            422,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            Method::PATCH,
            format!("/v0/meta/bases/{BASE}/tables/Projects/fields/Name"),
            Some(json!({"name": "N"})),
            404,
            "NOT_FOUND",
        ),
        (
            Method::PATCH,
            format!("/v0/meta/bases/{BASE}/tables/Projects"),
            Some(json!({})),
            422,
            "INVALID_REQUEST_UNKNOWN",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let (got, _, answer) = call(&client, method.clone(), &path, body).await;
        assert_eq!((got, answer["error"]["type"].as_str()), (status, Some(kind)), "{method} {path}: {answer}");
    }
    assert_eq!(upstream_calls(&client).await, before, "nothing malformed reaches Airtable");
}
