//! A file's life, shared by the API and the processor: every change re-reads the file, acts only from the
//! state it expects, and writes with the version it read, so two deliveries (an S3 event and a `complete`, a
//! redelivered job) change a file once. Each end state commits its event with the change.
//!
//! ```text
//! pending ──upload lands (S3 event, or complete)──▶ processing ──inspected──▶ ready
//!    │                         │                        └──────not what it claims──▶ rejected
//!    │                         └──────wrong size──────────────────────────────────▶ rejected
//!    └──upload URL expired, nothing came──▶ expired
//! ```
//! Rejected, expired and deleted files stop counting against storage, then lose their bytes (in that order: a
//! change that lost a race deletes nothing). A ready file serves the copy of the bytes processing checked
//! (`content_key`, named by its hash); an upload arriving for a file past `pending` is deleted.

use std::sync::Arc;

use events::{Action, Event, Origin, Publisher};
use storage::blobs::Blobs;

use crate::jobs::{Job, Jobs};
use crate::model::{FileRecord, Status};
use crate::store::{FileStore, Settle, StoreFailure};
use crate::summary::Rejection;

/// How long a file may stay `processing` (its messages failing into the DLQ) before it is rejected.
pub const PROCESSING_GIVES_UP_MS: i64 = 3_600_000;

/// What the API and the processor share.
#[derive(Clone)]
pub struct Files {
    pub store: FileStore,
    pub blobs: Arc<dyn Blobs>,
    pub events: Publisher,
    pub jobs: Jobs,
}

/// What an upload's arrival came to.
#[derive(Debug)]
pub enum Arrival {
    /// Now processing (or it already was, or is past it): the file as it stands.
    Accepted(Box<FileRecord>),
    /// Nothing was uploaded at the file's key.
    Missing,
    /// Rejected (the size differs from the declared one): the file as it stands.
    Rejected(Box<FileRecord>),
}

fn now_ms() -> i64 {
    storage::now_millis()
}

fn system() -> Origin {
    Origin { request_id: format!("files-{}", uuid::Uuid::now_v7()), ip: None }
}

pub fn event(action: Action, origin: &Origin, file: &FileRecord) -> Event {
    Event::new(action, origin)
        .tenant(&file.tenant_id)
        .actor(&file.created_by)
        .detail("workspace_id", file.workspace_id.clone())
        .detail("file_id", file.id.clone())
        .detail("name", file.name.clone())
        .detail("content_type", file.content_type.clone())
        .detail("size", file.size)
}

