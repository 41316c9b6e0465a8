//! The seed's nine `/api/v1/airtable/…` routes and the batch routes, with an access token (JWT).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;

use crate::support::airtable::{BASE, Client, PROJECTS, ids, records, unpack};
use crate::support::{TestApp, assert_error};

use crate::support::airtable::gateway_settings;
crate::both_adapters_in!(gateway_settings;
    the_base_and_table_routes_describe_the_demo_base,
    listing_records_passes_every_parameter_through_and_pages_correctly,
    a_record_is_created_read_updated_and_deleted,
    batch_routes_write_any_number_of_records_in_airtables_tens,
    errors_come_in_the_platform_shape,
);

async fn as_user(client: &Client, method: Method, path: &str, body: Option<serde_json::Value>) -> reqwest::Response {
    client.send_as(&client.account.access, method, path, body, &[]).await
}

async fn the_base_and_table_routes_describe_the_demo_base(app: TestApp) {
    let client = Client::start(app).await;
    let (status, cache, bases) = unpack(as_user(&client, Method::GET, "/api/v1/airtable/bases", None).await).await;
    // The listing comes from the tenant's links, not from Airtable: never cached.
    assert_eq!((status, cache.as_str()), (200, "BYPASS"));
    assert!(bases["bases"].as_array().unwrap().iter().any(|b| b["id"] == BASE && b["name"] == "Demo"));

    let (status, _, base) =
        unpack(as_user(&client, Method::GET, &format!("/api/v1/airtable/bases/{BASE}"), None).await).await;
    assert_eq!((status, base["name"].as_str()), (200, Some("Demo")));

    let (status, _, tables) =
        unpack(as_user(&client, Method::GET, &format!("/api/v1/airtable/bases/{BASE}/tables"), None).await).await;
    assert_eq!(status, 200);
    assert_eq!(tables["tables"][0]["id"], PROJECTS);

    for table in [PROJECTS, "Projects"] {
        let (status, _, found) =
            unpack(as_user(&client, Method::GET, &format!("/api/v1/airtable/bases/{BASE}/tables/{table}"), None).await)
                .await;
        assert_eq!((status, found["name"].as_str()), (200, Some("Projects")), "{table}");
        assert!(
            found["fields"].as_array().unwrap().iter().any(|f| f["name"] == "Status" && f["type"] == "singleSelect")
        );
    }
}

async fn listing_records_passes_every_parameter_through_and_pages_correctly(app: TestApp) {
    let client = Client::start(app).await;
    let mut seen = Vec::new();
    let mut offset = String::new();
    for _ in 0..10 {
        let path =
            records(&format!("?pageSize=7&sort%5B0%5D%5Bfield%5D=Priority&sort%5B0%5D%5Bdirection%5D=desc{offset}"));
        let (status, _, page) = unpack(as_user(&client, Method::GET, &path, None).await).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["offset"].as_str() {
            Some(next) => offset = format!("&offset={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30, "every record exactly once");

    let query = "?maxRecords=3&fields%5B%5D=Name&view=Active%20projects&filterByFormula=%7BPriority%7D%3E%3D2&returnFieldsByFieldId=true";
    let (status, _, page) = unpack(as_user(&client, Method::GET, &records(query), None).await).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page).len(), 3);
    let fields = page["records"][0]["fields"].as_object().unwrap();
    assert!(fields.len() == 1 && fields.keys().all(|k| k.starts_with("fld")), "{page}");

    let string = records("?maxRecords=1&cellFormat=string&timeZone=UTC&userLocale=en-us");
    let (status, _, page) = unpack(as_user(&client, Method::GET, &string, None).await).await;
    assert_eq!((status, page["records"][0]["fields"]["Priority"].is_string()), (200, true), "{page}");
}

async fn a_record_is_created_read_updated_and_deleted(app: TestApp) {
    let client = Client::start(app).await;
    let created =
        as_user(&client, Method::POST, &records(""), Some(json!({"fields": {"Name": "Fresh", "Priority": 2}}))).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("rec") && created["createdTime"].is_string());

    let (status, cache, record) = unpack(as_user(&client, Method::GET, &records(&format!("/{id}")), None).await).await;
    assert_eq!((status, cache.as_str(), record["fields"]["Name"].as_str()), (200, "MISS", Some("Fresh")));

    let patched =
        as_user(&client, Method::PATCH, &records(&format!("/{id}")), Some(json!({"fields": {"Priority": 5}}))).await;
    let patched: serde_json::Value = patched.json().await.unwrap();
    assert_eq!(patched["fields"], json!({"Name": "Fresh", "Priority": 5}), "PATCH merges");
    let replaced = as_user(
        &client,
        Method::PATCH,
        &records(&format!("/{id}")),
        Some(json!({"fields": {"Priority": 1}, "replace": true})),
    )
    .await;
    let replaced: serde_json::Value = replaced.json().await.unwrap();
    assert_eq!(replaced["fields"], json!({"Priority": 1}), "replace: true replaces");

    let deleted = as_user(&client, Method::DELETE, &records(&format!("/{id}")), None).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.json::<serde_json::Value>().await.unwrap(), json!({"id": id, "deleted": true}));
    assert_error(as_user(&client, Method::GET, &records(&format!("/{id}")), None).await, 404, "not_found").await;
}

