//! Tokens with an owner and a reach, and copies of a base: a token sees a base out of its reach exactly as a
//! missing one, and a copy shares nothing with its source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};

use super::tests::{call, call_as, emulator};
use crate::auth::{BaseReach, DEFAULT_SCOPES, EmulatorUser};
use crate::config::ConfigPatch;
use crate::ids::{fixed_id, is_id};
use crate::seed::{DEMO_BASE, INCIDENTS, OPS_BASE, PROJECTS};
use crate::state::{DEV_TOKEN, Emulator, USER_EMAIL, USER_ID};

const MISSING: &str = "appMissing0000001";

fn tenant() -> EmulatorUser {
    EmulatorUser::new("usrTenantA0000001", "a@tenant.example", "Tenant A")
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A token of [`tenant`] reaching only the demo base.
fn demo_only(emulator: &Emulator) -> String {
    emulator.issue_token(tenant(), BaseReach::only([DEMO_BASE]), scopes(DEFAULT_SCOPES))
}

/// Every kind of `/v0` request about `base` (records, comments, upload, webhooks, schema, meta writes).
fn requests(base: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let record = fixed_id("rec", "Inc", 1);
    let table = INCIDENTS;
    let file = base64::engine::general_purpose::STANDARD.encode(b"hello");
    let spec = json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}});
    let field = json!({"name": "Extra", "type": "singleLineText"});
    let new_table = json!({"name": "Stolen", "fields": [{"name": "Name", "type": "singleLineText"}]});
    vec![
        ("GET", format!("/v0/{base}/{table}"), None),
        ("POST", format!("/v0/{base}/{table}/listRecords"), Some(json!({}))),
        ("GET", format!("/v0/{base}/{table}/{record}"), None),
        ("POST", format!("/v0/{base}/{table}"), Some(json!({"fields": {"Summary": "x"}}))),
        ("PATCH", format!("/v0/{base}/{table}/{record}"), Some(json!({"fields": {"Summary": "x"}}))),
        ("PUT", format!("/v0/{base}/{table}"), Some(json!({"records": [{"id": record, "fields": {}}]}))),
        ("DELETE", format!("/v0/{base}/{table}/{record}"), None),
        ("DELETE", format!("/v0/{base}/{table}?records%5B%5D={record}"), None),
        ("GET", format!("/v0/{base}/{table}/{record}/comments"), None),
        ("POST", format!("/v0/{base}/{table}/{record}/comments"), Some(json!({"text": "hi"}))),
        ("PATCH", format!("/v0/{base}/{table}/{record}/comments/comAAAAAAAAAAAAAA"), Some(json!({"text": "x"}))),
        ("DELETE", format!("/v0/{base}/{table}/{record}/comments/comAAAAAAAAAAAAAA"), None),
        (
            "POST",
            format!("/v0/{base}/{record}/Summary/uploadAttachment"),
            Some(json!({"contentType": "text/plain", "file": file, "filename": "a.txt"})),
        ),
        ("GET", format!("/v0/bases/{base}/webhooks"), None),
        ("POST", format!("/v0/bases/{base}/webhooks"), Some(spec)),
        ("DELETE", format!("/v0/bases/{base}/webhooks/achAAAAAAAAAAAAAA"), None),
        ("POST", format!("/v0/bases/{base}/webhooks/achAAAAAAAAAAAAAA/refresh"), None),
        ("GET", format!("/v0/bases/{base}/webhooks/achAAAAAAAAAAAAAA/payloads"), None),
        ("GET", format!("/v0/meta/bases/{base}/tables"), None),
        ("POST", format!("/v0/meta/bases/{base}/tables"), Some(new_table)),
        ("PATCH", format!("/v0/meta/bases/{base}/tables/{table}"), Some(json!({"name": "Renamed"}))),
        ("POST", format!("/v0/meta/bases/{base}/tables/{table}/fields"), Some(field)),
        (
            "PATCH",
            format!("/v0/meta/bases/{base}/tables/{table}/fields/fldIncSumma000001"),
            Some(json!({"name": "Renamed"})),
        ),
    ]
}

