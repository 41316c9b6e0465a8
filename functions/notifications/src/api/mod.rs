//! The routes: [`inbox`] (the caller's notifications), [`preferences`] (the caller's), [`devices`] (the
//! caller's, for push), [`templates`] (the tenant's: owners and admins), [`outbox`] (the embedded outbox:
//! platform admins).

pub mod devices;
pub mod inbox;
pub mod outbox;
pub mod preferences;
pub mod templates;

/// Epoch milliseconds as RFC 3339 with milliseconds (`2023-11-14T22:13:20.123Z`).
pub fn rfc3339(ms: i64) -> String {
    platform::timestamps::rfc3339_ms(ms)
}
