//! Listing records: view, formula, sort, maxRecords, then pages of `pageSize` with an `offset`.
//!
//! Like Airtable, the first page fixes the result (an iterator: the ordered record ids) and later pages
//! walk it, so a walk returns every record exactly once even while records change; deleted ones are skipped.
//! The offset reads like Airtable's: `itr…/rec…` (the iterator and the first record of the next page).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::error::{AirtableError, AirtableResult};
use crate::formula::{Formula, RecordRow, Row, compare};
use crate::ids::new_id;
use crate::model::{Record, Table, is_empty};
use crate::params::{ListParams, RenderParams, Sort};

const ITERATOR_TTL: Duration = Duration::from_secs(600);
const MAX_ITERATORS: usize = 10_000;

#[derive(Default)]
pub struct Iterators {
    by_id: HashMap<String, Snapshot>,
}

struct Snapshot {
    /// `{baseId}/{tableId}`: an offset resumes only in the table (of the base) it was answered for, so a copy
    /// of a base, whose table ids are the source's, cannot resume the source's walks.
    table_id: String,
    ids: Vec<String>,
    created: Instant,
}

impl Iterators {
    fn keep(&mut self, table_id: &str, ids: Vec<String>) -> String {
        if self.by_id.len() >= MAX_ITERATORS {
            self.by_id.retain(|_, s| s.created.elapsed() < ITERATOR_TTL);
        }
        let id = new_id("itr");
        self.by_id.insert(id.clone(), Snapshot { table_id: table_id.into(), ids, created: Instant::now() });
        id
    }

    /// The rest of an iterator's ids from the offset on.
    fn resume(&self, table_id: &str, offset: &str) -> AirtableResult<(String, Vec<String>)> {
        let invalid =
            || AirtableError::invalid("INVALID_OFFSET_VALUE", format!("The value of offset {offset} is invalid"));
        let (iterator, next) = offset.split_once('/').ok_or_else(invalid)?;
        let snapshot = self.by_id.get(iterator).filter(|s| s.table_id == table_id).ok_or_else(invalid)?;
        if snapshot.created.elapsed() > ITERATOR_TTL {
            return Err(AirtableError::invalid("LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "The iterator expired"));
        }
        let from = snapshot.ids.iter().position(|id| id == next).ok_or_else(invalid)?;
        Ok((iterator.to_string(), snapshot.ids[from..].to_vec()))
    }
}

/// A page of `table` (of base `base_id`).
pub fn list(base_id: &str, table: &Table, iterators: &mut Iterators, params: &ListParams) -> AirtableResult<Value> {
    let projection = projection(table, params.fields.as_deref())?;
    let scope = format!("{base_id}/{}", table.id);
    let (iterator, ids) = match &params.offset {
        Some(offset) => {
            let (iterator, ids) = iterators.resume(&scope, offset)?;
            (Some(iterator), ids)
        }
        None => (None, select(table, params)?),
    };
    let page_size = params.page_size.unwrap_or(100);
    let live: Vec<&Record> = ids.iter().filter_map(|id| table.record(id).ok()).take(page_size).collect();
    let consumed = match live.last() {
        Some(last) => ids.iter().position(|id| *id == last.id).map_or(ids.len(), |i| i + 1),
        None => ids.len(),
    };
    let records: Vec<Value> = live.iter().map(|r| render(table, r, projection.as_deref(), &params.render)).collect();
    let mut page = json!({ "records": records });
    if consumed < ids.len() {
        let iterator = match iterator {
            Some(iterator) => iterator,
            None => iterators.keep(&scope, ids.clone()),
        };
        page["offset"] = Value::String(format!("{iterator}/{}", ids[consumed]));
    }
    Ok(page)
}

/// The ordered ids of a fresh listing.
fn select(table: &Table, params: &ListParams) -> AirtableResult<Vec<String>> {
    let view = params.view.as_deref().map(|v| table.view(v)).transpose()?;
    let view_filter = view.and_then(|v| v.filter.as_deref()).map(|f| Formula::parse(f, table)).transpose()?;
    let filter = params.formula.as_deref().map(|f| Formula::parse(f, table)).transpose()?;
    let mut sort = params.sort.clone();
    if let Some(view) = view.filter(|_| sort.is_empty()) {
        sort = view
            .sort
            .iter()
            .map(|(f, desc)| Sort { field: f.clone(), direction: desc.then(|| "desc".into()) })
            .collect();
    }
    if let Some(unknown) = sort.iter().find(|s| table.field(&s.field).is_none()) {
        return Err(AirtableError::unknown_field(&unknown.field));
    }
    let mut rows: Vec<&Record> = table
        .records
        .iter()
        .filter(|r| view_filter.as_ref().is_none_or(|f| f.matches(table, r)))
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(table, r)))
        .collect();
    rows.sort_by(|a, b| {
        let (a, b) = (RecordRow { table, record: a }, RecordRow { table, record: b });
        sort.iter()
            .map(|s| {
                let order = compare(&a.cell(&s.field), &b.cell(&s.field));
                if s.descending() { order.reverse() } else { order }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let limit = params.max_records.unwrap_or(usize::MAX);
    Ok(rows.into_iter().take(limit).map(|r| r.id.clone()).collect())
}

/// The field ids `fields[]` asks for (names or ids), or `None` for all.
fn projection(table: &Table, fields: Option<&[String]>) -> AirtableResult<Option<Vec<String>>> {
    fields
        .map(|names| {
            names
                .iter()
                .map(|n| table.field(n).map(|f| f.id.clone()).ok_or_else(|| AirtableError::unknown_field(n)))
                .collect()
        })
        .transpose()
}

/// A record as Airtable returns it: `{id, createdTime, fields}`, keyed by field name (or id).
pub fn render(table: &Table, record: &Record, only: Option<&[String]>, params: &RenderParams) -> Value {
    let mut fields = Map::new();
    for field in &table.fields {
        if only.is_some_and(|ids| !ids.contains(&field.id)) {
            continue;
        }
        let Some(value) = record.cells.get(&field.id).filter(|v| !is_empty(v)) else { continue };
        let key = if params.by_field_id { field.id.clone() } else { field.name.clone() };
        let value = if params.cell_format_string {
            Value::String(RecordRow { table, record }.cell(&field.name).text())
        } else {
            value.clone()
        };
        fields.insert(key, value);
    }
    json!({ "id": record.id, "createdTime": record.created_time, "fields": fields })
}
