//! The bus port: one publish reaches every subscribed queue whose filter accepts it (fan-out). Each consumer
//! has its own queue (with its dead-letter queue), so one consumer's failure or backlog never holds another's.
//!
//! - AWS (`aws.rs`): an SNS topic with one SQS subscription per route, raw message delivery (the queue gets
//!   the published body and attributes unchanged) and a filter policy on the routing attribute.
//! - Embedded (`embedded.rs`): the same routes evaluated in process, each a send to the embedded queue.
//!
//! Delivery is at least once: a publish that fails part-way may be repeated, so a consumer may see a message
//! twice and must be idempotent (the platform events carry an id for that).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use async_trait::async_trait;

use crate::StoreResult;
use crate::queue::{OutgoingMessage, QueueSpec};

/// A bus to declare: its logical name, the message attribute routes filter on, and its routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusSpec {
    pub name: String,
    /// The attribute every message carries and every filter reads (the platform events' `type`).
    pub attribute: String,
    pub routes: Vec<Route>,
}

/// One subscriber's queue and what it receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub queue: QueueSpec,
    /// `None`: every message; else the values of the routing attribute it receives.
    pub only: Option<Vec<String>>,
}

impl Route {
    pub fn accepts(&self, attribute: &str, message: &OutgoingMessage) -> bool {
        match &self.only {
            None => true,
            Some(values) => message.attributes.get(attribute).is_some_and(|v| values.iter().any(|x| x == v)),
        }
    }

    /// The SNS subscription's filter policy for this route (`None`: no filter).
    pub fn filter_policy(&self, attribute: &str) -> Option<serde_json::Value> {
        self.only.as_ref().map(|values| serde_json::json!({ attribute: values }))
    }
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Delivers to every route that accepts the message; an error means some route may not have it yet
    /// (publish again: consumers are idempotent).
    async fn publish(&self, message: OutgoingMessage) -> StoreResult<()>;

    async fn ready(&self) -> StoreResult<()>;
}
