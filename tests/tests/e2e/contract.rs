//! The published contract (`/openapi.json`, `/docs`) and the routes the runner really serves agree.
//!
//! The router is probed over HTTP below the authorizer: a request whose method no operation of the path
//! declares goes past the local gateway to the router, which answers 405 with `Allow` (the methods it routes
//! for that path) when it knows the path, and 404 when it does not. Under `/v0` the shell answers that 405 as
//! Airtable does, 404 `NOT_FOUND`, keeping the router's `Allow`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::support::assert_airtable_error;
use crate::support::{Adapters, TestApp, assert_error};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn served_document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// (METHOD, path template) of every operation in the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "unexpected operation {method} {path}");
            ops.insert((method.to_uppercase(), path.clone()), op);
        }
    }
    ops
}

/// A concrete path for a template: every `{param}` becomes a value no static segment uses.
fn concrete(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { "x0probe" } else { s }).collect::<Vec<_>>().join("/")
}

fn is_public(op: &Value) -> bool {
    platform::gateway::is_public_operation(op)
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_gateway_serves_public_or_protected_alike() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    let documented: BTreeMap<(String, String), bool> =
        operations(&doc).into_iter().map(|(key, op)| (key, is_public(op))).collect();
    let served: BTreeMap<(String, String), bool> =
        app.routes().iter().map(|r| ((r.method.to_string(), r.path.clone()), r.public)).collect();
    assert_eq!(documented, served, "(route, public) in /openapi.json (left) vs the route table (right)");
}

#[tokio::test]
async fn the_router_serves_every_documented_method_of_every_documented_path_and_no_other() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    let mut by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, path) in operations(&doc).into_keys() {
        by_path.entry(path).or_default().insert(method);
    }
    for (path, documented) in &by_path {
        let url = app.at(&concrete(path));
        let response = app.client.request(reqwest::Method::TRACE, &url).send().await.unwrap();
        let expected = if path.starts_with("/v0/") { 404 } else { 405 };
        assert_eq!(response.status(), expected, "TRACE {path}: the router does not know this documented path");
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let routed: BTreeSet<String> = allow
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty() && m != "HEAD" && m != "OPTIONS")
            .collect();
        assert_eq!(&routed, documented, "{path}: methods the router serves (Allow: {allow}) vs the document");
    }
}

#[tokio::test]
async fn paths_outside_the_document_are_404_in_the_error_shape() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    let mut probes = vec!["/".to_string(), "/api".into(), "/api/v1".into(), "/api/v2/users".into(), "/nope".into()];
    // One segment more than a documented path, and the collection above a documented item.
    for path in doc["paths"].as_object().unwrap().keys() {
        probes.push(format!("{}/x0extra", concrete(path)));
    }
    for probe in probes {
        if doc["paths"].as_object().unwrap().keys().any(|p| matches_template(p, &probe)) {
            continue;
        }
        let response = app.client.request(reqwest::Method::TRACE, app.at(&probe)).send().await.unwrap();
        if probe.starts_with("/v0/") {
            assert!(response.headers().get("allow").is_none(), "{probe}: an unknown path has no Allow");
            assert_airtable_error(response, 404, "NOT_FOUND").await;
        } else {
            assert_error(response, 404, "not_found").await;
        }
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

#[tokio::test]
async fn every_operation_documents_its_errors_in_the_error_shape_and_its_security() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearerJwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["apiKey"]["scheme"], "bearer");
    assert_eq!(doc["security"], serde_json::json!([{"bearerJwt": []}, {"apiKey": []}]));
    let error = &doc["components"]["schemas"]["Error"];
    let required: BTreeSet<&str> = error["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, BTreeSet::from(["error", "code", "request_id"]));

    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success response");
        assert!(responses.contains_key("500"), "{method} {path}: no 500");
        if !is_public(op) {
            assert!(responses.contains_key("401") && responses.contains_key("403"), "{method} {path}: no 401/403");
        }
        assert!(responses.contains_key("431"), "{method} {path}: no 431");
        // 414 names no body: the shell answers JSON, but beyond 65534 bytes the HTTP server refuses the URL
        // itself, with an empty body.
        let url_too_long = responses.get("414").unwrap_or_else(|| panic!("{method} {path}: no 414"));
        assert!(url_too_long.get("content").is_none(), "{method} {path}: 414 promises a body");
        if path.starts_with("/v0/") {
            assert!(responses.contains_key("404"), "{method} {path}: no 404");
        }
        for (status, response) in responses.iter().filter(|(s, _)| s.as_str() >= "400" && s.as_str() != "414") {
            // Every error has a body schema: the platform's shape, Airtable's on /v0, or its own (503 /ready).
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{method} {path} {status}: no error body schema");
            if ["401", "403", "431", "500"].contains(&status.as_str()) {
                // Under /v0 every error is Airtable's, the gateway's and the shell's included.
                let shape = if path.starts_with("/v0/") { "AirtableError" } else { "Error" };
                assert_eq!(schema["$ref"], format!("#/components/schemas/{shape}"), "{method} {path} {status}");
            }
        }
    }
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let validator = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/openapi-spec-validator");
    assert!(validator.exists(), "{} is missing: run infra/scripts/services.sh venv", validator.display());
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    let file = std::env::temp_dir().join(format!("pyairtable-openapi-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let output = std::process::Command::new(&validator).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_docs_page_renders_every_operation_without_anything_from_the_network() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let doc = served_document(&app).await;
    let response = app.get("/docs").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    for (method, path) in operations(&doc).into_keys() {
        let anchor: String = format!("{}{path}", method.to_lowercase())
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        assert!(html.contains(&format!("id=\"{anchor}\"")), "/docs lacks {method} {path}");
    }
    for schema in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{schema}\"")), "/docs lacks schema {schema}");
    }
    assert!(!html.contains("<script"), "/docs must not need JavaScript");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "/docs must not load anything remote");
}

/// utoipa merges every group's components by name, the last one silently replacing the others: two schemas
/// of one name (`Status` of users and of files, say) would document one route with the other's shape. Every
/// `ToSchema` type under functions/ and shared/ must have its own name (or a `#[schema(as = …)]`).
#[test]
fn every_schema_component_has_a_name_of_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack = vec![root.join("functions"), root.join("shared")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for (i, line) in lines.iter().enumerate() {
                if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
                    continue;
                }
                // The item's attributes and doc comments, up to its `pub struct|enum Name`.
                let mut alias = None;
                for next in &lines[i + 1..] {
                    if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                        alias = rest.split(')').next().map(str::to_string);
                    }
                    let item = next.strip_prefix("pub struct ").or_else(|| next.strip_prefix("pub enum "));
                    if let Some(item) = item {
                        let name = item.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or_default();
                        let name = alias.take().unwrap_or_else(|| name.to_string());
                        seen.entry(name).or_default().push(path.strip_prefix(root).unwrap().display().to_string());
                        break;
                    }
                    if !(next.starts_with("#[") || next.starts_with("///") || next.starts_with("//")) {
                        break;
                    }
                }
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, files)| files.len() > 1).collect();
    assert!(twice.is_empty(), "schema names used more than once: {twice:?}");
    assert!(seen.len() > 50, "found only {} schemas: the scan is broken", seen.len());
}
