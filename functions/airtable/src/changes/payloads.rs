//! Airtable's webhook payloads as platform events: `airtable.record.created|updated|deleted` per record and
//! `airtable.table.changed` per table created, destroyed or changed (metadata or fields).
//!
//! A payload is numbered by the webhook's cursor, and Airtable answers the same payloads for the same cursor,
//! so each event's id and time derive from (webhook, payload number, position) and the payload's timestamp:
//! reading a page again (after a crash before the cursor moved on) yields the very same events, which every
//! consumer drops by id.

use std::collections::BTreeSet;

use events::{Action, Event};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// One page of `GET /v0/bases/{base}/webhooks/{id}/payloads`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadPage {
    pub cursor: u64,
    pub might_have_more: bool,
    #[serde(default)]
    pub payloads: Vec<Value>,
}

/// Where a payload came from: the tenant's link and its webhook.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    pub tenant: &'a str,
    pub workspace: &'a str,
    pub base: &'a str,
    pub webhook: &'a str,
}

/// What a payload did to the gateway's cache: tables whose records changed, and whether the schema did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub tables: BTreeSet<String>,
    pub schema: bool,
}

/// The events of payload number `number`, and what it touched.
pub fn events(origin: &Origin<'_>, number: u64, payload: &Value, touched: &mut Touched) -> Vec<Event> {
    let at_ms = payload.get("timestamp").and_then(Value::as_str).and_then(parse_millis).unwrap_or(0);
    let source = payload.pointer("/actionMetadata/source").and_then(Value::as_str).unwrap_or("unknown");
    let mut out = Vec::new();
    let mut emit = |action: Action, table: &str, data: Map<String, Value>| {
        let seq = out.len();
        let mut event = Event::new(action, &events::Origin { request_id: String::new(), ip: None })
            .tenant(origin.tenant)
            .detail("workspace_id", origin.workspace)
            .detail("base_id", origin.base)
            .detail("table_id", table)
            .detail("source", source);
        event.details.extend(data);
        event.event_id = event_id(origin.webhook, number, seq, at_ms);
        event.request_id = format!("airtable-webhook:{}:{number}", origin.webhook);
        event.occurred_at_ms = at_ms;
        out.push(event);
    };
    if let Some(tables) = payload.get("createdTablesById").and_then(Value::as_object) {
        for (table, created) in tables {
            touched.schema = true;
            emit(
                Action::AirtableTableChanged,
                table,
                object([("change", json!("created")), ("table", created.clone())]),
            );
        }
    }
    for table in payload.get("destroyedTableIds").and_then(Value::as_array).into_iter().flatten() {
        if let Some(table) = table.as_str() {
            touched.schema = true;
            touched.tables.insert(table.to_string());
            emit(Action::AirtableTableChanged, table, object([("change", json!("destroyed"))]));
        }
    }
    let changed = payload.get("changedTablesById").and_then(Value::as_object);
    for (table, change) in changed.into_iter().flatten() {
        let schema_keys = ["changedMetadata", "createdFieldsById", "changedFieldsById", "destroyedFieldIds"];
        let schema: Map<String, Value> =
            schema_keys.iter().filter_map(|k| change.get(*k).map(|v| ((*k).to_string(), v.clone()))).collect();
        if !schema.is_empty() {
            touched.schema = true;
            touched.tables.insert(table.clone());
            let mut data = object([("change", json!("changed"))]);
            data.extend(schema);
            emit(Action::AirtableTableChanged, table, data);
        }
        if let Some(created) = change.get("createdRecordsById").and_then(Value::as_object) {
            touched.tables.insert(table.clone());
            for (record, value) in created {
                let fields = value.get("cellValuesByFieldId").cloned().unwrap_or_else(|| json!({}));
                let created_time = value.get("createdTime").cloned().unwrap_or(Value::Null);
                emit(
                    Action::AirtableRecordCreated,
                    table,
                    object([("record_id", json!(record)), ("created_time", created_time), ("fields", fields)]),
                );
            }
        }
        if let Some(updated) = change.get("changedRecordsById").and_then(Value::as_object) {
            touched.tables.insert(table.clone());
            for (record, value) in updated {
                let current = value.pointer("/current/cellValuesByFieldId").cloned().unwrap_or_else(|| json!({}));
                let previous = value.pointer("/previous/cellValuesByFieldId").cloned();
                let mut names: BTreeSet<&String> = current.as_object().into_iter().flatten().map(|(k, _)| k).collect();
                names.extend(previous.as_ref().and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k));
                let changed_fields: Vec<Value> = names.into_iter().map(|n| json!(n)).collect();
                let mut data = object([
                    ("record_id", json!(record)),
                    ("changed_fields", Value::Array(changed_fields)),
                    ("fields", current.clone()),
                ]);
                if let Some(previous) = previous {
                    data.insert("previous".into(), previous);
                }
                emit(Action::AirtableRecordUpdated, table, data);
            }
        }
        for record in change.get("destroyedRecordIds").and_then(Value::as_array).into_iter().flatten() {
            touched.tables.insert(table.clone());
            emit(Action::AirtableRecordDeleted, table, object([("record_id", record.clone())]));
        }
    }
    out
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A UUIDv7 (time-ordered, as every event id) whose time is the payload's and whose other bits are a hash of
/// (webhook, payload number, position): the same payload always gives the same ids.
fn event_id(webhook: &str, number: u64, seq: usize, at_ms: i64) -> String {
    let digest = Sha256::new()
        .chain_update(webhook.as_bytes())
        .chain_update(number.to_be_bytes())
        .chain_update((seq as u64).to_be_bytes())
        .finalize();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(at_ms).unwrap_or(0), &tail).into_uuid().to_string()
}

