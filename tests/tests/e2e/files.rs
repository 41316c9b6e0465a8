//! Files end to end, on both adapter sets (moto's S3 with its bucket notifications into SQS, and the embedded
//! bucket and queue): an upload through the presigned URL is processed into a CSV preview with nobody calling
//! `complete`; executables, wrong sizes and uploads that never come are rejected or expire; storage counts
//! against the plan; another tenant sees nothing, and workspace roles decide the rest.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::accounts::{Account, call, join, register};
use crate::support::{TestApp, assert_error};

fn files_settings(settings: &mut local_runner::Settings) {
    settings.groups = Some(["auth", "tenants", "workspaces", "files"].map(String::from).to_vec());
    // Short-lived upload URLs, so the never-completed case expires within the test.
    settings.files.upload_ttl = Duration::from_secs(2);
}

crate::both_adapters_in!(files_settings;
    an_upload_through_the_presigned_url_is_processed_into_a_csv_preview,
    executables_wrong_sizes_and_uploads_that_never_come_are_rejected_or_expire,
    storage_counts_against_the_plan_until_files_are_deleted,
    another_tenant_sees_nothing_and_workspace_roles_decide,
);

fn attach_settings(settings: &mut local_runner::Settings) {
    crate::support::airtable::gateway_settings(settings);
    settings.groups.get_or_insert_with(Vec::new).extend(["tenants", "files"].map(String::from));
}

mod attaching {
    crate::both_adapters_in!(attach_settings; a_ready_file_is_attached_to_a_record_through_the_gateway);
    use super::*;
}

async fn workspace(app: &TestApp, who: &Account) -> String {
    let response = call(app, Method::POST, "/api/v1/workspaces", &who.access, Some(json!({"name": "Files"}))).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

async fn declare(app: &TestApp, who: &Account, ws: &str, name: &str, content_type: &str, size: usize) -> Value {
    let body = json!({"workspace_id": ws, "name": name, "content_type": content_type, "size": size});
    let response = call(app, Method::POST, "/api/v1/files", &who.access, Some(body)).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "declaring {name}: {answer}");
    assert_eq!(answer["file"]["status"], "pending");
    answer
}

/// PUTs `bytes` to the declared upload with the headers it names, but `content_type` instead of the named one.
async fn upload(declared: &Value, bytes: &[u8], content_type: Option<&str>) -> reqwest::Response {
    let upload = &declared["upload"];
    assert_eq!(upload["method"], "PUT");
    let mut put = reqwest::Client::new().put(upload["url"].as_str().unwrap()).body(bytes.to_vec());
    for (name, value) in upload["headers"].as_object().unwrap() {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // reqwest sends the body's own length
        }
        let value = match (name.eq_ignore_ascii_case("content-type"), content_type) {
            (true, Some(other)) => other,
            _ => value.as_str().unwrap(),
        };
        put = put.header(name, value);
    }
    put.send().await.unwrap()
}

