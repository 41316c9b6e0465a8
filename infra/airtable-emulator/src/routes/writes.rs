//! Create, update (PATCH merges, PUT replaces), upsert (`performUpsert`) and delete, one record or a batch
//! of at most ten. A batch is checked whole before anything changes, so a refused batch changes nothing.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::auth::TokenGrant;
use crate::error::{AirtableError, AirtableResult};
use crate::ids::{new_id, now_timestamp};
use crate::list::render;
use crate::model::{Record, Table};
use crate::params::{RenderParams, pairs};
use crate::state::Emulator;
use crate::webhooks::Change;

const MAX_BATCH: usize = 10;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WriteBody {
    fields: Option<Map<String, Value>>,
    records: Option<Vec<WriteRecord>>,
    typecast: Option<bool>,
    return_fields_by_field_id: Option<bool>,
    perform_upsert: Option<PerformUpsert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteRecord {
    id: Option<String>,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PerformUpsert {
    fields_to_merge_on: Vec<String>,
}

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> AirtableResult<T> {
    serde_json::from_slice(body).map_err(|_| AirtableError::invalid_request())
}

/// A JSON object body with `required` top-level keys: a missing one is Airtable's
/// `INVALID_REQUEST_MISSING_FIELDS`; anything else malformed is `INVALID_REQUEST_UNKNOWN`.
pub fn parse_required<T: DeserializeOwned>(body: &[u8], required: &[&str]) -> AirtableResult<T> {
    let value: Value = parse(body)?;
    let object = value.as_object().ok_or_else(AirtableError::invalid_request)?;
    if let Some(missing) = required.iter().find(|k| !object.contains_key(**k)) {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_MISSING_FIELDS",
            format!("Could not find field \"{missing}\" in the request body"),
        ));
    }
    serde_json::from_value(value).map_err(|_| AirtableError::invalid_request())
}

fn batch(records: Option<Vec<WriteRecord>>) -> AirtableResult<Vec<WriteRecord>> {
    let records = records.ok_or_else(|| AirtableError::invalid("INVALID_RECORDS", "records is required"))?;
    if records.is_empty() || records.len() > MAX_BATCH {
        return Err(AirtableError::invalid(
            "INVALID_RECORDS",
            format!("You must provide an array of up to {MAX_BATCH} record objects, got {}", records.len()),
        ));
    }
    Ok(records)
}

impl WriteBody {
    fn render(&self) -> RenderParams {
        RenderParams { by_field_id: self.return_fields_by_field_id.unwrap_or(false), ..RenderParams::default() }
    }
}

/// Sets cells on a record; `replace` clears the others first (PUT).
fn apply(record: &mut Record, cells: Vec<(String, Option<Value>)>, replace: bool) {
    if replace {
        record.cells.clear();
    }
    for (field, value) in cells {
        match value {
            Some(v) => record.cells.insert(field, v),
            None => record.cells.remove(&field),
        };
    }
}

fn new_record(cells: Vec<(String, Option<Value>)>) -> Record {
    let mut record = Record { id: new_id("rec"), created_time: now_timestamp(), cells: Map::new() };
    apply(&mut record, cells, false);
    record
}

/// Runs a write on one table; the changes it reports become one transaction of the base (webhook payloads).
fn with_table<T>(
    emulator: &Emulator,
    grant: &TokenGrant,
    base: &str,
    table: &str,
    f: impl FnOnce(&mut Table, &mut Vec<Change>) -> AirtableResult<T>,
) -> AirtableResult<T> {
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, base)?;
    let mut changes = Vec::new();
    let out = f(base.table_mut(table)?, &mut changes)?;
    emulator.commit(base, changes);
    Ok(out)
}

fn created(table: &Table, record: &Record) -> Change {
    Change::RecordCreated {
        table: table.id.clone(),
        id: record.id.clone(),
        created_time: record.created_time.clone(),
        cells: record.cells.clone(),
    }
}

/// Applies cells to the record at `index`, reporting the change.
fn update_at(
    t: &mut Table,
    index: usize,
    cells: Vec<(String, Option<Value>)>,
    replace: bool,
    changes: &mut Vec<Change>,
) {
    let before = t.records[index].cells.clone();
    apply(&mut t.records[index], cells, replace);
    let record = &t.records[index];
    changes.push(Change::RecordUpdated {
        table: t.id.clone(),
        id: record.id.clone(),
        before,
        after: record.cells.clone(),
    });
}

pub async fn create(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: WriteBody = parse(&body)?;
    let typecast = body.typecast.unwrap_or(false);
    let render_params = body.render();
    with_table(&emulator, &grant, &base, &table, |t, changes| match (body.records, body.fields) {
        (Some(records), _) => {
            let records = batch(Some(records))?;
            let cells = records.iter().map(|r| t.coerce(&r.fields, typecast)).collect::<AirtableResult<Vec<_>>>()?;
            let new: Vec<Record> = cells.into_iter().map(new_record).collect();
            let rendered: Vec<Value> = new.iter().map(|r| render(t, r, None, &render_params)).collect();
            changes.extend(new.iter().map(|r| created(t, r)));
            t.records.extend(new);
            Ok(Json(json!({ "records": rendered })))
        }
        (None, Some(fields)) => {
            let record = new_record(t.coerce(&fields, typecast)?);
            let rendered = render(t, &record, None, &render_params);
            changes.push(created(t, &record));
            t.records.push(record);
            Ok(Json(rendered))
        }
        (None, None) => Err(AirtableError::invalid(
            "INVALID_REQUEST_MISSING_FIELDS",
            "Could not find field \"fields\" in the request body",
        )),
    })
}

