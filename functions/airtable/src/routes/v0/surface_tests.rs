//! Comments, webhooks, meta writes and uploads through the router, against a fake Airtable that records
//! exactly what reaches it: Airtable's paths, methods, queries and bodies; nothing malformed sent; nothing
//! cached that must not be; every write invalidating what it changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::request::RequestContext;
use platform::Caller;
use platform::caller::AuthType;
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{AirtableSettings, Gateway, Metrics, PlatformCredential};

const BASE: &str = "appDemoBase000001";
const REC: &str = "recProj0000000001";
const COM: &str = "comAAAAAAAAAAAAA1";
const ACH: &str = "achAAAAAAAAAAAAA1";
const FLD: &str = "fldAAAAAAAAAAAAA1";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: String,
}

/// Airtable as a recorder: every request is noted and answered 200 with `{"n": <its number>}`.
#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(self) -> String {
        let recorder = self.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let recorder = recorder.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let mut seen = recorder.seen.lock().unwrap();
                seen.push(Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                axum::Json(json!({ "n": seen.len() }))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().expect("nothing reached Airtable")
    }
}

struct Setup {
    fake: Fake,
    app: axum::Router,
}

struct Reply {
    status: StatusCode,
    cache: String,
    body: Value,
}

impl Reply {
    fn kind(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or_default()
    }
}

fn caller(tenant: &str) -> Caller {
    Caller {
        user_id: format!("usr-{tenant}"),
        tenant_id: tenant.into(),
        roles: vec!["member".into()],
        session_id: "s1".into(),
        auth_type: AuthType::ApiKey,
        plan: None,
        key_scope: platform::caller::KeyScope::default(),
    }
}

impl Setup {
    async fn start() -> Self {
        let fake = Fake::default();
        let url = fake.clone().start().await;
        let settings = AirtableSettings::new(url, Some(SecretString::from("tok")));
        let cache = Arc::new(storage::cache::embedded::MemoryCache::new());
        let credentials = Arc::new(PlatformCredential::new(SecretString::from("tok")));
        let gateway = Gateway::new(&settings, cache, "t-", credentials, Metrics::local()).unwrap();
        let (router, _) = crate::routes::router(gateway).split_for_parts();
        // Room for a body over 5 MiB, to reach the attachment's own bound.
        let http = platform::config::HttpSettings { max_body_bytes: 16 * 1024 * 1024, ..Default::default() };
        Self { fake, app: platform::app::finish(router, &http) }
    }