fn parse_millis(at: &str) -> Option<i64> {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn origin() -> Origin<'static> {
        Origin { tenant: "t1", workspace: "ws1", base: "appAAAAAAAAAAAAAA", webhook: "achAAAAAAAAAAAAAA" }
    }

    fn payload() -> Value {
        json!({
            "timestamp": "2026-12-07T10:00:00.123Z",
            "baseTransactionNumber": 7,
            "actionMetadata": {"source": "client", "sourceMetadata": {}},
            "payloadFormat": "v0",
            "changedTablesById": {
                "tblA": {
                    "createdRecordsById": {"recNew": {"createdTime": "2026-12-07T10:00:00.000Z", "cellValuesByFieldId": {"fldName": "Ada"}}},
                    "changedRecordsById": {"recOld": {
                        "current": {"cellValuesByFieldId": {"fldName": "Grace"}},
                        "previous": {"cellValuesByFieldId": {"fldName": "Ada"}},
                        "unchanged": {"cellValuesByFieldId": {"fldAge": 3}}
                    }},
                    "destroyedRecordIds": ["recGone"]
                },
                "tblB": {"changedMetadata": {"current": {"name": "New"}, "previous": {"name": "Old"}}}
            },
            "destroyedTableIds": ["tblC"]
        })
    }

    #[test]
    fn a_payload_becomes_one_event_per_record_and_table_change() {
        let mut touched = Touched::default();
        let events = events(&origin(), 4, &payload(), &mut touched);
        let kinds: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "airtable.table.changed",
                "airtable.record.created",
                "airtable.record.updated",
                "airtable.record.deleted",
                "airtable.table.changed"
            ]
        );
        let created = &events[1];
        assert_eq!(created.tenant_id.as_deref(), Some("t1"));
        assert_eq!(created.details["record_id"], "recNew");
        assert_eq!(created.details["table_id"], "tblA");
        assert_eq!(created.details["base_id"], "appAAAAAAAAAAAAAA");
        assert_eq!(created.details["fields"]["fldName"], "Ada");
        assert_eq!(created.details["source"], "client");
        let updated = &events[2];
        assert_eq!(updated.details["changed_fields"], json!(["fldName"]));
        assert_eq!(updated.details["previous"]["fldName"], "Ada");
        assert_eq!(updated.details["fields"]["fldName"], "Grace");
        assert_eq!(events[0].details["change"], "destroyed");
        assert_eq!(events[4].details["change"], "changed");
        assert_eq!(touched.tables, ["tblA", "tblB", "tblC"].iter().map(|s| s.to_string()).collect());
        assert!(touched.schema);
        assert!(events.iter().all(|e| e.occurred_at_ms == 1_796_637_600_123), "{:?}", events[0].occurred_at_ms);
    }

    #[test]
    fn the_same_payload_gives_the_same_ids_and_another_number_other_ids() {
        let once = events(&origin(), 4, &payload(), &mut Touched::default());
        let again = events(&origin(), 4, &payload(), &mut Touched::default());
        let next = events(&origin(), 5, &payload(), &mut Touched::default());
        let ids = |e: &[Event]| e.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&once), ids(&again));
        assert!(ids(&once).iter().all(|id| !ids(&next).contains(id)));
        let distinct: BTreeSet<String> = ids(&once).into_iter().collect();
        assert_eq!(distinct.len(), once.len());
        assert!(once.iter().all(|e| uuid::Uuid::parse_str(&e.event_id).unwrap().get_version_num() == 7));
    }

    #[test]
    fn a_record_only_payload_leaves_the_schema_alone() {
        let payload = json!({"timestamp": "2026-12-07T10:00:00.000Z", "changedTablesById": {"tblA": {"destroyedRecordIds": ["recX"]}}});
        let mut touched = Touched::default();
        let events = events(&origin(), 1, &payload, &mut touched);
        assert_eq!(events.len(), 1);
        assert!(!touched.schema);
        assert_eq!(touched.tables.len(), 1);
        assert_eq!(events[0].details["source"], "unknown");
    }
}
