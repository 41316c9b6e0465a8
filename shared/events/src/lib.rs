//! The platform events queue. Every auth and user change is published here as an [`Event`], with the
//! request id as a message attribute; the audit function consumes it. Poison messages go to the
//! dead-letter queue after [`MAX_RECEIVE_COUNT`] receives.

mod event;
mod publisher;
pub mod routing;

use storage::queue::{DeadLetter, QueueSpec};

pub use event::{Action, Category, Event, Origin, UnknownAction};
pub use publisher::Publisher;

/// The queue's logical name (`QUEUE_URL_EVENTS` on AWS).
pub const QUEUE: &str = "events";
pub const DEAD_LETTER_QUEUE: &str = "events-dlq";
/// Receives before a message is dead-lettered: enough to ride out a throttled table, few enough that a
/// poison message leaves quickly.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// The message attribute carrying the originating request's id.
pub const REQUEST_ID_ATTRIBUTE: &str = "request_id";
pub const ACTION_ATTRIBUTE: &str = "action";

pub fn queue_spec() -> QueueSpec {
    QueueSpec {
        name: QUEUE.into(),
        dead_letter: Some(DeadLetter { queue: DEAD_LETTER_QUEUE.into(), max_receive_count: MAX_RECEIVE_COUNT }),
    }
}
