//! List records (`GET` with a query, or `POST …/listRecords` with a body) and get one record.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::TokenGrant;
use crate::error::AirtableResult;
use crate::list;
use crate::model::Base;
use crate::params::{ListParams, RenderParams};
use crate::state::Emulator;

pub async fn list_get(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let params = ListParams::from_query(query.as_deref())?;
    run(&emulator, &grant, &base, &table, &params)
}

pub async fn list_post(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let params = ListParams::from_body(&body, query.as_deref())?;
    run(&emulator, &grant, &base, &table, &params)
}

fn run(
    emulator: &Emulator,
    grant: &TokenGrant,
    base: &str,
    table: &str,
    params: &ListParams,
) -> AirtableResult<Json<Value>> {
    let mut world = emulator.world();
    let world = &mut *world;
    let base = grant.bases.find(&world.bases, base)?;
    let mut page = list::list(&base.id, base.table(table)?, &mut world.iterators, params)?;
    if params.render.comment_count
        && let Some(records) = page.get_mut("records").and_then(Value::as_array_mut)
    {
        records.iter_mut().for_each(|r| add_comment_count(base, r));
    }
    Ok(Json(page))
}

/// `recordMetadata[]=commentCount`: the record's `commentCount`.
fn add_comment_count(base: &Base, record: &mut Value) {
    let count = record.get("id").and_then(Value::as_str).map_or(0, |id| base.comment_count(id));
    record["commentCount"] = json!(count);
}

pub async fn get_one(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let render = RenderParams::from_query(query.as_deref())?;
    let world = emulator.world();
    let base = world.base(&grant.bases, &base)?;
    let table = base.table(&table)?;
    let mut rendered = list::render(table, table.record(&record)?, None, &render);
    if render.comment_count {
        add_comment_count(base, &mut rendered);
    }
    Ok(Json(rendered))
}