async fn batch_routes_write_any_number_of_records_in_airtables_tens(app: TestApp) {
    let client = Client::start(app).await;
    let writes_before = client.upstream().await.base(BASE).writes;
    let new: Vec<_> = (0..23).map(|i| json!({"fields": {"Name": format!("Bulk {i}")}})).collect();
    let created = as_user(&client, Method::POST, &records("/batch"), Some(json!({"records": new}))).await;
    assert_eq!(created.status(), 201);
    let created = ids(&created.json().await.unwrap());
    assert_eq!(created.len(), 23);
    assert_eq!(client.upstream().await.base(BASE).writes - writes_before, 3, "23 records = 3 upstream requests");

    let changes: Vec<_> = created.iter().map(|id| json!({"id": id, "fields": {"Priority": 4}})).collect();
    let updated = as_user(&client, Method::PATCH, &records("/batch"), Some(json!({"records": changes}))).await;
    assert_eq!(updated.status(), 200);
    let updated: serde_json::Value = updated.json().await.unwrap();
    assert!(
        updated["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["fields"]["Priority"] == 4 && r["fields"]["Name"].is_string())
    );

    let upsert = json!({"fieldsToMergeOn": ["Name"], "records": [{"fields": {"Name": "Bulk 0", "Priority": 1}}, {"fields": {"Name": "Bulk new"}}]});
    let upserted: serde_json::Value =
        as_user(&client, Method::POST, &records("/upsert"), Some(upsert)).await.json().await.unwrap();
    assert_eq!(upserted["updatedRecords"], json!([created[0]]));
    assert_eq!(upserted["createdRecords"].as_array().unwrap().len(), 1);

    let deleted = as_user(&client, Method::POST, &records("/delete"), Some(json!({"ids": created}))).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(ids(&deleted.json().await.unwrap()).len(), 23);
}

async fn errors_come_in_the_platform_shape(app: TestApp) {
    let client = Client::start(app).await;
    let unauthenticated = client.app.get(&records("")).await;
    assert_error(unauthenticated, 401, "unauthorized").await;
    assert_error(
        as_user(&client, Method::GET, "/api/v1/airtable/bases/not-a-base/tables", None).await,
        400,
        "invalid_base_id",
    )
    .await;
    assert_error(as_user(&client, Method::GET, &records("?pageSize=500"), None).await, 400, "invalid_query").await;
    let unknown_field = as_user(&client, Method::POST, &records(""), Some(json!({"fields": {"Nope": 1}}))).await;
    let body = assert_error(unknown_field, 422, "invalid_request").await;
    assert!(body["error"].as_str().unwrap().contains("UNKNOWN_FIELD_NAME"), "{body}");
    let missing = as_user(&client, Method::GET, &records("/recNope0000000001"), None).await;
    assert_error(missing, 404, "not_found").await;
    let malformed = as_user(&client, Method::GET, &records("/recNope"), None).await;
    assert_error(malformed, 400, "invalid_record_id").await;
    let too_many = (0..1001).map(|i| json!({"fields": {"Name": format!("{i}")}})).collect::<Vec<_>>();
    assert_error(
        as_user(&client, Method::POST, &records("/batch"), Some(json!({"records": too_many}))).await,
        400,
        "invalid_batch",
    )
    .await;
}
