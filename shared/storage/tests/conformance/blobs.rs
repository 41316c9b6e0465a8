//! The blob port's suite: every shared case runs against the embedded adapter (files + redb, its presigned
//! URLs served by its own router on a loopback port) and the S3 adapter (moto, a fresh bucket per test).
//!
//! moto (5.x) does not check presigned URLs at all: an expired or tampered URL is served like a valid one.
//! So refusals are tested on the embedded adapter only, and for S3 the suite checks that the URL carries
//! SigV4's expiry and signature, which real S3 enforces. moto also differs from the port where S3 itself
//! does: a blob put without a content type reads back as `binary/octet-stream` (the embedded adapter
//! returns `None`), so no case depends on that; and it silently restarts a listing from the top when given
//! a continuation token it did not issue, where S3 answers 400 `InvalidArgument` (the adapter maps that to
//! `InvalidCursor`), so the forged-cursor case is embedded-only too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use storage::StoreError;
use storage::blobs::aws::{S3Blobs, ensure_bucket};
use storage::blobs::embedded::{EmbeddedBlobs, router};
use storage::blobs::{BlobHead, BlobInfo, Blobs, UploadTerms};

use crate::support::{self, TempDir};

/// `both` cases take `&dyn Blobs`; adapter-only cases take the adapter's fixture.
macro_rules! conformance {
    (both: [$($case:ident),* $(,)?], embedded: [$($local:ident),* $(,)?], aws: [$($s3:ident),* $(,)?] $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $case() {
                let local = super::Local::start(crate::support::TempDir::new()).await;
                super::$case(&*local.blobs).await;
            })*
            $(#[tokio::test]
            async fn $local() {
                super::$local(super::Local::start(crate::support::TempDir::new()).await).await;
            })*
        }
        mod aws {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::s3().await).await;
            })*
            $(#[tokio::test]
            async fn $s3() {
                super::$s3(&super::s3().await).await;
            })*
        }
    };
}

conformance! {
    both: [
        put_then_get_returns_the_bytes_and_content_type,
        get_of_a_missing_key_returns_none,
        put_overwrites_the_previous_blob,
        delete_removes_the_blob_and_deleting_again_succeeds,
        a_key_and_keys_nested_under_it_coexist,
        list_pages_through_a_prefix_in_order_returning_each_key_once,
        list_refuses_a_zero_limit,
        invalid_keys_are_refused_by_every_operation,
        presigned_put_then_presigned_get_round_trip_over_http,
        head_tells_size_and_type_without_reading,
        presigning_refuses_lifetimes_outside_one_second_to_seven_days,
        ready_succeeds,
    ],
    embedded: [
        an_expired_presigned_url_is_refused,
        a_tampered_presigned_url_is_refused,
        a_url_signed_under_another_data_dir_is_refused,
        presigned_urls_survive_a_restart,
        a_presigned_put_refuses_another_type_or_length,
        a_forged_list_cursor_is_refused,
        bucket_names_that_could_escape_the_data_dir_are_refused,
    ],
    aws: [presigned_urls_carry_a_sigv4_expiry_and_signature, a_presigned_put_signs_its_type_and_length],
}

/// The embedded adapter with its router served on a loopback port, which is its public base URL.
struct Local {
    blobs: Arc<EmbeddedBlobs>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
    dir: TempDir,
}

impl Local {
    async fn start(dir: TempDir) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let blobs = Arc::new(open(&dir, &base_url));
        let app = router([blobs.clone()]);
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { blobs, base_url, server, dir }
    }

    /// Stops the server and closes the store, handing back the data dir.
    async fn stop(self) -> TempDir {
        let Self { blobs, server, dir, .. } = self;
        server.abort();
        let _ = server.await;
        drop(blobs);
        dir
    }
}

fn open(dir: &TempDir, base_url: &str) -> EmbeddedBlobs {
    let db = redb::Database::create(dir.0.join("store.redb")).unwrap();
    EmbeddedBlobs::open(Arc::new(db), &dir.0, "conformance", base_url).unwrap()
}

async fn s3() -> S3Blobs {
    let client = storage::aws::s3(&support::moto_config().await, true);
    let bucket = support::unique("blobs");
    ensure_bucket(&client, &bucket).await.unwrap();
    S3Blobs::new(client, bucket)
}

const MINUTE: Duration = Duration::from_secs(60);