    async fn call_as(&self, tenant: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.authorizer.fields = caller(tenant).to_context().into_iter().collect();
        let mut request = Request::builder().method(method).uri(path);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let mut request = request.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
        request.extensions_mut().insert(RequestContext::ApiGatewayV1(context));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let cache = response.headers().get("x-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Reply { status, cache, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_as("t1", method, path, body).await
    }

    /// Answered 200 by (and only by) one upstream request, which is returned.
    async fn forwards(&self, method: &str, path: &str, body: Option<Value>) -> Seen {
        let before = self.fake.count();
        let reply = self.call(method, path, body).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        assert_eq!(self.fake.count(), before + 1, "{method} {path}: one upstream request");
        assert_eq!(reply.body["n"], before + 1, "{method} {path}: Airtable's answer, relayed");
        self.fake.last()
    }

    /// Refused with `status` and Airtable's error `kind`, without going upstream.
    async fn refuses(&self, method: &str, path: &str, body: Option<Value>, status: u16, kind: &str) {
        let before = self.fake.count();
        let reply = self.call(method, path, body.clone()).await;
        assert_eq!((reply.status.as_u16(), reply.kind()), (status, kind), "{method} {path} {body:?}: {}", reply.body);
        assert_eq!(self.fake.count(), before, "{method} {path}: nothing reaches Airtable");
    }

    /// Each read cached.
    async fn warm(&self, paths: &[&str]) {
        for path in paths {
            self.cache_of(path).await;
            assert_eq!(self.cache_of(path).await, "HIT", "{path}");
        }
    }

    async fn cache_of(&self, path: &str) -> String {
        let reply = self.call("GET", path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        reply.cache
    }
}

fn seen(method: &str, path: &str, query: &str, body: &str) -> Seen {
    Seen { method: method.into(), path: path.into(), query: query.into(), body: body.into() }
}

#[tokio::test]
async fn comments_go_to_airtables_paths_uncached_and_their_writes_invalidate_the_table() {
    let s = Setup::start().await;
    let comments = format!("/v0/{BASE}/My%20Table/{REC}/comments");
    let upstream = format!("/v0/{BASE}/My%20Table/{REC}/comments");
    assert_eq!(
        s.forwards("GET", &format!("{comments}?pageSize=5&offset=x%2Fy"), None).await,
        seen("GET", &upstream, "pageSize=5&offset=x%2Fy", "")
    );
    s.forwards("GET", &comments, None).await;
    let other_tenant = s.call_as("t2", "GET", &comments, None).await;
    assert_eq!((other_tenant.status.as_u16(), other_tenant.body["n"].as_u64()), (200, Some(3)), "never cached");

    let records = format!("/v0/{BASE}/My%20Table?recordMetadata%5B%5D=commentCount");
    assert_eq!(s.cache_of(&records).await, "MISS");
    assert_eq!(s.cache_of(&records).await, "HIT");
    let created = s
        .forwards("POST", &comments, Some(json!({"text": "Hello, @[usrAAAAAAAAAAAAAA1]!", "parentCommentId": COM})))
        .await;
    assert_eq!((created.method.as_str(), created.path.as_str()), ("POST", upstream.as_str()));
    assert_eq!(serde_json::from_str::<Value>(&created.body).unwrap()["parentCommentId"], COM, "the body as sent");
    assert_eq!(s.cache_of(&records).await, "MISS", "commentCount changed");

    let one = format!("{comments}/{COM}");
    let patched = s.forwards("PATCH", &one, Some(json!({"text": "Never mind"}))).await;
    assert_eq!((patched.method.as_str(), patched.path), ("PATCH", format!("{upstream}/{COM}")));
    assert_eq!(s.cache_of(&records).await, "MISS");
    let deleted = s.forwards("DELETE", &one, None).await;
    assert_eq!((deleted.method.as_str(), deleted.path), ("DELETE", format!("{upstream}/{COM}")));
    assert_eq!(s.cache_of(&records).await, "MISS");
    assert_eq!(s.cache_of(&records).await, "HIT");
}

#[tokio::test]
async fn malformed_comment_requests_never_reach_airtable() {
    let s = Setup::start().await;
    let comments = format!("/v0/{BASE}/Projects/{REC}/comments");
    s.refuses("GET", &format!("/v0/{BASE}/Projects/recNope/comments"), None, 404, "MODEL_ID_NOT_FOUND").await;
    s.refuses("GET", &format!("/v0/appNope/Projects/{REC}/comments"), None, 404, "NOT_FOUND").await;
    for query in ["pageSize=0", "pageSize=101", "pageSize=x", "nope=1", "pageSize=1&pageSize=2"] {
        s.refuses("GET", &format!("{comments}?{query}"), None, 422, "INVALID_REQUEST_UNKNOWN").await;
    }
    let long = "x".repeat(super::comments::MAX_COMMENT_CHARS + 1);
    for (body, kind) in [
        (json!({}), "INVALID_REQUEST_MISSING_FIELDS"),
        (json!({"text": ""}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"text": long}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"text": 1}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"text": "a", "extra": 1}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"text": "a", "parentCommentId": "recProj0000000001"}), "INVALID_REQUEST_UNKNOWN"),
        (json!(["text"]), "INVALID_REQUEST_UNKNOWN"),
    ] {
        s.refuses("POST", &comments, Some(body), 422, kind).await;
    }
    s.refuses("PATCH", &format!("{comments}/comShort"), Some(json!({"text": "a"})), 404, "NOT_FOUND").await;
    s.refuses("DELETE", &format!("{comments}/{REC}"), None, 404, "NOT_FOUND").await;
    s.refuses(
        "PATCH",
        &format!("{comments}/{COM}"),
        Some(json!({"parentCommentId": COM})),
        422,
        "INVALID_REQUEST_MISSING_FIELDS",
    )
    .await;
    // The longest comment allowed does go.
    let longest = "é".repeat(super::comments::MAX_COMMENT_CHARS);
    s.forwards("POST", &comments, Some(json!({"text": longest}))).await;
}

