//! A file's life against the embedded table, queue and bucket: what no end-to-end test can wait for (an hour of
//! failed processing) and what needs a race set up by hand (an upload landing after the file was processed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use files::jobs::{Work, queue_spec};
use files::lifecycle::{Files, PROCESSING_GIVES_UP_MS};
use files::model::{FileRecord, Kind, Status};
use files::store::{Declared, FileStore};
use storage::embedded::EmbeddedEnv;

fn files() -> Files {
    let dir = std::env::temp_dir().join(format!("files-lifecycle-{}", uuid::Uuid::now_v7().simple()));
    let env = EmbeddedEnv::open(&dir).unwrap();
    let table = events::outbox::table(env.table("files"));
    let bus = Arc::new(storage::bus::embedded::EmbeddedBus::new("type".into(), Vec::new()));
    Files {
        store: FileStore::new(table.clone()),
        blobs: env.blobs("files", "http://127.0.0.1:9").unwrap(),
        events: events::Publisher::new(bus, table),
        jobs: files::jobs::Jobs::new(env.queue(queue_spec())),
    }
}

fn record(status: Status, updated_at_ms: i64) -> FileRecord {
    let now = storage::now_millis();
    FileRecord {
        id: files::model::new_id(),
        tenant_id: "t1".into(),
        workspace_id: "ws1".into(),
        name: "people.csv".into(),
        content_type: "text/csv".into(),
        kind: Kind::Csv,
        size: 8,
        status,
        counted: true,
        created_by: "u1".into(),
        created_at_ms: updated_at_ms,
        updated_at_ms,
        upload_expires_at_ms: now - 1,
        sha256: None,
        inspection: None,
        rejection: None,
        has_thumbnail: false,
        version: 0,
    }
}

async fn declared(files: &Files, file: FileRecord) -> FileRecord {
    match files.store.declare(&file, 1 << 30).await.unwrap() {
        Declared::Stored(file) => *file,
        Declared::OverLimit { .. } => panic!("over the limit"),
    }
}

#[tokio::test]
async fn a_file_whose_processing_keeps_failing_is_rejected_after_an_hour_and_stops_counting() {
    let files = files();
    let now = storage::now_millis();
    let recent = declared(&files, record(Status::Processing, now - 60_000)).await;
    let stuck = declared(&files, record(Status::Processing, now - PROCESSING_GIVES_UP_MS - 1)).await;
    assert_eq!(files.store.used_bytes("t1").await.unwrap(), 16);

    files.expire("t1", &recent.id).await.unwrap();
    files.expire("t1", &stuck.id).await.unwrap();

    let recent = files.store.file("t1", &recent.id).await.unwrap().unwrap();
    assert_eq!(recent.status, Status::Processing, "a minute is not an hour: looked at again later");
    let stuck = files.store.file("t1", &stuck.id).await.unwrap().unwrap();
    assert_eq!((stuck.status, stuck.rejection.map(|r| r.code)), (Status::Rejected, Some("processing_failed".into())));
    assert_eq!(files.store.used_bytes("t1").await.unwrap(), 8, "the rejected file's bytes stopped counting");
}

#[tokio::test]
async fn an_upload_landing_after_the_file_was_processed_is_deleted_and_the_checked_copy_stays() {
    let files = files();
    let file = declared(&files, record(Status::Pending, storage::now_millis())).await;
    files.blobs.put(&file.blob_key(), Bytes::from_static(b"a,b\n1,2\n"), Some("text/csv")).await.unwrap();
    files.handle(Work::Uploaded { key: file.blob_key() }).await.unwrap();
    let ready = files.store.file("t1", &file.id).await.unwrap().unwrap();
    assert_eq!(ready.status, Status::Ready);
    let content = ready.content_key().unwrap();
    assert_eq!(files.blobs.head(&file.blob_key()).await.unwrap(), None, "the upload itself is gone");

    // The same URL, other bytes of the same length: never served, and deleted when their notice comes.
    files.blobs.put(&file.blob_key(), Bytes::from_static(b"\x7fELF\0\0\0\0"), Some("text/csv")).await.unwrap();
    files.handle(Work::Uploaded { key: file.blob_key() }).await.unwrap();
    assert_eq!(files.blobs.head(&file.blob_key()).await.unwrap(), None);
    assert_eq!(&files.blobs.get(&content).await.unwrap().unwrap().bytes[..], b"a,b\n1,2\n");
    let after = files.store.file("t1", &file.id).await.unwrap().unwrap();
    assert_eq!((after.status, after.sha256), (Status::Ready, ready.sha256));
}