async fn put_then_get_returns_the_bytes_and_content_type(blobs: &dyn Blobs) {
    let bytes = Bytes::from_static(b"\x00\x01 not utf-8 \xff");

    blobs.put("docs/a.bin", bytes.clone(), Some("application/pdf")).await.unwrap();

    let blob = blobs.get("docs/a.bin").await.unwrap().expect("the blob just put");
    assert_eq!(blob.bytes, bytes);
    assert_eq!(blob.content_type.as_deref(), Some("application/pdf"));
}

async fn get_of_a_missing_key_returns_none(blobs: &dyn Blobs) {
    assert_eq!(blobs.get("never/put").await.unwrap(), None);
}

async fn put_overwrites_the_previous_blob(blobs: &dyn Blobs) {
    blobs.put("k", Bytes::from_static(b"first, longer"), Some("text/plain")).await.unwrap();

    blobs.put("k", Bytes::from_static(b"second"), Some("text/csv")).await.unwrap();

    let blob = blobs.get("k").await.unwrap().unwrap();
    assert_eq!((&blob.bytes[..], blob.content_type.as_deref()), (&b"second"[..], Some("text/csv")));
    let listed = blobs.list("", 10, None).await.unwrap().blobs;
    assert_eq!(listed, vec![BlobInfo { key: "k".into(), size: 6 }]);
}

async fn delete_removes_the_blob_and_deleting_again_succeeds(blobs: &dyn Blobs) {
    blobs.put("gone", Bytes::from_static(b"x"), None).await.unwrap();

    blobs.delete("gone").await.unwrap();

    assert_eq!(blobs.get("gone").await.unwrap(), None);
    blobs.delete("gone").await.unwrap();
    blobs.delete("never/existed").await.unwrap();
}

async fn a_key_and_keys_nested_under_it_coexist(blobs: &dyn Blobs) {
    blobs.put("a", Bytes::from_static(b"outer"), None).await.unwrap();
    blobs.put("a/b", Bytes::from_static(b"inner"), None).await.unwrap();

    assert_eq!(&blobs.get("a").await.unwrap().unwrap().bytes[..], b"outer");
    assert_eq!(&blobs.get("a/b").await.unwrap().unwrap().bytes[..], b"inner");
}

async fn list_pages_through_a_prefix_in_order_returning_each_key_once(blobs: &dyn Blobs) {
    let inside = ["p/a", "p/b", "p/b/c", "p/c", "p/d", "p/e", "p/f"];
    for key in inside.iter().rev().chain(&["p", "pa", "o/p", "q/a"]) {
        blobs.put(key, Bytes::from(key.repeat(2)), None).await.unwrap();
    }

    let (mut listed, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = blobs.list("p/", 3, cursor).await.unwrap();
        assert!(page.blobs.len() <= 3, "a page over its limit: {page:?}");
        listed.extend(page.blobs);
        pages += 1;
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }

    let expected: Vec<_> = inside.iter().map(|k| BlobInfo { key: (*k).into(), size: 2 * k.len() as u64 }).collect();
    assert_eq!(listed, expected);
    assert_eq!(pages, 3);
}

async fn list_refuses_a_zero_limit(blobs: &dyn Blobs) {
    assert!(matches!(blobs.list("", 0, None).await, Err(StoreError::Invalid(_))));
}

async fn invalid_keys_are_refused_by_every_operation(blobs: &dyn Blobs) {
    let long = "k".repeat(1025);
    for key in ["", "../x", "a/../b", "a/./b", "/abs", "a//b", "trailing/", "tab\there", long.as_str()] {
        let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid(_)));
        assert!(invalid(blobs.put(key, Bytes::from_static(b"x"), None).await), "put {key:?}");
        assert!(invalid(blobs.get(key).await.map(drop)), "get {key:?}");
        assert!(invalid(blobs.delete(key).await), "delete {key:?}");
        assert!(invalid(blobs.presign_get(key, MINUTE).await.map(drop)), "presign_get {key:?}");
        assert!(invalid(blobs.presign_put(key, MINUTE, &text(1)).await.map(drop)), "presign_put {key:?}");
        assert!(invalid(blobs.head(key).await.map(drop)), "head {key:?}");
    }
}