#[tokio::test]
async fn a_token_scoped_to_one_base_sees_any_other_exactly_as_a_missing_base() {
    let emulator = emulator();
    let token = demo_only(&emulator);
    let before = call(&emulator, "GET", &format!("/v0/meta/bases/{OPS_BASE}/tables"), None).await.1;
    for ((method, foreign, body), (_, missing, _)) in requests(OPS_BASE).into_iter().zip(requests(MISSING)) {
        let out_of_reach = call_as(&emulator, &token, method, &foreign, body.clone()).await;
        let not_found = call_as(&emulator, &token, method, &missing, body).await;
        assert_eq!(out_of_reach.0, StatusCode::FORBIDDEN, "{method} {foreign}: {}", out_of_reach.1);
        assert_eq!(out_of_reach.1["error"]["type"], "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND");
        assert_eq!(out_of_reach, not_found, "{method} {foreign} answers as a missing base");
    }
    // Nothing changed in the base out of reach; its owner (the dev token, every base) still reaches it.
    let (status, after) = call(&emulator, "GET", &format!("/v0/meta/bases/{OPS_BASE}/tables"), None).await;
    assert_eq!((status, &after), (StatusCode::OK, &before));
    let (_, incidents) = call(&emulator, "GET", &format!("/v0/{OPS_BASE}/{INCIDENTS}"), None).await;
    assert_eq!(incidents["records"].as_array().unwrap().len(), 2);
    // The base in reach is read and written as usual.
    let (status, _) = call_as(&emulator, &token, "GET", &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), None).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"fields": {"Name": "Mine"}});
    let (status, created) =
        call_as(&emulator, &token, "POST", &format!("/v0/{DEMO_BASE}/{PROJECTS}"), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let comments = format!("/v0/{DEMO_BASE}/{PROJECTS}/{}/comments", created["id"].as_str().unwrap());
    assert_eq!(call_as(&emulator, &token, "POST", &comments, Some(json!({"text": "ok"}))).await.0, StatusCode::OK);
    let schema = format!("/v0/meta/bases/{DEMO_BASE}/tables");
    assert_eq!(call_as(&emulator, &token, "GET", &schema, None).await.0, StatusCode::OK);
    // Stats still count per base, whoever asked.
    assert_eq!(emulator.stats().base(OPS_BASE).requests, requests(OPS_BASE).len() as u64 + 3);
}

#[tokio::test]
async fn a_token_cannot_spend_the_rate_limit_of_a_base_out_of_its_reach() {
    let emulator = emulator();
    emulator.configure(ConfigPatch { base_rps: Some(5.0), penalty_ms: Some(60_000), ..ConfigPatch::default() });
    let token = demo_only(&emulator);
    let foreign = format!("/v0/{OPS_BASE}/{INCIDENTS}");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call_as(&emulator, &token, "GET", &foreign, None).await.0.as_u16());
    }
    // As a missing base would: five 403s, then its own bucket refuses.
    assert_eq!(statuses, [403, 403, 403, 403, 403, 429, 429, 429]);
    assert_eq!(call(&emulator, "GET", &foreign, None).await.0, StatusCode::OK, "the owner is not penalised");
    assert_eq!(emulator.stats().base(OPS_BASE).requests, 9);
}

#[tokio::test]
async fn meta_bases_lists_only_the_reachable_bases_and_whoami_answers_the_tokens_user() {
    let emulator = emulator();
    let token = demo_only(&emulator);
    let (status, bases) = call_as(&emulator, &token, "GET", "/v0/meta/bases", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bases, json!({"bases": [{"id": DEMO_BASE, "name": "Demo", "permissionLevel": "create"}]}));
    let (status, refused) = call_as(&emulator, &token, "GET", "/v0/meta/bases?offset=itrX", None).await;
    assert_eq!(
        (status, refused["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_OFFSET_VALUE"))
    );
    let (_, all) = call(&emulator, "GET", "/v0/meta/bases", None).await;
    assert_eq!(all["bases"].as_array().unwrap().len(), 2);
    let nothing = emulator.issue_token(tenant(), BaseReach::only(Vec::<String>::new()), Vec::new());
    assert_eq!(call_as(&emulator, &nothing, "GET", "/v0/meta/bases", None).await.1, json!({"bases": []}));

    // whoami: the token's user; its email only with user.email:read; scopes only for OAuth tokens.
    let (_, me) = call_as(&emulator, &token, "GET", "/v0/meta/whoami", None).await;
    assert_eq!(me, json!({"id": "usrTenantA0000001", "email": "a@tenant.example"}));
    let (_, me) = call_as(&emulator, &nothing, "GET", "/v0/meta/whoami", None).await;
    assert_eq!(me, json!({"id": "usrTenantA0000001"}));
    let (_, me) = call(&emulator, "GET", "/v0/meta/whoami", None).await;
    assert_eq!(me, json!({"id": USER_ID, "email": USER_EMAIL}));

    emulator.revoke_token(&token);
    let (status, body) = call_as(&emulator, &token, "GET", "/v0/meta/whoami", None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::UNAUTHORIZED, Some("AUTHENTICATION_REQUIRED")));
    assert_eq!(call(&emulator, "GET", "/v0/meta/whoami", None).await.0, StatusCode::OK, "others still work");
}

