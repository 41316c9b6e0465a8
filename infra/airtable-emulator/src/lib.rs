//! An Airtable emulator: stateful and Airtable-shaped, for the local runner and the tests. Never deployed.
//!
//! It speaks the parts of Airtable's Web API the gateway and the official clients use, with Airtable's paths,
//! bodies, answers and error bodies:
//!
//! - records: list (`GET` or `POST …/listRecords`; offset pagination, `pageSize`/`maxRecords`, `sort`,
//!   `fields[]`, views by name or id, `filterByFormula`, `cellFormat`, `returnFieldsByFieldId`,
//!   `recordMetadata[]=commentCount`), get one, create, PATCH merges, PUT replaces, `performUpsert`, delete;
//!   batches of at most 10; `typecast` (a new select option joins the field's choices, hence the schema;
//!   numbers answer as Airtable writes them: `8`, not `8.0`). airtable.js's trailing-slash writes and its
//!   `"method": "post"` in a listRecords body are accepted, as Airtable accepts them;
//! - record comments: `/v0/{baseId}/{tableIdOrName}/{recordId}/comments[/{rowCommentId}]` — list (newest
//!   first), create, update, delete; one author, the token's user ([`state::USER_ID`]);
//! - attachments: `POST /v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment` (at most 5 MB),
//!   the file served back from `/_emulator/attachments/{id}/{filename}`;
//! - the meta API: `/v0/meta/whoami`, `/v0/meta/bases`, a base's schema, and its writes — create a table,
//!   update a table, create a field, update a field — with Airtable's checks of names, types and options;
//! - webhooks: `/v0/bases/{baseId}/webhooks` — list, create, delete, `refresh`, `enableNotifications`,
//!   `payloads` (cursor, at most 50 a page). Writes after a webhook's creation become payloads in Airtable's
//!   `changedTablesById` / `createdTablesById` shape. Notification pings are not sent.
//!
//! Every `/v0` request passes the traffic middleware: the bearer token, staged outages, and Airtable's
//! 5 requests/second per base (429, then a penalty window).
//!
//! `/_emulator/stats` counts what arrived (the tests' "upstream calls"); `/_emulator/config` stages
//! outages, latency and limits while it runs.

pub mod attachments;
pub mod comments;
pub mod config;
pub mod error;
pub mod fields;
pub mod formula;
pub mod ids;
pub mod list;
pub mod model;
pub mod params;
mod routes;
pub mod seed;
pub mod state;
pub mod traffic;
pub mod webhooks;

use std::net::SocketAddr;

use anyhow::Context;

pub use config::{ConfigPatch, EmulatorConfig};
pub use state::{BaseStats, DEV_TOKEN, Emulator, Stats, random_token};

/// The emulator's routes (Airtable's and `/_emulator/…`).
pub fn router(emulator: Emulator) -> axum::Router {
    routes::router(emulator)
}

/// An emulator serving on a loopback port, until the runtime that spawned it stops.
pub struct Running {
    pub emulator: Emulator,
    pub addr: SocketAddr,
}

impl Running {
    /// What clients use as Airtable's endpoint URL (`https://api.airtable.com` in production).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves `emulator` on `bind` (port 0: any free port).
pub async fn spawn(emulator: Emulator, bind: SocketAddr) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("Failed to listen on {bind}"))?;
    let addr = listener.local_addr().context("Failed to read the emulator's address")?;
    let app = router(emulator.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = ?e, "the Airtable emulator stopped");
        }
    });
    Ok(Running { emulator, addr })
}