async fn presigned_put_then_presigned_get_round_trip_over_http(blobs: &dyn Blobs) {
    let key = "uploads/report 2024 ü+&=%?#.txt";
    let http = reqwest::Client::new();

    let upload = blobs.presign_put(key, MINUTE, &text(5)).await.unwrap();
    let mut put = http.put(&upload.url).body("hello");
    for (name, value) in &upload.headers {
        put = put.header(name, value);
    }
    let put = put.send().await.unwrap();
    let put_url = &upload.url;
    assert!(put.status().is_success(), "PUT {put_url}: {} {}", put.status(), put.text().await.unwrap());
    let get_url = blobs.presign_get(key, MINUTE).await.unwrap();
    let got = http.get(&get_url).send().await.unwrap();

    assert_eq!(got.status(), StatusCode::OK, "GET {get_url}");
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.text().await.unwrap(), "hello");
    let blob = blobs.get(key).await.unwrap().expect("the uploaded blob");
    assert_eq!((&blob.bytes[..], blob.content_type.as_deref()), (&b"hello"[..], Some("text/plain")));
}

async fn presigning_refuses_lifetimes_outside_one_second_to_seven_days(blobs: &dyn Blobs) {
    for lifetime in [Duration::ZERO, storage::blobs::MAX_PRESIGN + Duration::from_secs(1)] {
        assert!(matches!(blobs.presign_get("k", lifetime).await, Err(StoreError::Invalid(_))), "{lifetime:?}");
        assert!(
            matches!(blobs.presign_put("k", lifetime, &text(1)).await, Err(StoreError::Invalid(_))),
            "{lifetime:?}"
        );
    }
    blobs.presign_get("k", storage::blobs::MAX_PRESIGN).await.unwrap();
}

/// Terms of a `text/plain` upload of `length` bytes.
fn text(length: u64) -> UploadTerms {
    UploadTerms { content_type: "text/plain".into(), content_length: length }
}

async fn head_tells_size_and_type_without_reading(blobs: &dyn Blobs) {
    assert_eq!(blobs.head("k").await.unwrap(), None);
    blobs.put("k", Bytes::from_static(b"hello"), Some("text/csv")).await.unwrap();
    assert_eq!(blobs.head("k").await.unwrap(), Some(BlobHead { size: 5, content_type: Some("text/csv".into()) }));
}

async fn ready_succeeds(blobs: &dyn Blobs) {
    blobs.ready().await.unwrap();
}

/// The status and `code` of a refused request, checking the body is the JSON error format.
async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert!(body["error"].is_string(), "no error message in {body}");
    (status, body["code"].as_str().expect("an error code").to_owned())
}

async fn an_expired_presigned_url_is_refused(local: Local) {
    local.blobs.put("k", Bytes::from_static(b"x"), None).await.unwrap();
    let url = local.blobs.presign_get("k", Duration::from_secs(1)).await.unwrap();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(2100)).await;

    let refused = refusal(reqwest::get(&url).await.unwrap()).await;
    assert_eq!(refused, (StatusCode::FORBIDDEN, "url_expired".to_owned()));
}

async fn a_tampered_presigned_url_is_refused(local: Local) {
    local.blobs.put("k", Bytes::from_static(b"x"), None).await.unwrap();
    local.blobs.put("other", Bytes::from_static(b"y"), None).await.unwrap();
    let url = local.blobs.presign_get("k", MINUTE).await.unwrap();
    let (path, query) = url.split_once('?').unwrap();
    let mut flipped = url.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let expires: i64 = query.split('&').find_map(|p| p.strip_prefix("expires=")).unwrap().parse().unwrap();
    let http = reqwest::Client::new();

    for tampered in [
        flipped,
        url.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600)),
        format!("{}/other?{query}", path.trim_end_matches("/k")),
        url.replace("op=get", "op=put"),
    ] {
        let refused = refusal(http.get(&tampered).send().await.unwrap()).await;
        assert_eq!(refused, (StatusCode::FORBIDDEN, "signature_invalid".to_owned()), "GET {tampered}");
    }
    // A GET URL does not authorise a PUT, whatever it claims.
    let put = http.put(url.replace("op=get", "op=put")).body("evil").send().await.unwrap();
    assert_eq!(refusal(put).await, (StatusCode::FORBIDDEN, "signature_invalid".to_owned()));
    let bare = refusal(reqwest::get(path).await.unwrap()).await;
    assert_eq!(bare, (StatusCode::FORBIDDEN, "signature_missing".to_owned()));
    assert_eq!(&local.blobs.get("k").await.unwrap().unwrap().bytes[..], b"x");
}

