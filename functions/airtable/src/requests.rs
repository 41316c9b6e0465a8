//! The upstream request behind each operation, shared by both surfaces so /api/v1 and /v0 ask Airtable
//! exactly the same questions (and so share cache entries).

use axum::http::Method;
use bytes::Bytes;

use crate::cache::Kind;
use crate::gateway::{Read, Write};
use crate::ids::{BaseId, RecordId, TableRef};
use crate::query::{ListQuery, RenderOptions};
use crate::upstream::UpstreamRequest;

fn segments(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

pub fn bases(offset: Option<String>) -> Read {
    let query = offset.map(|o| vec![("offset".to_string(), o)]).unwrap_or_default();
    Read { kind: Kind::Bases, base: None, table: None, segments: segments(&["v0", "meta", "bases"]), query }
}

/// A base's schema; `query` holds `include[]` values, whose order and repetition do not change the answer.
pub fn schema(base: &BaseId, mut query: Vec<(String, String)>) -> Read {
    query.sort();
    query.dedup();
    Read {
        kind: Kind::Schema,
        base: Some(base.clone()),
        table: None,
        segments: segments(&["v0", "meta", "bases", base.as_str(), "tables"]),
        query,
    }
}

pub fn records(base: &BaseId, table: &TableRef, query: &ListQuery) -> Read {
    Read {
        kind: Kind::Records,
        base: Some(base.clone()),
        table: Some(table.clone()),
        segments: segments(&["v0", base.as_str(), table.as_str()]),
        query: query.to_pairs(),
    }
}

pub fn record(base: &BaseId, table: &TableRef, record: &RecordId, render: &RenderOptions) -> Read {
    let mut query = Vec::new();
    render.to_pairs(&mut query);
    Read {
        kind: Kind::Record,
        base: Some(base.clone()),
        table: Some(table.clone()),
        segments: segments(&["v0", base.as_str(), table.as_str(), record.as_str()]),
        query,
    }
}

/// A write to the table (`record`: to one record of it).
pub fn write(
    method: Method,
    base: &BaseId,
    table: &TableRef,
    record: Option<&RecordId>,
    query: Vec<(String, String)>,
    body: Option<Bytes>,
) -> Write {
    let mut path = segments(&["v0", base.as_str(), table.as_str()]);
    path.extend(record.map(|r| r.as_str().to_string()));
    Write {
        base: base.clone(),
        table: table.clone(),
        request: UpstreamRequest { method, segments: path, query, body, base: Some(base.clone()), read: false },
    }
}
