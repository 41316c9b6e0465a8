//! The uploads queue (`files-uploads`, with its DLQ). Three kinds of message arrive on it, each safe to
//! receive twice (every handler re-reads the file and acts only on the state it expects):
//! - S3 event notifications (`{"Records": [{"eventName": "ObjectCreated:…", "s3": {…}}]}`) when an upload lands:
//!   from the bucket's notification configuration on AWS, from the embedded bucket itself locally;
//! - `process`: an upload confirmed through `POST /api/v1/files/{id}/complete`;
//! - `expire`: sent delayed when a file is declared, due after its upload URL has expired (and again every 15
//!   minutes while the file is still processing, which gives up after an hour).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use storage::queue::{DeadLetter, OutgoingMessage, Queue, QueueSpec};

pub const QUEUE: &str = "files-uploads";

pub fn queue_spec() -> QueueSpec {
    QueueSpec {
        name: QUEUE.into(),
        dead_letter: Some(DeadLetter { queue: format!("{QUEUE}-dlq"), max_receive_count: events::MAX_RECEIVE_COUNT }),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Process { tenant: String, file: String },
    Expire { tenant: String, file: String },
}

/// What one message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Work {
    Job(Job),
    /// An object was written at this key (an S3 event notification's record).
    Uploaded {
        key: String,
    },
}

/// The work in a message body: a job, or each object-created record of an S3 event (S3's test event and
/// other event names carry none). Anything else is an error (the message goes to the DLQ).
pub fn parse(body: &str) -> anyhow::Result<Vec<Work>> {
    let value: Value = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not JSON: {e}"))?;
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        return Ok(records
            .iter()
            .filter(|r| r["eventName"].as_str().is_some_and(|n| n.starts_with("ObjectCreated:")))
            .filter_map(|r| r["s3"]["object"]["key"].as_str())
            .map(|key| Work::Uploaded { key: decode_key(key) })
            .collect());
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let job: Job = serde_json::from_value(value).map_err(|e| anyhow::anyhow!("not a job: {e}"))?;
    Ok(vec![Work::Job(job)])
}

/// S3 event keys are URL-encoded, with `+` for spaces.
fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    let bytes = spaced.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone)]
pub struct Jobs {
    queue: Arc<dyn Queue>,
}

impl Jobs {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    pub async fn send(&self, job: &Job, delay: Duration) -> anyhow::Result<()> {
        self.queue.send(OutgoingMessage::job(job, delay)?).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_events_jobs_and_test_events_parse() {
        let s3 = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"tenants/t1/files/fil_1","size":3}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"tenants/t1/files/fil_2"}}},
            {"eventName":"ObjectCreated:Put","s3":{"object":{"key":"a+b%2Fc"}}}]}"#;
        assert_eq!(
            parse(s3).unwrap_or_default(),
            vec![Work::Uploaded { key: "tenants/t1/files/fil_1".into() }, Work::Uploaded { key: "a b/c".into() }]
        );
        let job = r#"{"kind":"expire","tenant":"t1","file":"fil_1"}"#;
        assert_eq!(
            parse(job).unwrap_or_default(),
            vec![Work::Job(Job::Expire { tenant: "t1".into(), file: "fil_1".into() })]
        );
        assert_eq!(parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).unwrap_or_default(), vec![]);
        assert!(parse("{}").is_err());
        assert!(parse("not json").is_err());
    }
}