async fn a_url_signed_under_another_data_dir_is_refused(local: Local) {
    local.blobs.put("k", Bytes::from_static(b"x"), None).await.unwrap();
    let elsewhere = TempDir::new();
    let url = open(&elsewhere, &local.base_url).presign_get("k", MINUTE).await.unwrap();

    let refused = refusal(reqwest::get(&url).await.unwrap()).await;

    assert_eq!(refused, (StatusCode::FORBIDDEN, "signature_invalid".to_owned()));
}

async fn presigned_urls_survive_a_restart(local: Local) {
    local.blobs.put("k", Bytes::from_static(b"kept"), None).await.unwrap();
    let url = local.blobs.presign_get("k", MINUTE).await.unwrap();
    let old_base = local.base_url.clone();

    let restarted = Local::start(local.stop().await).await;

    let response = reqwest::get(url.replace(&old_base, &restarted.base_url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "kept");
}

async fn a_forged_list_cursor_is_refused(local: Local) {
    for key in ["p/a", "p/b", "q/a"] {
        local.blobs.put(key, Bytes::from_static(b"x"), None).await.unwrap();
    }
    let cursor = local.blobs.list("q/", 1, None).await.unwrap().next_cursor;
    assert_eq!(cursor, None);
    let from_p = local.blobs.list("p/", 1, None).await.unwrap().next_cursor.unwrap();

    for forged in ["not base64!".to_owned(), from_p] {
        let listed = local.blobs.list("q/", 1, Some(forged.clone())).await;
        assert!(matches!(listed, Err(StoreError::InvalidCursor)), "{forged:?}: {listed:?}");
    }
}

async fn bucket_names_that_could_escape_the_data_dir_are_refused(local: Local) {
    let db = Arc::new(redb::Database::create(local.dir.0.join("other.redb")).unwrap());
    for bucket in ["..", "../up", "a/b", "", "UPPER", ".hidden"] {
        assert!(EmbeddedBlobs::open(db.clone(), &local.dir.0, bucket, &local.base_url).is_err(), "{bucket:?}");
    }
}

async fn presigned_urls_carry_a_sigv4_expiry_and_signature(blobs: &S3Blobs) {
    let put = blobs.presign_put("k", MINUTE, &text(1)).await.unwrap().url;
    for url in [blobs.presign_get("k", MINUTE).await.unwrap(), put] {
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
    }
}

/// moto does not check signatures, so this checks what real S3 enforces: the type and length are signed headers.
async fn a_presigned_put_signs_its_type_and_length(blobs: &S3Blobs) {
    let upload = blobs.presign_put("k", MINUTE, &text(5)).await.unwrap();
    let signed = upload.url.split(['?', '&']).find_map(|p| p.strip_prefix("X-Amz-SignedHeaders=")).unwrap();
    let signed = signed.replace("%3B", ";");
    assert!(signed.split(';').any(|h| h == "content-type"), "{signed}");
    assert!(signed.split(';').any(|h| h == "content-length"), "{signed}");
    let headers: std::collections::BTreeMap<_, _> =
        upload.headers.iter().map(|(k, v)| (k.to_lowercase(), v.as_str())).collect();
    assert_eq!((headers.get("content-type"), headers.get("content-length")), (Some(&"text/plain"), Some(&"5")));
}

async fn a_presigned_put_refuses_another_type_or_length(local: Local) {
    let upload = local.blobs.presign_put("k", MINUTE, &text(5)).await.unwrap();
    let http = reqwest::Client::new();
    for (content_type, body) in
        [("text/plain", "hello!"), ("application/x-msdownload", "hello"), ("text/plain", "hell")]
    {
        let put = http.put(&upload.url).header("content-type", content_type).body(body).send().await.unwrap();
        assert_eq!(
            refusal(put).await,
            (StatusCode::FORBIDDEN, "signature_invalid".to_owned()),
            "{content_type} {body}"
        );
    }
    assert_eq!(local.blobs.head("k").await.unwrap(), None);
    let put = http.put(&upload.url).header("content-type", "text/plain").body("hello").send().await.unwrap();
    assert!(put.status().is_success());
}