#[tokio::test]
async fn a_copied_base_has_a_fresh_id_the_same_data_and_shares_no_state_with_its_source() {
    let emulator = emulator();
    let record = fixed_id("rec", "Proj", 1);
    let source_comments = format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}/comments");
    call(&emulator, "POST", &source_comments, Some(json!({"text": "before the copy"}))).await;
    let copy = emulator.copy_base(DEMO_BASE, "Tenant A demo").unwrap();
    assert!(is_id("app", &copy) && copy != DEMO_BASE, "{copy}");
    assert_ne!(emulator.copy_base(DEMO_BASE, "Another").unwrap(), copy);
    assert_eq!(emulator.copy_base(MISSING, "x").unwrap_err().status, StatusCode::FORBIDDEN);
    assert!(emulator.copy_base(DEMO_BASE, " ").is_err());

    // The same schema and records (ids included), under the new id and name.
    let get = |path: String| {
        let emulator = emulator.clone();
        async move { call(&emulator, "GET", &path, None).await.1 }
    };
    assert_eq!(
        get(format!("/v0/meta/bases/{copy}/tables")).await,
        get(format!("/v0/meta/bases/{DEMO_BASE}/tables")).await
    );
    let source_page = get(format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=100")).await;
    assert_eq!(get(format!("/v0/{copy}/{PROJECTS}?pageSize=100")).await, source_page);
    let (_, bases) = call(&emulator, "GET", "/v0/meta/bases", None).await;
    assert!(bases["bases"].as_array().unwrap().iter().any(|b| b["id"] == copy && b["name"] == "Tenant A demo"));
    // Comments are not copied.
    let copy_comments = format!("/v0/{copy}/{PROJECTS}/{record}/comments");
    assert_eq!(get(copy_comments.clone()).await["comments"], json!([]));

    // A write to the copy never shows in the source, and the other way round.
    let patch = json!({"fields": {"Priority": 99}});
    let (status, _) = call(&emulator, "PATCH", &format!("/v0/{copy}/{PROJECTS}/{record}"), Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}")).await["fields"]["Priority"], 3);
    let (_, created) = call(
        &emulator,
        "POST",
        &format!("/v0/{DEMO_BASE}/{PROJECTS}"),
        Some(json!({"fields": {"Name": "Only in source"}})),
    )
    .await;
    let created_id = created["id"].as_str().unwrap();
    assert_eq!(
        call(&emulator, "GET", &format!("/v0/{copy}/{PROJECTS}/{created_id}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    let field = json!({"name": "Copy only", "type": "singleLineText"});
    call(&emulator, "POST", &format!("/v0/meta/bases/{copy}/tables/{PROJECTS}/fields"), Some(field)).await;
    let source_schema = get(format!("/v0/meta/bases/{DEMO_BASE}/tables")).await;
    assert!(source_schema["tables"][0]["fields"].as_array().unwrap().iter().all(|f| f["name"] != "Copy only"));
    assert_eq!(call(&emulator, "POST", &copy_comments, Some(json!({"text": "copy"}))).await.0, StatusCode::OK);
    assert_eq!(get(source_comments).await["comments"].as_array().unwrap().len(), 1);

    // A list offset answered for the source does not resume in the copy (same table id, other base).
    let first = get(format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=10")).await;
    let offset = first["offset"].as_str().unwrap();
    let (status, refused) =
        call(&emulator, "GET", &format!("/v0/{copy}/{PROJECTS}?pageSize=10&offset={offset}"), None).await;
    assert_eq!(
        (status, refused["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_OFFSET_VALUE"))
    );

    // A tenant's token reaching only its copy.
    let token = emulator.issue_token(tenant(), BaseReach::only([copy.clone()]), scopes(DEFAULT_SCOPES));
    let (status, _) = call_as(&emulator, &token, "GET", &format!("/v0/{copy}/{PROJECTS}/{record}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call_as(&emulator, &token, "GET", &format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(emulator.accepts(DEV_TOKEN));
}
