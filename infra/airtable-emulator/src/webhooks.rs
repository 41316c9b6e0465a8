//! Webhooks: what a base keeps per webhook (its specification, its payloads), and the payloads record, field
//! and table changes produce — Airtable's `changedTablesById` / `createdTablesById` shape, numbered by a cursor
//! that never resets. A webhook's notification pings to its `notificationUrl` are [`crate::pings`]'s; list
//! webhooks answers their last outcome.

use std::collections::VecDeque;

use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use crate::error::{AirtableError, AirtableResult};
use crate::ids::{new_id, now_timestamp, timestamp};
use crate::model::Base;
use crate::pings::Notifications;
use crate::state::{USER_EMAIL, USER_ID, USER_NAME};

/// Airtable allows ten webhooks per base for one token.
pub const MAX_PER_BASE: usize = 10;
/// Payloads a webhook keeps (Airtable keeps a week's; the emulator bounds the count instead).
pub const MAX_PAYLOADS: usize = 10_000;
/// The most payloads one `GET …/payloads` answers.
pub const PAGE_LIMIT: usize = 50;
/// The longest `notificationUrl`.
pub const MAX_URL: usize = 2048;
/// A webhook lives seven days from its creation or its last refresh.
pub const LIFETIME: Duration = Duration::days(7);

