//! The deliveries queue (`webhooks-deliveries`, with its dead-letter queue): one job per scheduled attempt.
//! A job names the message and carries the token the message must still hold, and when it is due; a job
//! due after SQS's longest delay (15 minutes) is sent with that delay and sent on again until it is due.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use storage::queue::{DeadLetter, MAX_DELAY, OutgoingMessage, Queue, QueueSpec};

use crate::store::{Message, Trigger};

pub const QUEUE: &str = "webhooks-deliveries";
pub const DEAD_LETTER_QUEUE: &str = "webhooks-deliveries-dlq";
/// Receives before a job is dead-lettered (a job fails as a whole only when the table or the queue does).
pub const MAX_RECEIVE_COUNT: u32 = 5;

pub fn queue_spec() -> QueueSpec {
    QueueSpec {
        name: QUEUE.into(),
        dead_letter: Some(DeadLetter { queue: DEAD_LETTER_QUEUE.into(), max_receive_count: MAX_RECEIVE_COUNT }),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: String,
    pub endpoint: String,
    pub message: String,
    pub token: String,
    /// Epoch milliseconds.
    pub due_ms: i64,
    pub trigger: Trigger,
}

impl Job {
    /// The job the message's current token and schedule describe (`None` when nothing is scheduled).
    pub fn for_message(message: &Message, trigger: Trigger) -> Option<Self> {
        Some(Self {
            tenant: message.tenant_id.clone(),
            endpoint: message.endpoint_id.clone(),
            message: message.id.clone(),
            token: message.token.clone()?,
            due_ms: message.next_attempt_at_ms.unwrap_or_default(),
            trigger,
        })
    }

    fn outgoing(&self, now_ms: i64) -> anyhow::Result<OutgoingMessage> {
        let wait = Duration::from_millis(u64::try_from(self.due_ms.saturating_sub(now_ms)).unwrap_or(0));
        let mut message = OutgoingMessage::new(serde_json::to_string(self)?);
        if !wait.is_zero() {
            message = message.delay(wait.min(MAX_DELAY));
        }
        Ok(message)
    }
}

/// A random token for a newly scheduled job.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone)]
pub struct Jobs {
    queue: Arc<dyn Queue>,
}

impl Jobs {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    pub async fn send(&self, job: &Job) -> anyhow::Result<()> {
        self.queue.send(job.outgoing(storage::now_millis())?).await?;
        Ok(())
    }

    pub async fn send_all(&self, jobs: &[Job]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let now = storage::now_millis();
        let messages = jobs.iter().map(|j| j.outgoing(now)).collect::<anyhow::Result<Vec<_>>>()?;
        self.queue.send_batch(messages).await?;
        Ok(())
    }
}