async fn get(app: &TestApp, who: &Account, id: &str) -> Value {
    let response = call(app, Method::GET, &format!("/api/v1/files/{id}"), &who.access, None).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until the file leaves `pending` and `processing`; returns it.
async fn settled(app: &TestApp, who: &Account, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let file = get(app, who, id).await;
        if !matches!(file["status"].as_str(), Some("pending" | "processing")) {
            return file;
        }
        assert!(Instant::now() < deadline, "file {id} never settled: {file}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CSV: &str =
    "name,age,joined,active\nAda,36,1851-12-10,true\nGrace,45,1951-06-01,false\nLinus,21,1991-08-25,true\n";

async fn an_upload_through_the_presigned_url_is_processed_into_a_csv_preview(app: TestApp) {
    let owner = register(&app).await;
    let ws = workspace(&app, &owner).await;
    let declared = declare(&app, &owner, &ws, "people.csv", "text/csv", CSV.len()).await;
    let id = declared["file"]["id"].as_str().unwrap();

    let put = upload(&declared, CSV.as_bytes(), None).await;
    assert!(put.status().is_success(), "upload: {}", put.status());
    // Nobody calls complete: the bucket's notification sent the upload to the processor.
    let file = settled(&app, &owner, id, Duration::from_secs(20)).await;

    assert_eq!(file["status"], "ready", "{file}");
    assert_eq!(file["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(CSV.as_bytes())).as_str()));
    let inspection = &file["inspection"];
    assert_eq!(inspection["kind"], "table");
    assert_eq!(inspection["row_count"], 3);
    let columns: Vec<(String, String)> = inspection["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into()))
        .collect();
    let expected = [("name", "text"), ("age", "integer"), ("joined", "date"), ("active", "boolean")];
    assert_eq!(columns, expected.map(|(n, t)| (n.to_string(), t.to_string())).to_vec());
    assert_eq!(
        inspection["preview"][1],
        json!({"name": "Grace", "age": "45", "joined": "1951-06-01", "active": "false"})
    );
    // The short-lived download gives back the bytes.
    let downloaded = reqwest::get(file["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.text().await.unwrap(), CSV);
    // Completing after the fact changes nothing.
    let completed = call(&app, Method::POST, &format!("/api/v1/files/{id}/complete"), &owner.access, None).await;
    assert_eq!(completed.status(), 200);
    assert_eq!(completed.json::<Value>().await.unwrap()["status"], "ready");
    // Other bytes PUT again through the upload URL (of the signed type and length; moto takes them, the
    // embedded URL has expired by now) never replace what was checked: the download serves the checked copy.
    let mut other = elf(CSV.len());
    other.truncate(CSV.len());
    if upload(&declared, &other, None).await.status().is_success() {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let again = get(&app, &owner, id).await;
    assert_eq!((again["status"].as_str(), again["sha256"].clone()), (Some("ready"), file["sha256"].clone()));
    assert_eq!(reqwest::get(again["download_url"].as_str().unwrap()).await.unwrap().text().await.unwrap(), CSV);
    // Listed in its workspace, and in all.
    for path in [format!("/api/v1/files?workspace_id={ws}"), "/api/v1/files".to_string()] {
        let listed: Value = call(&app, Method::GET, &path, &owner.access, None).await.json().await.unwrap();
        let ids: Vec<&str> = listed["files"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![id], "{path}");
    }
    let response = call(&app, Method::GET, "/api/v1/files?status=ready&limit=0", &owner.access, None).await;
    assert_error(response, 400, "invalid_field").await;
}

/// The first bytes of an x86-64 ELF executable, padded to `len`.
fn elf(len: usize) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    bytes.resize(len, 0);
    bytes
}

async fn executables_wrong_sizes_and_uploads_that_never_come_are_rejected_or_expire(app: TestApp) {
    let owner = register(&app).await;
    let ws = workspace(&app, &owner).await;

    // Bad declarations: a 400 naming the field, and nothing declared.
    for (body, field) in [
        (json!({"workspace_id": ws, "name": "a.csv", "content_type": "text/csv", "size": 0}), "size"),
        (
            json!({"workspace_id": ws, "name": "a.csv", "content_type": "text/csv", "size": 50 * 1024 * 1024 + 1}),
            "size",
        ),
        (
            json!({"workspace_id": ws, "name": "a.exe", "content_type": "application/x-msdownload", "size": 10}),
            "content_type",
        ),
        (json!({"workspace_id": ws, "name": "../a.csv", "content_type": "text/csv", "size": 10}), "name"),
    ] {
        let response = call(&app, Method::POST, "/api/v1/files", &owner.access, Some(body)).await;
        let error = assert_error(response, 400, "invalid_field").await;
        assert!(error["error"].as_str().unwrap().starts_with(field), "{error}");
    }
    let response = call(&app, Method::POST, "/api/v1/files", &owner.access, Some(json!({"name": "x"}))).await;
    assert_eq!(response.status(), 400);

    // A ".csv" that is an executable: uploaded as declared, rejected by its content, its bytes gone.
    let bytes = elf(256);
    let declared = declare(&app, &owner, &ws, "report.csv", "text/csv", bytes.len()).await;
    let id = declared["file"]["id"].as_str().unwrap().to_string();
    let put = upload(&declared, &bytes, None).await;
    assert!(put.status().is_success());
    let file = settled(&app, &owner, &id, Duration::from_secs(20)).await;
    assert_eq!(
        (file["status"].as_str(), file["rejection"]["code"].as_str()),
        (Some("rejected"), Some("executable_content")),
        "{file}"
    );
    assert!(file["download_url"].is_null());
    let completed = call(&app, Method::POST, &format!("/api/v1/files/{id}/complete"), &owner.access, None).await;
    assert_error(completed, 422, "upload_rejected").await;

    // More bytes than declared: embedded storage refuses the PUT (its signature covers the length, as S3's
    // does); moto takes it, and the processor rejects the size. Either way nothing becomes ready.
    let declared = declare(&app, &owner, &ws, "short.csv", "text/csv", 4).await;
    let id = declared["file"]["id"].as_str().unwrap().to_string();
    let put = upload(&declared, b"a,b\n1,2\n", None).await;
    if put.status().is_success() {
        let file = settled(&app, &owner, &id, Duration::from_secs(20)).await;
        assert_eq!(file["rejection"]["code"], "size_mismatch", "{file}");
    } else {
        assert_eq!(put.status(), 403);
        let completed = call(&app, Method::POST, &format!("/api/v1/files/{id}/complete"), &owner.access, None).await;
        assert_error(completed, 409, "upload_missing").await;
    }

    // Declared, never uploaded: expired once its URL is (2 s here), and complete says so.
    let declared = declare(&app, &owner, &ws, "never.csv", "text/csv", 10).await;
    let id = declared["file"]["id"].as_str().unwrap().to_string();
    let completed = call(&app, Method::POST, &format!("/api/v1/files/{id}/complete"), &owner.access, None).await;
    assert_error(completed, 409, "upload_missing").await;
    let file = settled(&app, &owner, &id, Duration::from_secs(20)).await;
    assert_eq!(file["status"], "expired", "{file}");
    let completed = call(&app, Method::POST, &format!("/api/v1/files/{id}/complete"), &owner.access, None).await;
    assert_error(completed, 409, "upload_expired").await;
}

async fn storage_counts_against_the_plan_until_files_are_deleted(app: TestApp) {
    let owner = register(&app).await;
    let ws = workspace(&app, &owner).await;
    const BIG: usize = 50 * 1024 * 1024;
    // The free plan allows 1 GiB: twenty 50 MiB declarations fit, the twenty-first does not.
    let mut ids = Vec::new();
    for i in 0..20 {
        let declared = declare(&app, &owner, &ws, &format!("big-{i}.csv"), "text/csv", BIG).await;
        ids.push(declared["file"]["id"].as_str().unwrap().to_string());
    }
    let body = json!({"workspace_id": ws, "name": "one-too-many.csv", "content_type": "text/csv", "size": BIG});
    let response = call(&app, Method::POST, "/api/v1/files", &owner.access, Some(body.clone())).await;
    let error = assert_error(response, 403, "plan_limit_reached").await;
    assert!(error["error"].as_str().unwrap().contains("1073741824"), "{error}");
    // The tenant's usage view shows the storage beside the plan's limit.
    let storage =
        |usage: Value| usage["usage"].as_array().unwrap().iter().find(|u| u["limit"] == "file_storage_bytes").cloned();
    let usage: Value =
        call(&app, Method::GET, "/api/v1/tenants/current/usage", &owner.access, None).await.json().await.unwrap();
    assert_eq!(storage(usage), Some(json!({"limit": "file_storage_bytes", "allowed": 1u64 << 30, "used": 20 * BIG})));
    // Deleting one gives its bytes back; deleting again is a 404.
    let path = format!("/api/v1/files/{}", ids[0]);
    assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), 204);
    assert_error(call(&app, Method::DELETE, &path, &owner.access, None).await, 404, "not_found").await;
    let usage: Value =
        call(&app, Method::GET, "/api/v1/tenants/current/usage", &owner.access, None).await.json().await.unwrap();
    assert_eq!(storage(usage).map(|u| u["used"].clone()), Some(json!(19 * BIG)));
    let response = call(&app, Method::POST, "/api/v1/files", &owner.access, Some(body)).await;
    assert_eq!(response.status(), 201);
}

async fn another_tenant_sees_nothing_and_workspace_roles_decide(app: TestApp) {
    let owner = register(&app).await;
    let ws = workspace(&app, &owner).await;
    let declared = declare(&app, &owner, &ws, "people.csv", "text/csv", CSV.len()).await;
    let id = declared["file"]["id"].as_str().unwrap().to_string();
    assert!(upload(&declared, CSV.as_bytes(), None).await.status().is_success());
    assert_eq!(settled(&app, &owner, &id, Duration::from_secs(20)).await["status"], "ready");
    let file_path = format!("/api/v1/files/{id}");
    let declare_body = json!({"workspace_id": ws, "name": "x.csv", "content_type": "text/csv", "size": 3});
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, file_path.clone(), None),
        (Method::POST, format!("{file_path}/complete"), None),
        (Method::DELETE, file_path.clone(), None),
        (Method::GET, format!("/api/v1/files?workspace_id={ws}"), None),
        (Method::POST, "/api/v1/files".into(), Some(declare_body.clone())),
    ];

    // Another tenant: every route is a 404, its own listing is empty, and nothing changed.
    let stranger = register(&app).await;
    for (method, path, body) in &calls {
        let response = call(&app, method.clone(), path, &stranger.access, body.clone()).await;
        assert_error(response, 404, "not_found").await;
    }
    let listed: Value = call(&app, Method::GET, "/api/v1/files", &stranger.access, None).await.json().await.unwrap();
    assert_eq!(listed["files"], json!([]));
    assert_eq!(get(&app, &owner, &id).await["status"], "ready");

    // A member without a role in the workspace: the same 404s, and their listing leaves the file out.
    let member = join(&app, &owner.access, "member").await;
    for (method, path, body) in &calls {
        let response = call(&app, method.clone(), path, &member.access, body.clone()).await;
        assert_error(response, 404, "not_found").await;
    }
    let listed: Value = call(&app, Method::GET, "/api/v1/files", &member.access, None).await.json().await.unwrap();
    assert_eq!(listed["files"], json!([]));

    // A viewer reads (and downloads) but may not upload, complete or delete.
    let members = format!("/api/v1/workspaces/{ws}/members");
    let added =
        call(&app, Method::POST, &members, &owner.access, Some(json!({"user_id": member.user_id, "role": "viewer"})))
            .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    let seen = get(&app, &member, &id).await;
    assert_eq!(reqwest::get(seen["download_url"].as_str().unwrap()).await.unwrap().text().await.unwrap(), CSV);
    let listed: Value = call(&app, Method::GET, &calls[3].1, &member.access, None).await.json().await.unwrap();
    assert_eq!(listed["files"].as_array().map(Vec::len), Some(1));
    for (method, path, body) in &calls[1..3].iter().chain(&calls[4..]).cloned().collect::<Vec<_>>() {
        let response = call(&app, method.clone(), path, &member.access, body.clone()).await;
        assert_error(response, 403, "forbidden").await;
    }
    // An editor uploads and deletes.
    let path = format!("{members}/{}", member.user_id);
    let promoted =
        call(&app, Method::PATCH, &path, &owner.access, Some(json!({"role": "editor", "version": added["version"]})))
            .await;
    assert_eq!(promoted.status(), 200);
    let response = call(&app, Method::POST, "/api/v1/files", &member.access, Some(declare_body)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(call(&app, Method::DELETE, &file_path, &member.access, None).await.status(), 204);
}

/// The "Platform" workspace the demo bases were attached in.
async fn platform_workspace(app: &TestApp, who: &Account) -> String {
    let listed: Value = call(app, Method::GET, "/api/v1/workspaces", &who.access, None).await.json().await.unwrap();
    let found = listed["workspaces"].as_array().unwrap().iter().find(|w| w["name"] == "Platform").cloned();
    found.expect("the platform bases' workspace")["id"].as_str().unwrap().to_string()
}

async fn a_ready_file_is_attached_to_a_record_through_the_gateway(app: TestApp) {
    use airtable_emulator::seed::{DEMO_BASE, TASK_ATTACHMENTS};
    let client = crate::support::airtable::Client::start(app).await;
    let (app, owner) = (&client.app, &client.account);
    let ws = platform_workspace(app, owner).await;
    let task = "recTask0000000001";
    let attach = format!("/api/v1/airtable/bases/{DEMO_BASE}/records/{task}/attachments");

    let declared = declare(app, owner, &ws, "people.csv", "text/csv", CSV.len()).await;
    let id = declared["file"]["id"].as_str().unwrap().to_string();
    let body = json!({"file_id": id, "field": "Attachments"});
    // Declared, not uploaded: not ready.
    assert_error(call(app, Method::POST, &attach, &owner.access, Some(body.clone())).await, 409, "file_not_ready")
        .await;
    assert!(upload(&declared, CSV.as_bytes(), None).await.status().is_success());
    assert_eq!(settled(app, owner, &id, Duration::from_secs(20)).await["status"], "ready");

    let response = call(app, Method::POST, &attach, &owner.access, Some(body.clone())).await;
    assert_eq!(response.status(), 200);
    let record: Value = response.json().await.unwrap();
    let cell = record["fields"][TASK_ATTACHMENTS].as_array().unwrap_or_else(|| panic!("{record}"));
    let attached = cell.last().unwrap();
    assert_eq!(
        (attached["filename"].as_str(), attached["size"].as_u64(), attached["type"].as_str()),
        (Some("people.csv"), Some(CSV.len() as u64), Some("text/csv")),
        "{record}"
    );
    // Airtable holds it: read back at the emulator, not through the gateway's cache.
    let at_airtable = {
        let emulator = app.emulator();
        let world = emulator.world();
        let base = world.bases.iter().find(|b| b.id == DEMO_BASE).unwrap();
        let record = base.tables.iter().flat_map(|t| &t.records).find(|r| r.id == task).unwrap();
        record.cells[TASK_ATTACHMENTS].clone()
    };
    assert_eq!(at_airtable.as_array().map(Vec::len), Some(cell.len()));

    // Bad input and strangers: 400, 404 (another tenant's file id, or a file id that is no file).
    let bad = json!({"file_id": id, "field": " "});
    assert_error(call(app, Method::POST, &attach, &owner.access, Some(bad)).await, 400, "invalid_field").await;
    let unknown = json!({"file_id": format!("fil_{}", "0".repeat(32)), "field": "Attachments"});
    assert_error(call(app, Method::POST, &attach, &owner.access, Some(unknown)).await, 404, "not_found").await;
    let stranger = register(app).await;
    crate::support::airtable::attach_demo_bases(app, &stranger.tenant_id).await;
    let response = call(app, Method::POST, &attach, &stranger.access, Some(body)).await;
    assert_error(response, 404, "not_found").await;
}
