//! The runs queue (`automations-runs`, with its DLQ): schedule fires and run steps. Every job is safe to
//! receive twice: a fire's run id is a function of the automation and the scheduled time, and a step job
//! re-reads the run, whose log says what is done.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use storage::queue::{DeadLetter, OutgoingMessage, Queue, QueueSpec};

pub const QUEUE: &str = "automations-runs";
/// SQS's longest delay; a longer wait is sent on again until due.
pub const MAX_DELAY: Duration = storage::queue::MAX_DELAY;

pub fn queue_spec() -> QueueSpec {
    QueueSpec {
        name: QUEUE.into(),
        dead_letter: Some(DeadLetter { queue: format!("{QUEUE}-dlq"), max_receive_count: events::MAX_RECEIVE_COUNT }),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A schedule fired (the schedule's input; `scheduled_time` substituted by the scheduler).
    Fire { tenant: String, workspace: String, automation: String, scheduled_time: String },
    /// Go on with a run: its next step (or wait, or finish).
    Step { tenant: String, automation: String, run: String },
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

    pub async fn step(&self, tenant: &str, automation: &str, run: &str, delay: Duration) -> anyhow::Result<()> {
        let job = Job::Step { tenant: tenant.into(), automation: automation.into(), run: run.into() };
        self.send(&job, delay).await
    }
}