pub async fn update_one(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record)): Path<(String, String, String)>,
    method: axum::http::Method,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: WriteBody = parse(&body)?;
    let fields = body.fields.clone().unwrap_or_default();
    let replace = method == axum::http::Method::PUT;
    with_table(&emulator, &grant, &base, &table, |t, changes| {
        let index = t.record_index(&record)?;
        let cells = t.coerce(&fields, body.typecast.unwrap_or(false))?;
        update_at(t, index, cells, replace, changes);
        Ok(Json(render(t, &t.records[index], None, &body.render())))
    })
}

pub async fn update_many(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    method: axum::http::Method,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: WriteBody = parse(&body)?;
    let replace = method == axum::http::Method::PUT;
    let typecast = body.typecast.unwrap_or(false);
    let render_params = body.render();
    let merge_on = body.perform_upsert.map(|u| u.fields_to_merge_on);
    let records = batch(body.records)?;
    with_table(&emulator, &grant, &base, &table, |t, changes| {
        if let Some(merge_on) = &merge_on
            && (merge_on.is_empty() || merge_on.len() > 3 || merge_on.iter().any(|f| t.field(f).is_none()))
        {
            return Err(AirtableError::invalid(
                "INVALID_MERGE_FIELD",
                "fieldsToMergeOn must name 1 to 3 fields of the table",
            ));
        }
        // Plan every record first (target index or a new record), so a refused batch changes nothing.
        let mut plan = Vec::with_capacity(records.len());
        for record in &records {
            let cells = t.coerce(&record.fields, typecast)?;
            let target = match (&record.id, &merge_on) {
                (Some(id), _) => Some(t.record_index(id)?),
                (None, Some(merge_on)) => upsert_target(t, merge_on, &cells)?,
                (None, None) => return Err(AirtableError::invalid("INVALID_RECORDS", "Each record needs an id")),
            };
            plan.push((target, cells));
        }
        let (mut created, mut updated, mut touched) = (Vec::new(), Vec::new(), Vec::new());
        for (target, cells) in plan {
            match target {
                Some(index) => {
                    update_at(t, index, cells, replace, changes);
                    updated.push(t.records[index].id.clone());
                    touched.push(t.records[index].id.clone());
                }
                None => {
                    let record = new_record(cells);
                    created.push(record.id.clone());
                    touched.push(record.id.clone());
                    changes.push(self::created(t, &record));
                    t.records.push(record);
                }
            }
        }
        let rendered: Vec<Value> =
            touched.iter().filter_map(|id| t.record(id).ok()).map(|r| render(t, r, None, &render_params)).collect();
        Ok(Json(match merge_on {
            Some(_) => json!({ "records": rendered, "createdRecords": created, "updatedRecords": updated }),
            None => json!({ "records": rendered }),
        }))
    })
}

/// The one existing record whose merge fields all equal the input's, if any; several is an error.
fn upsert_target(
    table: &Table,
    merge_on: &[String],
    cells: &[(String, Option<Value>)],
) -> AirtableResult<Option<usize>> {
    let wanted: Vec<(String, Option<&Value>)> = merge_on
        .iter()
        .filter_map(|name| table.field(name))
        .map(|f| (f.id.clone(), cells.iter().find(|(id, _)| *id == f.id).and_then(|(_, v)| v.as_ref())))
        .collect();
    let matches: Vec<usize> = table
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| wanted.iter().all(|(id, v)| r.cells.get(id) == *v))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(AirtableError::invalid(
            "INVALID_VALUE_FOR_COLUMN",
            "More than one record matches the fieldsToMergeOn values",
        )),
    }
}

pub async fn delete_one(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, record)): Path<(String, String, String)>,
) -> AirtableResult<Json<Value>> {
    with_table(&emulator, &grant, &base, &table, |t, changes| {
        let index = t.record_index(&record)?;
        let removed = t.records.remove(index);
        changes.push(Change::RecordDestroyed { table: t.id.clone(), id: removed.id.clone() });
        Ok(Json(json!({ "id": removed.id, "deleted": true })))
    })
}

pub async fn delete_many(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let mut ids = Vec::new();
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "records[]" | "records" => ids.push(value),
            _ => return Err(AirtableError::invalid_request()),
        }
    }
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(AirtableError::invalid(
            "INVALID_RECORDS",
            format!("You must provide 1 to {MAX_BATCH} records[] to delete"),
        ));
    }
    with_table(&emulator, &grant, &base, &table, |t, changes| {
        for id in &ids {
            t.record_index(id)?;
        }
        t.records.retain(|r| !ids.contains(&r.id));
        changes.extend(ids.iter().map(|id| Change::RecordDestroyed { table: t.id.clone(), id: id.clone() }));
        Ok(Json(json!({ "records": ids.iter().map(|id| json!({ "id": id, "deleted": true })).collect::<Vec<_>>() })))
    })
}