const SOURCES: [&str; 10] = [
    "client",
    "publicApi",
    "formSubmission",
    "formPageSubmission",
    "automation",
    "system",
    "sync",
    "anonymousUser",
    "unknown",
    "mcp",
];

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub mac_secret_base64: String,
    pub notification_url: Option<String>,
    /// The specification as it was sent (what list webhooks answers).
    pub specification: Value,
    spec: Specification,
    /// Whether pings are sent (`enableNotifications`); from creation, whether it was given a `notificationUrl`.
    pub notifications_enabled: bool,
    /// Its pings: the last outcome, and whether one is under way ([`crate::pings`]).
    pub notifications: Notifications,
    pub expiration: OffsetDateTime,
    /// Retained payloads with their cursor numbers, oldest first.
    pub payloads: VecDeque<(u64, Value)>,
    pub next_cursor: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Specification {
    options: SpecOptions,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecOptions {
    filters: Filters,
    #[serde(default)]
    includes: Option<Includes>,
}

/// Airtable's `dataTypes` (the names are Airtable's).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum DataType {
    TableData,
    TableFields,
    TableMetadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum ChangeType {
    Add,
    Remove,
    Update,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filters {
    data_types: Vec<DataType>,
    #[serde(default)]
    record_change_scope: Option<String>,
    #[serde(default)]
    change_types: Option<Vec<ChangeType>>,
    #[serde(default)]
    from_sources: Option<Vec<String>>,
    #[serde(default)]
    source_options: Option<Value>,
    #[serde(default)]
    watch_data_in_field_ids: Option<Vec<String>>,
    #[serde(default)]
    watch_schemas_of_field_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum CellValues {
    All(String),
    Fields(Vec<String>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Includes {
    #[serde(default)]
    include_cell_values_in_field_ids: Option<CellValues>,
    #[serde(default)]
    include_previous_cell_values: Option<bool>,
    #[serde(default)]
    include_previous_field_definitions: Option<bool>,
}

/// One change a write made, as webhooks see it.
#[derive(Clone, Debug)]
pub enum Change {
    RecordCreated { table: String, id: String, created_time: String, cells: Map<String, Value> },
    RecordUpdated { table: String, id: String, before: Map<String, Value>, after: Map<String, Value> },
    RecordDestroyed { table: String, id: String },
    TableCreated { table: String, name: String, description: Option<String>, fields: Vec<(String, String, String)> },
    TableChanged { table: String, current: (String, Option<String>), previous: (String, Option<String>) },
    FieldCreated { table: String, field: String, name: String, kind: String },
    FieldChanged { table: String, field: String, current: (String, String), previous: (String, String) },
}

fn invalid(message: impl Into<String>) -> AirtableError {
    AirtableError::invalid("INVALID_REQUEST_UNKNOWN", message)
}

impl Webhook {
    /// A webhook from a create request's `notificationUrl` and `specification`, checked against `base`.
    pub fn create(base: &Base, notification_url: Option<String>, specification: Value) -> AirtableResult<Self> {
        let spec: Specification = Specification::deserialize(&specification)
            .map_err(|e| invalid(format!("Invalid webhook specification: {e}")))?;
        let filters = &spec.options.filters;
        let mut kinds = filters.data_types.clone();
        kinds.sort_by_key(|k| *k as u8);
        kinds.dedup();
        if filters.data_types.is_empty() || kinds.len() != filters.data_types.len() {
            return Err(invalid("specification.options.filters.dataTypes must name one or more distinct data types"));
        }
        if let Some(scope) = &filters.record_change_scope
            && !base.tables.iter().any(|t| t.id == *scope || t.views.iter().any(|v| v.id == *scope))
        {
            return Err(invalid(format!("recordChangeScope {scope} is not a table or view of this base")));
        }
        if filters.source_options.as_ref().is_some_and(|o| !o.is_object()) {
            return Err(invalid("sourceOptions must be an object"));
        }
        if let Some(unknown) = filters.from_sources.iter().flatten().find(|s| !SOURCES.contains(&s.as_str())) {
            return Err(invalid(format!("Unknown fromSources value: {unknown}")));
        }
        let mut named: Vec<&String> = Vec::new();
        named.extend(filters.watch_data_in_field_ids.iter().flatten());
        named.extend(filters.watch_schemas_of_field_ids.iter().flatten());
        match spec.options.includes.as_ref().and_then(|i| i.include_cell_values_in_field_ids.as_ref()) {
            Some(CellValues::All(all)) if all != "all" => {
                return Err(invalid("includeCellValuesInFieldIds must be \"all\" or a list of field ids"));
            }
            Some(CellValues::Fields(ids)) => named.extend(ids),
            _ => {}
        }
        if let Some(unknown) =
            named.iter().find(|id| !base.tables.iter().any(|t| t.fields.iter().any(|f| f.id == ***id)))
        {
            return Err(invalid(format!("Unknown field id in the webhook specification: {unknown}")));
        }
        if let Some(url) = &notification_url
            && (!(url.starts_with("https://") || url.starts_with("http://")) || url.chars().count() > MAX_URL)
        {
            return Err(invalid("notificationUrl must be an http(s) URL"));
        }
        let mut secret = [0u8; 64];
        rand::rng().fill_bytes(&mut secret);
        Ok(Self {
            id: new_id("ach"),
            mac_secret_base64: base64::engine::general_purpose::STANDARD.encode(secret),
            notifications_enabled: notification_url.is_some(),
            notifications: Notifications::default(),
            notification_url,
            specification,
            spec,
            expiration: OffsetDateTime::now_utc() + LIFETIME,
            payloads: VecDeque::new(),
            next_cursor: 1,
        })
    }

    pub fn expiration_time(&self) -> String {
        timestamp(self.expiration)
    }

    fn active(&self) -> bool {
        OffsetDateTime::now_utc() < self.expiration
    }

    /// The webhook as list webhooks answers it.
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "areNotificationsEnabled": self.notifications_enabled,
            "cursorForNextPayload": self.next_cursor,
            "isHookEnabled": self.active(),
            "lastSuccessfulNotificationTime": self.notifications.last_success(),
            "notificationUrl": self.notification_url,
            "lastNotificationResult": self.notifications.last_result(),
            "expirationTime": self.expiration_time(),
            "specification": self.specification,
        })
    }

    /// One page of payloads from `cursor` (default 1) on: `{payloads, cursor, mightHaveMore}`.
    pub fn page(&mut self, cursor: Option<u64>, limit: Option<usize>) -> Value {
        if self.active() {
            self.expiration = OffsetDateTime::now_utc() + LIFETIME;
        }
        let cursor = cursor.unwrap_or(1);
        let limit = limit.unwrap_or(PAGE_LIMIT);
        let page: Vec<&(u64, Value)> = self.payloads.iter().filter(|(n, _)| *n >= cursor).take(limit).collect();
        let next = page.last().map_or(cursor, |(n, _)| n + 1);
        let might_have_more = self.payloads.back().is_some_and(|(n, _)| *n >= next);
        json!({
            "payloads": page.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
            "cursor": next,
            "mightHaveMore": might_have_more,
        })
    }

    fn wants(&self, data: DataType, change: ChangeType) -> bool {
        let filters = &self.spec.options.filters;
        filters.data_types.contains(&data) && filters.change_types.as_ref().is_none_or(|c| c.contains(&change))
    }

    fn includes(&self) -> Option<&Includes> {
        self.spec.options.includes.as_ref()
    }

    /// The payload `changes` make for this webhook, if any concerns it.
    fn payload(&self, base: &Base, transaction: u64, changes: &[Change]) -> Option<Value> {
        let filters = &self.spec.options.filters;
        if !self.active() || filters.from_sources.as_ref().is_some_and(|s| !s.iter().any(|s| s == "publicApi")) {
            return None;
        }
        let in_scope = |table: &str| match &filters.record_change_scope {
            None => true,
            Some(scope) => {
                scope == table || base.tables.iter().any(|t| t.id == table && t.views.iter().any(|v| v.id == *scope))
            }
        };
        let mut changed = Map::new();
        let mut created_tables = Map::new();
        let entry = |changed: &mut Map<String, Value>, table: &str, key: &str| -> Value {
            changed.entry(table.to_string()).or_insert_with(|| json!({})).get(key).cloned().unwrap_or(Value::Null)
        };
        for change in changes {
            match change {
                Change::RecordCreated { table, id, created_time, cells } => {
                    if !in_scope(table) || !self.wants(DataType::TableData, ChangeType::Add) {
                        continue;
                    }
                    let mut map = entry(&mut changed, table, "createdRecordsById");
                    set(&mut map, id, json!({ "createdTime": created_time, "cellValuesByFieldId": cells }));
                    put(&mut changed, table, "createdRecordsById", map);
                }
                Change::RecordUpdated { table, id, before, after } => {
                    if !in_scope(table) || !self.wants(DataType::TableData, ChangeType::Update) {
                        continue;
                    }
                    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
                    fields.sort();
                    fields.dedup();
                    fields.retain(|f| before.get(*f) != after.get(*f));
                    let watched = filters.watch_data_in_field_ids.as_ref();
                    if fields.is_empty() || watched.is_some_and(|w| !fields.iter().any(|f| w.contains(f))) {
                        continue;
                    }
                    let values = |cells: &Map<String, Value>| -> Map<String, Value> {
                        fields.iter().map(|f| ((*f).clone(), cells.get(*f).cloned().unwrap_or(Value::Null))).collect()
                    };
                    let mut record = json!({ "current": { "cellValuesByFieldId": values(after) } });
                    if self.includes().and_then(|i| i.include_previous_cell_values) == Some(true) {
                        record["previous"] = json!({ "cellValuesByFieldId": values(before) });
                    }
                    let unchanged: Map<String, Value> =
                        match self.includes().and_then(|i| i.include_cell_values_in_field_ids.as_ref()) {
                            Some(CellValues::All(_)) => after
                                .iter()
                                .filter(|(f, _)| !fields.contains(f))
                                .map(|(f, v)| (f.clone(), v.clone()))
                                .collect(),
                            Some(CellValues::Fields(ids)) => ids
                                .iter()
                                .filter(|f| !fields.contains(f))
                                .filter_map(|f| after.get(f).map(|v| (f.clone(), v.clone())))
                                .collect(),
                            None => Map::new(),
                        };
                    if !unchanged.is_empty() {
                        record["unchanged"] = json!({ "cellValuesByFieldId": unchanged });
                    }
                    let mut map = entry(&mut changed, table, "changedRecordsById");
                    set(&mut map, id, record);
                    put(&mut changed, table, "changedRecordsById", map);
                }
                Change::RecordDestroyed { table, id } => {
                    if !in_scope(table) || !self.wants(DataType::TableData, ChangeType::Remove) {
                        continue;
                    }
                    let mut ids = entry(&mut changed, table, "destroyedRecordIds");
                    match ids.as_array_mut() {
                        Some(list) => list.push(json!(id)),
                        None => ids = json!([id]),
                    }
                    put(&mut changed, table, "destroyedRecordIds", ids);
                }
                Change::TableCreated { table, name, description, fields } => {
                    let wanted = self.wants(DataType::TableFields, ChangeType::Add)
                        || self.wants(DataType::TableMetadata, ChangeType::Add);
                    if filters.record_change_scope.is_some() || !wanted {
                        continue;
                    }
                    let fields: Map<String, Value> = fields
                        .iter()
                        .map(|(id, name, kind)| (id.clone(), json!({ "name": name, "type": kind })))
                        .collect();
                    created_tables.insert(
                        table.clone(),
                        json!({ "metadata": { "name": name, "description": description }, "fieldsById": fields }),
                    );
                }
                Change::TableChanged { table, current, previous } => {
                    if !in_scope(table) || !self.wants(DataType::TableMetadata, ChangeType::Update) {
                        continue;
                    }
                    let metadata = json!({
                        "current": { "name": current.0, "description": current.1 },
                        "previous": { "name": previous.0, "description": previous.1 },
                    });
                    put(&mut changed, table, "changedMetadata", metadata);
                }
                Change::FieldCreated { table, field, name, kind } => {
                    if !in_scope(table) || !self.wants(DataType::TableFields, ChangeType::Add) {
                        continue;
                    }
                    let mut map = entry(&mut changed, table, "createdFieldsById");
                    set(&mut map, field, json!({ "name": name, "type": kind }));
                    put(&mut changed, table, "createdFieldsById", map);
                }
                Change::FieldChanged { table, field, current, previous } => {
                    let watched = filters.watch_schemas_of_field_ids.as_ref();
                    if !in_scope(table)
                        || !self.wants(DataType::TableFields, ChangeType::Update)
                        || watched.is_some_and(|w| !w.contains(field))
                    {
                        continue;
                    }
                    let mut definition = json!({ "current": { "name": current.0, "type": current.1 } });
                    if self.includes().and_then(|i| i.include_previous_field_definitions) == Some(true) {
                        definition["previous"] = json!({ "name": previous.0, "type": previous.1 });
                    }
                    let mut map = entry(&mut changed, table, "changedFieldsById");
                    set(&mut map, field, definition);
                    put(&mut changed, table, "changedFieldsById", map);
                }
            }
        }
        changed.retain(|_, v| v.as_object().is_some_and(|o| !o.is_empty()));
        if changed.is_empty() && created_tables.is_empty() {
            return None;
        }
        let mut payload = json!({
            "timestamp": now_timestamp(),
            "baseTransactionNumber": transaction,
            "actionMetadata": {
                "source": "publicApi",
                "sourceMetadata": { "user": { "id": USER_ID, "email": USER_EMAIL, "name": USER_NAME, "permissionLevel": "create" } },
            },
            "payloadFormat": "v0",
        });
        if !changed.is_empty() {
            payload["changedTablesById"] = Value::Object(changed);
        }
        if !created_tables.is_empty() {
            payload["createdTablesById"] = Value::Object(created_tables);
        }
        Some(payload)
    }
}

fn set(map: &mut Value, key: &str, value: Value) {
    if !map.is_object() {
        *map = json!({});
    }
    if let Some(object) = map.as_object_mut() {
        object.insert(key.to_string(), value);
    }
}

fn put(changed: &mut Map<String, Value>, table: &str, key: &str, value: Value) {
    let table = changed.entry(table.to_string()).or_insert_with(|| json!({}));
    set(table, key, value);
}

impl Base {
    /// Records one write transaction: its changes become a payload for every webhook they concern, and comments
    /// of destroyed records go with them. Answers the ids of the webhooks that got a payload. Writes go through
    /// [`crate::state::Emulator::commit`], which also pings those webhooks.
    #[must_use = "the webhooks that got a payload are owed a ping (Emulator::commit sends them)"]
    pub(crate) fn commit(&mut self, changes: Vec<Change>) -> Vec<String> {
        if changes.is_empty() {
            return Vec::new();
        }
        self.transaction += 1;
        for change in &changes {
            if let Change::RecordDestroyed { id, .. } = change {
                self.comments.remove(id);
            }
        }
        let payloads: Vec<Option<Value>> =
            self.webhooks.iter().map(|w| w.payload(self, self.transaction, &changes)).collect();
        let mut notified = Vec::new();
        for (webhook, payload) in self.webhooks.iter_mut().zip(payloads) {
            if let Some(payload) = payload {
                webhook.payloads.push_back((webhook.next_cursor, payload));
                webhook.next_cursor += 1;
                while webhook.payloads.len() > MAX_PAYLOADS {
                    webhook.payloads.pop_front();
                }
                notified.push(webhook.id.clone());
            }
        }
        notified
    }
}
