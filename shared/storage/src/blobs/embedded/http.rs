//! The local stand-in for S3 behind presigned URLs: GET and PUT of `/_local/blobs/{bucket}/{*key}`,
//! honoured only with an unexpired signature for that very operation, bucket and key. The local runner
//! merges this router into its server; every refusal is a JSON `{"error", "code"}` body.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::EmbeddedBlobs;
use super::signing::Op;
use crate::StoreError;
use crate::blobs::{Blobs, UploadTerms};

/// Uploads are buffered in memory; this is plenty for local development.
const MAX_UPLOAD: usize = 100 * 1024 * 1024;

type Buckets = Arc<HashMap<String, Arc<EmbeddedBlobs>>>;

/// Serves the presigned URLs of every given bucket.
pub fn router(buckets: impl IntoIterator<Item = Arc<EmbeddedBlobs>>) -> Router {
    let buckets: Buckets = Arc::new(buckets.into_iter().map(|b| (b.bucket().to_owned(), b)).collect());
    Router::new()
        .route("/_local/blobs/{bucket}/{*key}", get(get_blob).put(put_blob))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(buckets)
}

#[derive(Deserialize)]
struct Signed {
    op: String,
    expires: i64,
    signature: String,
}

type Target = Result<Path<(String, String)>, PathRejection>;
type Signature = Result<Query<Signed>, QueryRejection>;

async fn get_blob(State(buckets): State<Buckets>, target: Target, signed: Signature) -> Result<Response, Refusal> {
    let (blobs, key) = authorize(&buckets, Op::Get, target, signed, "")?;
    let blob = blobs.get(&key).await?.ok_or(Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such blob"))?;
    let content_type = blob
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], blob.bytes).into_response())
}

async fn put_blob(
    State(buckets): State<Buckets>,
    target: Target,
    signed: Signature,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Refusal> {
    let body = body.map_err(|r| Refusal { status: r.status(), code: "invalid_body", message: r.body_text() })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // The signature covers the type and length the upload was presigned for, as S3's signed headers do: a PUT
    // of other bytes, or of the same bytes called something else, does not match it.
    let terms =
        UploadTerms { content_type: content_type.unwrap_or_default().to_owned(), content_length: body.len() as u64 };
    let (blobs, key) = authorize(&buckets, Op::Put, target, signed, &super::signed_terms(&terms))?;
    blobs.put(&key, body, content_type).await?;
    Ok(StatusCode::OK)
}

fn authorize(
    buckets: &Buckets,
    op: Op,
    target: Target,
    signed: Signature,
    terms: &str,
) -> Result<(Arc<EmbeddedBlobs>, String), Refusal> {
    let Ok(Path((bucket, key))) = target else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_path", "the URL does not name a blob"));
    };
    let Ok(Query(signed)) = signed else {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "signature_missing", "the URL carries no valid signature"));
    };
    let blobs = buckets.get(&bucket).ok_or(Refusal::new(StatusCode::NOT_FOUND, "no_such_bucket", "no such bucket"))?;
    // The operation is part of what is signed, so a GET URL cannot be replayed as a PUT.
    if signed.op != op.as_str() || !blobs.0.signer.verify(op, &bucket, &key, signed.expires, terms, &signed.signature) {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "signature_invalid", "the URL's signature does not match"));
    }
    if signed.expires < crate::now_secs() {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "url_expired", "the URL has expired"));
    }
    Ok((blobs.clone(), key))
}

/// Every failure of this router, mapped to its status and JSON body in one place.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self { status, code, message: message.to_owned() }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(message) => Self { status: StatusCode::BAD_REQUEST, code: "invalid_request", message },
            e => {
                // The client gets an opaque message; the cause chain goes to the log.
                tracing::error!(error = ?e, "embedded blob request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "code": self.code });
        (self.status, axum::Json(body)).into_response()
    }
}
