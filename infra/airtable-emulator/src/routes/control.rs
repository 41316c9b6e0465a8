//! `/_emulator/…`: not Airtable's — how tests and developers stage outages and read the traffic counters.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;

use crate::config::{ConfigPatch, EmulatorConfig};
use crate::error::AirtableResult;
use crate::state::{Emulator, Stats};

pub async fn stats(State(emulator): State<Emulator>) -> Json<Stats> {
    Json(emulator.stats())
}

pub async fn reset_stats(State(emulator): State<Emulator>) -> StatusCode {
    emulator.reset_stats();
    StatusCode::NO_CONTENT
}

pub async fn config(State(emulator): State<Emulator>) -> Json<EmulatorConfig> {
    Json(emulator.config())
}

pub async fn configure(State(emulator): State<Emulator>, body: Bytes) -> AirtableResult<Json<EmulatorConfig>> {
    let patch: ConfigPatch = super::writes::parse(&body)?;
    Ok(Json(emulator.configure(patch)))
}
