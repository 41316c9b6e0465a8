//! The platform events: one envelope ([`Event`]), one catalogue of types ([`Action`]), published on the bus
//! (`routing`: who receives what) with the type and the request id as message attributes. Each subscriber
//! consumes its own queue; poison messages go to its dead-letter queue after [`MAX_RECEIVE_COUNT`] receives.

pub mod consume;
mod event;
pub mod outbox;
pub mod publisher;
pub mod routing;

pub use event::{Action, Category, Event, Origin, UnknownAction};
pub use publisher::Publisher;

/// Receives before a message is dead-lettered: enough to ride out a throttled table, few enough that a
/// poison message leaves quickly.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// The message attribute carrying the originating request's id.
pub const REQUEST_ID_ATTRIBUTE: &str = "request_id";
