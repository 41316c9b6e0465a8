//! An Airtable emulator: stateful and Airtable-shaped, for the local runner and the tests. Never deployed.
//!
//! It speaks the parts of Airtable's Web API the gateway and the official clients use — records (list with
//! offset pagination, `pageSize`/`maxRecords`, `sort`, `fields[]`, views by name or id, a useful subset of
//! `filterByFormula`; create, PATCH merges, PUT replaces, `performUpsert`, delete; batches of at most 10)
//! and the meta API (`/v0/meta/bases`, `/v0/meta/bases/{baseId}/tables`, `/v0/meta/whoami`) — with
//! Airtable's error bodies and its 5 requests/second per base (429, then a penalty window).
//!
//! `/_emulator/stats` counts what arrived (the tests' "upstream calls"); `/_emulator/config` stages
//! outages, latency and limits while it runs.

pub mod config;
pub mod error;
pub mod formula;
pub mod ids;
pub mod list;
pub mod model;
pub mod params;
mod routes;
pub mod seed;
pub mod state;
pub mod traffic;

use std::net::SocketAddr;

use anyhow::Context;

pub use config::{ConfigPatch, EmulatorConfig};
pub use state::{BaseStats, DEV_TOKEN, Emulator, Stats};

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
