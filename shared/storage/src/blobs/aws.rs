//! Blobs on AWS: one S3 bucket per handle; presigned URLs come from the SDK's SigV4 presigning.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use bytes::Bytes;

use super::{
    Blob, BlobHead, BlobInfo, BlobPage, Blobs, PresignedUpload, UploadTerms, validate_expiry, validate_key,
    validate_terms,
};
use crate::{StoreError, StoreResult};

/// ListObjectsV2 returns at most this many keys per call.
const MAX_PAGE: usize = 1000;

#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    fn presigning(expires_in: Duration) -> StoreResult<PresigningConfig> {
        validate_expiry(expires_in)?;
        Ok(PresigningConfig::expires_in(expires_in).context("Failed to build the presigning config")?)
    }
}

fn failed<E>(e: E, what: String) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

/// Creates the bucket unless it exists (emulators and tests; deployed buckets come from the template).
pub async fn ensure_bucket(client: &Client, bucket: &str) -> anyhow::Result<()> {
    let mut create = client.create_bucket().bucket(bucket);
    // us-east-1 is the one region that refuses an explicit location constraint.
    if let Some(region) = client.config().region().map(|r| r.as_ref()).filter(|r| *r != "us-east-1") {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("Failed to create bucket {bucket}"))),
    }
}

/// Points the bucket's object-created notifications at a queue (emulators and tests; deployed buckets get
/// theirs from the template).
pub async fn notify_puts(client: &Client, bucket: &str, queue_arn: &str) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let queue = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .context("Failed to build the queue notification")?;
    let configuration = NotificationConfiguration::builder().queue_configurations(queue).build();
    client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration)
        .send()
        .await
        .with_context(|| format!("Failed to configure bucket {bucket}'s notifications"))?;
    Ok(())
}

#[async_trait]
impl Blobs for S3Blobs {
    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn put(&self, key: &str, bytes: Bytes, content_type: Option<&str>) -> StoreResult<()> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .set_content_type(content_type.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failed(e, format!("Failed to put blob {key}")))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn get(&self, key: &str) -> StoreResult<Option<Blob>> {
        validate_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed(e, format!("Failed to get blob {key}"))),
        };
        let content_type = out.content_type().map(str::to_owned);
        let bytes = out.body.collect().await.map_err(|e| failed(e, format!("Failed to read blob {key}")))?;
        Ok(Some(Blob { bytes: bytes.into_bytes(), content_type }))
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn head(&self, key: &str) -> StoreResult<Option<BlobHead>> {
        validate_key(key)?;
        let out = match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => return Ok(None),
            Err(e) => return Err(failed(e, format!("Failed to head blob {key}"))),
        };
        let size = u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0);
        Ok(Some(BlobHead { size, content_type: out.content_type().map(str::to_owned) }))
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn delete(&self, key: &str) -> StoreResult<()> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failed(e, format!("Failed to delete blob {key}")))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, prefix = %prefix))]
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<String>) -> StoreResult<BlobPage> {
        if limit == 0 {
            return Err(StoreError::Invalid("a page holds at least one blob".into()));
        }
        let had_cursor = cursor.is_some();
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(limit.min(MAX_PAGE)).unwrap_or(1000))
            .set_continuation_token(cursor)
            .send()
            .await
            .map_err(|e| {
                if had_cursor && e.as_service_error().and_then(|e| e.code()) == Some("InvalidArgument") {
                    StoreError::InvalidCursor
                } else {
                    failed(e, format!("Failed to list blobs under {prefix:?}"))
                }
            })?;
        let blobs = out
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?.to_owned();
                Some(BlobInfo { key, size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0) })
            })
            .collect();
        let next_cursor =
            if out.is_truncated() == Some(true) { out.next_continuation_token().map(str::to_owned) } else { None };
        Ok(BlobPage { blobs, next_cursor })
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn presign_get(&self, key: &str, expires_in: Duration) -> StoreResult<String> {
        validate_key(key)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(expires_in)?)
            .await
            .map_err(|e| failed(e, format!("Failed to presign a GET of blob {key}")))?;
        Ok(request.uri().to_owned())
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.bucket, key = %key))]
    async fn presign_put(&self, key: &str, expires_in: Duration, terms: &UploadTerms) -> StoreResult<PresignedUpload> {
        validate_key(key)?;
        validate_terms(terms)?;
        let length = i64::try_from(terms.content_length)
            .map_err(|_| StoreError::Invalid(format!("content length {} is too large", terms.content_length)))?;
        // Both are signed headers of the request: S3 refuses a PUT that sends anything else.
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&terms.content_type)
            .content_length(length)
            .presigned(Self::presigning(expires_in)?)
            .await
            .map_err(|e| failed(e, format!("Failed to presign a PUT of blob {key}")))?;
        let headers = request.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        Ok(PresignedUpload { url: request.uri().to_owned(), headers })
    }

    async fn ready(&self) -> StoreResult<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| failed(e, format!("Failed to reach bucket {}", self.bucket)))?;
        Ok(())
    }
}
