//! List records (`GET` with a query, or `POST …/listRecords` with a body) and get one record.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde_json::Value;

use crate::error::AirtableResult;
use crate::list;
use crate::params::{ListParams, RenderParams};
use crate::state::Emulator;

pub async fn list_get(
    State(emulator): State<Emulator>,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let params = ListParams::from_query(query.as_deref())?;
    run(&emulator, &base, &table, &params)
}

pub async fn list_post(
    State(emulator): State<Emulator>,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let params = ListParams::from_body(&body, query.as_deref())?;
    run(&emulator, &base, &table, &params)
}

fn run(emulator: &Emulator, base: &str, table: &str, params: &ListParams) -> AirtableResult<Json<Value>> {
    let mut world = emulator.world();
    let world = &mut *world;
    let table = world
        .bases
        .iter()
        .find(|b| b.id == base)
        .ok_or_else(crate::error::AirtableError::base_not_found)?
        .table(table)?;
    Ok(Json(list::list(table, &mut world.iterators, params)?))
}

pub async fn get_one(
    State(emulator): State<Emulator>,
    Path((base, table, record)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let render = RenderParams::from_query(query.as_deref())?;
    let world = emulator.world();
    let table = world.base(&base)?.table(&table)?;
    Ok(Json(list::render(table, table.record(&record)?, None, &render)))
}
