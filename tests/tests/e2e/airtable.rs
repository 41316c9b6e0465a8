//! The Airtable gateway through the whole runner — the authorizer in front, the embedded emulator behind
//! (helpers: `crate::support::airtable`).

mod airtablejs;
mod changes;
mod gateway;
mod pyairtable;
mod seed_routes;
mod surface;
mod v0;