impl Files {
    /// The upload of a pending file landed (or someone says so): checks its size and moves it to processing.
    pub async fn arrived(&self, tenant: &str, id: &str) -> anyhow::Result<Option<Arrival>> {
        loop {
            let Some(file) = self.store.file(tenant, id).await? else { return Ok(None) };
            if file.status != Status::Pending {
                return Ok(Some(match file.status {
                    Status::Rejected => Arrival::Rejected(Box::new(file)),
                    Status::Expired => Arrival::Missing,
                    _ => Arrival::Accepted(Box::new(file)),
                }));
            }
            let Some(head) = self.blobs.head(&file.blob_key()).await? else { return Ok(Some(Arrival::Missing)) };
            if head.size != file.size {
                let why = Rejection::new(
                    "size_mismatch",
                    format!("Declared {} bytes, but {} were uploaded", file.size, head.size),
                );
                return Ok(self.reject(&file, why).await?.map(|f| Arrival::Rejected(Box::new(f))));
            }
            let next = FileRecord { status: Status::Processing, updated_at_ms: now_ms(), ..file.clone() };
            match self.store.save(&next).await {
                Ok(saved) => return Ok(Some(Arrival::Accepted(Box::new(saved)))),
                Err(StoreFailure::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks and inspects a processing file: ready, or rejected.
    #[cfg(feature = "processing")]
    pub async fn process(&self, tenant: &str, id: &str) -> anyhow::Result<()> {
        let Some(file) = self.store.file(tenant, id).await? else { return Ok(()) };
        if file.status != Status::Processing {
            return Ok(());
        }
        let Some(blob) = self.blobs.get(&file.blob_key()).await? else {
            self.reject(&file, Rejection::new("upload_missing", "The upload is gone")).await?;
            return Ok(());
        };
        if blob.bytes.len() as u64 != file.size {
            let why = Rejection::new(
                "size_mismatch",
                format!("Declared {} bytes, but {} were uploaded", file.size, blob.bytes.len()),
            );
            self.reject(&file, why).await?;
            return Ok(());
        }
        let kind = file.kind;
        let bytes = blob.bytes.clone();
        let outcome = tokio::task::spawn_blocking(move || crate::inspect::inspect(kind, &bytes)).await?;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(why) => {
                self.reject(&file, why).await?;
                return Ok(());
            }
        };
        let has_thumbnail = outcome.thumbnail.is_some();
        if let Some(png) = outcome.thumbnail {
            self.blobs.put(&file.thumbnail_key(), png.into(), Some("image/png")).await?;
        }
        let ready = FileRecord {
            status: Status::Ready,
            sha256: Some(outcome.sha256.clone()),
            inspection: Some(outcome.inspection),
            has_thumbnail,
            updated_at_ms: now_ms(),
            ..file.clone()
        };
        // What was checked is what is served: a copy named by its hash, not the upload key a still-valid URL
        // could overwrite.
        if let Some(key) = ready.content_key() {
            self.blobs.put(&key, blob.bytes.clone(), Some(&file.content_type)).await?;
        }
        let event = event(Action::FileReady, &system(), &ready).detail("sha256", outcome.sha256);
        match self.events.commit(event, self.store.save(&ready)).await {
            Ok(_) => {
                tracing::info!(file = %file.id, tenant = %file.tenant_id, "file ready");
                self.blobs.delete(&file.blob_key()).await?;
                Ok(())
            }
            // Deleted or handled meanwhile: nothing left to do.
            Err(StoreFailure::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the file as rejected (not counted), then deletes its bytes; `None` (and nothing deleted) if it
    /// changed meanwhile (another delivery made it ready, say).
    pub async fn reject(&self, file: &FileRecord, why: Rejection) -> anyhow::Result<Option<FileRecord>> {
        let rejected = FileRecord {
            status: Status::Rejected,
            rejection: Some(why.clone()),
            counted: false,
            updated_at_ms: now_ms(),
            ..file.clone()
        };
        let event = event(Action::FileRejected, &system(), &rejected).detail("reason", why.code.clone());
        match self.events.commit(event, self.store.settle(file, Settle::Save(Box::new(rejected.clone())))).await {
            Ok(()) => {
                tracing::info!(file = %file.id, tenant = %file.tenant_id, reason = %why.code, "file rejected");
                self.delete_bytes(file).await?;
                Ok(Some(FileRecord { version: file.version + 1, ..rejected }))
            }
            Err(StoreFailure::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A pending file whose upload URL has expired: expired, its reservation released, then a late upload's
    /// bytes deleted. A file still processing is looked at again every 15 minutes and rejected after an hour.
    pub async fn expire(&self, tenant: &str, id: &str) -> anyhow::Result<()> {
        let Some(file) = self.store.file(tenant, id).await? else { return Ok(()) };
        if file.status == Status::Processing {
            // Its processing keeps failing (its messages end in the DLQ): after a while it is rejected rather
            // than left processing, and counted, for ever. Until then, look again later.
            if now_ms() - file.updated_at_ms >= PROCESSING_GIVES_UP_MS {
                let why = Rejection::new("processing_failed", "The file could not be processed; upload it again");
                self.reject(&file, why).await?;
                return Ok(());
            }
            let job = Job::Expire { tenant: file.tenant_id.clone(), file: file.id.clone() };
            return self.jobs.send(&job, storage::queue::MAX_DELAY).await;
        }
        if file.status != Status::Pending {
            return Ok(());
        }
        if file.upload_expires_at_ms > now_ms() {
            // Due later than one delayed message can wait (SQS's 15 minutes): wait again.
            return self.schedule_expiry(&file).await;
        }
        let expired = FileRecord { status: Status::Expired, counted: false, updated_at_ms: now_ms(), ..file.clone() };
        let event = event(Action::FileExpired, &system(), &expired);
        match self.events.commit(event, self.store.settle(&file, Settle::Save(Box::new(expired)))).await {
            Ok(()) => self.delete_bytes(&file).await,
            Err(StoreFailure::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the file and its count, then its bytes: once the record is gone nothing serves them (a crash in
    /// between leaves bytes no record names, never a record without its bytes).
    pub async fn delete(&self, file: &FileRecord, origin: &Origin, actor: &str) -> Result<(), StoreFailure> {
        let event = event(Action::FileDeleted, origin, file).actor(actor);
        self.events.commit(event, self.store.settle(file, Settle::Delete)).await?;
        Ok(self.delete_bytes(file).await?)
    }

    async fn delete_bytes(&self, file: &FileRecord) -> anyhow::Result<()> {
        for key in [Some(file.blob_key()), file.content_key(), Some(file.thumbnail_key())].into_iter().flatten() {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// One message of the uploads queue.
    #[cfg(feature = "processing")]
    pub async fn handle(&self, work: crate::jobs::Work) -> anyhow::Result<()> {
        use crate::jobs::Work;
        match work {
            Work::Uploaded { key } => {
                let Some((tenant, id)) = crate::model::parse_blob_key(&key) else { return Ok(()) };
                match self.arrived(tenant, id).await? {
                    Some(Arrival::Accepted(file)) if file.status == Status::Processing => {
                        self.process(&file.tenant_id, &file.id).await
                    }
                    // Bytes PUT again through a still-valid upload URL after the file was processed (ready: it
                    // serves its checked copy), rejected, expired or deleted: nobody counts them, so they go.
                    Some(Arrival::Accepted(_) | Arrival::Rejected(_) | Arrival::Missing) | None => {
                        tracing::info!(%key, "an upload to a file past its upload is deleted");
                        Ok(self.blobs.delete(&key).await?)
                    }
                }
            }
            Work::Job(Job::Process { tenant, file }) => self.process(&tenant, &file).await,
            Work::Job(Job::Expire { tenant, file }) => self.expire(&tenant, &file).await,
        }
    }

    /// Sends the job that expires a declared file once its upload URL has expired (a little after).
    pub async fn schedule_expiry(&self, file: &FileRecord) -> anyhow::Result<()> {
        let due = (file.upload_expires_at_ms - now_ms()).max(0) as u64 + 5_000;
        let job = Job::Expire { tenant: file.tenant_id.clone(), file: file.id.clone() };
        self.jobs.send(&job, std::time::Duration::from_millis(due)).await
    }
}

/// The processor on either runtime: each message's work, one after another.
#[cfg(feature = "processing")]
pub async fn handle(
    files: &Files,
    event: aws_lambda_events::sqs::SqsEvent,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    events::consume::each("files-processor", event, |message| async move {
        let body = message.body.unwrap_or_default();
        for work in crate::jobs::parse(&body)? {
            files.handle(work).await?;
        }
        Ok(())
    })
    .await
}