#[tokio::test]
async fn every_webhook_operation_reaches_airtables_path_and_nothing_is_cached() {
    let s = Setup::start().await;
    let hooks = format!("/v0/bases/{BASE}/webhooks");
    let one = format!("{hooks}/{ACH}");
    assert_eq!(s.forwards("GET", &hooks, None).await, seen("GET", &hooks, "", ""));
    assert_eq!(s.forwards("GET", &hooks, None).await.path, hooks, "not cached");
    let spec = json!({
        "notificationUrl": "https://example.com/ping",
        "specification": {"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": "tblProjects000001"}, "includes": {"includeCellValuesInFieldIds": "all"}}},
    });
    let created = s.forwards("POST", &hooks, Some(spec.clone())).await;
    assert_eq!((created.method.as_str(), created.path.as_str()), ("POST", hooks.as_str()));
    assert_eq!(serde_json::from_str::<Value>(&created.body).unwrap(), spec, "options Airtable defines pass as sent");
    assert_eq!(s.forwards("DELETE", &one, None).await, seen("DELETE", &one, "", ""));
    // pyairtable's extend_expiration() posts no body.
    assert_eq!(
        s.forwards("POST", &format!("{one}/refresh"), None).await,
        seen("POST", &format!("{one}/refresh"), "", "")
    );
    let enable = s.forwards("POST", &format!("{one}/enableNotifications"), Some(json!({"enable": false}))).await;
    assert_eq!((enable.path, enable.body), (format!("{one}/enableNotifications"), r#"{"enable":false}"#.to_string()));
    let payloads = format!("{one}/payloads");
    assert_eq!(
        s.forwards("GET", &format!("{payloads}?cursor=3&limit=50"), None).await,
        seen("GET", &payloads, "cursor=3&limit=50", "")
    );
    assert_eq!(s.forwards("GET", &format!("{payloads}?cursor=3&limit=50"), None).await.path, payloads, "not cached");
}

#[tokio::test]
async fn malformed_webhook_requests_never_reach_airtable() {
    let s = Setup::start().await;
    let hooks = format!("/v0/bases/{BASE}/webhooks");
    s.refuses("GET", "/v0/bases/appShort/webhooks", None, 404, "NOT_FOUND").await;
    s.refuses("GET", &format!("{hooks}?x=1"), None, 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses("DELETE", &format!("{hooks}/{COM}"), None, 404, "NOT_FOUND").await;
    s.refuses("POST", &format!("{hooks}/achShort/refresh"), None, 404, "NOT_FOUND").await;
    let filters = |types: Value| json!({"specification": {"options": {"filters": {"dataTypes": types}}}});
    for (body, kind) in [
        (json!({}), "INVALID_REQUEST_MISSING_FIELDS"),
        (json!({"specification": {}}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"specification": {"options": {}}}), "INVALID_REQUEST_UNKNOWN"),
        (filters(json!([])), "INVALID_REQUEST_UNKNOWN"),
        (filters(json!(["tableRows"])), "INVALID_REQUEST_UNKNOWN"),
        (filters(json!(["tableData", "tableData", "tableFields", "tableMetadata"])), "INVALID_REQUEST_UNKNOWN"),
        (
            json!({"notificationUrl": "ftp://x", "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            json!({"notificationUrl": 3, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            json!({"secret": 1, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}),
            "INVALID_REQUEST_UNKNOWN",
        ),
    ] {
        s.refuses("POST", &hooks, Some(body), 422, kind).await;
    }
    let enable = format!("{hooks}/{ACH}/enableNotifications");
    s.refuses("POST", &enable, None, 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses("POST", &enable, Some(json!({})), 422, "INVALID_REQUEST_MISSING_FIELDS").await;
    s.refuses("POST", &enable, Some(json!({"enable": "yes"})), 422, "INVALID_REQUEST_UNKNOWN").await;
    let payloads = format!("{hooks}/{ACH}/payloads");
    for query in ["cursor=0", "limit=51", "limit=0", "cursor=-1", "cursor=2147483648", "offset=1", "limit=1&limit=2"] {
        s.refuses("GET", &format!("{payloads}?{query}"), None, 422, "INVALID_REQUEST_UNKNOWN").await;
    }
}

#[tokio::test]
async fn meta_writes_reach_airtable_and_invalidate_the_schema_and_the_tables_records() {
    let s = Setup::start().await;
    let meta = format!("/v0/meta/bases/{BASE}/tables");
    let records = format!("/v0/{BASE}/Projects?pageSize=3");
    let other_table = format!("/v0/{BASE}/Tasks?pageSize=3");
    let warm = [meta.as_str(), records.as_str(), other_table.as_str()];
    s.warm(&warm).await;
    let field = json!({"name": "Files", "type": "multipleAttachments", "description": "d", "options": null});
    let created = s.forwards("POST", &format!("{meta}/Projects/fields"), Some(field)).await;
    assert_eq!((created.method.as_str(), created.path), ("POST", format!("{meta}/Projects/fields")));
    assert_eq!(s.cache_of(&meta).await, "MISS", "schema invalidated");
    assert_eq!(s.cache_of(&records).await, "MISS", "the table's records invalidated");
    assert_eq!(s.cache_of(&other_table).await, "HIT", "other tables keep theirs");

    s.warm(&warm).await;
    let renamed =
        s.forwards("PATCH", &format!("{meta}/Projects/fields/{FLD}"), Some(json!({"name": "Attachments"}))).await;
    assert_eq!((renamed.method.as_str(), renamed.path), ("PATCH", format!("{meta}/Projects/fields/{FLD}")));
    assert_eq!(s.cache_of(&meta).await, "MISS");
    assert_eq!(s.cache_of(&records).await, "MISS", "a renamed field renames the records' cells");

    s.warm(&warm).await;
    let table = s
        .forwards("PATCH", &format!("{meta}/Projects"), Some(json!({"name": "Projects", "description": "All of them"})))
        .await;
    assert_eq!((table.method.as_str(), table.path), ("PATCH", format!("{meta}/Projects")));
    assert_eq!(s.cache_of(&meta).await, "MISS");
    assert_eq!(s.cache_of(&records).await, "MISS");

    s.warm(&warm).await;
    let new_table =
        json!({"name": "Invoices", "description": "Money", "fields": [{"name": "Number", "type": "singleLineText"}]});
    let posted = s.forwards("POST", &meta, Some(new_table.clone())).await;
    assert_eq!((posted.method.as_str(), posted.path.as_str()), ("POST", meta.as_str()));
    assert_eq!(serde_json::from_str::<Value>(&posted.body).unwrap(), new_table);
    assert_eq!(s.cache_of(&meta).await, "MISS");
    assert_eq!(s.cache_of(&other_table).await, "HIT", "a new table changes no existing table's records");
}

#[tokio::test]
async fn malformed_meta_writes_never_reach_airtable() {
    let s = Setup::start().await;
    let meta = format!("/v0/meta/bases/{BASE}/tables");
    let field = |name: &str| json!({"name": name, "type": "singleLineText"});
    for (body, kind) in [
        (json!({"name": "T"}), "INVALID_REQUEST_MISSING_FIELDS"),
        (json!({"fields": [field("a")]}), "INVALID_REQUEST_MISSING_FIELDS"),
        (json!({"name": "T", "fields": []}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"name": "", "fields": [field("a")]}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"name": "T", "fields": [{"name": "a"}]}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"name": "T", "fields": [field("a")], "description": "d".repeat(20_001)}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"name": "T", "fields": [field("a")], "views": []}), "INVALID_REQUEST_UNKNOWN"),
        (
            json!({"name": "T", "fields": [{"name": "a", "type": "number", "description": null}]}),
            "INVALID_REQUEST_UNKNOWN",
        ),
        (json!({"name": "T", "fields": [field("a")], "description": null}), "INVALID_REQUEST_UNKNOWN"),
    ] {
        s.refuses("POST", &meta, Some(body), 422, kind).await;
    }
    s.refuses(
        "POST",
        "/v0/meta/bases/appNope/tables",
        Some(json!({"name": "T", "fields": [field("a")]})),
        404,
        "NOT_FOUND",
    )
    .await;
    s.refuses("PATCH", &format!("{meta}/Projects"), Some(json!({})), 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses("PATCH", &format!("{meta}/Projects"), Some(json!({"name": ""})), 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses("PATCH", &format!("{meta}/Projects"), Some(json!({"fields": []})), 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses(
        "POST",
        &format!("{meta}/Projects/fields"),
        Some(json!({"name": "x"})),
        422,
        "INVALID_REQUEST_MISSING_FIELDS",
    )
    .await;
    s.refuses(
        "POST",
        &format!("{meta}/Projects/fields"),
        Some(json!({"name": "x", "type": ""})),
        422,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
    s.refuses("PATCH", &format!("{meta}/Projects/fields/Name"), Some(json!({"name": "x"})), 404, "NOT_FOUND").await;
    s.refuses("PATCH", &format!("{meta}/Projects/fields/{FLD}"), Some(json!({})), 422, "INVALID_REQUEST_UNKNOWN").await;
    s.refuses(
        "PATCH",
        &format!("{meta}/Projects/fields/{FLD}"),
        Some(json!({"type": "number"})),
        422,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
    let field_update = format!("{meta}/Projects/fields/{FLD}");
    s.refuses("PATCH", &field_update, Some(json!({"name": null})), 422, "INVALID_REQUEST_UNKNOWN").await;
    let nulls = [
        json!({"name": "T", "fields": [{"name": "a", "type": "number", "description": null}]}),
        json!({"name": "T", "fields": [field("a")], "description": null}),
    ];
    for body in nulls {
        s.refuses("POST", &meta, Some(body), 422, "INVALID_REQUEST_UNKNOWN").await;
    }
    // What may be null is a field's options.
    let options = json!({"name": "x", "type": "number", "options": null});
    s.forwards("POST", &format!("{meta}/Projects/fields"), Some(options)).await;
    // A table's date dependency settings are not supported (README): refused, never forwarded.
    let dates = json!({"dateDependencySettings": {}});
    s.refuses("PATCH", &format!("{meta}/Projects"), Some(dates), 422, "INVALID_REQUEST_UNKNOWN").await;
}

#[tokio::test]
async fn an_upload_reaches_airtables_path_is_bounded_and_invalidates_the_base() {
    let s = Setup::start().await;
    let upload = format!("/v0/{BASE}/{REC}/Attachment%20Files/uploadAttachment");
    let records = format!("/v0/{BASE}/Projects?pageSize=3");
    let by_id = format!("/v0/{BASE}/tblProjects000001/{REC}");
    s.warm(&[&records, &by_id]).await;
    // As pyairtable sends it: base64.encodebytes, a line break every 76 characters.
    let file = "QUJD"
        .repeat(40)
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
        .collect::<String>();
    let body = json!({"contentType": "text/plain", "file": file, "filename": "abc.txt"});
    let sent = s.forwards("POST", &upload, Some(body.clone())).await;
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", upload.as_str()));
    assert_eq!(serde_json::from_str::<Value>(&sent.body).unwrap(), body);
    assert_eq!(s.cache_of(&records).await, "MISS", "the record's table is unknown: the base's reads are invalidated");
    assert_eq!(s.cache_of(&by_id).await, "MISS", "by table id as well as by name");

    let at_most = "A".repeat(super::upload::MAX_ATTACHMENT_BYTES / 3 * 4);
    s.forwards("POST", &upload, Some(json!({"contentType": "a/b", "file": at_most, "filename": "f"}))).await;
    let over = "A".repeat((super::upload::MAX_ATTACHMENT_BYTES / 3 + 1) * 4);
    s.refuses(
        "POST",
        &upload,
        Some(json!({"contentType": "a/b", "file": over, "filename": "f"})),
        413,
        "REQUEST_TOO_LARGE",
    )
    .await;
    for (body, kind) in [
        (json!({"contentType": "a/b", "filename": "f"}), "INVALID_REQUEST_MISSING_FIELDS"),
        (json!({"contentType": "a/b", "file": "not base64!", "filename": "f"}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"contentType": "", "file": "QUJD", "filename": "f"}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"contentType": "a/b", "file": "QUJD", "filename": ""}), "INVALID_REQUEST_UNKNOWN"),
        (json!({"contentType": "a/b", "file": "QUJD", "filename": "f", "url": "x"}), "INVALID_REQUEST_UNKNOWN"),
    ] {
        s.refuses("POST", &upload, Some(body), 422, kind).await;
    }
    let ok = json!({"contentType": "a/b", "file": "QUJD", "filename": "f"});
    s.refuses(
        "POST",
        &format!("/v0/{BASE}/Projects/Files/uploadAttachment"),
        Some(ok.clone()),
        404,
        "MODEL_ID_NOT_FOUND",
    )
    .await;
    s.refuses("POST", &format!("/v0/appNope/{REC}/Files/uploadAttachment"), Some(ok), 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn the_new_routes_sit_beside_the_record_routes_in_every_route_table() {
    let s = Setup::start().await;
    // The record routes still answer as records (not as comments or uploads), and the reverse.
    let record = s.forwards("GET", &format!("/v0/{BASE}/Projects/{REC}"), None).await;
    assert_eq!(record.path, format!("/v0/{BASE}/Projects/{REC}"));
    let list = s.forwards("GET", &format!("/v0/{BASE}/bases"), None).await;
    assert_eq!(list.path, format!("/v0/{BASE}/bases"), "a table named `bases` is still a table");
    let comments = s.forwards("GET", &format!("/v0/{BASE}/Projects/{REC}/comments"), None).await;
    assert!(comments.path.ends_with("/comments"));

    // The local runner's API Gateway (matchit over the OpenAPI paths) accepts them all, and so would API
    // Gateway: one parameter name per position of the path tree.
    let (_, doc) = crate::routes::router(Setup::gateway_for_docs()).split_for_parts();
    let table = platform::gateway::RouteTable::from_openapi(&doc).unwrap();
    let hit = |method: Method, path: &str| table.lookup(&method, path).map(|(route, _)| route.path.clone());
    for (method, path, template) in [
        (
            Method::GET,
            format!("/v0/{BASE}/Projects/{REC}/comments"),
            "/v0/{baseId}/{tableIdOrName}/{recordId}/comments",
        ),
        (
            Method::DELETE,
            format!("/v0/{BASE}/Projects/{REC}/comments/{COM}"),
            "/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}",
        ),
        (
            Method::POST,
            format!("/v0/{BASE}/{REC}/Files/uploadAttachment"),
            "/v0/{baseId}/{tableIdOrName}/{recordId}/uploadAttachment",
        ),
        (Method::GET, format!("/v0/{BASE}/Projects/{REC}"), "/v0/{baseId}/{tableIdOrName}/{recordId}"),
        (Method::POST, format!("/v0/{BASE}/Projects/listRecords"), "/v0/{baseId}/{tableIdOrName}/listRecords"),
        (Method::GET, format!("/v0/bases/{BASE}/webhooks"), "/v0/bases/{baseId}/webhooks"),
        (
            Method::GET,
            format!("/v0/bases/{BASE}/webhooks/{ACH}/payloads"),
            "/v0/bases/{baseId}/webhooks/{webhookId}/payloads",
        ),
        (Method::POST, format!("/v0/meta/bases/{BASE}/tables"), "/v0/meta/bases/{baseId}/tables"),
        (Method::GET, format!("/v0/meta/bases/{BASE}/tables"), "/v0/meta/bases/{baseId}/tables"),
        (
            Method::PATCH,
            format!("/v0/meta/bases/{BASE}/tables/Projects/fields/{FLD}"),
            "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldId}",
        ),
    ] {
        assert_eq!(hit(method.clone(), &path).as_deref(), Some(template), "{method} {path}");
    }
    // Every id constraint is in the document.
    let doc = serde_json::to_value(&doc).unwrap();
    let pattern = |path: &str, method: &str, name: &str| {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap().clone();
        let param = params.into_iter().find(|p| p["name"] == name).unwrap();
        param["schema"]["pattern"].as_str().map(String::from)
    };
    assert_eq!(
        pattern("/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}", "patch", "rowCommentId").as_deref(),
        Some("^com[A-Za-z0-9]{14}$")
    );
    assert_eq!(
        pattern("/v0/bases/{baseId}/webhooks/{webhookId}", "delete", "webhookId").as_deref(),
        Some("^ach[A-Za-z0-9]{14}$")
    );
    assert_eq!(
        pattern("/v0/{baseId}/{tableIdOrName}/{recordId}/uploadAttachment", "post", "tableIdOrName").as_deref(),
        Some("^rec[A-Za-z0-9]{14}$")
    );
    assert_eq!(
        pattern("/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldId}", "patch", "fieldId").as_deref(),
        Some("^fld[A-Za-z0-9]{14}$")
    );
    let payloads = &doc["paths"]["/v0/bases/{baseId}/webhooks/{webhookId}/payloads"]["get"]["parameters"];
    let limit = payloads.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_f64(), limit["schema"]["maximum"].as_f64()), (Some(1.0), Some(50.0)));
    let statuses: Vec<String> =
        doc["paths"]["/v0/{baseId}/{tableIdOrName}/{recordId}/uploadAttachment"]["post"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
    // 401, 403 and 500 every protected route shares: the runner's contract adds them (infra/local/src/contract.rs).
    for status in ["200", "404", "413", "422", "429", "502", "503", "504"] {
        assert!(statuses.iter().any(|s| s == status), "uploadAttachment documents {status}");
    }
    let kinds = &doc["components"]["schemas"]["AirtableWebhookDataType"]["enum"];
    assert_eq!(kinds, &json!(["tableData", "tableFields", "tableMetadata"]));
    let upload = &doc["components"]["schemas"]["AirtableUploadAttachment"];
    assert_eq!(upload["additionalProperties"], false, "{upload}");
    assert_eq!(doc["components"]["schemas"]["AirtableCommentCreate"]["properties"]["text"]["maxLength"], 100_000);
}

impl Setup {
    fn gateway_for_docs() -> Gateway {
        let settings = AirtableSettings::new("http://127.0.0.1:9", None);
        let cache = Arc::new(storage::cache::embedded::MemoryCache::new());
        let credentials = Arc::new(PlatformCredential::new(SecretString::from("tok")));
        Gateway::new(&settings, cache, "d-", credentials, Metrics::local()).unwrap()
    }
}
