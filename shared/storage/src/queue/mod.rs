//! The queue port: the SQS subset the async services need.
//!
//! A handle is bound to one queue. Delivery is at least once: a received message stays invisible for the
//! visibility timeout and comes back unless deleted. A queue with a dead-letter policy moves a message to its
//! dead-letter queue instead of delivering it a `max_receive_count + 1`-th time.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::StoreResult;

/// Most messages in one send or receive call (SQS's limit); adapters chunk larger batches.
pub const MAX_BATCH: usize = 10;
/// Longest long poll (SQS's limit).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// Longest visibility timeout (SQS's limit).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Largest message body (SQS's limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest delivery delay of one message (SQS's `DelaySeconds` limit).
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// A queue to declare: its name and, optionally, where poison messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub dead_letter: Option<DeadLetter>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue: String,
    pub max_receive_count: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// String message attributes (for example `request_id`).
    pub attributes: BTreeMap<String, String>,
    /// Not received before this much time has passed (at most [`MAX_DELAY`]; SQS counts whole seconds and
    /// rounds up). `None`: at once.
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), attributes: BTreeMap::new(), delay: None }
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// A job: `value` as JSON, received after `delay` (at once when zero; at most [`MAX_DELAY`], a longer wait
    /// is the receiver's to send on again).
    pub fn job<T: serde::Serialize>(value: &T, delay: Duration) -> serde_json::Result<Self> {
        let message = Self::new(serde_json::to_string(value)?);
        Ok(if delay.is_zero() { message } else { message.delay(delay.min(MAX_DELAY)) })
    }

    /// A string attribute; an empty value is left out (SQS and SNS both refuse an empty string attribute, so a
    /// message carrying one would never be sent).
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.attributes.insert(name.into(), value);
        }
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Pass to [`Queue::delete`] once the message is handled.
    pub receipt_handle: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times it has been received, this time included (SQS's ApproximateReceiveCount).
    pub receive_count: u32,
    /// When it was first sent, epoch milliseconds.
    pub sent_at_millis: i64,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// The queue's name (the last part of its URL on SQS).
    fn name(&self) -> &str;

    /// Returns the message id.
    async fn send(&self, message: OutgoingMessage) -> StoreResult<String>;

    /// Sends all (in chunks of [`MAX_BATCH`]); returns the ids in order. Fails if any message was refused.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> StoreResult<Vec<String>>;

    /// Up to `max` (1..=10) messages, waiting up to `wait` for the first one (long polling).
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<ReceivedMessage>>;

    async fn delete(&self, receipt_handle: &str) -> StoreResult<()>;

    async fn ready(&self) -> StoreResult<()>;
}

/// Checks shared by both adapters before a send.
pub fn validate_message(message: &OutgoingMessage) -> StoreResult<()> {
    if message.body.is_empty() || message.body.len() > MAX_BODY_BYTES {
        return Err(crate::StoreError::Invalid(format!("a message body holds 1 to {MAX_BODY_BYTES} bytes")));
    }
    if message.delay.is_some_and(|d| d > MAX_DELAY) {
        return Err(crate::StoreError::Invalid(format!("a message is delayed at most {MAX_DELAY:?}")));
    }
    Ok(())
}

/// Checks shared by both adapters before a receive.
pub fn validate_receive(max: usize, visibility: Duration, wait: Duration) -> StoreResult<()> {
    if !(1..=MAX_BATCH).contains(&max) || wait > MAX_WAIT || visibility > MAX_VISIBILITY {
        return Err(crate::StoreError::Invalid(format!(
            "receive takes 1 to {MAX_BATCH} messages, waits at most {MAX_WAIT:?} and hides them at most {MAX_VISIBILITY:?}"
        )));
    }
    Ok(())
}
